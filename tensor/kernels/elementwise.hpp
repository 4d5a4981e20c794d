// Elementwise primitives: unary maps (and their derivatives), binary maps with NumPy
// broadcasting, `where`, fills, strided copies and random fills.
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"
#include "tensor/kernels/unary_math.hpp"
#include "tensor/shape.hpp"

namespace tinydiff {

enum class BinaryOp { Add, Sub, Mul, Div, Maximum, Minimum, Pow, Eq, Ne, Lt, Le, Gt, Ge };

namespace math {
// out = f(a, b). The gradients of the differentiable ones are composed from tensor ops in
// autograd/ops/elementwise.cpp.
TD_HD float binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Maximum: return a > b ? a : b;
    case BinaryOp::Minimum: return a < b ? a : b;
    case BinaryOp::Pow: return powf(a, b);
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
  }
  return 0.f;
}
}  // namespace math

// A broadcast operand: its data pointer and its strides in the output's index space
// (stride 0 along broadcast axes), as produced by `broadcast_strides`.
struct StridedInput {
  const float* data;
  Shape strides;
};
// Strides that let a tensor of `shape`/`strides` be read at the indices of `out_shape`.
Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& out_shape);

namespace cpu {
// y[i] = f(x[i]; a, b)                                x, y are (n,)
void unary(UnaryOp op, const float* x, float* y, int64_t n, float a, float b);
// gx[i] = g[i] * f'(x[i]; a, b)  (y = f(x) given too)  all (n,)
void unary_backward(UnaryOp op, const float* x, const float* y, const float* g, float* gx,
                    int64_t n, float a, float b);
// out = a (op) b, out is contiguous with shape `out_shape`.
void binary(BinaryOp op, const StridedInput& a, const StridedInput& b, float* out,
            const Shape& out_shape);
// out = cond != 0 ? a : b, all broadcast to out_shape.
void where(const StridedInput& cond, const StridedInput& a, const StridedInput& b, float* out,
           const Shape& out_shape);
// out (contiguous, `shape`) = the strided tensor `in`.
void copy_strided(const StridedInput& in, float* out, const Shape& shape);
// The reverse: writes contiguous `src` of `shape` into `dst` laid out with `dst_strides`.
void copy_into_strided(const float* src, float* dst, const Shape& dst_strides, const Shape& shape);
void fill(float* out, int64_t n, float value);
// out[i] = start + i * step
void arange(float* out, int64_t n, float start, float step);
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset);
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset);
// Host <-> device copies (CPU: memcpy).
void copy_to_host(const float* src, float* host_dst, int64_t n);
void copy_from_host(const float* host_src, float* dst, int64_t n);
}  // namespace cpu

namespace cuda {
void unary(UnaryOp op, const float* x, float* y, int64_t n, float a, float b);
void unary_backward(UnaryOp op, const float* x, const float* y, const float* g, float* gx,
                    int64_t n, float a, float b);
void binary(BinaryOp op, const StridedInput& a, const StridedInput& b, float* out,
            const Shape& out_shape);
void where(const StridedInput& cond, const StridedInput& a, const StridedInput& b, float* out,
           const Shape& out_shape);
void copy_strided(const StridedInput& in, float* out, const Shape& shape);
void copy_into_strided(const float* src, float* dst, const Shape& dst_strides, const Shape& shape);
void fill(float* out, int64_t n, float value);
void arange(float* out, int64_t n, float start, float step);
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset);
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset);
void copy_to_host(const float* src, float* host_dst, int64_t n);
void copy_from_host(const float* host_src, float* dst, int64_t n);
}  // namespace cuda

}  // namespace tinydiff
