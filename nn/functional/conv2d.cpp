// conv2d as a matrix product over im2col columns (the kernels are in tensor/kernels/conv.hpp).
//
// Unroll image n into X_n = im2col(x_n) = U x_n, (C_in kh kw, L) with L = H_out W_out, where
// U is the fixed 0/1 matrix that copies each kernel tap's pixel (or a padding zero) into
// place. Then, per group,
//   Y_n = W X_n + b 1^T,                      W viewed as (C_out, C_in kh kw)
// and, with G_n = dL/dY_n, the three gradients are matrix calculus on that product:
//   dL/dW   = sum_n G_n X_n^T
//   dL/dx_n = U^T (W^T G_n) = col2im(W^T G_n)    (col2im applies U^T: patches add up)
//   dL/db   = sum_n G_n 1                        (sum over the batch and the pixels)
#include <string>

#include "nn/functional/conv.hpp"
#include "tensor/kernels/conv.hpp"

namespace tinydiff {

namespace {

// Checks conv2d's arguments and returns its geometry. Messages name the shapes involved.
// x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out) or undefined
ConvGeometry conv2d_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  TD_CHECK(x.dim() == 4, "conv2d: expects a 4-d input (N, C, H, W), got ", str(x.shape()));
  TD_CHECK(weight.dim() == 4, "conv2d: expects a 4-d weight (C_out, C_in/groups, kh, kw), got ",
           str(weight.shape()));
  TD_CHECK(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1,
           "conv2d: needs stride >= 1, padding >= 0, dilation >= 1 and groups >= 1, got stride ",
           stride, ", padding ", padding, ", dilation ", dilation, ", groups ", groups);
  TD_CHECK(x.device() == weight.device() && (!bias.defined() || bias.device() == x.device()),
           "conv2d: input, weight and bias must be on one device (input ", describe(x), ", weight ",
           describe(weight), ")");
  ConvGeometry g;
  g.batch = x.size(0), g.in_channels = x.size(1), g.in_h = x.size(2), g.in_w = x.size(3);
  g.out_channels = weight.size(0), g.kernel_h = weight.size(2), g.kernel_w = weight.size(3);
  g.stride = stride, g.padding = padding, g.dilation = dilation, g.groups = groups;
  TD_CHECK(g.in_channels % groups == 0, "conv2d: groups ", groups, " does not divide the ",
           g.in_channels, " input channels (input ", str(x.shape()), ")");
  TD_CHECK(g.out_channels % groups == 0, "conv2d: groups ", groups, " does not divide the ",
           g.out_channels, " output channels (weight ", str(weight.shape()), ")");
  TD_CHECK(g.in_channels == weight.size(1) * groups, "conv2d: input has ", g.in_channels,
           " channels but weight expects ", weight.size(1) * groups, " (input ", str(x.shape()),
           ", weight ", str(weight.shape()), groups > 1 ? ", groups " + std::to_string(groups) : "",
           ")");
  TD_CHECK(!bias.defined() || bias.shape() == Shape{g.out_channels}, "conv2d: bias must be [",
           g.out_channels, "] for weight ", str(weight.shape()), ", got ", str(bias.shape()));
  int64_t span_h = dilation * (g.kernel_h - 1) + 1, span_w = dilation * (g.kernel_w - 1) + 1;
  int64_t padded_h = g.in_h + 2 * padding, padded_w = g.in_w + 2 * padding;
  TD_CHECK(span_h <= padded_h && span_w <= padded_w, "conv2d: kernel ", g.kernel_h, "x", g.kernel_w,
           " (dilation ", dilation, ", spanning ", span_h, "x", span_w,
           ") is larger than the padded input ", padded_h, "x", padded_w, " (input ",
           str(x.shape()), ", padding ", padding, ")");
  g.out_h = (padded_h - span_h) / stride + 1;
  g.out_w = (padded_w - span_w) / stride + 1;
  return g;
}

// The gradients of y = conv2d(x, W) + b, given G = dL/dy, for the inputs that need one.
// grad (N, C_out, H_out, W_out) -> {dL/dx (N, C_in, H, W), dL/dW, dL/db (C_out)}
TensorList conv2d_backward(const ConvGeometry& g, const Tensor& grad, const Tensor& x,
                           const Tensor& weight, bool need_x, bool need_w, bool need_b) {
  Tensor gc = grad.contiguous();
  Device device = gc.device();
  Tensor gx, gw, gb;
  if (need_x) {  // dL/dx_n = col2im(W^T G_n)
    gx = Tensor::empty(x.shape(), device);
    TD_DISPATCH(device, conv2d_backward_input, g, gc.data(), weight.data(), nullptr, gx.data());
  }
  if (need_w) {  // dL/dW = sum_n G_n im2col(x_n)^T
    gw = Tensor::empty(weight.shape(), device);
    TD_DISPATCH(device, conv2d_backward_weight, g, x.data(), gc.data(), gw.data());
  }
  if (need_b) {  // dL/db = sum of G over the batch and the pixels
    gb = Tensor::empty({g.out_channels}, device);
    TD_DISPATCH(device, channel_sum, gc.data(), gb.data(), g.batch, g.out_channels,
                g.out_h * g.out_w);
  }
  return {gx, gw, gb};
}

}  // namespace

// x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out) or undefined
// -> (N, C_out, H_out, W_out)
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups) {
  const ConvGeometry g = conv2d_geometry(x, weight, bias, stride, padding, dilation, groups);
  Tensor xc = x.contiguous().detach(), wc = weight.contiguous().detach();
  Tensor bc = bias.defined() ? bias.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, x.device());
  TD_DISPATCH(x.device(), conv2d_forward, g, xc.data(), wc.data(),
              bc.defined() ? bc.data() : nullptr, y.data());
  bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  bool need_b = bias.defined() && bias.requires_grad();
  return record("conv2d", y, {x, weight, bias}, [=](const Tensor& grad) {
    return conv2d_backward(g, grad, xc, wc, need_x, need_w, need_b);
  });
}

}  // namespace tinydiff
