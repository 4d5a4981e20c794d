// CUDA convolution: im2col of the whole batch into one column buffer, then one batched GEMM
// per group (cuda::gemm: cuBLAS or the tiled kernel), and col2im in gather form. The math is
// in tensor/kernels/conv.hpp; sizes are named as in tensor/cpu/conv.cpp:
//   L = out_h out_w positions, K = (C_in / groups) kh kw rows of one group's column matrix.
// The column buffer (batch, C_in kh kw, L) comes from the caching allocator, so after the
// first training step no memory is allocated here. A 1x1, stride-1, unpadded convolution
// skips im2col: the image (C_in, H W) already is its column matrix.
//
// The weight gradient sums over the images, so there the batch moves inside the reduction:
// columns laid out (C_in kh kw, batch, L) and grad_y copied to (C_out, batch, L) make it
// one GEMM with k = batch L per group instead of one small GEMM per image (a GPU pays a
// launch for each, and a GEMM with k = L = 256 keeps few of its multiprocessors busy).
#include <memory>

#include "tensor/cuda/common.cuh"
#include "tensor/kernels/conv.hpp"
#include "tensor/kernels/elementwise.hpp"
#include "tensor/kernels/matmul.hpp"
#include "tensor/storage.hpp"

namespace tinydiff::cuda {

namespace {

struct Dims {
  int64_t pixels, positions, out_group, patch, rows;  // rows = C_in kh kw (all groups)
  bool pointwise;
  explicit Dims(const ConvGeometry& g)
      : pixels(g.in_h * g.in_w),
        positions(g.out_h * g.out_w),
        out_group(g.out_channels / g.groups),
        patch(g.in_channels / g.groups * g.kernel_h * g.kernel_w),
        rows(g.in_channels * g.kernel_h * g.kernel_w),
        pointwise(g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0 &&
                  g.in_h == g.out_h && g.in_w == g.out_w) {}
};

// Each thread takes one output position of one input plane, t = (n, c, position) with
// position = (oy, ox), and writes the kh kw column entries of that plane's taps:
//   columns[n][row][position] = image_n[c][oy s + ki d - p][ox s + kj d - p], 0 in the padding,
// row = (c, ki, kj); when batch_inside the buffer is laid out (row, n, position) instead.
// Neighbouring threads write neighbouring positions, so every store is coalesced. A GPU has no
// integer divider (a division or remainder costs ~20 instructions), so t is taken apart once
// per thread, not once per column entry: 6 divisions per 9 floats of a 3x3 kernel, not 90.
__global__ void im2col_kernel(ConvGeometry g, const float* images, float* columns, int64_t batch,
                              bool batch_inside) {
  const int64_t positions = g.out_h * g.out_w, taps = g.kernel_h * g.kernel_w;
  // Between row r and row r + 1 of one image's column matrix lie `row_step` floats.
  const int64_t row_step = batch_inside ? batch * positions : positions;
  for (int64_t t = thread_index(); t < batch * g.in_channels * positions; t += thread_count()) {
    const int64_t position = t % positions, plane = t / positions;
    const int64_t c = plane % g.in_channels, n = plane / g.in_channels;
    const int64_t y0 = position / g.out_w * g.stride - g.padding;
    const int64_t x0 = position % g.out_w * g.stride - g.padding;
    const float* image = images + plane * g.in_h * g.in_w;
    float* out = columns + (batch_inside ? n * positions : n * g.in_channels * taps * positions) +
                 c * taps * row_step + position;
    for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
      const int64_t iy = y0 + ki * g.dilation;
      for (int64_t kj = 0; kj < g.kernel_w; ++kj, out += row_step) {
        const int64_t ix = x0 + kj * g.dilation;
        const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
        *out = inside ? image[iy * g.in_w + ix] : 0.f;
      }
    }
  }
}

// The output index o with o s = i, or -1 when i is negative or not a multiple of s. Stride 1
// (every lesson convolution) skips the division.
__device__ inline int64_t strided_index(int64_t i, int64_t s) {
  if (s == 1 || i < 0) return i;
  return i % s == 0 ? i / s : -1;
}

// col2im in gather form: each thread owns image pixels t = (n, c, iy, ix) and adds to each the
// column entries copied from it. Tap (ki, kj) read it at output (oy, ox) when
// oy s = iy + p - ki d and ox s = ix + p - kj d, so the thread tries its kh kw taps: no two
// threads write one pixel, no atomics, and the sum runs in the CPU's tap order.
__global__ void col2im_kernel(ConvGeometry g, const float* columns, float* images, int64_t batch) {
  const int64_t positions = g.out_h * g.out_w, taps = g.kernel_h * g.kernel_w;
  for (int64_t t = thread_index(); t < batch * g.in_channels * g.in_h * g.in_w; t += thread_count()) {
    const int64_t ix = t % g.in_w, iy = t / g.in_w % g.in_h, plane = t / (g.in_w * g.in_h);
    // plane = (n, c), and the rows (c, ki, kj) of image n's columns follow one another.
    const float* rows = columns + plane * taps * positions;
    float sum = images[t];
    for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
      const int64_t oy = strided_index(iy + g.padding - ki * g.dilation, g.stride);
      if (oy < 0 || oy >= g.out_h) continue;
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const int64_t ox = strided_index(ix + g.padding - kj * g.dilation, g.stride);
        if (ox < 0 || ox >= g.out_w) continue;
        sum += rows[(ki * g.kernel_w + kj) * positions + oy * g.out_w + ox];
      }
    }
    images[t] = sum;
  }
}

