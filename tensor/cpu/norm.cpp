// CPU normalisation kernels (the math is in tensor/kernels/norm.hpp). GroupNorm runs in
// parallel over the groups (n, g), LayerNorm over the rows, BatchNorm over the channels: each
// thread owns whole normalisation sets, so no two threads write the same output. The weight
// and bias gradients of GroupNorm and LayerNorm sum over samples instead, so they run in
// parallel over blocks of channels. Sums are accumulated in double.
#include <algorithm>
#include <cmath>

#include "tensor/kernels/norm.hpp"

namespace tinydiff {
namespace cpu {

namespace {
constexpr int64_t kParallelGrain = 32768;  // below this many elements, one thread is faster
constexpr int64_t kChannelBlock = 16;      // channels per task in the weight/bias gradients
constexpr int64_t kColumnBlock = 64;       // LayerNorm columns per task in the same

// mean and rstd of the m numbers at p, from one pass over sum(x) and sum(x^2).
void moments(const float* p, int64_t m, float eps, float* mean, float* rstd) {
  double sum = 0, sumsq = 0;
#pragma omp simd reduction(+ : sum, sumsq)
  for (int64_t i = 0; i < m; ++i) {
    double v = p[i];
    sum += v;
    sumsq += v * v;
  }
  double mu = sum / double(m);
  double var = std::max(0.0, sumsq / double(m) - mu * mu);
  *mean = float(mu);
  *rstd = float(1.0 / std::sqrt(var + eps));
}

// Over the S numbers of one channel: *sum_dy += sum dy, *sum_dy_xc += sum dy (x - mean).
void channel_sums(const float* x, const float* dy, int64_t S, float mean, double* sum_dy,
                  double* sum_dy_xc) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t s = 0; s < S; ++s) {
    a += dy[s];
    b += double(dy[s]) * (x[s] - mean);
  }
  *sum_dy += a;
  *sum_dy_xc += b;
}

// dweight[c] = sum_{n,s} dy x_hat, dbias[c] = sum_{n,s} dy: a reduction over samples, so it
// runs in parallel over blocks of channels (each task owns its outputs).
void group_norm_affine_grads(const float* x, const float* mean, const float* rstd,
                             const float* dy, float* dweight, float* dbias, int64_t N,
                             int64_t C, int64_t S, int64_t G) {
  const int64_t channels_per_group = C / G;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for if (N * C * S > kParallelGrain)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t c_begin = block * kChannelBlock, c_end = std::min(C, c_begin + kChannelBlock);
    double sum_dy[kChannelBlock] = {}, sum_dy_xhat[kChannelBlock] = {};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c_begin; c < c_end; ++c) {
        const int64_t ng = n * G + c / channels_per_group, at = (n * C + c) * S;
        double a = 0, b = 0;
        channel_sums(x + at, dy + at, S, mean[ng], &a, &b);
        sum_dy[c - c_begin] += a;
        sum_dy_xhat[c - c_begin] += b * rstd[ng];
      }
    for (int64_t c = c_begin; c < c_end; ++c) {
      if (dweight) dweight[c] = float(sum_dy_xhat[c - c_begin]);
      if (dbias) dbias[c] = float(sum_dy[c - c_begin]);
    }
  }
}
}  // namespace

void group_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t S, int64_t G,
                        float eps) {
  const int64_t channels_per_group = C / G, m = channels_per_group * S;
#pragma omp parallel for if (N * C * S > kParallelGrain)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    moments(x + ng * m, m, eps, &mean[ng], &rstd[ng]);
    // y = (x - mean) rstd w_c + b_c = x scale + shift, for each channel c of the group.
    const int64_t c0 = (ng % G) * channels_per_group;
    for (int64_t j = 0; j < channels_per_group; ++j) {
      const float w = weight ? weight[c0 + j] : 1.f, b = bias ? bias[c0 + j] : 0.f;
      const float scale = rstd[ng] * w, shift = b - mean[ng] * scale;
      const float* xc = x + ng * m + j * S;
      float* yc = y + ng * m + j * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) yc[s] = xc[s] * scale + shift;
    }
  }
}

void group_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, int64_t G) {
  // BEGIN EXERCISE 01.6 GroupNorm's backward (#3-the-model)
  const int64_t channels_per_group = C / G, m = channels_per_group * S;
#pragma omp parallel for if (N * C * S > kParallelGrain)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const int64_t c0 = (ng % G) * channels_per_group;
    const float mu = mean[ng], r = rstd[ng];
    // Pass 1: sum g and sum g x_hat over the group, g = dy w_c.
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t j = 0; j < channels_per_group; ++j) {
      const double w = weight ? weight[c0 + j] : 1.0;
      double a = 0, b = 0;
      channel_sums(x + ng * m + j * S, dy + ng * m + j * S, S, mu, &a, &b);
      sum_g += w * a;
      sum_g_xhat += w * b * r;
    }
    const float mean_g = float(sum_g / double(m)), mean_g_xhat = float(sum_g_xhat / double(m));
    // Pass 2: dx = rstd (g - mean(g) - x_hat mean(g x_hat)).
    for (int64_t j = 0; j < channels_per_group; ++j) {
      const float w = weight ? weight[c0 + j] : 1.f;
      const int64_t at = ng * m + j * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) {
        const float x_hat = (x[at + s] - mu) * r;
        dx[at + s] = r * (dy[at + s] * w - mean_g - x_hat * mean_g_xhat);
      }
    }
  }
  if (dweight || dbias) group_norm_affine_grads(x, mean, rstd, dy, dweight, dbias, N, C, S, G);
  // END EXERCISE
}

