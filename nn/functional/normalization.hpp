// Normalisation layers' functional forms: group_norm, layer_norm, batch_norm.
#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// Wu & He 2018: normalise each of `groups` channel groups of each sample to mean 0, var 1
// (biased variance), then y = x_hat * weight[c] + bias[c].
// x (N, C, *), weight and bias (C) or undefined -> same shape as x
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);

// Ba et al. 2016: normalise over the trailing axes given by normalized_shape.
// x (..., *normalized_shape), weight and bias (normalized_shape) or undefined
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);

// Ioffe & Szegedy 2015. x (N, C, *). In training, normalise with the batch statistics over
// (N, *) and update running_mean / running_var in place:
//   running = (1 - momentum) running + momentum batch_stat   (running_var uses the unbiased
//   batch variance, as PyTorch). In inference, normalise with the running statistics.
// running_mean / running_var (C) may be undefined (then training statistics are always used).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training,
                  float momentum = 0.1f, float eps = 1e-5f);

}  // namespace tinydiff
