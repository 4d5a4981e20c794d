// CPU elementwise kernels. Parallel over elements with OpenMP once the work is large enough
// to pay for waking the threads.
#include <cstring>

#include "tensor/error.hpp"
#include "tensor/kernels/elementwise.hpp"
#include "tensor/rng.hpp"

namespace tinydiff {

constexpr int64_t kParallelGrain = 32768;  // below this many elements, one thread is faster

Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& out_shape) {
  Shape out(out_shape.size(), 0);
  size_t lead = out_shape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) out[lead + i] = shape[i] == 1 ? 0 : strides[i];
  return out;
}

namespace cpu {

namespace {

// The loops over one functor. They take the pointers as plain arguments: written inside the
// generic lambda of with_unary_functor (capturing by reference), GCC vectorised them with
// gathers and scatters, 5x slower.
template <class F>
void map_unary(F, const float* x, float* y, int64_t n, float a, float b) {
#pragma omp parallel for simd if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = F::f(x[i], a, b);
}

template <class F>
void map_unary_backward(F, const float* x, const float* y, const float* g, float* gx, int64_t n,
                        float a, float b) {
  if (!y) {  // no output given: functors see y = 0
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * F::df(x[i], 0.f, a, b);
    return;
  }
#pragma omp parallel for simd if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * F::df(x[i], y[i], a, b);
}

}  // namespace

void unary(UnaryOp op, const float* x, float* y, int64_t n, float a, float b) {
  with_unary_functor(op, [&](auto f) { map_unary(f, x, y, n, a, b); });
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* g, float* gx,
                    int64_t n, float a, float b) {
  with_unary_functor(op, [&](auto f) { map_unary_backward(f, x, y, g, gx, n, a, b); });
}

namespace {

// Visits the output in rows of its last axis: fn(row_index, offsets of the row's first
// element in each input). Each row is then a simple strided loop.
template <int N, class Fn>
void for_each_row(const Shape& out_shape, const StridedInput* const (&inputs)[N], Fn&& fn) {
  int64_t rank = int64_t(out_shape.size());
  int64_t cols = rank ? out_shape[rank - 1] : 1;
  int64_t rows = cols ? numel_of(out_shape) / cols : 0;
#pragma omp parallel for if (rows * cols > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t offsets[N] = {};
    int64_t rest = row;
    for (int64_t axis = rank - 2; axis >= 0; --axis) {
      int64_t index = rest % out_shape[axis];
      rest /= out_shape[axis];
      for (int k = 0; k < N; ++k) offsets[k] += index * inputs[k]->strides[axis];
    }
    fn(row * cols, cols, offsets);
  }
}

int64_t last_stride(const StridedInput& in) { return in.strides.empty() ? 0 : in.strides.back(); }

bool is_dense(const StridedInput& in, const Shape& shape) {
  return in.strides == contiguous_strides(shape);
}

}  // namespace

void binary(BinaryOp op, const StridedInput& a, const StridedInput& b, float* out,
            const Shape& out_shape) {
  int64_t n = numel_of(out_shape);
  if (is_dense(a, out_shape) && is_dense(b, out_shape)) {  // same shape, both contiguous
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) out[i] = math::binary(op, a.data[i], b.data[i]);
    return;
  }
  const StridedInput* inputs[2] = {&a, &b};
  int64_t sa = last_stride(a), sb = last_stride(b);
  for_each_row<2>(out_shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off) {
    const float* pa = a.data + off[0];
    const float* pb = b.data + off[1];
    for (int64_t j = 0; j < cols; ++j) out[o + j] = math::binary(op, pa[j * sa], pb[j * sb]);
  });
}

void where(const StridedInput& cond, const StridedInput& a, const StridedInput& b, float* out,
           const Shape& out_shape) {
  const StridedInput* inputs[3] = {&cond, &a, &b};
  int64_t sc = last_stride(cond), sa = last_stride(a), sb = last_stride(b);
  for_each_row<3>(out_shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off) {
    for (int64_t j = 0; j < cols; ++j)
      out[o + j] = cond.data[off[0] + j * sc] != 0.f ? a.data[off[1] + j * sa]
                                                     : b.data[off[2] + j * sb];
  });
}

void copy_strided(const StridedInput& in, float* out, const Shape& shape) {
  if (is_dense(in, shape)) {
    std::memcpy(out, in.data, sizeof(float) * numel_of(shape));
    return;
  }
  const StridedInput* inputs[1] = {&in};
  int64_t s = last_stride(in);
  for_each_row<1>(shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off) {
    const float* p = in.data + off[0];
    for (int64_t j = 0; j < cols; ++j) out[o + j] = p[j * s];
  });
}

void copy_into_strided(const float* src, float* dst, const Shape& dst_strides, const Shape& shape) {
  StridedInput target{dst, dst_strides};
  const StridedInput* inputs[1] = {&target};
  int64_t s = last_stride(target);
  for_each_row<1>(shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off) {
    float* p = dst + off[0];
    for (int64_t j = 0; j < cols; ++j) p[j * s] = src[o + j];
  });
}

void fill(float* out, int64_t n, float value) {
#pragma omp parallel for simd if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

void arange(float* out, int64_t n, float start, float step) {
  for (int64_t i = 0; i < n; ++i) out[i] = start + float(i) * step;
}

void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  philox_uniform(out, n, seed, offset);
}
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  philox_normal(out, n, seed, offset);
}

// memcpy with a null pointer is undefined even for 0 bytes, and empty tensors may have one.
void copy_to_host(const float* src, float* host_dst, int64_t n) {
  if (n > 0) std::memcpy(host_dst, src, sizeof(float) * n);
}
void copy_from_host(const float* host_src, float* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, host_src, sizeof(float) * n);
}

}  // namespace cpu
}  // namespace tinydiff
