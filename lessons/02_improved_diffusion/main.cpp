// build/lesson02: openai/improved-diffusion at MNIST and sprite scale (Nichol & Dhariwal 2021):
// the UNet with scale-shift norm and attention, the cosine schedule, learned variances and the
// hybrid loss, importance-sampled timesteps, respaced sampling, bits/dim.
//
//   lesson02 train   --data DIR --dataset mnist|sprites --out RUN_DIR [--preset quick|paper] ...
//   lesson02 sample  --ckpt RUN_DIR/ckpt.safetensors --n 40 --class all --respace 50 --png s.png
//   lesson02 eval    --ckpt RUN_DIR/ckpt.safetensors --data DIR
//   lesson02 summary [--dataset mnist|sprites] [--preset quick|paper] [model flags]
#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/common/flags.hpp"

using namespace tinydiff;

int main(int argc, char** argv) {
  return run_subcommands(
      argc, argv, "lesson02",
      "Lesson 02: improved-diffusion's UNet, learned variances and the hybrid loss, on MNIST or "
      "16x16 sprites.",
      {{"train", "train (hybrid loss, progress, checkpoints, --resume)", lesson02::train},
       {"sample", "draw samples on a respaced chain: PNG grid, npy, strip, GIF", lesson02::sample},
       {"eval", "bits/dim, classifier accuracy and Frechet distance", lesson02::eval},
       {"summary", "parameter table and forward shape trace", lesson02::summary}});
}
