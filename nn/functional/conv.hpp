// Linear and convolution-family ops: linear, conv2d, conv_transpose2d, pooling, upsampling.
// Shapes follow PyTorch: images are (N, C, H, W); weights as in torch.nn.functional.
#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// y = x W^T + b. x (..., in), weight (out, in), bias (out) or undefined -> (..., out)
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out) or undefined
// -> (N, C_out, H_out, W_out), H_out = (H + 2 padding - dilation (kh - 1) - 1) / stride + 1
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1);

// The adjoint of conv2d. x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw)
// -> (N, C_out, H_out, W_out), H_out = (H - 1) stride - 2 padding + dilation (kh - 1)
//                                      + output_padding + 1
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        int64_t stride = 1, int64_t padding = 0, int64_t output_padding = 0,
                        int64_t groups = 1, int64_t dilation = 1);

// x (N, C, H, W) -> (N, C, H_out, W_out); stride <= 0 means stride = kernel.
// Padding counts as -inf for max and as 0 for avg (count_include_pad=True, PyTorch's default).
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);

// x (N, C, H, W) -> (N, C, H scale, W scale), each pixel repeated scale x scale times.
Tensor upsample_nearest2d(const Tensor& x, int64_t scale);

}  // namespace tinydiff
