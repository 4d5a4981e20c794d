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

// The output shape with the operands' strides, after merging adjacent axes that every operand
// steps through as one (stride[i] = stride[i + 1] shape[i + 1]) and dropping size-1 axes. So
// (N, C, H, W) + (N, C, 1, 1) runs as N C rows of H W elements with b constant along a row,
// rather than N C H rows of W elements each needing its offsets recomputed.
template <int N>
struct Rows {
  Shape shape;
  Shape strides[N];
};

template <int N>
Rows<N> merge_axes(const Shape& shape, const StridedInput* const (&inputs)[N]) {
  Rows<N> r;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool merge = !r.shape.empty();
    for (int k = 0; k < N && merge; ++k)
      merge = r.strides[k].back() == inputs[k]->strides[i] * shape[i];
    if (merge) {
      r.shape.back() *= shape[i];
      for (int k = 0; k < N; ++k) r.strides[k].back() = inputs[k]->strides[i];
    } else {
      r.shape.push_back(shape[i]);
      for (int k = 0; k < N; ++k) r.strides[k].push_back(inputs[k]->strides[i]);
    }
  }
  if (r.shape.empty()) {  // a single element
    r.shape = {1};
    for (int k = 0; k < N; ++k) r.strides[k] = {0};
  }
  return r;
}

// Visits the (contiguous) output in rows of its last merged axis: fn(offset of the row in the
// output, row length, each input's offset of the row's first element, each input's stride
// along the row). Each row is then a simple strided loop.
template <int N, class Fn>
void for_each_row(const Shape& out_shape, const StridedInput* const (&inputs)[N], Fn&& fn) {
  if (numel_of(out_shape) == 0) return;
  const Rows<N> r = merge_axes<N>(out_shape, inputs);
  const int64_t rank = int64_t(r.shape.size()), cols = r.shape[rank - 1];
  const int64_t rows = numel_of(out_shape) / cols;
  int64_t steps[N];
  for (int k = 0; k < N; ++k) steps[k] = r.strides[k][rank - 1];
#pragma omp parallel for if (rows * cols > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t offsets[N] = {};
    int64_t rest = row;
    for (int64_t axis = rank - 2; axis >= 0; --axis) {
      int64_t index = rest % r.shape[axis];
      rest /= r.shape[axis];
      for (int k = 0; k < N; ++k) offsets[k] += index * r.strides[k][axis];
    }
    fn(row * cols, cols, offsets, steps);
  }
}

bool is_dense(const StridedInput& in, const Shape& shape) {
  return in.strides == contiguous_strides(shape);
}

// One binary op as a type, so that math::binary's switch is resolved at compile time and the
// loops over it vectorise.
template <BinaryOp Op>
struct BinaryFn {
  static float apply(float a, float b) { return math::binary(Op, a, b); }
};

template <class Fn>
void with_binary_fn(BinaryOp op, Fn&& fn) {
  switch (op) {
    case BinaryOp::Add: return fn(BinaryFn<BinaryOp::Add>{});
    case BinaryOp::Sub: return fn(BinaryFn<BinaryOp::Sub>{});
    case BinaryOp::Mul: return fn(BinaryFn<BinaryOp::Mul>{});
    case BinaryOp::Div: return fn(BinaryFn<BinaryOp::Div>{});
    case BinaryOp::Maximum: return fn(BinaryFn<BinaryOp::Maximum>{});
    case BinaryOp::Minimum: return fn(BinaryFn<BinaryOp::Minimum>{});
    case BinaryOp::Pow: return fn(BinaryFn<BinaryOp::Pow>{});
    case BinaryOp::Eq: return fn(BinaryFn<BinaryOp::Eq>{});
    case BinaryOp::Ne: return fn(BinaryFn<BinaryOp::Ne>{});
    case BinaryOp::Lt: return fn(BinaryFn<BinaryOp::Lt>{});
    case BinaryOp::Le: return fn(BinaryFn<BinaryOp::Le>{});
    case BinaryOp::Gt: return fn(BinaryFn<BinaryOp::Gt>{});
    case BinaryOp::Ge: return fn(BinaryFn<BinaryOp::Ge>{});
  }
}

// out[j] = f(a[j sa], b[j sb]) for j < n, with the usual strides (1 or 0: an operand constant
// along the row) written as their own loops so that the compiler vectorises them.
template <class F>
void binary_row(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t j = 0; j < n; ++j) out[j] = F::apply(a[j], b[j]);
  } else if (sa == 1 && sb == 0) {
    const float bj = *b;
    for (int64_t j = 0; j < n; ++j) out[j] = F::apply(a[j], bj);
  } else if (sa == 0 && sb == 1) {
    const float aj = *a;
    for (int64_t j = 0; j < n; ++j) out[j] = F::apply(aj, b[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = F::apply(a[j * sa], b[j * sb]);
  }
}

template <class F>
void dense_binary(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for simd if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = F::apply(a[i], b[i]);
}

}  // namespace

void binary(BinaryOp op, const StridedInput& a, const StridedInput& b, float* out,
            const Shape& out_shape) {
  with_binary_fn(op, [&](auto f) {
    using F = decltype(f);
    if (is_dense(a, out_shape) && is_dense(b, out_shape))  // same shape, both contiguous
      return dense_binary<F>(a.data, b.data, out, numel_of(out_shape));
    const StridedInput* inputs[2] = {&a, &b};
    for_each_row<2>(out_shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off,
                                           const int64_t* step) {
      binary_row<F>(a.data + off[0], step[0], b.data + off[1], step[1], out + o, cols);
    });
  });
}

void where(const StridedInput& cond, const StridedInput& a, const StridedInput& b, float* out,
           const Shape& out_shape) {
  const StridedInput* inputs[3] = {&cond, &a, &b};
  for_each_row<3>(out_shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off,
                                         const int64_t* step) {
    for (int64_t j = 0; j < cols; ++j)
      out[o + j] = cond.data[off[0] + j * step[0]] != 0.f ? a.data[off[1] + j * step[1]]
                                                         : b.data[off[2] + j * step[2]];
  });
}

void copy_strided(const StridedInput& in, float* out, const Shape& shape) {
  if (is_dense(in, shape)) {
    if (numel_of(shape) > 0) std::memcpy(out, in.data, sizeof(float) * numel_of(shape));
    return;
  }
  const StridedInput* inputs[1] = {&in};
  for_each_row<1>(shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off,
                                     const int64_t* step) {
    const float* p = in.data + off[0];
    if (step[0] == 1) std::memcpy(out + o, p, sizeof(float) * cols);
    else for (int64_t j = 0; j < cols; ++j) out[o + j] = p[j * step[0]];
  });
}

void copy_into_strided(const float* src, float* dst, const Shape& dst_strides, const Shape& shape) {
  StridedInput target{dst, dst_strides};
  const StridedInput* inputs[1] = {&target};
  for_each_row<1>(shape, inputs, [&](int64_t o, int64_t cols, const int64_t* off,
                                     const int64_t* step) {
    float* p = dst + off[0];
    if (step[0] == 1) std::memcpy(p, src + o, sizeof(float) * cols);
    else for (int64_t j = 0; j < cols; ++j) p[j * step[0]] = src[o + j];
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
