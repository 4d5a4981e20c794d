// CUDA elementwise kernels: one thread per output element, in grid-stride loops. The formulas
// are the functors of tensor/kernels/unary_math.hpp and math::binary (elementwise.hpp), the
// same code the CPU kernels run. Random fills are in random.cu, host copies in memory.cu.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/strided.cuh"
#include "tensor/kernels/elementwise.hpp"

namespace tinydiff::cuda {

namespace {

// Each thread: y[i] = f(x[i]; a, b) for its elements i.
template <class F>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float a, float b) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) y[i] = F::f(x[i], a, b);
}

// Each thread: gx[i] = g[i] f'(x[i]; a, b) for its elements, with y[i] = f(x[i]) (0 when the
// forward output was not kept: then the functor's df does not read it).
template <class F>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* g, float* gx,
                                      int64_t n, float a, float b) {
  for (int64_t i = thread_index(); i < n; i += thread_count())
    gx[i] = g[i] * F::df(x[i], y ? y[i] : 0.f, a, b);
}

// Same shapes, both operands dense. Each thread: out[i] = a[i] (op) b[i]. The switch inside
// math::binary takes the same branch in every thread, so it costs a few instructions only.
__global__ void binary_dense_kernel(BinaryOp op, const float* a, const float* b, float* out,
                                    int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = math::binary(op, a[i], b[i]);
}

// Broadcasting. Each thread turns its output index into the offsets of a and b, then
// out[i] = a[offset_a] (op) b[offset_b].
__global__ void binary_strided_kernel(BinaryOp op, StridedLayout<2> layout, const float* a,
                                      const float* b, float* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    int64_t at[2];
    layout.offsets(i, at);
    out[i] = math::binary(op, a[at[0]], b[at[1]]);
  }
}

// Each thread: out[i] = cond != 0 ? a : b, all three read at their broadcast offsets.
__global__ void where_kernel(StridedLayout<3> layout, const float* cond, const float* a,
                             const float* b, float* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    int64_t at[3];
    layout.offsets(i, at);
    out[i] = cond[at[0]] != 0.f ? a[at[1]] : b[at[2]];
  }
}

// Gathers a strided tensor into contiguous memory. Each thread: out[i] = in[offset of i].
__global__ void copy_strided_kernel(StridedLayout<1> layout, const float* in, float* out,
                                    int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    int64_t at[1];
    layout.offsets(i, at);
    out[i] = in[at[0]];
  }
}

// The reverse scatter. Each thread: dst[offset of i] = src[i] (dst's strides never overlap).
__global__ void copy_into_strided_kernel(StridedLayout<1> layout, const float* src, float* dst,
                                         int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    int64_t at[1];
    layout.offsets(i, at);
    dst[at[0]] = src[i];
  }
}

// Each thread: out[i] = value for its elements.
__global__ void fill_kernel(float* out, int64_t n, float value) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = value;
}

// Each thread: out[i] = start + i step for its elements.
__global__ void arange_kernel(float* out, int64_t n, float start, float step) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) out[i] = start + float(i) * step;
}

}  // namespace

void unary(UnaryOp op, const float* x, float* y, int64_t n, float a, float b) {
  with_unary_functor(op, [&](auto f) {
    unary_kernel<decltype(f)><<<blocks_for(n), kThreads>>>(x, y, n, a, b);
  });
  TD_CUDA_LAUNCH_CHECK();
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* g, float* gx,
                    int64_t n, float a, float b) {
  with_unary_functor(op, [&](auto f) {
    unary_backward_kernel<decltype(f)><<<blocks_for(n), kThreads>>>(x, y, g, gx, n, a, b);
  });
  TD_CUDA_LAUNCH_CHECK();
}

void binary(BinaryOp op, const StridedInput& a, const StridedInput& b, float* out,
            const Shape& out_shape) {
  const int64_t n = numel_of(out_shape);
  if (is_dense(a.strides, out_shape) && is_dense(b.strides, out_shape)) {
    binary_dense_kernel<<<blocks_for(n), kThreads>>>(op, a.data, b.data, out, n);
  } else {
    const Shape* strides[2] = {&a.strides, &b.strides};
    binary_strided_kernel<<<blocks_for(n), kThreads>>>(
        op, make_layout("binary", out_shape, strides), a.data, b.data, out, n);
  }
  TD_CUDA_LAUNCH_CHECK();
}

void where(const StridedInput& cond, const StridedInput& a, const StridedInput& b, float* out,
           const Shape& out_shape) {
  const int64_t n = numel_of(out_shape);
  const Shape* strides[3] = {&cond.strides, &a.strides, &b.strides};
  where_kernel<<<blocks_for(n), kThreads>>>(make_layout("where", out_shape, strides), cond.data,
                                            a.data, b.data, out, n);
  TD_CUDA_LAUNCH_CHECK();
}

void copy_strided(const StridedInput& in, float* out, const Shape& shape) {
  const int64_t n = numel_of(shape);
  if (is_dense(in.strides, shape)) {
    if (n == 0) return;
    count_launch();
    TD_CUDA_CHECK(cudaMemcpy(out, in.data, sizeof(float) * n, cudaMemcpyDeviceToDevice));
    return;
  }
  const Shape* strides[1] = {&in.strides};
  copy_strided_kernel<<<blocks_for(n), kThreads>>>(make_layout("copy", shape, strides), in.data,
                                                   out, n);
  TD_CUDA_LAUNCH_CHECK();
}

void copy_into_strided(const float* src, float* dst, const Shape& dst_strides, const Shape& shape) {
  const int64_t n = numel_of(shape);
  const Shape* strides[1] = {&dst_strides};
  copy_into_strided_kernel<<<blocks_for(n), kThreads>>>(make_layout("copy", shape, strides), src,
                                                        dst, n);
  TD_CUDA_LAUNCH_CHECK();
}

void fill(float* out, int64_t n, float value) {
  fill_kernel<<<blocks_for(n), kThreads>>>(out, n, value);
  TD_CUDA_LAUNCH_CHECK();
}

void arange(float* out, int64_t n, float start, float step) {
  arange_kernel<<<blocks_for(n), kThreads>>>(out, n, start, step);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
