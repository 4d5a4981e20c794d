// Normalisation layers, as torch.nn.GroupNorm, LayerNorm and BatchNorm2d. The affine
// parameters "weight" (initialised to 1) and "bias" (to 0) are per channel (per feature for
// LayerNorm); the functional forms are in nn/functional/normalization.hpp.
#pragma once
#include "nn/module.hpp"

namespace tinydiff {

// Wu & He 2018: statistics over each group of channels of each sample.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, float eps = 1e-5f, bool affine = true);
  std::string type_name() const override { return "GroupNorm"; }
  // x (N, num_channels, *) -> same shape
  Tensor forward(const Tensor& x) override;

  int64_t num_groups, num_channels;
  float eps;
  Tensor weight, bias;  // (num_channels), undefined when affine = false
};

// Ba et al. 2016: statistics over the trailing axes normalized_shape of each sample.
class LayerNorm : public Module {
 public:
  LayerNorm(const Shape& normalized_shape, float eps = 1e-5f, bool elementwise_affine = true);
  LayerNorm(int64_t normalized_size, float eps = 1e-5f, bool elementwise_affine = true)
      : LayerNorm(Shape{normalized_size}, eps, elementwise_affine) {}
  std::string type_name() const override { return "LayerNorm"; }
  // x (..., *normalized_shape) -> same shape
  Tensor forward(const Tensor& x) override;

  Shape normalized_shape;
  float eps;
  Tensor weight, bias;  // (normalized_shape), undefined when elementwise_affine = false
};

// Ioffe & Szegedy 2015: statistics over (N, H, W) per channel. In training it normalises with
// the batch statistics and updates the buffers
//   running_mean = (1 - momentum) running_mean + momentum mean_batch
//   running_var  = (1 - momentum) running_var + momentum var_batch (unbiased)
// and counts num_batches_tracked; in eval mode it normalises with running_mean/running_var.
// With track_running_stats = false it has no buffers and always uses the batch statistics.
// PyTorch's momentum=None (a cumulative average) is not supported.
class BatchNorm2d : public Module {
 public:
  BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f, bool affine = true,
              bool track_running_stats = true);
  std::string type_name() const override { return "BatchNorm2d"; }
  // x (N, num_features, H, W) -> same shape
  Tensor forward(const Tensor& x) override;

  int64_t num_features;
  float eps, momentum;
  Tensor weight, bias;                                    // (num_features), 1 and 0
  Tensor running_mean, running_var, num_batches_tracked;  // (C) zeros, (C) ones, () 0
};

}  // namespace tinydiff
