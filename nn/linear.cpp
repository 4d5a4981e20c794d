#include "nn/linear.hpp"

#include <cmath>

#include "nn/functional/conv.hpp"
#include "nn/init.hpp"

namespace tinydiff {

Linear::Linear(int64_t in_features, int64_t out_features, bool use_bias)
    : in_features(in_features), out_features(out_features) {
  TD_CHECK(in_features > 0 && out_features > 0, "Linear: in_features (", in_features,
           ") and out_features (", out_features, ") must be positive");
  register_parameter("weight", &weight, Tensor::empty({out_features, in_features}));
  init::kaiming_uniform_(weight, std::sqrt(5.f));
  if (use_bias) {
    float bound = 1.f / std::sqrt(float(in_features));
    register_parameter("bias", &bias, init::uniform_(Tensor::empty({out_features}), -bound, bound));
  }
}

// x (..., in_features) -> (..., out_features)
Tensor Linear::forward(const Tensor& x) {
  TD_CHECK(x.dim() >= 1 && x.size(-1) == in_features, label(), ": input ",
           str(x.shape()), " has ", x.dim() ? x.size(-1) : 0, " features in its last axis but ",
           "in_features is ", in_features, " (weight ", str(weight.shape()), ")");
  return linear(x, weight, bias);
}

}  // namespace tinydiff
