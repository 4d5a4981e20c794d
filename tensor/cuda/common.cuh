// What every CUDA kernel file shares: checked CUDA and cuBLAS calls, the launch shape of
// grid-stride loops, and block-wide reductions built from warp shuffles.
//
// Every kernel runs on the legacy default stream, one after another in launch order. So a
// buffer freed on the host (back into the caching allocator) can be handed to the next
// kernel at once: that kernel cannot start before the last one that used the buffer ended.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "tensor/error.hpp"

namespace tinydiff::cuda {

// Throw tinydiff::Error naming the failed call, where it was made and CUDA's reason.
[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                          int line) {
  throw_error("cuda: ", call, " failed at ", file, ":", line, ": ", cudaGetErrorName(status),
              " (", cudaGetErrorString(status), ")");
}
[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call,
                                            const char* file, int line) {
  throw_error("cublas: ", call, " failed at ", file, ":", line, ": ", cublasGetStatusName(status),
              " (", cublasGetStatusString(status), ")");
}

// Every piece of work handed to the GPU: kernel launches (TD_CUDA_LAUNCH_CHECK), cuBLAS calls
// and device-side copies and memsets. At the lessons' sizes each costs a few microseconds of
// launch overhead whatever it computes, so device_launches (tensor/device.hpp) is worth watching.
inline std::atomic<int64_t> launches_issued{0};
inline void count_launch() { launches_issued.fetch_add(1, std::memory_order_relaxed); }

}  // namespace tinydiff::cuda

// TD_CUDA_CHECK(cudaMalloc(&p, bytes)) throws when the call does not return cudaSuccess.
#define TD_CUDA_CHECK(call)                                                            \
  do {                                                                                 \
    cudaError_t td_status_ = (call);                                                   \
    if (td_status_ != cudaSuccess)                                                     \
      ::tinydiff::cuda::throw_cuda_error(td_status_, #call, __FILE__, __LINE__);       \
  } while (0)
#define TD_CUBLAS_CHECK(call)                                                          \
  do {                                                                                 \
    cublasStatus_t td_status_ = (call);                                                \
    if (td_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::tinydiff::cuda::throw_cublas_error(td_status_, #call, __FILE__, __LINE__);     \
  } while (0)
// After a kernel launch: counts it (count_launch below) and reports a bad launch (grid too
// large, too much shared memory). A fault inside a running kernel shows up at the next
// synchronising call instead (usually the next host copy); run with CUDA_LAUNCH_BLOCKING=1 to
// have it reported at its launch.
#define TD_CUDA_LAUNCH_CHECK()                                                         \
  do {                                                                                 \
    ::tinydiff::cuda::count_launch();                                                  \
    TD_CUDA_CHECK(cudaGetLastError());                                                 \
  } while (0)

namespace tinydiff::cuda {

constexpr int kThreads = 256;          // threads per block for the elementwise kernels
constexpr int64_t kMaxBlocks = 65536;  // more blocks than that just take more loop turns

// Blocks for a grid-stride loop over n items (at least one, so that n = 0 still launches).
inline unsigned blocks_for(int64_t n) {
  return unsigned(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// A grid-stride loop: for (int64_t i = thread_index(); i < n; i += thread_count()).
// Thread t of the grid handles items t, t + T, t + 2T, ... where T is the grid's thread count,
// so any grid size covers any n and neighbouring threads touch neighbouring items.
__device__ inline int64_t thread_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t thread_count() { return int64_t(gridDim.x) * blockDim.x; }

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
// The larger of two floats. A NaN in b is skipped, as by the CPU's std::max(m, x) loops
// (softmax still turns NaN, through its sum of exponentials).
struct MaxOp {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

// Reduces v over the 32 lanes of a warp: at each step every lane adds the value of the lane
// `offset` above it (offset 16, 8, 4, 2, 1), through registers; lane 0 ends with the total.
template <class T, class Op>
__device__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces v over the whole block (blockDim.x a multiple of 32, at most 1024) and returns the
// result to every thread. Each warp reduces its lanes; lane 0 of each warp puts the warp's
// result in shared memory; the first warp reduces those; thread 0 broadcasts it.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_reduce(v, op);
  __syncthreads();  // the previous call's readers are done with `partial`
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < warps ? partial[threadIdx.x] : identity;
  if (warp == 0) v = warp_reduce(v, op);
  if (threadIdx.x == 0) partial[0] = v;
  __syncthreads();
  return partial[0];
}
template <class T>
__device__ T block_sum(T v) { return block_reduce(v, SumOp{}, T(0)); }

}  // namespace tinydiff::cuda
