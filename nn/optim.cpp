// Optimizers: the per-parameter state and its state_dict live in the base class; SGD and Adam
// only fill the scalars of their update and call the fused kernel (tensor/kernels/optim.hpp).
#include "nn/optim.hpp"

#include <cmath>
#include <map>
#include <set>

#include "tensor/kernels/optim.hpp"

namespace tinydiff {

namespace {

// A stored count ("step", "step.<name>") as an integer; refuses anything else.
int64_t read_count(const std::string& owner, const std::string& key, const Tensor& t) {
  TD_CHECK(t.numel() == 1, owner, ": state '", key, "' should be a scalar count but has shape ",
           str(t.shape()));
  double value = t.item();
  TD_CHECK(value >= 0 && value == std::floor(value), owner, ": state '", key,
           "' should be a whole number >= 0 but is ", value);
  return int64_t(value);
}

Tensor count_tensor(int64_t count) { return scalar_tensor(float(count)); }

}  // namespace

// ---- the base: parameters, state, state_dict ----

Optimizer::Optimizer(const NamedTensors& params, double lr) : lr(lr) {
  std::set<const TensorImpl*> seen;
  std::set<std::string> names;
  for (const auto& [name, p] : params) {
    TD_CHECK(p.defined(), "optimizer: parameter '", name, "' is undefined");
    if (!seen.insert(&p.impl()).second) continue;  // the same tensor under a second name
    TD_CHECK(names.insert(name).second, "optimizer: two different parameters are named '", name,
             "'");
    TD_CHECK(p.is_contiguous(), "optimizer: parameter '", name, "' ", describe(p),
             " is not contiguous; updates are written into its storage in place");
    params_.emplace_back(name, p);
  }
  state_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (const auto& [name, p] : params_) p.set_grad(Tensor());
}

void Optimizer::step() {
  TD_CHECK(lr >= 0, type_name(), ": learning rate must be >= 0, got ", lr);
  NoGradGuard no_grad;
  std::vector<std::string> kinds = buffer_names();
  // Parameters grouped by device and step count: one multi-tensor update per group.
  std::map<std::pair<DeviceType, int64_t>, std::vector<ParamUpdate>> groups;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    TD_CHECK(g.shape() == p.shape() && g.device() == p.device(), type_name(), ": parameter '", name,
             "' ", describe(p), " has a gradient ", describe(g));
    ParamState& s = state_[i];
    if (s.step == 0) {
      s.buffers.clear();
      for (size_t k = 0; k < kinds.size(); ++k) s.buffers.push_back(zeros_like(p));
    }
    ++s.step;
    groups[{p.device().type, s.step}].push_back({p, g.contiguous(), &s.buffers});
  }
  for (const auto& [key, group] : groups) update(group, key.second);
  ++step_count_;
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out{{"step", count_tensor(step_count_)}};
  std::vector<std::string> kinds = buffer_names();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (state_[i].step == 0) continue;
    const std::string& name = params_[i].first;
    out["step." + name] = count_tensor(state_[i].step);
    for (size_t k = 0; k < kinds.size(); ++k) out[kinds[k] + "." + name] = state_[i].buffers[k];
  }
  return out;
}

// Builds the new state aside and swaps it in only when every key has been checked.
void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  const std::string owner = type_name() + " optimizer";
  std::vector<std::string> kinds = buffer_names();
  auto it = state.find("step");
  TD_CHECK(it != state.end(), owner, ": the state has no 'step' entry");
  int64_t step_count = read_count(owner, "step", it->second);

  std::vector<ParamState> fresh(params_.size());
  std::set<std::string> used{"step"};
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    auto count = state.find("step." + name);
    if (count == state.end()) continue;  // this parameter has not been updated yet
    fresh[i].step = read_count(owner, count->first, count->second);
    used.insert(count->first);
    for (const std::string& kind : kinds) {
      auto buf = state.find(kind + "." + name);
      TD_CHECK(buf != state.end(), owner, ": the state has 'step.", name, "' but no '", kind, ".",
               name, "'");
      TD_CHECK(buf->second.shape() == p.shape(), owner, ": state '", buf->first, "' has shape ",
               str(buf->second.shape()), " but the parameter has shape ", str(p.shape()));
      fresh[i].buffers.push_back(buf->second.detach().to(p.device()).clone());
      used.insert(buf->first);
    }
  }
  std::string expected = "'step', 'step.<name>'";
  for (const std::string& kind : kinds) expected += ", '" + kind + ".<name>'";
  for (const auto& [key, value] : state)
    TD_CHECK(used.count(key), owner, ": unexpected state '", key, "' (expected ", expected,
             " for the parameters of this optimizer)");
  state_ = std::move(fresh);
  step_count_ = step_count;
}

// ---- SGD ----

