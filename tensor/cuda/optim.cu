// CUDA optimizer kernels: the fused updates of tensor/kernels/optim.hpp, one thread per
// parameter element (each reads p, g and its moments once and writes them once), plus the
// two helpers of gradient clipping. The order of operations is the CPU's.
#include <memory>

#include "tensor/cuda/common.cuh"
#include "tensor/kernels/optim.hpp"
#include "tensor/storage.hpp"

namespace tinydiff::cuda {

namespace {

constexpr int kSumBlocks = 256;  // sum_squares: partial sums per block, then one block adds them

// Each thread: one SGD step on its elements (buf is not touched without momentum).
__global__ void sgd_kernel(float* p, const float* g, float* buf, int64_t n, SgdScalars s) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float d = s.weight_decay != 0.f ? g[i] + s.weight_decay * p[i] : g[i];
    if (s.momentum == 0.f) {
      p[i] -= s.lr * d;
      continue;
    }
    const float b = s.first_step ? d : s.momentum * buf[i] + s.one_minus_dampening * d;
    buf[i] = b;
    p[i] -= s.lr * (s.nesterov ? d + s.momentum * b : b);
  }
}

// Each thread: one Adam / AdamW step on its elements.
__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamScalars s) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float param = p[i] * s.decay;
    const float grad = s.l2 != 0.f ? g[i] + s.l2 * param : g[i];
    const float mi = s.beta1 * m[i] + s.one_minus_beta1 * grad;
    const float vi = s.beta2 * v[i] + (s.one_minus_beta2 * grad) * grad;
    const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = param - (s.step_size * mi) / denom;
  }
}

// Each thread: shadow[i] -= (1 - decay) (shadow[i] - p[i]) on its elements.
__global__ void ema_kernel(float* shadow, const float* p, int64_t n, float one_minus_decay) {
  for (int64_t i = thread_index(); i < n; i += thread_count())
    shadow[i] -= one_minus_decay * (shadow[i] - p[i]);
}

// Each thread: x[i] *= factor on its elements.
__global__ void scale_kernel(float* x, int64_t n, float factor) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) x[i] *= factor;
}

// Stage 1 of sum_squares: block b sums x[i]^2 over its grid-stride share, in double, and
// writes partial[b]. A fixed grid, so the sum's order is the same on every run.
__global__ void sum_squares_partial_kernel(const float* x, int64_t n, double* partial) {
  double s = 0;
  for (int64_t i = thread_index(); i < n; i += thread_count()) s += double(x[i]) * x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Stage 2: one block adds the kSumBlocks partial sums: out[0] = the total, as a float.
__global__ void sum_partials_kernel(const double* partial, float* out) {
  double s = 0;
  for (int i = threadIdx.x; i < kSumBlocks; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = float(s);
}

}  // namespace

void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdScalars& s) {
  sgd_kernel<<<blocks_for(n), kThreads>>>(p, g, buf, n, s);
  TD_CUDA_LAUNCH_CHECK();
}

void adam_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars& s) {
  adam_kernel<<<blocks_for(n), kThreads>>>(p, g, m, v, n, s);
  TD_CUDA_LAUNCH_CHECK();
}

void ema_update(float* shadow, const float* p, int64_t n, float one_minus_decay) {
  ema_kernel<<<blocks_for(n), kThreads>>>(shadow, p, n, one_minus_decay);
  TD_CUDA_LAUNCH_CHECK();
}

// out is a device pointer (a one-element tensor).
void sum_squares(const float* x, int64_t n, float* out) {
  auto partial = Storage::allocate(2 * kSumBlocks, Device::cuda());  // kSumBlocks doubles
  auto* partial_sums = reinterpret_cast<double*>(partial->data());
  sum_squares_partial_kernel<<<kSumBlocks, kThreads>>>(x, n, partial_sums);
  TD_CUDA_LAUNCH_CHECK();
  sum_partials_kernel<<<1, kThreads>>>(partial_sums, out);
  TD_CUDA_LAUNCH_CHECK();
}

void scale(float* x, int64_t n, float factor) {
  scale_kernel<<<blocks_for(n), kThreads>>>(x, n, factor);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
