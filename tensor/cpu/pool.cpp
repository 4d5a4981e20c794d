// CPU pooling and nearest upsampling, parallel over (n, c) planes once the work is large.
#include "tensor/kernels/pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tinydiff {
namespace cpu {

namespace {
constexpr int64_t kParallelGrain = 32768;

// The input rows (or columns) [lo, hi) that window `o` covers, padding cut off.
struct Window {
  int64_t lo, hi;
};
Window window(int64_t o, const PoolGeometry& g, int64_t size) {
  int64_t start = o * g.stride - g.padding;
  return {std::max<int64_t>(start, 0), std::min(start + g.kernel, size)};
}

// fn(plane, out_index, rows, cols) for every output element of every plane.
template <class Fn>
void for_each_window(const PoolGeometry& g, Fn&& fn) {
  const int64_t work = g.planes * g.out_h * g.out_w * g.kernel * g.kernel;
#pragma omp parallel for schedule(static) if (work > kParallelGrain)
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      Window rows = window(oy, g, g.in_h);
      for (int64_t ox = 0; ox < g.out_w; ++ox)
        fn(p, oy * g.out_w + ox, rows, window(ox, g, g.in_w));
    }
}
}  // namespace

// y = max over the window; NaN wins, as in PyTorch, so that it propagates.
void max_pool2d(const PoolGeometry& g, const float* x, float* y, float* argmax) {
  const int64_t in_size = g.in_h * g.in_w, out_size = g.out_h * g.out_w;
  for_each_window(g, [&](int64_t p, int64_t o, Window rows, Window cols) {
    const float* plane = x + p * in_size;
    float best = -std::numeric_limits<float>::infinity();
    int64_t best_index = rows.lo * g.in_w + cols.lo;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) {
        float v = plane[iy * g.in_w + ix];
        if (v > best || std::isnan(v)) best = v, best_index = iy * g.in_w + ix;
      }
    y[p * out_size + o] = best;
    argmax[p * out_size + o] = float(best_index);
  });
}

// Serial within a plane: overlapping windows may route to the same pixel.
void max_pool2d_backward(const PoolGeometry& g, const float* grad_y, const float* argmax,
                         float* grad_x) {
  const int64_t in_size = g.in_h * g.in_w, out_size = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (g.planes * (in_size + out_size) > kParallelGrain)
  for (int64_t p = 0; p < g.planes; ++p) {
    float* gx = grad_x + p * in_size;
    std::fill(gx, gx + in_size, 0.f);
    for (int64_t o = 0; o < out_size; ++o)
      gx[int64_t(argmax[p * out_size + o])] += grad_y[p * out_size + o];
  }
}

void avg_pool2d(const PoolGeometry& g, const float* x, float* y) {
  const int64_t in_size = g.in_h * g.in_w, out_size = g.out_h * g.out_w;
  const float scale = 1.f / float(g.kernel * g.kernel);
  for_each_window(g, [&](int64_t p, int64_t o, Window rows, Window cols) {
    const float* plane = x + p * in_size;
    float total = 0.f;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) total += plane[iy * g.in_w + ix];
    y[p * out_size + o] = total * scale;
  });
}

void avg_pool2d_backward(const PoolGeometry& g, const float* grad_y, float* grad_x) {
  const int64_t in_size = g.in_h * g.in_w, out_size = g.out_h * g.out_w;
  const float scale = 1.f / float(g.kernel * g.kernel);
  std::fill(grad_x, grad_x + g.planes * in_size, 0.f);
  // for_each_window splits by plane, so no two threads write the same pixel.
  for_each_window(g, [&](int64_t p, int64_t o, Window rows, Window cols) {
    float* plane = grad_x + p * in_size;
    float share = grad_y[p * out_size + o] * scale;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) plane[iy * g.in_w + ix] += share;
  });
}

// Builds each output row once (every pixel repeated `scale` times), then copies it to the
// scale - 1 rows below.
void upsample_nearest2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w,
                        int64_t scale) {
  const int64_t out_w = w * scale;
#pragma omp parallel for schedule(static) if (planes * h * w * scale * scale > kParallelGrain)
  for (int64_t r = 0; r < planes * h; ++r) {  // r = one input row of one plane
    const float* in = x + r * w;
    float* out = y + r * scale * out_w;
    for (int64_t ix = 0; ix < w; ++ix) std::fill(out + ix * scale, out + (ix + 1) * scale, in[ix]);
    for (int64_t k = 1; k < scale; ++k) std::copy(out, out + out_w, out + k * out_w);
  }
}

void upsample_nearest2d_backward(const float* grad_y, float* grad_x, int64_t planes, int64_t h,
                                 int64_t w, int64_t scale) {
  const int64_t out_w = w * scale;
#pragma omp parallel for schedule(static) if (planes * h * w * scale * scale > kParallelGrain)
  for (int64_t r = 0; r < planes * h; ++r) {
    float* gx = grad_x + r * w;
    std::fill(gx, gx + w, 0.f);
    for (int64_t k = 0; k < scale; ++k) {
      const float* gy = grad_y + (r * scale + k) * out_w;
      for (int64_t ix = 0; ix < w; ++ix)
        for (int64_t j = 0; j < scale; ++j) gx[ix] += gy[ix * scale + j];
    }
  }
}

}  // namespace cpu
}  // namespace tinydiff
