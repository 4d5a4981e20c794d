// Convolution primitives: im2col / col2im and the three batched convolution products built
// on them (forward, input gradient, weight gradient), plus the per-channel sum for biases.
//
// A 2-d convolution is one matrix product per image once the image is unrolled:
//   im2col(x_n) is (C kh kw, Ho Wo): column (oy, ox) holds the C x kh x kw patch that the
//   kernel sees at output pixel (oy, ox) (zeros where it overlaps the padding), so
//   y_n = W im2col(x_n) + b,   W viewed as (C_out, C kh kw).
// With groups, channels split into `groups` equal blocks and block g of y only sees block g
// of x: one product per group, W_g (C_out/groups, C/groups kh kw).
// col2im is the adjoint (transpose) of im2col: it adds each column entry back onto the image
// pixel it was copied from, so overlapping patches sum.
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

// The sizes of one convolution, always described as conv2d sees it: `in_*` is the image
// side (conv2d's input, conv_transpose2d's output), `out_*` the column side (conv2d's
// output, conv_transpose2d's input). Weight is (out_channels, in_channels/groups, kh, kw).
struct ConvGeometry {
  int64_t batch = 1;
  int64_t in_channels = 1, in_h = 1, in_w = 1;
  int64_t out_channels = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};

namespace cpu {
// One image: image (in_channels, in_h, in_w) -> columns (in_channels kh kw, out_h out_w).
void im2col(const ConvGeometry& g, const float* image, float* columns);
// The adjoint: image (in_channels, in_h, in_w) += col2im(columns).
void col2im(const ConvGeometry& g, const float* columns, float* image);

// conv2d: y = W im2col(x) + b per image.
// x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out) or null
// -> y (N, C_out, H_out, W_out)
void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y);
// The adjoint of conv2d_forward's linear map: x = col2im(W^T y) + bias per image. It is
// conv2d's input gradient (bias null) and conv_transpose2d's forward.
// y (N, C_out, H_out, W_out), weight (C_out, C_in/groups, kh, kw), bias (C_in) or null
// -> x (N, C_in, H, W)
void conv2d_backward_input(const ConvGeometry& g, const float* y, const float* weight,
                           const float* bias, float* x);
// grad_weight = sum_n grad_y_n im2col(x_n)^T, the weight gradient of conv2d (and, with the
// roles of x and y swapped, of conv_transpose2d).
// x (N, C_in, H, W), grad_y (N, C_out, H_out, W_out) -> grad_weight (C_out, C_in/groups, kh, kw)
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* grad_y,
                            float* grad_weight);
// out[c] = sum_{n, i} t[n][c][i], the gradient of a per-channel bias.
// t (batch, channels, size) -> out (channels)
void channel_sum(const float* t, float* out, int64_t batch, int64_t channels, int64_t size);
}  // namespace cpu

namespace cuda {
void im2col(const ConvGeometry& g, const float* image, float* columns);
void col2im(const ConvGeometry& g, const float* columns, float* image);
void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y);
void conv2d_backward_input(const ConvGeometry& g, const float* y, const float* weight,
                           const float* bias, float* x);
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* grad_y,
                            float* grad_weight);
void channel_sum(const float* t, float* out, int64_t batch, int64_t channels, int64_t size);
}  // namespace cuda

}  // namespace tinydiff
