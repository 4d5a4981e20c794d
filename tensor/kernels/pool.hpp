// Pooling and nearest-neighbour upsampling. Every (n, c) plane is independent, so the
// kernels see the input as `planes` = N C images of (in_h, in_w).
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

// A kernel x kernel window moved by `stride` over the input padded by `padding` on each side.
struct PoolGeometry {
  int64_t planes = 1;
  int64_t in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int64_t kernel = 1, stride = 1, padding = 0;
};

namespace cpu {
// y = the max of each window (padding never wins); argmax = the index of that max within
// its plane (iy in_w + ix, as a float), the first one in row-major window order on ties.
// x (planes, in_h, in_w) -> y, argmax (planes, out_h, out_w)
void max_pool2d(const PoolGeometry& g, const float* x, float* y, float* argmax);
// grad_x[argmax] += grad_y. grad_y, argmax (planes, out_h, out_w) -> grad_x (planes, in_h, in_w)
void max_pool2d_backward(const PoolGeometry& g, const float* grad_y, const float* argmax,
                         float* grad_x);
// y = the sum of each window / kernel^2 (padding counts as zeros).
// x (planes, in_h, in_w) -> y (planes, out_h, out_w)
void avg_pool2d(const PoolGeometry& g, const float* x, float* y);
// Each window's pixels get grad_y / kernel^2. grad_y (planes, out_h, out_w) -> grad_x
void avg_pool2d_backward(const PoolGeometry& g, const float* grad_y, float* grad_x);
// y[oy][ox] = x[oy / scale][ox / scale]. x (planes, h, w) -> y (planes, h scale, w scale)
void upsample_nearest2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w,
                        int64_t scale);
// grad_x[iy][ix] = sum of the scale x scale block of grad_y it was copied to.
// grad_y (planes, h scale, w scale) -> grad_x (planes, h, w)
void upsample_nearest2d_backward(const float* grad_y, float* grad_x, int64_t planes, int64_t h,
                                 int64_t w, int64_t scale);
}  // namespace cpu

namespace cuda {
void max_pool2d(const PoolGeometry& g, const float* x, float* y, float* argmax);
void max_pool2d_backward(const PoolGeometry& g, const float* grad_y, const float* argmax,
                         float* grad_x);
void avg_pool2d(const PoolGeometry& g, const float* x, float* y);
void avg_pool2d_backward(const PoolGeometry& g, const float* grad_y, float* grad_x);
void upsample_nearest2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w,
                        int64_t scale);
void upsample_nearest2d_backward(const float* grad_y, float* grad_x, int64_t planes, int64_t h,
                                 int64_t w, int64_t scale);
}  // namespace cuda

}  // namespace tinydiff
