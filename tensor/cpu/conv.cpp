// CPU convolution: im2col / col2im plus our GEMM (tensor/cpu/gemm.hpp).
//
// Fast paths, chosen for the lesson models (batch ~100, 16x16 or 28x28 images, 3x3 convs):
//  - The batch is split across OpenMP threads, one image at a time per thread. Each thread
//    unrolls its image into its own column buffer, which is still in cache when its
//    single-threaded GEMM reads it, and the GEMM writes straight into the image's slice of
//    the output: no transpose afterwards.
//  - The weights are packed into the GEMM micro-kernel's layout once per call, not once per
//    image, and the GEMM reads the column buffer where it lies instead of copying it into
//    panels: packing was a third of the forward's time.
//  - Stride-1 convolutions as wide as their input (3x3 with padding 1) write no column
//    buffer at all: the GEMM reads im2col's entries straight from the image, given zero rows
//    above and below (tensor/cpu/conv_implicit.hpp), for the forward and the weight gradient.
//  - A stride-1 convolution's input gradient runs as a forward convolution with flipped
//    kernels (see input_gradient_is_a_convolution), which needs no col2im.
//  - 1x1 convolutions with stride 1 and no padding skip im2col: the image (C, H W) already
//    is its column matrix.
//  - With stride 1 and an output as wide as the input (3x3, padding 1), each kernel tap's
//    columns are one shifted copy of a channel plane: one memcpy per tap, not one per row.
//  - Column, product, packed and partial-sum buffers are per-thread and only grow, so after
//    the first training step no memory is allocated here.
//  - The bias initialises the output and the GEMM accumulates onto it (beta = 1).
#include "tensor/kernels/conv.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "tensor/cpu/conv_implicit.hpp"
#include "tensor/cpu/gemm.hpp"
#include "tensor/cpu/parallel_errors.hpp"
#include "tensor/cpu/scratch.hpp"
#include "tensor/kernels/matmul.hpp"

namespace tinydiff {
namespace cpu {

namespace {

// Sizes derived from a geometry, named as in the comments of conv.hpp.
struct Dims {
  int64_t pixels;     // in_h in_w, one input plane
  int64_t positions;  // L = out_h out_w, one output plane (a column per position)
  int64_t in_group;   // in_channels / groups
  int64_t out_group;  // out_channels / groups
  int64_t patch;      // K = in_group kh kw, the rows of one group's column matrix
  bool pointwise;     // 1x1, stride 1, no padding: the image is its own column matrix
  explicit Dims(const ConvGeometry& g)
      : pixels(g.in_h * g.in_w),
        positions(g.out_h * g.out_w),
        in_group(g.in_channels / g.groups),
        out_group(g.out_channels / g.groups),
        patch(in_group * g.kernel_h * g.kernel_w),
        pointwise(g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0 &&
                  g.in_h == g.out_h && g.in_w == g.out_w) {}
};

// The per-thread buffers of this file (tensor/cpu/scratch.hpp), one per use.
enum Slot { kColumns, kProduct, kPackedWeights, kFlippedWeights, kPackedGrad, kSlots };

// C (m, n) = op(A) (m, k) @ op(B) (k, n) + beta C, row-major with leading dimensions.
void matrix_product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, float beta) {
  GemmArgs args;
  args.trans_a = trans_a, args.trans_b = trans_b;
  args.m = m, args.n = n, args.k = k, args.beta = beta;
  args.a = a, args.lda = lda, args.b = b, args.ldb = ldb, args.c = c, args.ldc = ldc;
  cpu::gemm(args);
}

// rows (channels, size): row c = bias[c].
void fill_rows(float* rows, const float* bias, int64_t channels, int64_t size) {
  for (int64_t c = 0; c < channels; ++c) std::fill(rows + c * size, rows + (c + 1) * size, bias[c]);
}

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The output positions o in [lo, hi) whose input coordinate o stride + offset lies inside
// [0, size); outside them the kernel tap reads padding. offset = tap dilation - padding.
struct Range {
  int64_t lo, hi;
};
Range valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out) {
  int64_t lo = std::clamp<int64_t>(ceil_div(-offset, stride), 0, out);
  int64_t hi = std::clamp<int64_t>(ceil_div(size - offset, stride), lo, out);
  return {lo, hi};
}

// One kernel tap (c, ki, kj) of one image: the row of the unrolled matrix it fills, where it
// reads (input y = oy stride + y_offset, x = ox stride + x_offset) and the output rows and
// columns for which that read lands inside the image rather than in the padding.
struct Tap {
  int64_t channel, row, y_offset, x_offset;
  Range ys, xs;
};

// Calls fn(tap) for every tap, channel by channel. A tap's offsets and valid ranges depend
// only on (ki, kj), so they are computed once per kernel position rather than per channel
// (their integer divisions cost a tenth of a forward pass when done per tap).
template <class Fn>
void for_each_tap(const ConvGeometry& g, Fn&& fn) {
  std::vector<Tap> kernel;  // the taps of channel 0
  for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
    int64_t y_offset = ki * g.dilation - g.padding;
    Range ys = valid_range(y_offset, g.stride, g.in_h, g.out_h);
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      int64_t x_offset = kj * g.dilation - g.padding;
      Range xs = valid_range(x_offset, g.stride, g.in_w, g.out_w);
      kernel.push_back(Tap{0, ki * g.kernel_w + kj, y_offset, x_offset, ys, xs});
    }
  }
  const int64_t taps = int64_t(kernel.size());
  for (int64_t c = 0; c < g.in_channels; ++c)
    for (Tap t : kernel) {
      t.channel = c, t.row += c * taps;
      fn(t);
    }
}

