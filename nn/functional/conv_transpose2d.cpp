// conv_transpose2d: the adjoint (matrix transpose) of conv2d.
//
// conv2d with weight W maps an image z to W U z_n per image (conv2d.cpp; U = im2col), a
// linear map A = W U. conv_transpose2d applies A^T to its input x instead:
//   y_n = U^T W^T x_n + b = col2im(W^T x_n) + b,   weight (C_in, C_out/groups, kh, kw)
// which is conv2d's input gradient with x in the role of dL/dY. With G_n = dL/dy_n,
//   dL/dx_n = A G_n = W im2col(G_n)              (a plain conv2d of G)
//   dL/dW   = sum_n x_n im2col(G_n)^T            (from <G_n, U^T W^T x_n> = <W, x_n (U G_n)^T>)
//   dL/db   = sum_n G_n 1
// Sizes: H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1. conv2d
// rounds down, so several image sizes convolve to the same H; output_padding (smaller than
// the stride) picks one of the larger ones.
#include "nn/functional/conv.hpp"
#include "tensor/kernels/conv.hpp"

namespace tinydiff {

namespace {

// Checks the arguments and returns the geometry of the conv2d this op is the adjoint of:
// its image side ("in") is our output, its columns side ("out") our input.
// x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out) or undefined
ConvGeometry transpose_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                int64_t stride, int64_t padding, int64_t output_padding,
                                int64_t groups, int64_t dilation) {
  TD_CHECK(x.dim() == 4, "conv_transpose2d: expects a 4-d input (N, C, H, W), got ",
           str(x.shape()));
  TD_CHECK(weight.dim() == 4,
           "conv_transpose2d: expects a 4-d weight (C_in, C_out/groups, kh, kw), got ",
           str(weight.shape()));
  TD_CHECK(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1,
           "conv_transpose2d: needs stride >= 1, padding >= 0, dilation >= 1 and groups >= 1, "
           "got stride ",
           stride, ", padding ", padding, ", dilation ", dilation, ", groups ", groups);
  TD_CHECK(output_padding >= 0 && (output_padding < stride || output_padding < dilation),
           "conv_transpose2d: output_padding ", output_padding, " must be smaller than the stride ",
           stride, " or the dilation ", dilation);
  TD_CHECK(x.device() == weight.device() && (!bias.defined() || bias.device() == x.device()),
           "conv_transpose2d: input, weight and bias must be on one device (input ", describe(x),
           ", weight ", describe(weight), ")");
  ConvGeometry g;
  g.batch = x.size(0), g.out_channels = x.size(1), g.out_h = x.size(2), g.out_w = x.size(3);
  g.in_channels = weight.size(1) * groups, g.kernel_h = weight.size(2), g.kernel_w = weight.size(3);
  g.stride = stride, g.padding = padding, g.dilation = dilation, g.groups = groups;
  TD_CHECK(g.out_channels % groups == 0, "conv_transpose2d: groups ", groups,
           " does not divide the ", g.out_channels, " input channels (input ", str(x.shape()), ")");
  TD_CHECK(g.out_channels == weight.size(0), "conv_transpose2d: input has ", g.out_channels,
           " channels but weight expects ", weight.size(0), " (input ", str(x.shape()), ", weight ",
           str(weight.shape()), ")");
  TD_CHECK(!bias.defined() || bias.shape() == Shape{g.in_channels},
           "conv_transpose2d: bias must be [", g.in_channels, "] for weight ", str(weight.shape()),
           " and groups ", groups, ", got ", str(bias.shape()));
  g.in_h = (g.out_h - 1) * stride - 2 * padding + dilation * (g.kernel_h - 1) + output_padding + 1;
  g.in_w = (g.out_w - 1) * stride - 2 * padding + dilation * (g.kernel_w - 1) + output_padding + 1;
  TD_CHECK(g.in_h > 0 && g.in_w > 0, "conv_transpose2d: padding ", padding, " leaves an output of ",
           g.in_h, "x", g.in_w, " pixels (input ", str(x.shape()), ", weight ", str(weight.shape()),
           ", stride ", stride, ")");
  return g;
}

// The gradients of y = conv_transpose2d(x, W) + b, given G = dL/dy: conv2d's kernels with
// the roles of the two sides swapped.
// grad (N, C_out, H_out, W_out) -> {dL/dx (N, C_in, H, W), dL/dW, dL/db (C_out)}
TensorList conv_transpose2d_backward(const ConvGeometry& g, const Tensor& grad, const Tensor& x,
                                     const Tensor& weight, bool need_x, bool need_w, bool need_b) {
  Tensor gc = grad.contiguous();
  Device device = gc.device();
  Tensor gx, gw, gb;
  if (need_x) {  // dL/dx_n = W im2col(G_n), conv2d's forward
    gx = Tensor::empty(x.shape(), device);
    TD_DISPATCH(device, conv2d_forward, g, gc.data(), weight.data(), nullptr, gx.data());
  }
  if (need_w) {  // dL/dW = sum_n x_n im2col(G_n)^T, conv2d's weight gradient with image G
    gw = Tensor::empty(weight.shape(), device);
    TD_DISPATCH(device, conv2d_backward_weight, g, gc.data(), x.data(), gw.data());
  }
  if (need_b) {  // dL/db = sum of G over the batch and the pixels
    gb = Tensor::empty({g.in_channels}, device);
    TD_DISPATCH(device, channel_sum, gc.data(), gb.data(), g.batch, g.in_channels, g.in_h * g.in_w);
  }
  return {gx, gw, gb};
}

}  // namespace

// x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out) or undefined
// -> (N, C_out, H_out, W_out)
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                        int64_t padding, int64_t output_padding, int64_t groups, int64_t dilation) {
  const ConvGeometry g =
      transpose_geometry(x, weight, bias, stride, padding, output_padding, groups, dilation);
  Tensor xc = x.contiguous().detach(), wc = weight.contiguous().detach();
  Tensor bc = bias.defined() ? bias.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty({g.batch, g.in_channels, g.in_h, g.in_w}, x.device());
  // y_n = col2im(W^T x_n) + b: conv2d's input gradient, with x in the role of dL/dY.
  TD_DISPATCH(x.device(), conv2d_backward_input, g, xc.data(), wc.data(),
              bc.defined() ? bc.data() : nullptr, y.data());
  bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  bool need_b = bias.defined() && bias.requires_grad();
  return record("conv_transpose2d", y, {x, weight, bias}, [=](const Tensor& grad) {
    return conv_transpose2d_backward(g, grad, xc, wc, need_x, need_w, need_b);
  });
}

}  // namespace tinydiff
