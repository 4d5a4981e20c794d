// Class-index losses: negative log-likelihood and cross-entropy. A (N, C, d...) score tensor
// is seen as (outer = N, c = C, inner = prod d): the class axis is the middle axis, as in
// tensor/kernels/reduce.hpp. Targets are (outer, inner) class indices stored as floats; the
// op above checks that they are whole numbers in [0, c) before calling these.
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

namespace cpu {
// loss[o, j] = -logp[o, target[o, j], j]
void nll_loss(const float* logp, const float* target, float* loss, int64_t outer, int64_t c,
              int64_t inner);
// glogp[o, k, j] = -g[o, j] [k == target[o, j]]
void nll_loss_backward(const float* target, const float* g, float* glogp, int64_t outer,
                       int64_t c, int64_t inner);
// gx[o, k, j] = g[o, j] (exp(logp[o, k, j]) - [k == target[o, j]])   (softmax - one-hot)
void cross_entropy_backward(const float* logp, const float* target, const float* g, float* gx,
                            int64_t outer, int64_t c, int64_t inner);
}  // namespace cpu

namespace cuda {
void nll_loss(const float* logp, const float* target, float* loss, int64_t outer, int64_t c,
              int64_t inner);
void nll_loss_backward(const float* target, const float* g, float* glogp, int64_t outer,
                       int64_t c, int64_t inner);
void cross_entropy_backward(const float* logp, const float* target, const float* g, float* gx,
                            int64_t outer, int64_t c, int64_t inner);
}  // namespace cuda

}  // namespace tinydiff
