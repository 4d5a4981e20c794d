// CUDA pooling and nearest upsampling over (planes, h, w) images. Forward kernels give each
// thread one output pixel. Backward kernels give each thread one input pixel, which gathers
// the gradient of every output window that covers it: no two threads write one pixel (no
// atomics), and the sum runs in the CPU's window order, so both devices agree to the bit.
#include "tensor/cuda/common.cuh"
#include "tensor/kernels/pool.hpp"

namespace tinydiff::cuda {

namespace {

// The input rows (or columns) [lo, hi) that window `o` covers, padding cut off.
struct Window {
  int64_t lo, hi;
};
__device__ Window window(int64_t o, const PoolGeometry& g, int64_t size) {
  const int64_t start = o * g.stride - g.padding;
  return {max(start, int64_t(0)), min(start + g.kernel, size)};
}

// The outputs [lo, hi) whose windows cover input row (or column) i: o s - p <= i and
// o s - p + kernel > i, i.e. (i + p - kernel) / s < o <= (i + p) / s.
__device__ Window covering(int64_t i, const PoolGeometry& g, int64_t out_size) {
  const int64_t after = i + g.padding - g.kernel;  // o s must exceed this
  const int64_t lo = after < 0 ? 0 : after / g.stride + 1;
  return {lo, min((i + g.padding) / g.stride + 1, out_size)};
}

// Each thread: one output pixel t = (plane, oy, ox): the max of its window (a NaN wins, as on
// the CPU) and where it was, iy in_w + ix within the plane.
__global__ void max_pool_kernel(PoolGeometry g, const float* x, float* y, float* argmax) {
  for (int64_t t = thread_index(); t < g.planes * g.out_h * g.out_w; t += thread_count()) {
    const int64_t ox = t % g.out_w, oy = t / g.out_w % g.out_h, p = t / (g.out_w * g.out_h);
    const Window rows = window(oy, g, g.in_h), cols = window(ox, g, g.in_w);
    const float* plane = x + p * g.in_h * g.in_w;
    float best = -INFINITY;
    int64_t best_index = rows.lo * g.in_w + cols.lo;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) {
        const float v = plane[iy * g.in_w + ix];
        if (v > best || isnan(v)) best = v, best_index = iy * g.in_w + ix;
      }
    y[t] = best;
    argmax[t] = float(best_index);
  }
}

// Each thread: one input pixel t = (plane, iy, ix): the sum of grad_y over the windows that
// cover it and chose it as their max.
__global__ void max_pool_backward_kernel(PoolGeometry g, const float* grad_y, const float* argmax,
                                         float* grad_x) {
  for (int64_t t = thread_index(); t < g.planes * g.in_h * g.in_w; t += thread_count()) {
    const int64_t ix = t % g.in_w, iy = t / g.in_w % g.in_h, p = t / (g.in_w * g.in_h);
    const Window oys = covering(iy, g, g.out_h), oxs = covering(ix, g, g.out_w);
    const float me = float(iy * g.in_w + ix);
    float sum = 0.f;
    for (int64_t oy = oys.lo; oy < oys.hi; ++oy)
      for (int64_t ox = oxs.lo; ox < oxs.hi; ++ox) {
        const int64_t o = (p * g.out_h + oy) * g.out_w + ox;
        if (argmax[o] == me) sum += grad_y[o];
      }
    grad_x[t] = sum;
  }
}

// Each thread: one output pixel, the window's sum / kernel^2 (padding counts as zeros).
__global__ void avg_pool_kernel(PoolGeometry g, const float* x, float* y) {
  const float scale = 1.f / float(g.kernel * g.kernel);
  for (int64_t t = thread_index(); t < g.planes * g.out_h * g.out_w; t += thread_count()) {
    const int64_t ox = t % g.out_w, oy = t / g.out_w % g.out_h, p = t / (g.out_w * g.out_h);
    const Window rows = window(oy, g, g.in_h), cols = window(ox, g, g.in_w);
    const float* plane = x + p * g.in_h * g.in_w;
    float total = 0.f;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) total += plane[iy * g.in_w + ix];
    y[t] = total * scale;
  }
}

