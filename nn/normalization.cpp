#include "nn/normalization.hpp"

#include "nn/functional/normalization.hpp"
#include "nn/init.hpp"
#include "tensor/kernels/elementwise.hpp"

namespace tinydiff {

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, float eps, bool affine)
    : num_groups(num_groups), num_channels(num_channels), eps(eps) {
  TD_CHECK(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0,
           "GroupNorm: num_channels (", num_channels, ") must be a positive multiple of ",
           "num_groups (", num_groups, ")");
  if (!affine) return;
  register_parameter("weight", &weight, ones({num_channels}));
  register_parameter("bias", &bias, zeros({num_channels}));
}

// x (N, num_channels, *) -> same shape
Tensor GroupNorm::forward(const Tensor& x) {
  TD_CHECK(x.dim() >= 2 && x.size(1) == num_channels, label(), ": input ", str(x.shape()),
           " should have ", num_channels, " channels in axis 1 (", num_groups, " groups)");
  return group_norm(x, num_groups, weight, bias, eps);
}

LayerNorm::LayerNorm(const Shape& normalized_shape, float eps, bool elementwise_affine)
    : normalized_shape(normalized_shape), eps(eps) {
  TD_CHECK(!normalized_shape.empty() && numel_of(normalized_shape) > 0,
           "LayerNorm: normalized_shape ", str(normalized_shape), " must be non-empty");
  if (!elementwise_affine) return;
  register_parameter("weight", &weight, ones(normalized_shape));
  register_parameter("bias", &bias, zeros(normalized_shape));
}

// x (..., *normalized_shape) -> same shape
Tensor LayerNorm::forward(const Tensor& x) {
  int64_t lead = x.dim() - int64_t(normalized_shape.size());
  TD_CHECK(lead >= 0 && Shape(x.shape().begin() + lead, x.shape().end()) == normalized_shape,
           label(), ": input ", str(x.shape()), " does not end with normalized_shape ",
           str(normalized_shape));
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

BatchNorm2d::BatchNorm2d(int64_t num_features, float eps, float momentum, bool affine,
                         bool track_running_stats)
    : num_features(num_features), eps(eps), momentum(momentum) {
  TD_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got ", num_features);
  TD_CHECK(momentum >= 0.f && momentum <= 1.f, "BatchNorm2d: momentum must be in [0, 1], got ",
           momentum);
  if (affine) {
    register_parameter("weight", &weight, ones({num_features}));
    register_parameter("bias", &bias, zeros({num_features}));
  }
  if (!track_running_stats) return;
  register_buffer("running_mean", &running_mean, zeros({num_features}));
  register_buffer("running_var", &running_var, ones({num_features}));
  register_buffer("num_batches_tracked", &num_batches_tracked, zeros({}));
}

// x (N, num_features, H, W) -> same shape
Tensor BatchNorm2d::forward(const Tensor& x) {
  TD_CHECK(x.dim() == 4 && x.size(1) == num_features, label(), ": input must be (N, ",
           num_features, ", H, W), got ", str(x.shape()));
  bool tracking = running_mean.defined();
  // The counter += 1 in place, on its own device: reading it back to the host (item()) would
  // make the CPU wait for every GPU kernel queued so far, once per layer and step.
  if (is_training() && tracking)
    TD_DISPATCH(num_batches_tracked.device(), unary, UnaryOp::AddScalar, num_batches_tracked.data(),
                num_batches_tracked.data(), 1, 1.f, 0.f);
  return batch_norm(x, running_mean, running_var, weight, bias, is_training() || !tracking,
                    momentum, eps);
}

}  // namespace tinydiff
