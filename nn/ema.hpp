// An exponential moving average of a model's parameters (CompVis latent-diffusion's LitEma;
// improved-diffusion keeps the same average with a fixed rate). Sampling from the averaged
// weights gives smoother, better samples than the last training weights.
//
// At the n-th update (n = 1, 2, ...) every shadow tensor moves toward its parameter:
//   decay  = min(max_decay, (1 + n) / (10 + n))        a warm-up: 2/11 at n = 1, -> max_decay
//   shadow = shadow - (1 - decay) (shadow - p)         = decay shadow + (1 - decay) p
// so early shadows follow the fast-changing weights and later ones average over ~1/(1 - decay)
// steps.
//
//   EMA ema(*model, 0.9999);
//   ... opt.step(); ema.update(*model);
//   { EMAWeights use_ema(ema, *model);  sample(*model); }   // the training weights come back
//
// Only parameters are averaged (not buffers such as running statistics), as in LitEma.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.hpp"

namespace tinydiff {

// min(max_decay, (1 + n) / (10 + n)): the decay used by the n-th update.
double ema_decay(int64_t n, double max_decay);

class EMA {
 public:
  // The shadows start as copies of the model's parameters.
  explicit EMA(const Module& model, double max_decay = 0.9999);
  EMA(const EMA&) = delete;
  EMA& operator=(const EMA&) = delete;

  // One update of every shadow from the model's current parameters.
  void update(const Module& model);
  // Writes the shadows into the model's parameters (in place: the tensors keep their identity).
  void copy_to(Module& model) const;
  // Exchanges the model's parameters with the shadows; a second swap undoes the first.
  // While swapped, update() and state_dict() refuse to run.
  void swap(Module& model);
  bool swapped() const { return swapped_; }

  int64_t num_updates() const { return num_updates_; }
  double max_decay() const { return max_decay_; }

  // The shadows keyed by parameter name, plus "num_updates" (a float32 scalar count).
  std::map<std::string, Tensor> state_dict() const;
  // Every parameter name must be present with its shape, and nothing else; nothing changes
  // when it throws.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 private:
  double max_decay_;
  int64_t num_updates_ = 0;
  bool swapped_ = false;
  std::vector<std::pair<std::string, Tensor>> shadows_;  // in the model's parameter order
};

// Swaps the EMA weights into the model for the scope (sampling, evaluation) and back after.
class EMAWeights {
 public:
  EMAWeights(EMA& ema, Module& model) : ema_(ema), model_(model) { ema_.swap(model_); }
  ~EMAWeights() { ema_.swap(model_); }
  EMAWeights(const EMAWeights&) = delete;
  EMAWeights& operator=(const EMAWeights&) = delete;

 private:
  EMA& ema_;
  Module& model_;
};

}  // namespace tinydiff