// The first input pixel that output row oy of the tap reads, at output x = xs.lo.
int64_t first_pixel(const ConvGeometry& g, const Tap& t, int64_t oy) {
  return (t.channel * g.in_h + oy * g.stride + t.y_offset) * g.in_w + t.xs.lo * g.stride +
         t.x_offset;
}

// im2col of one tap when stride is 1 and out_w = in_w (the usual 3x3 'same' convolution):
// then the tap's output rows ys are one shifted copy of the channel plane,
// column[j] = plane[j + y_offset in_w + x_offset], except the entries that fall into the
// left or right padding, which the copy wraps onto the neighbouring row; they are zeroed.
void im2col_shifted_plane(const ConvGeometry& g, const Tap& t, const float* image, float* column) {
  const int64_t width = g.in_w, positions = g.out_h * width, plane_size = g.in_h * width;
  const float* plane = image + t.channel * plane_size;
  const int64_t shift = t.y_offset * width + t.x_offset;
  const int64_t begin = t.ys.lo * width, end = t.ys.hi * width;
  std::fill(column, column + begin, 0.f);
  std::fill(column + end, column + positions, 0.f);
  // Clipping to the plane only drops entries that are padding columns anyway.
  int64_t first = std::max(begin, -shift), last = std::min(end, plane_size - shift);
  if (first < last) std::copy(plane + first + shift, plane + last + shift, column + first);
  // Plain loops, not std::fill: they zero one or two entries per row, and a call per row
  // made this fix-up cost more than the copy.
  for (int64_t oy = t.ys.lo; oy < t.ys.hi; ++oy) {
    float* row = column + oy * width;
    for (int64_t x = 0; x < t.xs.lo; ++x) row[x] = 0.f;
    for (int64_t x = t.xs.hi; x < width; ++x) row[x] = 0.f;
  }
}

}  // namespace

