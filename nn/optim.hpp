// Optimizers with the exact update rules of torch.optim: SGD (momentum, dampening, weight decay,
// Nesterov), Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay),
// plus clip_grad_norm_.
//
//   Adam opt(model.named_parameters(), AdamOptions{});   // lr 1e-3, betas (0.9, 0.999)
//   loss.backward();
//   opt.step();          // updates every parameter that has a gradient, in place
//   opt.zero_grad();
//
// Parameters are the module's own leaf tensors: step() writes into their storage, so every
// handle (the module's members, the EMA, a checkpoint) sees the new values.
//
// State, as in torch.optim, is kept per parameter and created at the parameter's first update:
// its moment buffers and its own step count (a parameter that got no gradient in some steps
// has taken fewer steps, and Adam's bias correction uses its count). state_dict() keys:
//   "step"                    the number of step() calls (a scalar)
//   "step.<param name>"       the parameter's own step count (a scalar)
//   "<buffer>.<param name>"   "momentum_buffer" (SGD), "exp_avg" and "exp_avg_sq" (Adam, AdamW)
// Counts are stored as float32 scalars, exact up to 2^24 (16.7 million) steps.
//
// Hyperparameters are doubles, like Python floats: the step's scalars are computed in double
// and rounded to float once, as torch.optim does.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.hpp"

namespace tinydiff {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Optimizer {
 public:
  // Keeps handles to the parameters (a tensor listed twice under two names, e.g. a tied
  // weight, is kept once, under its first name).
  Optimizer(const NamedTensors& params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string type_name() const = 0;  // "SGD", "Adam", "AdamW"

  double lr;  // read at every step(): a schedule sets it before each step

  // Forgets every parameter's gradient (the next backward starts from none).
  void zero_grad();
  // Updates each parameter that has a gradient, without recording a graph.
  void step();
  int64_t step_count() const { return step_count_; }
  const NamedTensors& named_parameters() const { return params_; }

  std::map<std::string, Tensor> state_dict() const;
  // Replaces the whole state. Every key must name a buffer kind of this optimizer and one of
  // its parameters, with that parameter's shape; an Error names the first bad key. Nothing
  // changes when it throws.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // One parameter to update: p (contiguous, updated in place) from g (contiguous); `buffers`
  // follow buffer_names() and are zero at the parameter's first step.
  struct ParamUpdate {
    Tensor p, g;
    std::vector<Tensor>* buffers;
  };
  // The names of the per-parameter buffers, e.g. {"exp_avg", "exp_avg_sq"}.
  virtual std::vector<std::string> buffer_names() const = 0;
  // Updates a group of parameters that live on one device and take their `step`-th update
  // (each parameter's own count, 1 at its first), with one multi-tensor kernel call
  // (tensor/kernels/optim.hpp). step() makes the groups; usually one holds every parameter.
  virtual void update(const std::vector<ParamUpdate>& group, int64_t step) = 0;

 private:
  struct ParamState {
    int64_t step = 0;             // 0: no state yet
    std::vector<Tensor> buffers;  // follow buffer_names()
  };
  NamedTensors params_;
  std::vector<ParamState> state_;
  int64_t step_count_ = 0;
};

// ---- SGD ----
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(const NamedTensors& params, const SGDOptions& options);
  std::string type_name() const override { return "SGD"; }

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const std::vector<ParamUpdate>& group, int64_t step) override;

 private:
  SGDOptions options_;
};

// ---- Adam and AdamW ----
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // Adam: added to the gradient (L2); AdamW: decoupled
};
// torch.optim.AdamW's defaults: weight decay 0.01.
struct AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay = 1e-2; }
};

class Adam : public Optimizer {
 public:
  Adam(const NamedTensors& params, const AdamOptions& options = AdamOptions());
  std::string type_name() const override { return decoupled_ ? "AdamW" : "Adam"; }

 protected:
  Adam(const NamedTensors& params, const AdamOptions& options, bool decoupled);
  std::vector<std::string> buffer_names() const override;
  void update(const std::vector<ParamUpdate>& group, int64_t step) override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

// AdamW (Loshchilov & Hutter 2019): p = (1 - lr wd) p before the Adam update, instead of
// adding wd p to the gradient, so the decay is not rescaled by Adam's 1/sqrt(v).
class AdamW : public Adam {
 public:
  AdamW(const NamedTensors& params, const AdamWOptions& options = AdamWOptions());
};

// Scales all gradients together so that their joint 2-norm sqrt(sum_i |g_i|^2) is at most
// max_norm (torch.nn.utils.clip_grad_norm_: g *= min(1, max_norm / (norm + 1e-6))).
// Tensors without a gradient are skipped. Returns the norm before clipping.
float clip_grad_norm_(const TensorList& params, double max_norm);

}  // namespace tinydiff
