// CUDA indexing kernels over (outer, n, inner) views (see tensor/kernels/indexing.hpp).
// Reads (index_select, gather, one_hot) give each thread one output element. The scatters
// (index_add, scatter_add) give each thread one source element and add it with atomicAdd,
// since several sources may land on one destination: the sum is then exact up to the order
// of the float additions, which varies from run to run.
#include <memory>

#include "tensor/cuda/common.cuh"
#include "tensor/kernels/indexing.hpp"
#include "tensor/storage.hpp"

namespace tinydiff::cuda {

namespace {

// Each thread checks its indices; a bad one (not a whole number in [0, size), or NaN) lowers
// *first to its position, so *first ends as the smallest bad position (atomicMin).
__global__ void find_bad_index_kernel(const float* index, int64_t n, int64_t size,
                                      unsigned long long* first) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float v = index[i];
    if (!(v >= 0.f && v < float(size) && v == floorf(v))) atomicMin(first, (unsigned long long)i);
  }
}

// Each thread: out[o, i, j] = x[o, index[i], j] for its elements t = (o, i, j).
__global__ void index_select_kernel(const float* x, const float* index, float* out, int64_t outer,
                                    int64_t n_in, int64_t n_idx, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * n_idx * inner; t += thread_count()) {
    const int64_t j = t % inner, i = t / inner % n_idx, o = t / (inner * n_idx);
    out[t] = x[(o * n_in + int64_t(index[i])) * inner + j];
  }
}

// Each thread: gx[o, index[i], j] += g[o, i, j] for its elements t = (o, i, j).
__global__ void index_add_kernel(const float* g, const float* index, float* gx, int64_t outer,
                                 int64_t n_in, int64_t n_idx, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * n_idx * inner; t += thread_count()) {
    const int64_t j = t % inner, i = t / inner % n_idx, o = t / (inner * n_idx);
    atomicAdd(&gx[(o * n_in + int64_t(index[i])) * inner + j], g[t]);
  }
}

// Each thread: out[o, i, j] = x[o, index[o, i, j], j] for its elements t = (o, i, j).
__global__ void gather_kernel(const float* x, const float* index, float* out, int64_t outer,
                              int64_t n_in, int64_t n_idx, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * n_idx * inner; t += thread_count()) {
    const int64_t j = t % inner, o = t / (inner * n_idx);
    out[t] = x[(o * n_in + int64_t(index[t])) * inner + j];
  }
}

// Each thread: dst[o, index[o, i, j], j] += src[o, i, j] for its elements t = (o, i, j).
__global__ void scatter_add_kernel(const float* src, const float* index, float* dst, int64_t outer,
                                   int64_t n_dst, int64_t n_idx, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * n_idx * inner; t += thread_count()) {
    const int64_t j = t % inner, o = t / (inner * n_idx);
    atomicAdd(&dst[(o * n_dst + int64_t(index[t])) * inner + j], src[t]);
  }
}

// Each thread: out[i, c] = [c == index[i]] for its elements t = (i, c).
__global__ void one_hot_kernel(const float* index, float* out, int64_t n, int64_t classes) {
  for (int64_t t = thread_index(); t < n * classes; t += thread_count())
    out[t] = int64_t(index[t / classes]) == t % classes ? 1.f : 0.f;
}

}  // namespace

// The answer goes to a host variable, so this one call waits for the GPU.
void find_bad_index(const float* index, int64_t n, int64_t size, int64_t* position) {
  auto scratch = Storage::allocate(2, Device::cuda());  // one 64-bit counter
  auto* first = reinterpret_cast<unsigned long long*>(scratch->data());
  count_launch();
  TD_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(unsigned long long)));  // all ones: none yet
  find_bad_index_kernel<<<blocks_for(n), kThreads>>>(index, n, size, first);
  TD_CUDA_LAUNCH_CHECK();
  unsigned long long host = 0;
  count_launch();
  TD_CUDA_CHECK(cudaMemcpy(&host, first, sizeof(host), cudaMemcpyDeviceToHost));
  *position = host == ~0ull ? -1 : int64_t(host);
}

void index_select(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
                  int64_t n_idx, int64_t inner) {
  index_select_kernel<<<blocks_for(outer * n_idx * inner), kThreads>>>(x, index, out, outer, n_in,
                                                                       n_idx, inner);
  TD_CUDA_LAUNCH_CHECK();
}

void index_add(const float* g, const float* index, float* gx, int64_t outer, int64_t n_in,
               int64_t n_idx, int64_t inner) {
  index_add_kernel<<<blocks_for(outer * n_idx * inner), kThreads>>>(g, index, gx, outer, n_in,
                                                                    n_idx, inner);
  TD_CUDA_LAUNCH_CHECK();
}

void gather(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
            int64_t n_idx, int64_t inner) {
  gather_kernel<<<blocks_for(outer * n_idx * inner), kThreads>>>(x, index, out, outer, n_in, n_idx,
                                                                 inner);
  TD_CUDA_LAUNCH_CHECK();
}

void scatter_add(const float* src, const float* index, float* dst, int64_t outer, int64_t n_dst,
                 int64_t n_idx, int64_t inner) {
  scatter_add_kernel<<<blocks_for(outer * n_idx * inner), kThreads>>>(src, index, dst, outer,
                                                                      n_dst, n_idx, inner);
  TD_CUDA_LAUNCH_CHECK();
}

void one_hot(const float* index, float* out, int64_t n, int64_t classes) {
  one_hot_kernel<<<blocks_for(n * classes), kThreads>>>(index, out, n, classes);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