// Each thread: one input pixel, the sum of grad_y / kernel^2 over the windows covering it.
__global__ void avg_pool_backward_kernel(PoolGeometry g, const float* grad_y, float* grad_x) {
  const float scale = 1.f / float(g.kernel * g.kernel);
  for (int64_t t = thread_index(); t < g.planes * g.in_h * g.in_w; t += thread_count()) {
    const int64_t ix = t % g.in_w, iy = t / g.in_w % g.in_h, p = t / (g.in_w * g.in_h);
    const Window oys = covering(iy, g, g.out_h), oxs = covering(ix, g, g.out_w);
    float sum = 0.f;
    for (int64_t oy = oys.lo; oy < oys.hi; ++oy)
      for (int64_t ox = oxs.lo; ox < oxs.hi; ++ox)
        sum += grad_y[(p * g.out_h + oy) * g.out_w + ox] * scale;
    grad_x[t] = sum;
  }
}

// Each thread: one output pixel t = (plane, oy, ox) of (planes, h s, w s): x[oy / s][ox / s].
__global__ void upsample_kernel(const float* x, float* y, int64_t planes, int64_t h, int64_t w,
                                int64_t scale) {
  const int64_t out_w = w * scale, out_h = h * scale;
  for (int64_t t = thread_index(); t < planes * out_h * out_w; t += thread_count()) {
    const int64_t ox = t % out_w, oy = t / out_w % out_h, p = t / (out_w * out_h);
    y[t] = x[(p * h + oy / scale) * w + ox / scale];
  }
}

// Each thread: one input pixel, the sum of the scale x scale block of grad_y it was copied to.
__global__ void upsample_backward_kernel(const float* grad_y, float* grad_x, int64_t planes,
                                         int64_t h, int64_t w, int64_t scale) {
  const int64_t out_w = w * scale;
  for (int64_t t = thread_index(); t < planes * h * w; t += thread_count()) {
    const int64_t ix = t % w, row = t / w;  // row = one input row of one plane
    float sum = 0.f;
    for (int64_t k = 0; k < scale; ++k)
      for (int64_t j = 0; j < scale; ++j) sum += grad_y[(row * scale + k) * out_w + ix * scale + j];
    grad_x[t] = sum;
  }
}

}  // namespace

void max_pool2d(const PoolGeometry& g, const float* x, float* y, float* argmax) {
  max_pool_kernel<<<blocks_for(g.planes * g.out_h * g.out_w), kThreads>>>(g, x, y, argmax);
  TD_CUDA_LAUNCH_CHECK();
}

void max_pool2d_backward(const PoolGeometry& g, const float* grad_y, const float* argmax,
                         float* grad_x) {
  max_pool_backward_kernel<<<blocks_for(g.planes * g.in_h * g.in_w), kThreads>>>(g, grad_y, argmax,
                                                                                 grad_x);
  TD_CUDA_LAUNCH_CHECK();
}

void avg_pool2d(const PoolGeometry& g, const float* x, float* y) {
  avg_pool_kernel<<<blocks_for(g.planes * g.out_h * g.out_w), kThreads>>>(g, x, y);
  TD_CUDA_LAUNCH_CHECK();
}

void avg_pool2d_backward(const PoolGeometry& g, const float* grad_y, float* grad_x) {
  avg_pool_backward_kernel<<<blocks_for(g.planes * g.in_h * g.in_w), kThreads>>>(g, grad_y, grad_x);
  TD_CUDA_LAUNCH_CHECK();
}

void upsample_nearest2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w,
                        int64_t scale) {
  upsample_kernel<<<blocks_for(planes * h * w * scale * scale), kThreads>>>(x, y, planes, h, w, scale);
  TD_CUDA_LAUNCH_CHECK();
}

void upsample_nearest2d_backward(const float* grad_y, float* grad_x, int64_t planes, int64_t h,
                                 int64_t w, int64_t scale) {
  upsample_backward_kernel<<<blocks_for(planes * h * w), kThreads>>>(grad_y, grad_x, planes, h, w,
                                                                     scale);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
