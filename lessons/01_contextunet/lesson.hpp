// The pieces of lesson 01 that `train`, `sample` and `eval` share: the run settings and
// presets, the training objective, and loading a trained model for sampling.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "diffusion/sampler.hpp"
#include "diffusion/schedule.hpp"
#include "lessons/01_contextunet/model.hpp"

namespace tinydiff {

struct Lesson01Settings {
  std::string dataset = "sprites";  // "mnist" or "sprites"
  int64_t n_feat = 64;              // ContextUnet width
  int64_t timesteps = 500;          // T
  int64_t batch = 100;
  double lr = 1e-3;                 // Adam, decayed linearly to 0 (the course's schedule)
  int64_t steps = 0;                // total training steps
  double ema_decay = 0;             // 0: no EMA (the course has none)
  double p_uncond = 0.1;            // context dropped with this probability (for guidance)
  bool course_compat = false;       // reproduce the course's three defects
};

// A preset's settings: "course" (the course's: n_feat 64, batch 100, lr 1e-3, 32 epochs) or
// "quick" (recognisable samples in ~15 minutes on 2 CPU cores; see the lesson README).
// `train_rows` converts epochs into steps.
Lesson01Settings preset_settings(const std::string& preset, const std::string& dataset,
                                 int64_t train_rows);

// The model for a data set: 1 x 28 x 28 with 10 classes for MNIST, 3 x 16 x 16 with 5 for sprites.
ContextUnetConfig model_config(const std::string& dataset, int64_t n_feat, bool course_compat);

// The settings as the flat text map stored in a checkpoint's metadata, and back.
std::map<std::string, std::string> settings_to_map(const Lesson01Settings& s);
Lesson01Settings settings_from_map(const std::map<std::string, std::string>& m);

// The DDPM training objective (Ho et al. 2020, Algorithm 1 / Eq. 14, "L_simple"):
//   t ~ U{1..T}, eps ~ N(0, I), x_t = q_sample(x0, t, eps),  loss = |eps - eps_theta(x_t, t/T, c)|^2
// x0 (B, C, H, W) in [-1, 1], context (B, K) one-hot (rows dropped to zero with probability
// p_uncond first) -> scalar loss. Random draws come from the default generator.
Tensor diffusion_loss(ContextUnet& model, const Tensor& x0, const Tensor& context,
                      const NoiseSchedule& schedule, double p_uncond, bool course_compat);

// eps_theta as the samplers want it (diffusion/sampler.hpp), calling model.forward.
EpsModel eps_model(ContextUnet& model);

// A trained model ready to sample: built from the checkpoint's settings, with the EMA weights
// when the run kept an EMA, in eval mode.
struct TrainedModel {
  Lesson01Settings settings;
  std::shared_ptr<ContextUnet> model;
  NoiseSchedule schedule;
  int64_t step = 0;
};
TrainedModel load_trained_model(const std::string& ckpt, Device device);

// One-hot contexts for `n` samples of class `k`, or, for k < 0, n / num_classes samples of
// each class in class order -> (n, num_classes) and the class of each row.
std::pair<Tensor, std::vector<int64_t>> class_contexts(int64_t n, int64_t k, int64_t num_classes);

}  // namespace tinydiff
