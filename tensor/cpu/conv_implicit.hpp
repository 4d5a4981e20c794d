// Implicit-GEMM convolution (tensor/cpu/conv_implicit.cpp): for stride 1 and dilation 1, the
// GEMM reads im2col(x) straight from a zero-padded copy of the image, so no column matrix is
// written or read back. conv.cpp uses it for one image at a time where it applies.
#pragma once
#include <cstdint>

#include "tensor/kernels/conv.hpp"

namespace tinydiff {
namespace cpu {

// Stride 1, dilation 1, one group, a kernel larger than 1x1 (1x1 convs need no columns
// anyway), and an output as wide as the input (2 padding = kernel_w - 1).
bool implicit_forward_applies(const ConvGeometry& g);
// ...and at least 16 output channels, which become the columns of the weight-gradient product.
bool implicit_weight_grad_applies(const ConvGeometry& g);

// y (C_out, L) = W im2col(image) + beta y for one image (C_in, H, W), W packed by
// pack_a_panels as (C_out, C_in kh kw); beta is 0 or 1 (y holds the bias).
void implicit_forward_image(const ConvGeometry& g, const float* packed_weight, const float* image,
                            float* y, float beta);

// product_t (C_in kh kw, C_out) = im2col(image) grad_y^T for one image (C_in, H, W) and its
// output gradient grad_y (C_out, L): the transpose of its weight gradient.
void implicit_weight_grad_image(const ConvGeometry& g, const float* image, const float* grad_y,
                                float* product_t);

}  // namespace cpu
}  // namespace tinydiff
