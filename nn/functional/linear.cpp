// linear: y = x W^T + b, one GEMM over all leading axes of x.
//
// With x viewed as a matrix (M, in), M = the product of its leading axes, and G = dL/dy (M, out):
//   dL/dx = G W,   dL/dW = G^T x,   dL/db = sum over the M rows of G
// W is handed to GEMM with its transpose flag, so W^T is never copied.
#include "nn/functional/conv.hpp"
#include "tensor/kernels/elementwise.hpp"
#include "tensor/kernels/matmul.hpp"
#include "tensor/kernels/reduce.hpp"

namespace tinydiff {

namespace {

// C (m, n) = op(A) (m, k) @ op(B) (k, n) + beta C, all dense row-major matrices.
void matrix_product(Device device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                    const float* a, const float* b, float* c, float beta) {
  GemmArgs args;
  args.trans_a = trans_a, args.trans_b = trans_b;
  args.m = m, args.n = n, args.k = k, args.beta = beta;
  args.a = a, args.lda = trans_a ? m : k;
  args.b = b, args.ldb = trans_b ? k : n;
  args.c = c, args.ldc = n;
  TD_DISPATCH(device, gemm, args);
}

// The number of rows of x (..., in) seen as a matrix: the product of its leading sizes.
int64_t leading_size(const Tensor& x) {
  return numel_of(Shape(x.shape().begin(), x.shape().end() - 1));
}

void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TD_CHECK(x.dim() >= 1, "linear: expects an input of shape (..., in), got a scalar");
  TD_CHECK(weight.dim() == 2, "linear: expects a 2-d weight (out, in), got ", str(weight.shape()));
  TD_CHECK(x.size(-1) == weight.size(1), "linear: input has ", x.size(-1),
           " features but weight expects ", weight.size(1), " (input ", str(x.shape()), ", weight ",
           str(weight.shape()), ")");
  TD_CHECK(!bias.defined() || bias.shape() == Shape{weight.size(0)}, "linear: bias must be [",
           weight.size(0), "] for weight ", str(weight.shape()), ", got ", str(bias.shape()));
  TD_CHECK(x.device() == weight.device() && (!bias.defined() || bias.device() == x.device()),
           "linear: input, weight and bias must be on one device (input ", describe(x), ", weight ",
           describe(weight), ")");
}

// The gradients of y = x W^T + b given G = dL/dy, for the inputs that need one.
// x is (rows, in), weight (out, in), grad (rows, out) -> {dL/dx, dL/dW, dL/db}
TensorList linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, bool need_x,
                           bool need_w, bool need_b) {
  const int64_t out = weight.size(0), in = weight.size(1), rows = leading_size(x);
  Tensor g = grad.contiguous();
  Device device = g.device();
  Tensor gx, gw, gb;
  if (need_x) {  // dL/dx = G W
    gx = Tensor::empty(x.shape(), device);
    matrix_product(device, false, false, rows, in, out, g.data(), weight.data(), gx.data(), 0.f);
  }
  if (need_w) {  // dL/dW = G^T x
    gw = Tensor::empty(weight.shape(), device);
    matrix_product(device, true, false, out, in, rows, g.data(), x.data(), gw.data(), 0.f);
  }
  if (need_b) {  // dL/db = the column sums of G
    gb = Tensor::empty({out}, device);
    TD_DISPATCH(device, reduce, ReduceOp::Sum, g.data(), gb.data(), 1, rows, out);
  }
  return {gx, gw, gb};
}

}  // namespace

// x (..., in), weight (out, in), bias (out) or undefined -> (..., out)
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear(x, weight, bias);
  const int64_t out = weight.size(0), in = weight.size(1);
  const int64_t rows = leading_size(x);
  Tensor xc = x.contiguous().detach(), wc = weight.contiguous().detach();
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor y = Tensor::empty(out_shape, x.device());
  if (bias.defined())  // every row of y starts as b; the GEMM then adds x W^T (beta = 1)
    TD_DISPATCH(x.device(), copy_strided, StridedInput{bias.contiguous().data(), {0, 1}}, y.data(),
                Shape{rows, out});
  matrix_product(x.device(), false, true, rows, out, in, xc.data(), wc.data(), y.data(),
                 bias.defined() ? 1.f : 0.f);
  bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  bool need_b = bias.defined() && bias.requires_grad();
  return record("linear", y, {x, weight, bias}, [=](const Tensor& grad) {
    return linear_backward(grad, xc, wc, need_x, need_w, need_b);
  });
}

}  // namespace tinydiff
