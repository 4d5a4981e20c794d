// CUDA normalisation kernels; the math and its derivation are in tensor/kernels/norm.hpp.
// A normalisation set (a group (n, g) of GroupNorm, a row of LayerNorm, a channel of
// BatchNorm) is reduced by one thread block: its threads stride over the set's numbers, then combine their
// partial sums with warp shuffles (block_sum). Sums accumulate in double, as on the CPU.
#include "tensor/cuda/common.cuh"
#include "tensor/kernels/norm.hpp"

namespace tinydiff::cuda {

namespace {

unsigned set_blocks(int64_t sets) { return unsigned(std::clamp<int64_t>(sets, 1, kMaxBlocks)); }

// rstd = 1 / sqrt(var + eps) with var = E[x^2] - E[x]^2 (biased), from the two sums over m.
__device__ float rstd_of(double sum, double sumsq, double m, float eps) {
  const double mu = sum / m;
  return float(1.0 / sqrt(fmax(0.0, sumsq / m - mu * mu) + eps));
}

// One block per group (n, g): the m = (C/G) S contiguous numbers at x + ng m. The block sums
// x and x^2; then each thread writes y = x rstd w_c + (b_c - mean rstd w_c) for its numbers.
__global__ void group_norm_forward_kernel(const float* x, const float* weight, const float* bias,
                                          float* y, float* mean, float* rstd, int64_t N,
                                          int64_t C, int64_t S, int64_t G, float eps) {
  const int64_t channels_per_group = C / G, m = channels_per_group * S;
  for (int64_t ng = blockIdx.x; ng < N * G; ng += gridDim.x) {
    const float* xs = x + ng * m;
    double sum = 0, sumsq = 0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      sum += xs[i];
      sumsq += double(xs[i]) * xs[i];
    }
    sum = block_sum(sum);
    sumsq = block_sum(sumsq);
    const float mu = float(sum / double(m)), r = rstd_of(sum, sumsq, double(m), eps);
    if (threadIdx.x == 0) {
      mean[ng] = mu;
      rstd[ng] = r;
    }
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      const int64_t c = (ng % G) * channels_per_group + i / S;
      const float scale = r * (weight ? weight[c] : 1.f);
      y[ng * m + i] = xs[i] * scale + ((bias ? bias[c] : 0.f) - mu * scale);
    }
  }
}

// One block per group (n, g). Pass 1 sums g = dy w_c and g (x - mean) over the group; pass 2
// writes dx = rstd (g - mean(g) - x_hat mean(g x_hat)) for each of the thread's numbers.
__global__ void group_norm_backward_kernel(const float* x, const float* weight, const float* mean,
                                           const float* rstd, const float* dy, float* dx,
                                           int64_t N, int64_t C, int64_t S, int64_t G) {
  const int64_t channels_per_group = C / G, m = channels_per_group * S;
  for (int64_t ng = blockIdx.x; ng < N * G; ng += gridDim.x) {
    const int64_t c0 = (ng % G) * channels_per_group, at = ng * m;
    const float mu = mean[ng], r = rstd[ng];
    double sum_g = 0, sum_g_xc = 0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      const double g = double(dy[at + i]) * (weight ? weight[c0 + i / S] : 1.f);
      sum_g += g;
      sum_g_xc += g * (x[at + i] - mu);
    }
    sum_g = block_sum(sum_g);
    sum_g_xc = block_sum(sum_g_xc);
    const float mean_g = float(sum_g / double(m)), mean_g_xhat = float(sum_g_xc * r / double(m));
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      const float w = weight ? weight[c0 + i / S] : 1.f, x_hat = (x[at + i] - mu) * r;
      dx[at + i] = r * (dy[at + i] * w - mean_g - x_hat * mean_g_xhat);
    }
  }
}

// One block per channel c: dweight[c] = sum over (n, s) of dy x_hat, dbias[c] = sum of dy.
__global__ void group_norm_affine_kernel(const float* x, const float* mean, const float* rstd,
                                         const float* dy, float* dweight, float* dbias, int64_t N,
                                         int64_t C, int64_t S, int64_t G) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t k = threadIdx.x; k < N * S; k += blockDim.x) {
      const int64_t n = k / S, at = (n * C + c) * S + k % S, ng = n * G + c / (C / G);
      sum_dy += dy[at];
      sum_dy_xhat += double(dy[at]) * (x[at] - mean[ng]) * rstd[ng];
    }
    sum_dy = block_sum(sum_dy);
    sum_dy_xhat = block_sum(sum_dy_xhat);
    if (threadIdx.x == 0 && dweight) dweight[c] = float(sum_dy_xhat);
    if (threadIdx.x == 0 && dbias) dbias[c] = float(sum_dy);
  }
}

