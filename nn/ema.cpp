// The EMA of a model's parameters (see nn/ema.hpp).
#include "nn/ema.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "tensor/kernels/elementwise.hpp"
#include "tensor/kernels/optim.hpp"

namespace tinydiff {

namespace {

using NamedList = std::vector<std::pair<std::string, Tensor>>;

// The model's parameters, each tensor once (a tied weight under its first name), as the
// optimizers list them.
NamedList unique_parameters(const Module& model) {
  NamedList out;
  std::set<const TensorImpl*> seen;
  for (const auto& [name, p] : model.named_parameters())
    if (seen.insert(&p.impl()).second) out.emplace_back(name, p);
  return out;
}

// The model's parameters in shadow order, checked against the shadows by name, shape and device.
TensorList matching_parameters(const Module& model, const NamedList& shadows, const char* op) {
  NamedList params = unique_parameters(model);
  TD_CHECK(params.size() == shadows.size(), op, ": the model has ", params.size(),
           " parameters but the EMA has ", shadows.size(), " (was it made from another model?)");
  TensorList out;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    const Tensor& shadow = shadows[i].second;
    TD_CHECK(name == shadows[i].first, op, ": parameter ", i, " of the model is '", name,
             "' but the EMA's is '", shadows[i].first, "'");
    TD_CHECK(p.shape() == shadow.shape() && p.device() == shadow.device(), op, ": parameter '",
             name, "' is ", describe(p), " but its shadow is ", describe(shadow),
             " (hint: make the EMA after moving the model to its device)");
    TD_CHECK(p.is_contiguous(), op, ": parameter '", name, "' is not contiguous");
    out.push_back(p);
  }
  return out;
}

// dst = src, in place; same shape and device, dst contiguous.
void copy_into(const Tensor& dst, const Tensor& src) {
  Tensor s = src.contiguous();
  TD_DISPATCH(dst.device(), copy_strided, StridedInput{s.data(), s.strides()}, dst.data(),
              dst.shape());
}

}  // namespace

double ema_decay(int64_t n, double max_decay) {
  return std::min(max_decay, double(1 + n) / double(10 + n));
}

EMA::EMA(const Module& model, double max_decay) : max_decay_(max_decay) {
  TD_CHECK(max_decay >= 0 && max_decay <= 1, "EMA: max_decay must be in [0, 1], got ", max_decay);
  NoGradGuard no_grad;
  for (const auto& [name, p] : unique_parameters(model))
    shadows_.emplace_back(name, p.detach().clone());
}

// shadow = shadow - (1 - decay) (shadow - p), decay = min(max_decay, (1 + n) / (10 + n))
void EMA::update(const Module& model) {
  TD_CHECK(!swapped_, "EMA::update: the EMA weights are swapped into the model; swap them back "
           "before updating");
  TensorList params = matching_parameters(model, shadows_, "EMA::update");
  ++num_updates_;
  float one_minus_decay = float(1.0 - ema_decay(num_updates_, max_decay_));
  // One multi-tensor update per device (tensor/kernels/optim.hpp).
  std::map<DeviceType, std::vector<EmaTensor>> lists;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& shadow = shadows_[i].second;
    lists[shadow.device().type].push_back({shadow.data(), params[i].data(), shadow.numel()});
  }
  for (const auto& [type, list] : lists)
    TD_DISPATCH(Device{type}, ema_update, list, one_minus_decay);
}

void EMA::copy_to(Module& model) const {
  TensorList params = matching_parameters(model, shadows_, "EMA::copy_to");
  for (size_t i = 0; i < params.size(); ++i) copy_into(params[i], shadows_[i].second);
}

void EMA::swap(Module& model) {
  TensorList params = matching_parameters(model, shadows_, "EMA::swap");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor previous = params[i].detach().clone();
    copy_into(params[i], shadows_[i].second);
    shadows_[i].second = previous;
  }
  swapped_ = !swapped_;
}

std::map<std::string, Tensor> EMA::state_dict() const {
  TD_CHECK(!swapped_, "EMA::state_dict: the EMA weights are swapped into the model; swap them "
           "back first");
  std::map<std::string, Tensor> out(shadows_.begin(), shadows_.end());
  out["num_updates"] = scalar_tensor(float(num_updates_));
  return out;
}

void EMA::load_state_dict(const std::map<std::string, Tensor>& state) {
  TD_CHECK(!swapped_, "EMA::load_state_dict: the EMA weights are swapped into the model; swap "
           "them back first");
  auto count = state.find("num_updates");
  TD_CHECK(count != state.end() && count->second.numel() == 1,
           "EMA::load_state_dict: the state has no scalar 'num_updates'");
  double n = count->second.item();
  TD_CHECK(n >= 0 && n == std::floor(n), "EMA::load_state_dict: num_updates must be a whole ",
           "number >= 0, got ", n);
  NamedList fresh;
  for (const auto& [name, shadow] : shadows_) {
    auto it = state.find(name);
    TD_CHECK(it != state.end(), "EMA::load_state_dict: the state has no shadow for parameter '",
             name, "'");
    TD_CHECK(it->second.shape() == shadow.shape(), "EMA::load_state_dict: '", name, "' has shape ",
             str(it->second.shape()), " but the parameter has shape ", str(shadow.shape()));
    fresh.emplace_back(name, it->second.detach().to(shadow.device()).clone());
  }
  std::set<std::string> expected{"num_updates"};
  for (const auto& [name, shadow] : shadows_) expected.insert(name);
  for (const auto& [key, value] : state)
    TD_CHECK(expected.count(key), "EMA::load_state_dict: unexpected key '", key,
             "' (the model has no parameter of that name)");
  shadows_ = std::move(fresh);
  num_updates_ = int64_t(n);
}

}  // namespace tinydiff
