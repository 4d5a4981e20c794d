// Linear: y = x W^T + b, as torch.nn.Linear (parameters "weight" (out, in), "bias" (out)).
#pragma once
#include "nn/module.hpp"

namespace tinydiff {

class Linear : public Module {
 public:
  // PyTorch's default initialisation: W ~ kaiming_uniform(a = sqrt(5)), i.e.
  // U(-1/sqrt(in), 1/sqrt(in)), and b ~ U(-1/sqrt(in), 1/sqrt(in)).
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  // x (..., in_features) -> (..., out_features)
  Tensor forward(const Tensor& x) override;

  int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when built with bias = false
};

}  // namespace tinydiff
