// LayerNorm (Ba et al. 2016, Eq. 4): normalise each sample over its trailing axes
// (normalized_shape, K numbers), then scale and shift elementwise:
//   y = (x - mean) / sqrt(var + eps) * weight + bias,   weight and bias of shape normalized_shape
// GroupNorm's math with one group of K "channels" of one number each; the fused kernels
// (and the derivative, dx = rstd (g - mean(g) - x_hat mean(g x_hat)), g = dy weight) are in
// tensor/kernels/norm.hpp.
#include "nn/functional/normalization.hpp"
#include "tensor/kernels/norm.hpp"

namespace tinydiff {

namespace {

float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// weight or bias: undefined, or of shape normalized_shape on the input's device.
void check_affine(const char* name, const Tensor& p, const Shape& normalized_shape,
                  const Tensor& x) {
  if (!p.defined()) return;
  TD_CHECK(p.shape() == normalized_shape, "layer_norm: ", name, " has shape ", str(p.shape()),
           " but normalized_shape is ", str(normalized_shape), " (input ", str(x.shape()), ")");
  TD_CHECK(p.device() == x.device(), "layer_norm: ", name, " is on ", p.device().str(),
           " but the input is on ", x.device().str());
}

Tensor grad_buffer(const Tensor& p) {
  return p.defined() && p.requires_grad() ? Tensor::empty(p.shape(), p.device()) : Tensor();
}

}  // namespace

// x (..., *normalized_shape), weight and bias (normalized_shape) or undefined -> shape of x
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, float eps) {
  const int64_t axes = int64_t(normalized_shape.size());
  TD_CHECK(axes >= 1 && x.dim() >= axes &&
               Shape(x.shape().end() - axes, x.shape().end()) == normalized_shape,
           "layer_norm: normalized_shape ", str(normalized_shape),
           " does not match the trailing axes of the input ", str(x.shape()));
  check_affine("weight", weight, normalized_shape, x);
  check_affine("bias", bias, normalized_shape, x);
  const int64_t K = numel_of(normalized_shape);
  const int64_t rows = numel_of(Shape(x.shape().begin(), x.shape().end() - axes));
  Tensor xc = x.contiguous().detach();
  Tensor w = weight.defined() ? weight.contiguous().detach() : Tensor();
  Tensor b = bias.defined() ? bias.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.device());
  Tensor mean = Tensor::empty({rows}, x.device()), rstd = Tensor::empty({rows}, x.device());
  TD_DISPATCH(x.device(), layer_norm_forward, xc.data(), data_or_null(w), data_or_null(b),
              y.data(), mean.data(), rstd.data(), rows, K, eps);
  return record("layer_norm", y, {x, weight, bias},
                [xc, w, weight, bias, mean, rstd, rows, K](const Tensor& g) {
                  Tensor gc = g.contiguous();
                  Tensor dx = Tensor::empty(gc.shape(), gc.device());
                  Tensor dw = grad_buffer(weight), db = grad_buffer(bias);
                  TD_DISPATCH(gc.device(), layer_norm_backward, xc.data(), data_or_null(w),
                              mean.data(), rstd.data(), gc.data(), dx.data(), data_or_null(dw),
                              data_or_null(db), rows, K);
                  return TensorList{dx, dw, db};
                });
}

}  // namespace tinydiff