// One block per row i of x (rows, K): the block sums x and x^2 over the row; then each
// thread writes y = (x - mean) rstd w_k + b_k for its elements.
__global__ void layer_norm_forward_kernel(const float* x, const float* weight, const float* bias,
                                          float* y, float* mean, float* rstd, int64_t rows,
                                          int64_t K, float eps) {
  for (int64_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const float* xr = x + i * K;
    double sum = 0, sumsq = 0;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      sum += xr[k];
      sumsq += double(xr[k]) * xr[k];
    }
    sum = block_sum(sum);
    sumsq = block_sum(sumsq);
    const float mu = float(sum / double(K)), r = rstd_of(sum, sumsq, double(K), eps);
    if (threadIdx.x == 0) {
      mean[i] = mu;
      rstd[i] = r;
    }
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x)
      y[i * K + k] = (xr[k] - mu) * r * (weight ? weight[k] : 1.f) + (bias ? bias[k] : 0.f);
  }
}

// One block per row: pass 1 sums g = dy w_k and g x_hat over the row; pass 2 writes
// dx = rstd (g - mean(g) - x_hat mean(g x_hat)) for the thread's elements.
__global__ void layer_norm_backward_kernel(const float* x, const float* weight, const float* mean,
                                           const float* rstd, const float* dy, float* dx,
                                           int64_t rows, int64_t K) {
  for (int64_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const float mu = mean[i], r = rstd[i];
    const float *xr = x + i * K, *dyr = dy + i * K;
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const float g = dyr[k] * (weight ? weight[k] : 1.f);
      sum_g += g;
      sum_g_xhat += g * (xr[k] - mu) * r;
    }
    sum_g = block_sum(sum_g);
    sum_g_xhat = block_sum(sum_g_xhat);
    const float mean_g = float(sum_g / double(K)), mean_g_xhat = float(sum_g_xhat / double(K));
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const float x_hat = (xr[k] - mu) * r;
      dx[i * K + k] = r * (dyr[k] * (weight ? weight[k] : 1.f) - mean_g - x_hat * mean_g_xhat);
    }
  }
}

// One thread per column k: dweight[k] = sum over rows of dy x_hat, dbias[k] = sum of dy.
// Neighbouring threads read neighbouring columns of each row (coalesced).
__global__ void layer_norm_affine_kernel(const float* x, const float* mean, const float* rstd,
                                         const float* dy, float* dweight, float* dbias,
                                         int64_t rows, int64_t K) {
  for (int64_t k = thread_index(); k < K; k += thread_count()) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t i = 0; i < rows; ++i) {
      sum_dy += dy[i * K + k];
      sum_dy_xhat += dy[i * K + k] * ((x[i * K + k] - mean[i]) * rstd[i]);
    }
    if (dweight) dweight[k] = float(sum_dy_xhat);
    if (dbias) dbias[k] = float(sum_dy);
  }
}

// One block per channel c: sum and sum of squares over (n, s) -> mean, biased var.
__global__ void batch_norm_stats_kernel(const float* x, float* mean, float* var, float* rstd,
                                        int64_t N, int64_t C, int64_t S, float eps) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double sum = 0, sumsq = 0;
    for (int64_t k = threadIdx.x; k < N * S; k += blockDim.x) {
      const double v = x[(k / S * C + c) * S + k % S];
      sum += v;
      sumsq += v * v;
    }
    sum = block_sum(sum);
    sumsq = block_sum(sumsq);
    const double m = double(N * S), mu = sum / m;
    if (threadIdx.x == 0) {
      mean[c] = float(mu);
      var[c] = float(fmax(0.0, sumsq / m - mu * mu));
      rstd[c] = 1.f / sqrtf(var[c] + eps);
    }
  }
}

// Each thread: y[t] = x[t] rstd_c w_c + (b_c - mean_c rstd_c w_c), t = (n, c, s).
__global__ void batch_norm_forward_kernel(const float* x, const float* mean, const float* rstd,
                                          const float* weight, const float* bias, float* y,
                                          int64_t N, int64_t C, int64_t S) {
  for (int64_t t = thread_index(); t < N * C * S; t += thread_count()) {
    const int64_t c = t / S % C;
    const float scale = rstd[c] * (weight ? weight[c] : 1.f);
    y[t] = x[t] * scale + ((bias ? bias[c] : 0.f) - mean[c] * scale);
  }
}