// columns[(c, ki, kj)][(oy, ox)] = image[c][oy s + ki d - p][ox s + kj d - p], 0 in padding.
void im2col(const ConvGeometry& g, const float* image, float* columns) {
  // BEGIN EXERCISE 00.3 im2col
  const int64_t positions = g.out_h * g.out_w, width = g.out_w, stride = g.stride;
  const bool shifted_planes = g.stride == 1 && g.out_w == g.in_w;
  for_each_tap(g, [&](const Tap& t) {
    float* column = columns + t.row * positions;
    if (shifted_planes) return im2col_shifted_plane(g, t, image, column);
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      float* out = column + oy * width;
      if (oy < t.ys.lo || oy >= t.ys.hi || t.xs.lo == t.xs.hi) {
        std::fill(out, out + width, 0.f);
        continue;
      }
      const float* in = image + first_pixel(g, t, oy);
      std::fill(out, out + t.xs.lo, 0.f);
      for (int64_t i = 0; i < t.xs.hi - t.xs.lo; ++i) out[t.xs.lo + i] = in[i * stride];
      std::fill(out + t.xs.hi, out + width, 0.f);
    }
  });
  // END EXERCISE
}

// The transpose of im2col: each column entry inside the image is added back onto the pixel
// it was copied from; entries in the padding are dropped.
void col2im(const ConvGeometry& g, const float* columns, float* image) {
  const int64_t positions = g.out_h * g.out_w, stride = g.stride;
  for_each_tap(g, [&](const Tap& t) {
    if (t.xs.lo == t.xs.hi) return;
    for (int64_t oy = t.ys.lo; oy < t.ys.hi; ++oy) {
      const float* in = columns + t.row * positions + oy * g.out_w + t.xs.lo;
      float* out = image + first_pixel(g, t, oy);
      if (stride == 1)  // a separate loop so that the compiler vectorises it
        for (int64_t i = 0; i < t.xs.hi - t.xs.lo; ++i) out[i] += in[i];
      else
        for (int64_t i = 0; i < t.xs.hi - t.xs.lo; ++i) out[i * stride] += in[i];
    }
  });
}

namespace {
// The column matrix of one image: the image itself for pointwise convs, else its im2col in
// this thread's scratch buffer. image (C_in, H, W) -> (C_in kh kw, L)
const float* unrolled(const ConvGeometry& g, const Dims& d, const float* image) {
  if (d.pointwise) return image;
  float* buffer = scratch(kColumns, g.groups * d.patch * d.positions);
  im2col(g, image, buffer);
  return buffer;
}
}  // namespace

