// CUDA reductions and softmax over the middle axis of an (outer, r, inner) view.
//
// Two shapes of work, two kernels each:
//  - inner == 1 with long rows (r >= kThreads): the reduced numbers are contiguous, so a
//    whole block reduces one row, its threads reading neighbouring numbers (coalesced), and
//    combines the threads' partial results with warp shuffles (block_reduce in common.cuh).
//  - otherwise: one thread per output column (o, j) walks down its column of r numbers
//    (stride inner) on its own. Neighbouring threads read neighbouring columns (coalesced
//    when inner > 1), and the loop is the CPU's, so max/min/arg* agree with it exactly.
// Sums accumulate in double, as on the CPU.
#include <cfloat>

#include "tensor/cuda/common.cuh"
#include "tensor/kernels/reduce.hpp"

namespace tinydiff::cuda {

namespace {

bool use_rows(int64_t r, int64_t inner) { return inner == 1 && r >= kThreads; }
unsigned row_blocks(int64_t outer) { return unsigned(std::clamp<int64_t>(outer, 1, kMaxBlocks)); }
__device__ bool is_max(ReduceOp op) { return op == ReduceOp::Max || op == ReduceOp::ArgMax; }
__device__ bool is_arg(ReduceOp op) { return op == ReduceOp::ArgMax || op == ReduceOp::ArgMin; }

// Does (v, i) beat (w, j) as the max (or min)? The order of the CPU's left-to-right scan:
// a NaN beats every number (so it propagates) and a later NaN an earlier one; otherwise the
// larger (smaller) value wins and on ties the earlier index. A total order, so any
// reduction tree finds the same winner as the scan.
__device__ bool beats(float v, int64_t i, float w, int64_t j, bool max) {
  if (isnan(v) || isnan(w)) return isnan(v) && (!isnan(w) || i > j);
  if (v != w) return max ? v > w : v < w;
  return i < j;
}

// One thread per column (o, j): the CPU's reduce_column down x[o, :, j].
__global__ void reduce_columns_kernel(ReduceOp op, const float* in, float* out, int64_t outer,
                                      int64_t r, int64_t inner) {
  for (int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const float* p = in + (t / inner) * r * inner + t % inner;
    if (op == ReduceOp::Sum) {
      double s = 0;
      for (int64_t i = 0; i < r; ++i) s += p[i * inner];
      out[t] = float(s);
      continue;
    }
    int64_t best = 0;
    for (int64_t i = 1; i < r; ++i)
      if (beats(p[i * inner], i, p[best * inner], best, is_max(op))) best = i;
    out[t] = is_arg(op) ? float(best) : p[best * inner];
  }
}

// One block per row o (inner == 1). Each thread scans the numbers threadIdx.x + k blockDim.x
// of the row, then the block combines the threads' results.
__global__ void reduce_rows_kernel(ReduceOp op, const float* in, float* out, int64_t outer,
                                   int64_t r) {
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const float* p = in + o * r;
    if (op == ReduceOp::Sum) {
      double s = 0;
      for (int64_t i = threadIdx.x; i < r; i += blockDim.x) s += p[i];
      s = block_sum(s);
      if (threadIdx.x == 0) out[o] = float(s);
      continue;
    }
    int64_t best = threadIdx.x;  // r >= blockDim.x (use_rows), so every thread has one
    for (int64_t i = best + blockDim.x; i < r; i += blockDim.x)
      if (beats(p[i], i, p[best], best, is_max(op))) best = i;
    // Tree over the threads: at each step a thread takes the winner of its own and the
    // candidate `offset` threads above it, first within warps (shuffles), then across them.
    for (int offset = 16; offset > 0; offset >>= 1) {
      int64_t other = __shfl_down_sync(0xffffffffu, best, offset);
      if (beats(p[other], other, p[best], best, is_max(op))) best = other;
    }
    __shared__ int64_t warp_best[32];
    if (threadIdx.x % 32 == 0) warp_best[threadIdx.x / 32] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < int(blockDim.x / 32); ++w)
        if (beats(p[warp_best[w]], warp_best[w], p[best], best, is_max(op))) best = warp_best[w];
      out[o] = is_arg(op) ? float(best) : p[best];
    }
    __syncthreads();  // warp_best is reused by the next row
  }
}