SGD::SGD(const NamedTensors& params, const SGDOptions& o) : Optimizer(params, o.lr), options_(o) {
  TD_CHECK(o.lr >= 0, "SGD: learning rate must be >= 0, got ", o.lr);
  TD_CHECK(o.momentum >= 0, "SGD: momentum must be >= 0, got ", o.momentum);
  TD_CHECK(o.weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", o.weight_decay);
  TD_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
           "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum ", o.momentum,
           ", dampening ", o.dampening, ")");
}

std::vector<std::string> SGD::buffer_names() const {
  if (options_.momentum == 0) return {};
  return {"momentum_buffer"};
}

// d = g + wd p;  buf = mu buf + (1 - dampening) d (buf = d at the first step);
// p = p - lr (d + mu buf) with Nesterov, else p = p - lr buf.
void SGD::update(const std::vector<ParamUpdate>& group, int64_t step) {
  SgdScalars s;
  s.lr = float(lr);
  s.momentum = float(options_.momentum);
  s.one_minus_dampening = float(1 - options_.dampening);
  s.weight_decay = float(options_.weight_decay);
  s.nesterov = options_.nesterov;
  s.first_step = step == 1;
  std::vector<SgdTensor> list;
  for (const auto& [p, g, buffers] : group) {
    float* buf = buffers->empty() ? nullptr : (*buffers)[0].data();
    list.push_back({p.data(), g.data(), buf, p.numel()});
  }
  TD_DISPATCH(group[0].p.device(), sgd_update, list, s);
}

// ---- Adam, AdamW ----

Adam::Adam(const NamedTensors& params, const AdamOptions& options) : Adam(params, options, false) {}

Adam::Adam(const NamedTensors& params, const AdamOptions& o, bool decoupled)
    : Optimizer(params, o.lr), options_(o), decoupled_(decoupled) {
  const char* name = decoupled ? "AdamW" : "Adam";
  TD_CHECK(o.lr >= 0, name, ": learning rate must be >= 0, got ", o.lr);
  TD_CHECK(o.eps >= 0, name, ": eps must be >= 0, got ", o.eps);
  TD_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, name,
           ": betas must be in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
  TD_CHECK(o.weight_decay >= 0, name, ": weight_decay must be >= 0, got ", o.weight_decay);
}

std::vector<std::string> Adam::buffer_names() const { return {"exp_avg", "exp_avg_sq"}; }

// Kingma & Ba 2015, Algorithm 1 (the bias corrections folded into step_size and bc2_sqrt):
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
//   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void Adam::update(const std::vector<ParamUpdate>& group, int64_t step) {
  const AdamOptions& o = options_;
  AdamScalars s;
  s.beta1 = float(o.beta1);
  s.one_minus_beta1 = float(1 - o.beta1);
  s.beta2 = float(o.beta2);
  s.one_minus_beta2 = float(1 - o.beta2);
  s.eps = float(o.eps);
  s.l2 = decoupled_ ? 0.f : float(o.weight_decay);
  s.decay = decoupled_ ? float(1 - lr * o.weight_decay) : 1.f;
  s.step_size = float(lr / (1 - std::pow(o.beta1, double(step))));
  s.bc2_sqrt = float(std::sqrt(1 - std::pow(o.beta2, double(step))));
  std::vector<AdamTensor> list;
  for (const auto& [p, g, buffers] : group)
    list.push_back({p.data(), g.data(), (*buffers)[0].data(), (*buffers)[1].data(), p.numel()});
  TD_DISPATCH(group[0].p.device(), adam_update, list, s);
}

AdamW::AdamW(const NamedTensors& params, const AdamWOptions& options)
    : Adam(params, options, true) {}

// ---- gradient clipping ----

// norm = sqrt(sum over tensors and elements of g^2);  g *= min(1, max_norm / (norm + 1e-6))
float clip_grad_norm_(const TensorList& params, double max_norm) {
  TD_CHECK(max_norm > 0, "clip_grad_norm_: max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  // The gradients by device: one sum of squares (and one read back to the host) per device.
  std::map<DeviceType, std::vector<FloatSpan>> grads;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    const Tensor& g = p.grad();
    TD_CHECK(g.is_contiguous(), "clip_grad_norm_: gradient ", describe(g),
             " is not contiguous and cannot be scaled in place");
    grads[g.device().type].push_back({g.data(), g.numel()});
  }
  double total = 0;
  for (const auto& [type, list] : grads) {
    Tensor sum = Tensor::empty({}, Device{type});
    TD_DISPATCH(Device{type}, sum_squares, list, sum.data());
    total += sum.item();
  }
  float norm = float(std::sqrt(total));
  float coef = float(max_norm) / (norm + 1e-6f);
  if (!(coef >= 1.f))  // a NaN norm scales by NaN, as torch does
    for (const auto& [type, list] : grads) TD_DISPATCH(Device{type}, scale, list, coef);
  return norm;
}

}  // namespace tinydiff