namespace {

// Each group's weights W[group] (out_group, K) packed for the GEMM micro-kernel
// (tensor/cpu/gemm.hpp), once per call: every image (and thread) reads the same copy.
// weight (C_out, C_in/groups, kh, kw) -> the calling thread's kPackedWeights buffer
const float* packed_weights(const ConvGeometry& g, const Dims& d, const float* weight) {
  const int64_t size = packed_a_size(d.out_group, d.patch);
  float* packed = scratch(kPackedWeights, g.groups * size);
  for (int64_t k = 0; k < g.groups; ++k)
    pack_a_panels(false, d.out_group, d.patch, weight + k * d.out_group * d.patch, d.patch,
                  packed + k * size);
  return packed;
}

// y_n[group] (out_group, L) = W[group] (out_group, K) @ im2col(x_n)[group] (K, L) + b, with
// the weights packed by packed_weights. x (N, C_in, H, W) -> y (N, C_out, H_out, W_out)
void forward_packed(const ConvGeometry& g, const float* x, const float* packed, const float* bias,
                    float* y) {
  const Dims d(g);
  const int64_t size = packed_a_size(d.out_group, d.patch);
  const bool implicit = implicit_forward_applies(g);
  ParallelErrors errors;
#pragma omp parallel for schedule(static) if (g.batch > 1)
  for (int64_t n = 0; n < g.batch; ++n) errors.guard([&] {
      const float* xn = x + n * g.in_channels * d.pixels;
      float* yn = y + n * g.out_channels * d.positions;
      if (bias) fill_rows(yn, bias, g.out_channels, d.positions);
      if (implicit) return implicit_forward_image(g, packed, xn, yn, bias ? 1.f : 0.f);
      const float* columns = unrolled(g, d, xn);
      for (int64_t k = 0; k < g.groups; ++k)
        gemm_packed_a(packed + k * size, d.out_group, d.positions, d.patch, false,
                      columns + k * d.patch * d.positions, d.positions,
                      yn + k * d.out_group * d.positions, d.positions, 1.f, bias ? 1.f : 0.f);
    });
  errors.rethrow();
}

// The input gradient of a convolution with stride 1 and dilation 1 is itself such a
// convolution, of G with each kernel flipped (rotated 180 degrees), input and output channels
// swapped, and padding k - 1 - p (reading x = y + j - p backwards, y = x - j + p):
//   dx[ci][y][x] = sum_{co, i, j} G[co][y - i + p][x - j + p] W[co][ci][i][j]
//                = sum_{co, i, j} G[co][y + i - p'][x + j - p'] W[co][ci][k-1-i][k-1-j]
// with p' = k - 1 - p.
// So it runs on the forward path, whose GEMM reads a packed W, instead of GEMM + col2im.
bool input_gradient_is_a_convolution(const ConvGeometry& g) {
  return g.stride == 1 && g.dilation == 1 && g.groups == 1 && g.kernel_h == g.kernel_w &&
         g.padding <= g.kernel_h - 1;
}

// The convolution above: its geometry and its weights W'[ci][co][i][j] = W[co][ci][k-1-i][k-1-j]
// (flipping i and j reverses the tap index t = i k + j), packed.
ConvGeometry flipped_geometry(const ConvGeometry& g) {
  ConvGeometry t = g;
  t.in_channels = g.out_channels, t.in_h = g.out_h, t.in_w = g.out_w;
  t.out_channels = g.in_channels, t.out_h = g.in_h, t.out_w = g.in_w;
  t.padding = g.kernel_h - 1 - g.padding;
  return t;
}
const float* packed_flipped_weights(const ConvGeometry& g, const float* weight) {
  const int64_t taps = g.kernel_h * g.kernel_w, c_in = g.in_channels, c_out = g.out_channels;
  float* flipped = scratch(kFlippedWeights, c_in * c_out * taps);
  for (int64_t ci = 0; ci < c_in; ++ci)
    for (int64_t co = 0; co < c_out; ++co)
      for (int64_t t = 0; t < taps; ++t)
        flipped[(ci * c_out + co) * taps + t] = weight[(co * c_in + ci) * taps + taps - 1 - t];
  return packed_weights(flipped_geometry(g), Dims(flipped_geometry(g)), flipped);
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y) {
  forward_packed(g, x, packed_weights(g, Dims(g), weight), bias, y);
}

// x_n = col2im(W^T y_n) + b: per group, columns (K, L) = W[group]^T (K, out_group) @
// y_n[group] (out_group, L). Pointwise convs write W^T y_n straight into x_n. Stride-1
// convolutions take the flipped-kernel convolution above instead.
void conv2d_backward_input(const ConvGeometry& g, const float* y, const float* weight,
                           const float* bias, float* x) {
  if (input_gradient_is_a_convolution(g))
    return forward_packed(flipped_geometry(g), y, packed_flipped_weights(g, weight), bias, x);
  const Dims d(g);
  ParallelErrors errors;
#pragma omp parallel for schedule(static) if (g.batch > 1)
  for (int64_t n = 0; n < g.batch; ++n) errors.guard([&] {
      const float* yn = y + n * g.out_channels * d.positions;
      float* xn = x + n * g.in_channels * d.pixels;
      if (bias)
        fill_rows(xn, bias, g.in_channels, d.pixels);
      else if (!d.pointwise)
        std::fill(xn, xn + g.in_channels * d.pixels, 0.f);
      float* columns = d.pointwise ? xn : scratch(kColumns, g.groups * d.patch * d.positions);
      float beta = d.pointwise && bias ? 1.f : 0.f;
      for (int64_t k = 0; k < g.groups; ++k)
        matrix_product(true, false, d.patch, d.positions, d.out_group,
                       weight + k * d.out_group * d.patch, d.patch,
                       yn + k * d.out_group * d.positions, d.positions,
                       columns + k * d.patch * d.positions, d.positions, beta);
      if (!d.pointwise) col2im(g, columns, xn);
    });
  errors.rethrow();
}

// grad_W[group] (out_group, K) = sum_n grad_y_n[group] (out_group, L) @ im2col(x_n)[group]^T.
// Each image's product is computed in float and added to its thread's partial sum in double;
// the partials are then added in thread order. Summing the batch in double leaves only the
// rounding of each image's own product (half the error of a float sum for a batch of 100
// 4x4 images), and the fixed order makes the result independent of thread timing.
// The GEMM packs grad_y_n and reads the columns transposed, straight from im2col's buffer.
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* grad_y,
                            float* grad_weight) {
  const Dims d(g);
  const int64_t size = g.out_channels * d.patch;
  const int threads = g.batch > 1 ? omp_get_max_threads() : 1;
  const bool implicit = implicit_weight_grad_applies(g);
  thread_local std::vector<double> partials;  // the calling thread's; grows like scratch()
  if (int64_t(partials.size()) < threads * size) partials.resize(threads * size);
  std::fill(partials.begin(), partials.begin() + threads * size, 0.0);
  double* all_partials = partials.data();
  ParallelErrors errors;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    double* partial = all_partials + omp_get_thread_num() * size;
    float* product = nullptr;
    float* packed_grad = nullptr;
    errors.guard([&] {
      product = scratch(kProduct, size);
      packed_grad = scratch(kPackedGrad, packed_a_size(d.out_group, d.positions));
    });
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.batch; ++n) errors.guard([&] {
        if (!product || !packed_grad) return;  // this thread's buffers failed to grow
        const float* xn = x + n * g.in_channels * d.pixels;
        const float* yn = grad_y + n * g.out_channels * d.positions;
        if (implicit) {  // product and partial hold the transposes, (K, C_out)
          implicit_weight_grad_image(g, xn, yn, product);
        } else {
          const float* columns = unrolled(g, d, xn);
          for (int64_t k = 0; k < g.groups; ++k) {
            pack_a_panels(false, d.out_group, d.positions, yn + k * d.out_group * d.positions,
                          d.positions, packed_grad);
            gemm_packed_a(packed_grad, d.out_group, d.patch, d.positions, true,
                          columns + k * d.patch * d.positions, d.positions,
                          product + k * d.out_group * d.patch, d.patch, 1.f, 0.f);
          }
        }
        for (int64_t i = 0; i < size; ++i) partial[i] += product[i];
      });
  }
  errors.rethrow();
#pragma omp parallel for schedule(static) if (threads * size > 32768)
  for (int64_t i = 0; i < size; ++i) {
    double total = 0;
    for (int t = 0; t < threads; ++t) total += all_partials[t * size + i];
    // the implicit path's sums are transposed: entry i is (k, co) = (i / C_out, i % C_out)
    const int64_t at = implicit ? i % g.out_channels * d.patch + i / g.out_channels : i;
    grad_weight[at] = float(total);
  }
}

// out[c] = sum over n and i of t[n][c][i]: each row summed in float, the rows in double.
void channel_sum(const float* t, float* out, int64_t batch, int64_t channels, int64_t size) {
#pragma omp parallel for schedule(static) if (batch * channels * size > 32768)
  for (int64_t c = 0; c < channels; ++c) {
    double total = 0;
    for (int64_t n = 0; n < batch; ++n) {
      const float* row = t + (n * channels + c) * size;
      float row_total = 0.f;
#pragma omp simd reduction(+ : row_total)
      for (int64_t i = 0; i < size; ++i) row_total += row[i];
      total += row_total;
    }
    out[c] = float(total);
  }
}

}  // namespace cpu
}  // namespace tinydiff
