// Normalisation primitives: GroupNorm, LayerNorm and BatchNorm, forward and backward.
//
// GroupNorm and BatchNorm see x as (N, C, S): N samples, C channels, S numbers per channel
// (the product of the trailing axes). GroupNorm splits the C channels into G groups of C/G
// consecutive channels; one group (n, g) is then one contiguous block of m = (C/G) S
// numbers, normalised together. BatchNorm normalises each channel over (N, S), which is not
// contiguous. LayerNorm sees x as (rows, K) and normalises each row: the same math as a
// GroupNorm with one group of K channels of one number each, but its weight and bias are per
// element, so its kernels run along the row (vectorised) instead of channel by channel.
//
// Forward, over one normalisation set of m numbers:
//   mean = sum(x) / m,  var = sum((x - mean)^2) / m (biased),  rstd = 1 / sqrt(var + eps)
//   x_hat = (x - mean) rstd,  y = x_hat w_c + b_c    (c: the channel; in LayerNorm the element)
// Backward. With g = dy w_c (the gradient reaching x_hat), and means over the set:
//   dx = rstd (g - mean(g) - x_hat mean(g x_hat))
//   dw_c = sum dy x_hat,  db_c = sum dy       (over every number of channel c, all samples)
// Derivation: d mean / dx_j = 1/m and d var / dx_j = 2 (x_j - mean) / m give
//   d x_hat_i / dx_j = rstd (delta_ij - 1/m - x_hat_i x_hat_j / m),
// and dx_j = sum_i g_i d x_hat_i / dx_j is the line above.
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

namespace cpu {
// x, y (N, C, S); weight, bias (C) or null (1 and 0); mean, rstd (N, G) are written for the
// backward. C must be a multiple of G.
void group_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t S, int64_t G,
                        float eps);
// dy, dx (N, C, S); weight (C) or null; mean, rstd (N, G) from the forward.
// dweight, dbias (C) are written when not null.
void group_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, int64_t G);

// x, y (rows, K); weight, bias (K) or null; mean, rstd (rows) are written for the backward.
void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t rows, int64_t K, float eps);
// dy, dx (rows, K); weight (K) or null; dweight, dbias (K) written when not null.
void layer_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t rows, int64_t K);

// Batch statistics: x (N, C, S) -> mean, var (C), var biased (divided by N S), and
// rstd = 1 / sqrt(var + eps) (C), all in one pass.
void batch_norm_stats(const float* x, float* mean, float* var, float* rstd, int64_t N, int64_t C,
                      int64_t S, float eps);
// y (N, C, S) = (x - mean_c) rstd_c w_c + b_c; mean, rstd (C); weight, bias (C) or null.
void batch_norm_forward(const float* x, const float* mean, const float* rstd,
                        const float* weight, const float* bias, float* y, int64_t N, int64_t C,
                        int64_t S);
// dx (N, C, S); dweight, dbias (C) written when not null. With batch_stats the mean and rstd
// were computed from x itself (training) and dx takes the full formula above; otherwise they
// are constants (running statistics) and dx = dy w_c rstd_c.
void batch_norm_backward(const float* x, const float* mean, const float* rstd,
                         const float* weight, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, bool batch_stats);
// In place, per channel: running = (1 - momentum) running + momentum stat, where the variance
// statistic is var * unbias (unbias = n / (n - 1) turns the biased variance into the unbiased one).
void batch_norm_update_running(float* running_mean, float* running_var, const float* mean,
                               const float* var, int64_t C, float momentum, float unbias);
}  // namespace cpu

namespace cuda {
void group_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t S, int64_t G,
                        float eps);
void group_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, int64_t G);
void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t rows, int64_t K, float eps);
void layer_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t rows, int64_t K);
void batch_norm_stats(const float* x, float* mean, float* var, float* rstd, int64_t N, int64_t C,
                      int64_t S, float eps);
void batch_norm_forward(const float* x, const float* mean, const float* rstd,
                        const float* weight, const float* bias, float* y, int64_t N, int64_t C,
                        int64_t S);
void batch_norm_backward(const float* x, const float* mean, const float* rstd,
                         const float* weight, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, bool batch_stats);
void batch_norm_update_running(float* running_mean, float* running_var, const float* mean,
                               const float* var, int64_t C, float momentum, float unbias);
}  // namespace cuda

}  // namespace tinydiff