void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t rows, int64_t K, float eps) {
#pragma omp parallel for if (rows * K > kParallelGrain)
  for (int64_t i = 0; i < rows; ++i) {
    moments(x + i * K, K, eps, &mean[i], &rstd[i]);
    const float mu = mean[i], r = rstd[i];
    const float* xr = x + i * K;
    float* yr = y + i * K;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k)
      yr[k] = (xr[k] - mu) * r * (weight ? weight[k] : 1.f) + (bias ? bias[k] : 0.f);
  }
}

void layer_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t rows, int64_t K) {
#pragma omp parallel for if (rows * K > kParallelGrain)
  for (int64_t i = 0; i < rows; ++i) {
    const float mu = mean[i], r = rstd[i];
    const float *xr = x + i * K, *dyr = dy + i * K;
    float* dxr = dx + i * K;
    // Pass 1: sum g and sum g x_hat over the row, g = dy w_k.
    double sum_g = 0, sum_g_xhat = 0;
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
    for (int64_t k = 0; k < K; ++k) {
      const float g = dyr[k] * (weight ? weight[k] : 1.f);
      sum_g += g;
      sum_g_xhat += g * (xr[k] - mu) * r;
    }
    const float mean_g = float(sum_g / double(K)), mean_g_xhat = float(sum_g_xhat / double(K));
    // Pass 2: dx = rstd (g - mean(g) - x_hat mean(g x_hat)).
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) {
      const float x_hat = (xr[k] - mu) * r;
      dxr[k] = r * (dyr[k] * (weight ? weight[k] : 1.f) - mean_g - x_hat * mean_g_xhat);
    }
  }
  if (!dweight && !dbias) return;
  // dweight[k] = sum_i dy x_hat, dbias[k] = sum_i dy, over rows i, by blocks of columns.
  const int64_t blocks = (K + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for if (rows * K > kParallelGrain)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t k0 = block * kColumnBlock, width = std::min(K - k0, kColumnBlock);
    double sum_dy[kColumnBlock] = {}, sum_dy_xhat[kColumnBlock] = {};
    for (int64_t i = 0; i < rows; ++i) {
      const float mu = mean[i], r = rstd[i];
      const float *xr = x + i * K + k0, *dyr = dy + i * K + k0;
#pragma omp simd
      for (int64_t k = 0; k < width; ++k) {
        sum_dy[k] += dyr[k];
        sum_dy_xhat[k] += dyr[k] * ((xr[k] - mu) * r);
      }
    }
    for (int64_t k = 0; k < width; ++k) {
      if (dweight) dweight[k0 + k] = float(sum_dy_xhat[k]);
      if (dbias) dbias[k0 + k] = float(sum_dy[k]);
    }
  }
}

void batch_norm_stats(const float* x, float* mean, float* var, float* rstd, int64_t N, int64_t C,
                      int64_t S, float eps) {
  const double m = double(N * S);
#pragma omp parallel for if (N * C * S > kParallelGrain)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sumsq = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* xc = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sum, sumsq)
      for (int64_t s = 0; s < S; ++s) {
        double v = xc[s];
        sum += v;
        sumsq += v * v;
      }
    }
    const double mu = sum / m;
    mean[c] = float(mu);
    var[c] = float(std::max(0.0, sumsq / m - mu * mu));
    rstd[c] = 1.f / std::sqrt(var[c] + eps);
  }
}

void batch_norm_forward(const float* x, const float* mean, const float* rstd,
                        const float* weight, const float* bias, float* y, int64_t N, int64_t C,
                        int64_t S) {
#pragma omp parallel for collapse(2) if (N * C * S > kParallelGrain)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float w = weight ? weight[c] : 1.f, b = bias ? bias[c] : 0.f;
      const float scale = rstd[c] * w, shift = b - mean[c] * scale;
      const float* xc = x + (n * C + c) * S;
      float* yc = y + (n * C + c) * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) yc[s] = xc[s] * scale + shift;
    }
}

void batch_norm_backward(const float* x, const float* mean, const float* rstd,
                         const float* weight, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, bool batch_stats) {
  const double m = double(N * S);
#pragma omp parallel for if (N * C * S > kParallelGrain)
  for (int64_t c = 0; c < C; ++c) {
    const float mu = mean[c], r = rstd[c], w = weight ? weight[c] : 1.f;
    // Pass 1: sum dy and sum dy x_hat over (n, s): the bias and weight gradients.
    double sum_dy = 0, sum_dy_xc = 0;
    for (int64_t n = 0; n < N; ++n)
      channel_sums(x + (n * C + c) * S, dy + (n * C + c) * S, S, mu, &sum_dy, &sum_dy_xc);
    const double sum_dy_xhat = sum_dy_xc * r;
    if (dweight) dweight[c] = float(sum_dy_xhat);
    if (dbias) dbias[c] = float(sum_dy);
    // Pass 2: w_c is constant over the set, so dx = rstd w (dy - mean(dy) - x_hat mean(dy x_hat))
    // with batch statistics, and dx = rstd w dy with running (constant) ones.
    const float mean_dy = batch_stats ? float(sum_dy / m) : 0.f;
    const float mean_dy_xhat = batch_stats ? float(sum_dy_xhat / m) : 0.f;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t at = (n * C + c) * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) {
        const float x_hat = (x[at + s] - mu) * r;
        dx[at + s] = r * w * (dy[at + s] - mean_dy - x_hat * mean_dy_xhat);
      }
    }
  }
}

void batch_norm_update_running(float* running_mean, float* running_var, const float* mean,
                               const float* var, int64_t C, float momentum, float unbias) {
  for (int64_t c = 0; c < C; ++c) {
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * var[c] * unbias;
  }
}

}  // namespace cpu
}  // namespace tinydiff