// Each thread: out[t] = bias[c] for its elements t = (n, c, i) of out (batch, channels, size).
__global__ void fill_channels_kernel(const float* bias, float* out, int64_t total,
                                     int64_t channels, int64_t size) {
  for (int64_t t = thread_index(); t < total; t += thread_count()) out[t] = bias[t / size % channels];
}

// One block per channel c: sum over n and i of t[n][c][i], in double, reduced over the block.
__global__ void channel_sum_kernel(const float* t, float* out, int64_t batch, int64_t channels,
                                   int64_t size) {
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    double total = 0;
    for (int64_t k = threadIdx.x; k < batch * size; k += blockDim.x)
      total += t[(k / size * channels + c) * size + k % size];
    total = block_sum(total);
    if (threadIdx.x == 0) out[c] = float(total);
  }
}

// x (batch, channels, size): every plane of channel c set to bias[c], or to zero.
void init_channels(float* x, const float* bias, int64_t batch, int64_t channels, int64_t size) {
  const int64_t total = batch * channels * size;
  if (!bias) {
    count_launch();
    TD_CUDA_CHECK(cudaMemsetAsync(x, 0, sizeof(float) * total));
    return;
  }
  fill_channels_kernel<<<blocks_for(total), kThreads>>>(bias, x, total, channels, size);
  TD_CUDA_LAUNCH_CHECK();
}

// The batch's column matrices in a fresh buffer filled by im2col: (batch, C_in kh kw, L), or
// (C_in kh kw, batch, L) when batch_inside.
std::shared_ptr<Storage> unrolled(const ConvGeometry& g, const Dims& d, const float* x,
                                  bool batch_inside = false) {
  auto columns = Storage::allocate(g.batch * d.rows * d.positions, Device::cuda());
  im2col_kernel<<<blocks_for(g.batch * g.in_channels * d.positions), kThreads>>>(
      g, x, columns->data(), g.batch, batch_inside);
  TD_CUDA_LAUNCH_CHECK();
  return columns;
}

// t (batch, channels, size) copied to a fresh (channels, batch, size) buffer.
std::shared_ptr<Storage> swap_batch_and_channels(const float* t, int64_t batch, int64_t channels,
                                                 int64_t size) {
  auto swapped = Storage::allocate(batch * channels * size, Device::cuda());
  copy_strided(StridedInput{t, {size, channels * size, 1}}, swapped->data(),
               {channels, batch, size});
  return swapped;
}

// C (m, n) = op(A) (m, k) op(B) (k, n) + beta C for each of `batch` matrices, with batch
// strides stride_a (0: one A for all), stride_b, stride_c.
void batched_gemm(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k,
                  const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                  int64_t stride_b, float* c, int64_t ldc, int64_t stride_c, float beta) {
  GemmArgs args;
  args.trans_a = trans_a, args.trans_b = trans_b, args.batch = batch;
  args.m = m, args.n = n, args.k = k, args.beta = beta;
  args.a = a, args.lda = lda, args.stride_a = stride_a;
  args.b = b, args.ldb = ldb, args.stride_b = stride_b;
  args.c = c, args.ldc = ldc, args.stride_c = stride_c;
  cuda::gemm(args);
}

}  // namespace