// One block per channel c. Pass 1: sum dy and sum dy (x - mean) over (n, s), which give the
// bias and weight gradients. Pass 2: dx = rstd w (dy - mean(dy) - x_hat mean(dy x_hat)) with
// batch statistics, or dx = rstd w dy with running (constant) ones.
__global__ void batch_norm_backward_kernel(const float* x, const float* mean, const float* rstd,
                                           const float* weight, const float* dy, float* dx,
                                           float* dweight, float* dbias, int64_t N, int64_t C,
                                           int64_t S, bool batch_stats) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const float mu = mean[c], r = rstd[c], w = weight ? weight[c] : 1.f;
    double sum_dy = 0, sum_dy_xc = 0;
    for (int64_t k = threadIdx.x; k < N * S; k += blockDim.x) {
      const int64_t at = (k / S * C + c) * S + k % S;
      sum_dy += dy[at];
      sum_dy_xc += double(dy[at]) * (x[at] - mu);
    }
    sum_dy = block_sum(sum_dy);
    sum_dy_xc = block_sum(sum_dy_xc);
    const double m = double(N * S), sum_dy_xhat = sum_dy_xc * r;
    if (threadIdx.x == 0 && dweight) dweight[c] = float(sum_dy_xhat);
    if (threadIdx.x == 0 && dbias) dbias[c] = float(sum_dy);
    const float mean_dy = batch_stats ? float(sum_dy / m) : 0.f;
    const float mean_dy_xhat = batch_stats ? float(sum_dy_xhat / m) : 0.f;
    for (int64_t k = threadIdx.x; k < N * S; k += blockDim.x) {
      const int64_t at = (k / S * C + c) * S + k % S;
      const float x_hat = (x[at] - mu) * r;
      dx[at] = r * w * (dy[at] - mean_dy - x_hat * mean_dy_xhat);
    }
  }
}

// Each thread: one channel's running = (1 - momentum) running + momentum statistic.
__global__ void batch_norm_running_kernel(float* running_mean, float* running_var,
                                          const float* mean, const float* var, int64_t C,
                                          float momentum, float unbias) {
  for (int64_t c = thread_index(); c < C; c += thread_count()) {
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * var[c] * unbias;
  }
}

}  // namespace

void group_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t S, int64_t G,
                        float eps) {
  group_norm_forward_kernel<<<set_blocks(N * G), kThreads>>>(x, weight, bias, y, mean, rstd, N, C,
                                                             S, G, eps);
  TD_CUDA_LAUNCH_CHECK();
}

void group_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, int64_t G) {
  group_norm_backward_kernel<<<set_blocks(N * G), kThreads>>>(x, weight, mean, rstd, dy, dx, N, C,
                                                              S, G);
  TD_CUDA_LAUNCH_CHECK();
  if (!dweight && !dbias) return;
  group_norm_affine_kernel<<<set_blocks(C), kThreads>>>(x, mean, rstd, dy, dweight, dbias, N, C,
                                                        S, G);
  TD_CUDA_LAUNCH_CHECK();
}

void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                        float* mean, float* rstd, int64_t rows, int64_t K, float eps) {
  layer_norm_forward_kernel<<<set_blocks(rows), kThreads>>>(x, weight, bias, y, mean, rstd, rows,
                                                            K, eps);
  TD_CUDA_LAUNCH_CHECK();
}

void layer_norm_backward(const float* x, const float* weight, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t rows, int64_t K) {
  layer_norm_backward_kernel<<<set_blocks(rows), kThreads>>>(x, weight, mean, rstd, dy, dx, rows, K);
  TD_CUDA_LAUNCH_CHECK();
  if (!dweight && !dbias) return;
  layer_norm_affine_kernel<<<blocks_for(K), kThreads>>>(x, mean, rstd, dy, dweight, dbias, rows, K);
  TD_CUDA_LAUNCH_CHECK();
}

void batch_norm_stats(const float* x, float* mean, float* var, float* rstd, int64_t N, int64_t C,
                      int64_t S, float eps) {
  batch_norm_stats_kernel<<<set_blocks(C), kThreads>>>(x, mean, var, rstd, N, C, S, eps);
  TD_CUDA_LAUNCH_CHECK();
}

void batch_norm_forward(const float* x, const float* mean, const float* rstd,
                        const float* weight, const float* bias, float* y, int64_t N, int64_t C,
                        int64_t S) {
  batch_norm_forward_kernel<<<blocks_for(N * C * S), kThreads>>>(x, mean, rstd, weight, bias, y,
                                                                 N, C, S);
  TD_CUDA_LAUNCH_CHECK();
}

void batch_norm_backward(const float* x, const float* mean, const float* rstd,
                         const float* weight, const float* dy, float* dx, float* dweight,
                         float* dbias, int64_t N, int64_t C, int64_t S, bool batch_stats) {
  batch_norm_backward_kernel<<<set_blocks(C), kThreads>>>(x, mean, rstd, weight, dy, dx, dweight,
                                                          dbias, N, C, S, batch_stats);
  TD_CUDA_LAUNCH_CHECK();
}

void batch_norm_update_running(float* running_mean, float* running_var, const float* mean,
                               const float* var, int64_t C, float momentum, float unbias) {
  batch_norm_running_kernel<<<blocks_for(C), kThreads>>>(running_mean, running_var, mean, var, C,
                                                         momentum, unbias);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
