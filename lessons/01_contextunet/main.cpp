// build/lesson01: the ContextUnet of "How Diffusion Models Work", trained with DDPM on MNIST or
// the 16x16 sprites, sampled with DDPM or DDIM, with context conditioning and guidance.
//
//   lesson01 train   --data DIR --dataset mnist|sprites --out RUN_DIR [--preset quick|course] ...
//   lesson01 sample  --ckpt RUN_DIR/ckpt.safetensors --n 40 --class all --png samples.png ...
//   lesson01 eval    --ckpt RUN_DIR/ckpt.safetensors --data DIR
//   lesson01 summary [--dataset mnist|sprites] [--n-feat 64]
#include <iostream>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"

using namespace tinydiff;

namespace {

int summary(const std::vector<std::string>& args) {
  Flags f("lesson01", "summary", "Prints the ContextUnet's parameters (the course's state_dict "
                                 "keys) and the shapes through one forward pass.");
  f.add_choice("dataset", "sprites", {"mnist", "sprites"}, "which data set's model");
  f.add_int("n-feat", 64, "ContextUnet width n_feat");
  f.add_bool("course-compat", "the course's model (no trained shortcut, AvgPool2d(4))");
  if (!f.parse(args)) return 0;
  ContextUnet model(model_config(f.get_string("dataset"), f.get_int("n-feat"),
                                 f.get_bool("course-compat")));
  const ContextUnetConfig& c = model.config;
  Tensor x = zeros({2, c.in_channels, c.height, c.height});
  Tensor context = class_contexts(2, 0, c.n_cfeat).first;
  std::cout << model.summary([&]() { model.forward(x, full({2}, 0.5f), context); });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_subcommands(argc, argv, "lesson01",
                         "Lesson 01: the ContextUnet, DDPM and DDIM, on MNIST or 16x16 sprites.",
                         {{"train", "train with DDPM (progress, checkpoints, --resume)", lesson01::train},
                          {"sample", "draw samples: PNG grid, npy, trajectory strip, GIF", lesson01::sample},
                          {"eval", "classifier accuracy and Frechet distance of samples", lesson01::eval},
                          {"summary", "parameter table and forward shape trace", summary}});
}
