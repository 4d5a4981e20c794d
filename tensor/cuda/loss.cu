// CUDA kernels of the class-index losses over (outer, c, inner) score tensors (see
// tensor/kernels/loss.hpp). Each thread computes whole output elements; no thread reads
// another's result, so the kernels need no synchronisation.
#include "tensor/cuda/common.cuh"
#include "tensor/kernels/loss.hpp"

namespace tinydiff::cuda {

namespace {

// Each thread: loss[o, j] = -logp[o, target[o, j], j] for its elements t = (o, j).
__global__ void nll_loss_kernel(const float* logp, const float* target, float* loss,
                                int64_t outer, int64_t c, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const int64_t o = t / inner, j = t % inner;
    loss[t] = -logp[(o * c + int64_t(target[t])) * inner + j];
  }
}

// Each thread: glogp[o, k, j] = -g[o, j] if k is the target class, else 0; t = (o, k, j).
__global__ void nll_loss_backward_kernel(const float* target, const float* g, float* glogp,
                                         int64_t outer, int64_t c, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * c * inner; t += thread_count()) {
    const int64_t j = t % inner, k = t / inner % c, o = t / (inner * c);
    glogp[t] = int64_t(target[o * inner + j]) == k ? -g[o * inner + j] : 0.f;
  }
}

// Each thread: gx[o, k, j] = g[o, j] e^logp[o, k, j] - g[o, j] [k == target]  (softmax minus
// the one-hot target, scaled by the incoming gradient); t = (o, k, j).
__global__ void cross_entropy_backward_kernel(const float* logp, const float* target,
                                              const float* g, float* gx, int64_t outer,
                                              int64_t c, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * c * inner; t += thread_count()) {
    const int64_t j = t % inner, k = t / inner % c, o = t / (inner * c);
    const float go = g[o * inner + j], softmax = go * expf(logp[t]);
    gx[t] = int64_t(target[o * inner + j]) == k ? softmax - go : softmax;
  }
}

}  // namespace

void nll_loss(const float* logp, const float* target, float* loss, int64_t outer, int64_t c,
              int64_t inner) {
  nll_loss_kernel<<<blocks_for(outer * inner), kThreads>>>(logp, target, loss, outer, c, inner);
  TD_CUDA_LAUNCH_CHECK();
}

void nll_loss_backward(const float* target, const float* g, float* glogp, int64_t outer,
                       int64_t c, int64_t inner) {
  nll_loss_backward_kernel<<<blocks_for(outer * c * inner), kThreads>>>(target, g, glogp, outer, c,
                                                                        inner);
  TD_CUDA_LAUNCH_CHECK();
}

void cross_entropy_backward(const float* logp, const float* target, const float* g, float* gx,
                            int64_t outer, int64_t c, int64_t inner) {
  cross_entropy_backward_kernel<<<blocks_for(outer * c * inner), kThreads>>>(logp, target, g, gx,
                                                                             outer, c, inner);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
