// GroupNorm (Wu & He 2018, Eq. 1-2 with the group set S_i of Eq. 7): each sample's channels are
// split into `groups` groups, each group is normalised to mean 0 and variance 1, and a
// per-channel scale and shift follow:
//   y = (x - mean_g) / sqrt(var_g + eps) * weight[c] + bias[c]
// The forward and backward (dx = rstd (g - mean(g) - x_hat mean(g x_hat)), g = dy weight[c])
// are fused kernels; their derivation is in tensor/kernels/norm.hpp.
#include "nn/functional/normalization.hpp"
#include "tensor/kernels/norm.hpp"

namespace tinydiff {

namespace {

float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// weight or bias: undefined, or (C) on the input's device.
void check_affine(const char* name, const Tensor& p, int64_t channels, const Tensor& x) {
  if (!p.defined()) return;
  TD_CHECK(p.shape() == Shape{channels}, "group_norm: ", name, " has shape ", str(p.shape()),
           " but the input has ", channels, " channels (expected [", channels, "]; input ",
           str(x.shape()), ")");
  TD_CHECK(p.device() == x.device(), "group_norm: ", name, " is on ", p.device().str(),
           " but the input is on ", x.device().str());
}

// A fresh (C) gradient buffer when p is a parameter that wants one, else undefined.
Tensor grad_buffer(const Tensor& p) {
  return p.defined() && p.requires_grad() ? Tensor::empty(p.shape(), p.device()) : Tensor();
}

}  // namespace

// x (N, C, *), weight and bias (C) or undefined -> same shape as x
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  float eps) {
  TD_CHECK(x.dim() >= 2, "group_norm: input must be (N, C, *), got ", str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t S = numel_of(Shape(x.shape().begin() + 2, x.shape().end()));  // H W for images
  TD_CHECK(groups > 0 && C % groups == 0, "group_norm: ", C, " channels cannot be split into ",
           groups, " equal groups (input ", str(x.shape()), ")");
  check_affine("weight", weight, C, x);
  check_affine("bias", bias, C, x);
  Tensor xc = x.contiguous().detach();
  Tensor w = weight.defined() ? weight.contiguous().detach() : Tensor();
  Tensor b = bias.defined() ? bias.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.device());
  Tensor mean = Tensor::empty({N, groups}, x.device());
  Tensor rstd = Tensor::empty({N, groups}, x.device());
  TD_DISPATCH(x.device(), group_norm_forward, xc.data(), data_or_null(w), data_or_null(b),
              y.data(), mean.data(), rstd.data(), N, C, S, groups, eps);
  return record("group_norm", y, {x, weight, bias},
                [xc, w, weight, bias, mean, rstd, N, C, S, groups](const Tensor& g) {
                  Tensor gc = g.contiguous();
                  Tensor dx = Tensor::empty(gc.shape(), gc.device());
                  Tensor dw = grad_buffer(weight), db = grad_buffer(bias);
                  TD_DISPATCH(gc.device(), group_norm_backward, xc.data(), data_or_null(w),
                              mean.data(), rstd.data(), gc.data(), dx.data(), data_or_null(dw),
                              data_or_null(db), N, C, S, groups);
                  return TensorList{dx, dw, db};
                });
}

}  // namespace tinydiff