void im2col(const ConvGeometry& g, const float* image, float* columns) {
  const Dims d(g);
  im2col_kernel<<<blocks_for(g.in_channels * d.positions), kThreads>>>(g, image, columns, 1, false);
  TD_CUDA_LAUNCH_CHECK();
}

void col2im(const ConvGeometry& g, const float* columns, float* image) {
  col2im_kernel<<<blocks_for(g.in_channels * g.in_h * g.in_w), kThreads>>>(g, columns, image, 1);
  TD_CUDA_LAUNCH_CHECK();
}

// y_n[group] (out_group, L) = W[group] (out_group, K) @ columns_n[group] (K, L) + bias, for
// all n in one batched GEMM per group (W's batch stride 0: the same weight for every image).
void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight,
                    const float* bias, float* y) {
  const Dims d(g);
  std::shared_ptr<Storage> buffer = d.pointwise ? nullptr : unrolled(g, d, x);
  const float* columns = d.pointwise ? x : buffer->data();
  if (bias) init_channels(y, bias, g.batch, g.out_channels, d.positions);
  for (int64_t k = 0; k < g.groups; ++k)
    batched_gemm(false, false, g.batch, d.out_group, d.positions, d.patch,
                 weight + k * d.out_group * d.patch, d.patch, 0,
                 columns + k * d.patch * d.positions, d.positions, d.rows * d.positions,
                 y + k * d.out_group * d.positions, d.positions, g.out_channels * d.positions,
                 bias ? 1.f : 0.f);
}

// columns_n[group] (K, L) = W[group]^T (K, out_group) @ y_n[group] (out_group, L), batched
// over n; then x_n = bias + col2im(columns_n). Pointwise convs write W^T y_n into x directly.
void conv2d_backward_input(const ConvGeometry& g, const float* y, const float* weight,
                           const float* bias, float* x) {
  const Dims d(g);
  std::shared_ptr<Storage> buffer =
      d.pointwise ? nullptr : Storage::allocate(g.batch * d.rows * d.positions, Device::cuda());
  float* columns = d.pointwise ? x : buffer->data();
  if (bias || !d.pointwise) init_channels(x, bias, g.batch, g.in_channels, d.pixels);
  for (int64_t k = 0; k < g.groups; ++k)
    batched_gemm(true, false, g.batch, d.patch, d.positions, d.out_group,
                 weight + k * d.out_group * d.patch, d.patch, 0,
                 y + k * d.out_group * d.positions, d.positions, g.out_channels * d.positions,
                 columns + k * d.patch * d.positions, d.positions, d.rows * d.positions,
                 d.pointwise && bias ? 1.f : 0.f);
  if (d.pointwise) return;
  col2im_kernel<<<blocks_for(g.batch * g.in_channels * d.pixels), kThreads>>>(g, columns, x, g.batch);
  TD_CUDA_LAUNCH_CHECK();
}

// grad_W[group] (out_group, K) = sum_n grad_y_n[group] (out_group, L) @ columns_n[group]^T
//   = grad_y'[group] (out_group, batch L) @ columns'[group]^T (batch L, K)
// with grad_y' = grad_y as (C_out, batch, L) and columns' = the columns as (rows, batch, L):
// one GEMM per group. A pointwise conv's columns' is x as (C_in, batch, L).
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* grad_y,
                            float* grad_weight) {
  const Dims d(g);
  const int64_t reduced = g.batch * d.positions;  // the GEMM's k: every image's positions
  if (reduced == 0) return init_channels(grad_weight, nullptr, 1, g.out_channels, d.patch);
  std::shared_ptr<Storage> columns =
      d.pointwise ? swap_batch_and_channels(x, g.batch, g.in_channels, d.pixels)
                  : unrolled(g, d, x, /*batch_inside=*/true);
  std::shared_ptr<Storage> grad =
      swap_batch_and_channels(grad_y, g.batch, g.out_channels, d.positions);
  for (int64_t k = 0; k < g.groups; ++k)
    batched_gemm(false, true, 1, d.out_group, d.patch, reduced,
                 grad->data() + k * d.out_group * reduced, reduced, 0,
                 columns->data() + k * d.patch * reduced, reduced, 0,
                 grad_weight + k * d.out_group * d.patch, d.patch, 0, 0.f);
}

void channel_sum(const float* t, float* out, int64_t batch, int64_t channels, int64_t size) {
  channel_sum_kernel<<<unsigned(std::clamp<int64_t>(channels, 1, kMaxBlocks)), kThreads>>>(
      t, out, batch, channels, size);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