// One thread per column (o, j), the CPU's loop: m = max, s = sum e^(x - m) in double, then
// y = e^(x - m - ln s) or, for log_softmax, y = x - m - ln s.
__global__ void softmax_columns_kernel(const float* x, float* y, int64_t outer, int64_t r,
                                       int64_t inner, bool log) {
  for (int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const int64_t base = (t / inner) * r * inner + t % inner;
    float m = -INFINITY;
    for (int64_t i = 0; i < r; ++i) m = MaxOp{}(m, x[base + i * inner]);
    double s = 0;
    for (int64_t i = 0; i < r; ++i) s += exp(double(x[base + i * inner] - m));
    const float log_s = float(::log(s));
    for (int64_t i = 0; i < r; ++i) {
      const float v = x[base + i * inner] - m - log_s;
      y[base + i * inner] = log ? v : expf(v);
    }
  }
}

// One block per row (inner == 1): the block's max, then the block's sum of e^(x - m).
__global__ void softmax_rows_kernel(const float* x, float* y, int64_t outer, int64_t r, bool log) {
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const float* px = x + o * r;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < r; i += blockDim.x) m = MaxOp{}(m, px[i]);
    m = block_reduce(m, MaxOp{}, -INFINITY);
    double s = 0;
    for (int64_t i = threadIdx.x; i < r; i += blockDim.x) s += exp(double(px[i] - m));
    const float log_s = float(::log(block_sum(s)));
    for (int64_t i = threadIdx.x; i < r; i += blockDim.x) {
      const float v = px[i] - m - log_s;
      y[o * r + i] = log ? v : expf(v);
    }
  }
}

// The softmax backward's gx[i] from the column sum s: softmax gx = y (g - s) with
// s = sum g y; log_softmax gx = g - e^y s with s = sum g.
__device__ float softmax_grad(float y, float g, double s, bool log) {
  return log ? g - expf(y) * float(s) : y * (g - float(s));
}

// One thread per column (o, j): s down the column, then gx.
__global__ void softmax_backward_columns_kernel(const float* y, const float* g, float* gx,
                                                int64_t outer, int64_t r, int64_t inner,
                                                bool log) {
  for (int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const int64_t base = (t / inner) * r * inner + t % inner;
    double s = 0;
    for (int64_t i = 0; i < r; ++i)
      s += log ? double(g[base + i * inner]) : double(g[base + i * inner]) * y[base + i * inner];
    for (int64_t i = 0; i < r; ++i) {
      const int64_t k = base + i * inner;
      gx[k] = softmax_grad(y[k], g[k], s, log);
    }
  }
}

// One block per row (inner == 1): s as a block sum, then gx.
__global__ void softmax_backward_rows_kernel(const float* y, const float* g, float* gx,
                                             int64_t outer, int64_t r, bool log) {
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const int64_t base = o * r;
    double s = 0;
    for (int64_t i = threadIdx.x; i < r; i += blockDim.x)
      s += log ? double(g[base + i]) : double(g[base + i]) * y[base + i];
    s = block_sum(s);
    for (int64_t i = threadIdx.x; i < r; i += blockDim.x)
      gx[base + i] = softmax_grad(y[base + i], g[base + i], s, log);
  }
}

}  // namespace

void reduce(ReduceOp op, const float* in, float* out, int64_t outer, int64_t r, int64_t inner) {
  if (use_rows(r, inner))
    reduce_rows_kernel<<<row_blocks(outer), kThreads>>>(op, in, out, outer, r);
  else
    reduce_columns_kernel<<<blocks_for(outer * inner), kThreads>>>(op, in, out, outer, r, inner);
  TD_CUDA_LAUNCH_CHECK();
}

void softmax(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (use_rows(r, inner))
    softmax_rows_kernel<<<row_blocks(outer), kThreads>>>(x, y, outer, r, log);
  else
    softmax_columns_kernel<<<blocks_for(outer * inner), kThreads>>>(x, y, outer, r, inner, log);
  TD_CUDA_LAUNCH_CHECK();
}

void softmax_backward(const float* y, const float* g, float* gx, int64_t outer, int64_t r,
                      int64_t inner, bool log) {
  if (use_rows(r, inner))
    softmax_backward_rows_kernel<<<row_blocks(outer), kThreads>>>(y, g, gx, outer, r, log);
  else
    softmax_backward_columns_kernel<<<blocks_for(outer * inner), kThreads>>>(y, g, gx, outer, r,
                                                                             inner, log);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
