// matmul: C = A B for (..., m, k) @ (..., k, n), batch axes broadcast.
//   dL/dA = dL/dC B^T,   dL/dB = A^T dL/dC   (summed over broadcast batch axes)
// Operands whose last two axes are a transposed view are handed to GEMM with a transpose
// flag instead of being copied, so the backward's B^T and A^T cost nothing.
#include "autograd/ops.hpp"
#include "tensor/kernels/matmul.hpp"

namespace tinydiff {

namespace {

// A matrix batch as GEMM reads it: pointer, transpose flag, leading dimension, batch stride.
struct GemmOperand {
  Tensor storage;  // keeps the data alive
  const float* data;
  bool trans;
  int64_t ld, batch_stride;
};

// `x` is (batch..., rows, cols) already expanded to the output's batch shape.
GemmOperand as_operand(const Tensor& x) {
  int64_t r = x.dim();
  const Shape& st = x.strides();
  const Shape& sh = x.shape();
  // Batch axes must be either all broadcast (stride 0) or densely packed.
  bool batch_broadcast = true, batch_dense = true;
  int64_t expected = sh[r - 1] * sh[r - 2];
  for (int64_t i = r - 3; i >= 0; --i) {
    if (sh[i] == 1) continue;
    batch_broadcast &= st[i] == 0;
    batch_dense &= st[i] == expected;
    expected *= sh[i];
  }
  bool plain = st[r - 1] == 1 && (st[r - 2] == sh[r - 1] || sh[r - 2] == 1);
  bool transposed = st[r - 2] == 1 && (st[r - 1] == sh[r - 2] || sh[r - 1] == 1) && !plain;
  if ((batch_broadcast || batch_dense) && (plain || transposed)) {
    int64_t ld = plain ? sh[r - 1] : sh[r - 2];  // the stored matrix's row length
    return {x, x.data(), transposed, ld, batch_broadcast ? 0 : sh[r - 1] * sh[r - 2]};
  }
  Tensor c = clone(x.detach());
  return {c, c.data(), false, sh[r - 1], sh[r - 1] * sh[r - 2]};
}

// out (batch..., m, n) = a (batch..., m, k) @ b (batch..., k, n), no graph node.
Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  TD_CHECK(a.device() == b.device(), "matmul: operands on different devices");
  TD_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: needs 2-d or higher operands, got ",
           str(a.shape()), " and ", str(b.shape()));
  int64_t m = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1];
  int64_t k2 = b.shape()[b.dim() - 2], n = b.shape()[b.dim() - 1];
  TD_CHECK(k == k2, "matmul: inner dimensions differ: ", str(a.shape()), " @ ", str(b.shape()),
           " (", k, " vs ", k2, ")");
  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape shape_a = batch, shape_b = batch, shape_out = batch;
  shape_a.insert(shape_a.end(), {m, k});
  shape_b.insert(shape_b.end(), {k, n});
  shape_out.insert(shape_out.end(), {m, n});
  GemmOperand A = as_operand(expand(a.detach(), shape_a));
  GemmOperand B = as_operand(expand(b.detach(), shape_b));
  Tensor out = Tensor::empty(shape_out, a.device());
  GemmArgs args;
  args.trans_a = A.trans, args.trans_b = B.trans;
  args.batch = numel_of(batch), args.m = m, args.n = n, args.k = k;
  args.a = A.data, args.lda = A.ld, args.stride_a = A.batch_stride;
  args.b = B.data, args.ldb = B.ld, args.stride_b = B.batch_stride;
  args.c = out.data(), args.ldc = n, args.stride_c = m * n;
  TD_DISPATCH(a.device(), gemm, args);
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  TD_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: scalars cannot be multiplied, got ",
           str(a_in.shape()), " and ", str(b_in.shape()));
  // NumPy rules for 1-d operands: a vector a is (1, k), a vector b is (k, 1); the added axis
  // is removed from the result.
  if (a_in.dim() == 1)  // with a vector b too, the inner call already gives shape (1,)
    return squeeze(matmul(unsqueeze(a_in, 0), b_in), b_in.dim() == 1 ? -1 : -2);
  if (b_in.dim() == 1) return squeeze(matmul(a_in, unsqueeze(b_in, 1)), -1);
  Tensor out = matmul_forward(a_in, b_in);
  return record("matmul", out, {a_in, b_in}, [a_in, b_in](const Tensor& g) {
    Tensor ga = a_in.requires_grad() ? sum_to(matmul_forward(g, transpose(b_in.detach(), -1, -2)),
                                              a_in.shape())
                                     : Tensor();
    Tensor gb = b_in.requires_grad() ? sum_to(matmul_forward(transpose(a_in.detach(), -1, -2), g),
                                              b_in.shape())
                                     : Tensor();
    return TensorList{ga, gb};
  });
}

}  // namespace tinydiff
