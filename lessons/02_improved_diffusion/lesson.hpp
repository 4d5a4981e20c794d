// The pieces of lesson 02 that `train`, `sample`, `eval` and `summary` share: the run settings
// and presets, the UNet and the diffusion they describe, and loading a trained model.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "diffusion/respace.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/02_improved_diffusion/unet.hpp"

namespace tinydiff::lesson02 {

// Everything a run needs to be rebuilt, stored in the checkpoint's config. The defaults are
// improved-diffusion's (script_util.py and image_train.py) where they make sense at our scale.
struct Lesson02Settings {
  std::string dataset = "mnist";  // "mnist" (1 x 28 x 28, 10 classes) or "sprites" (3 x 16 x 16, 5)
  // the UNet
  int64_t model_channels = 128;
  std::string channel_mult = "1,2,2";
  int64_t num_res_blocks = 2;
  std::string attention_resolutions = "2,4";  // downsampling rates: 14x14 and 7x7 on MNIST
  int64_t num_heads = 4;
  double dropout = 0;
  bool use_scale_shift_norm = true;
  bool class_cond = true;
  bool use_checkpoint = false;
  // the diffusion
  int64_t diffusion_steps = 1000;        // T
  std::string noise_schedule = "cosine";  // "linear" or "cosine" (Eq. 17)
  bool learn_sigma = true;               // Sigma interpolated between beta and beta~ (Eq. 15)
  std::string loss = "hybrid";           // "hybrid" (Eq. 16), "mse" (L_simple) or "kl" (L_vlb)
  std::string timestep_sampler = "uniform";  // or "loss-second-moment" (Eq. 18)
  // the optimisation: AdamW, constant or linearly annealed learning rate, EMA of the weights
  int64_t batch = 128;
  double lr = 1e-4;
  std::string lr_schedule = "constant";  // or "linear" (improved-diffusion's lr_anneal_steps)
  double weight_decay = 0;
  double ema_decay = 0.9999;
  int64_t steps = 0;
};

// "quick" (class-conditional MNIST digits in ~15 minutes on 2 cores, sprites in ~25) or "paper"
// (Nichol & Dhariwal's CIFAR-10 settings scaled to 28x28 / 16x16). Throws for another name.
Lesson02Settings preset_settings(const std::string& preset, const std::string& dataset);

// The flags that shape the UNet, shared by train and summary: --model-channels,
// --channel-mult, --num-res-blocks, --attention-resolutions, --num-heads, --dropout,
// --scale-shift-norm, --class-cond, --learn-sigma, --use-checkpoint. apply_model_flags copies
// those given on the command line into s (the others keep the preset's values).
void add_model_flags(Flags& f);
void apply_model_flags(const Flags& f, Lesson02Settings& s);

// The data set's image shape and classes: (channels, side, classes).
struct DatasetShape {
  int64_t channels, side, num_classes;
};
DatasetShape dataset_shape(const std::string& dataset);

// The UNet of a run: in_channels from the data set, out_channels doubled when sigma is
// learned, the classes when class-conditional, and GroupNorm groups gcd(32, model_channels)
// (32 for the usual widths; fewer only for the tiny models of the smoke test).
UNetConfig unet_config(const Lesson02Settings& s);

// The run's Gaussian diffusion, over all T steps or respaced by `respacing` (improved-
// diffusion's timestep_respacing: "50", "ddim25", "10,10,5", ...; "" keeps every step).
SpacedDiffusion make_diffusion(const Lesson02Settings& s, const std::string& respacing = "");

// The respacing the string flag `flag` asks for, checked against the run's T before any work:
// 'all' keeps every step (""), and so does the default (50) on a chain of fewer steps; a value
// that does not fit T is an Error naming the flag. respacing_name("") is "all".
std::string respacing_flag(const Flags& f, const std::string& flag, int64_t T);
inline std::string respacing_name(const std::string& respacing) {
  return respacing.empty() ? "all" : respacing;
}

// The settings as the flat text map stored in a checkpoint's metadata, and back.
std::map<std::string, std::string> settings_to_map(const Lesson02Settings& s);
Lesson02Settings settings_from_map(const std::map<std::string, std::string>& m);

// The UNet as the diffusion calls it: (x_t, t) -> model(x_t, t, y), y fixed (undefined for
// an unconditional model).
DiffusionModel diffusion_model(UNetModel& model, const Tensor& y);

// A trained model ready to sample: built from the checkpoint's settings, with the EMA weights
// when the run kept an EMA, in eval mode.
struct TrainedModel {
  Lesson02Settings settings;
  std::shared_ptr<UNetModel> model;
  int64_t step = 0;
};
TrainedModel load_trained_model(const std::string& ckpt, Device device);

// Labels for `n` samples of class `k`, or, for k < 0, n / num_classes of each class in class
// order -> (n) float labels and the class of each sample.
std::pair<Tensor, std::vector<int64_t>> class_labels(int64_t n, int64_t k, int64_t num_classes);

// Draws samples of `shape` with labels y (undefined when unconditional) from the run's
// diffusion respaced by `respacing`: "ddimN" runs DDIM (Song et al. 2021) over N strided
// steps, anything else ancestral sampling (Ho et al. Algorithm 2) with the learned variances.
Samples draw_samples(UNetModel& model, const Lesson02Settings& s, const std::string& respacing,
                     const Shape& shape, const Tensor& y, const DiffusionSampleOptions& options);

}  // namespace tinydiff::lesson02
