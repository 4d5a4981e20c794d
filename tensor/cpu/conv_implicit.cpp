// Implicit-GEMM convolution for stride 1, dilation 1 and 'same' width (out_w = in_w, i.e.
// 2 p = kw - 1: the lessons' 3x3 convolutions with padding 1).
//
// Give each channel plane p zero rows above and below, rows stored back to back (W floats
// each). Then row k = (c, ki, kj) of im2col(x), at the flattened output position
// l = oy W + ox, is
//   im2col(x)[k][l] = plane_c[(oy + ki) W + ox + kj - p] = data[offset[k] + l],
//   offset[k] = c plane_size + ki W + kj - p,
// except where ox + kj - p falls outside [0, W): the horizontal padding, which the flat read
// takes from the neighbouring row instead. So a run of consecutive output positions is a run
// of consecutive floats, and the GEMM's register tile (tensor/cpu/gemm_kernel.hpp) loads its
// B vectors straight from the image, zeroing the lanes in the horizontal padding with a mask
// that depends only on where the run starts and on kj. Every lane does work at any image
// width (8x8 maps included), and no column matrix (C_in kh kw x L floats, 9x the image) is
// written and read back: that took a fifth of a convolution's time.
#include "tensor/cpu/conv_implicit.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "tensor/cpu/gemm_kernel.hpp"
#include "tensor/cpu/scratch.hpp"

namespace tinydiff {
namespace cpu {

namespace {

// gather_a_panel transposes 8 x 8 blocks, so a panel of A has at most 8 rows, and
// transpose_into_panels writes whole blocks of 8 columns into a B panel.
static_assert(kMR <= 8 && kNR % 8 == 0, "conv_implicit.cpp assumes kMR <= 8 and 8 | kNR");

// Integer vectors of kLanes and of 8 lanes, for lane masks (all bits set: keep the lane).
typedef int32_t Mask __attribute__((vector_size(kLanes * sizeof(int32_t))));
typedef float Vec8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t Mask8 __attribute__((vector_size(8 * sizeof(int32_t))));

inline Vec masked(Vec x, Mask m) { return (Vec)((Mask)x & m); }
// Load 8 floats into x. Pass a local x and copy it on: loading into an array element lets
// GCC copy 16 bytes at a time without AVX-512, and transpose8's 32-byte reads of those halves
// then stall (store forwarding fails): a quarter of the weight gradient's time under AVX2.
// (x travels by reference: returning a Vec8 would change the ABI of builds without AVX.)
inline void load8(Vec8& x, const float* p) { std::memcpy(&x, p, sizeof x); }

// The per-thread buffers of this file (tensor/cpu/scratch.hpp), one per use.
enum Slot { kImage, kBPanels, kAPanel, kSlots };

// The image with its zero rows, and for each im2col row k where it starts and its kj.
struct Image {
  const float* data;
  std::vector<int64_t> offset;
  std::vector<int32_t> column;
};

// image (C_in, H, W) -> planes (C_in, H + 2p, W) with p zero rows above and below, plus
// slack before and after for the lanes that read past either end (they are masked).
Image pad_rows(const ConvGeometry& g, const float* image) {
  const int64_t p = g.padding, w = g.in_w, plane = (g.in_h + 2 * p) * w;
  const int64_t slack = kNR + p + 8, size = g.in_channels * plane + 2 * slack;
  float* out = scratch(kImage, size);
  std::fill(out, out + slack, 0.f);
  std::fill(out + size - slack, out + size, 0.f);
  float* planes = out + slack;
  for (int64_t c = 0; c < g.in_channels; ++c) {
    float* dst = planes + c * plane;
    std::fill(dst, dst + p * w, 0.f);
    std::memcpy(dst + p * w, image + c * g.in_h * w, sizeof(float) * g.in_h * w);
    std::fill(dst + (p + g.in_h) * w, dst + plane, 0.f);
  }
  Image in{planes, {}, {}};
  for (int64_t c = 0; c < g.in_channels; ++c)
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        in.offset.push_back(c * plane + ki * w + kj - p);
        in.column.push_back(int32_t(kj));
      }
  return in;
}

// masks[run][kj], lane i: whether output position run * lanes + i, read through kernel
// column kj, lands inside its input row (0 <= ox + kj - p < W). The runs cover the output
// positions rounded up to whole kNR-wide tiles.
template <class M, int lanes>
std::vector<M> lane_masks(const ConvGeometry& g) {
  const int64_t positions = g.out_h * g.out_w, runs = (positions + kNR - 1) / kNR * kNR / lanes;
  std::vector<M> masks(runs * g.kernel_w);
  for (int64_t run = 0; run < runs; ++run)
    for (int64_t kj = 0; kj < g.kernel_w; ++kj)
      for (int i = 0; i < lanes; ++i) {
        const int64_t x = (run * lanes + i) % g.out_w + kj - g.padding;
        masks[run * g.kernel_w + kj][i] = x >= 0 && x < g.in_w ? -1 : 0;
      }
  return masks;
}

// The transpose of an 8 x 8 block held as 8 vectors: three rounds of pairwise interleaving,
// which the compiler turns into the target's shuffle instructions.
void transpose8(Vec8 (&m)[8]) {
  Vec8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {  // t: pairs of rows interleaved element by element
    t[i] = __builtin_shufflevector(m[i], m[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(m[i], m[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)  // u: then pairs of pairs
    for (int j = 0; j < 2; ++j) {
      u[i + 2 * j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * j + 1] =
          __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int j = 0; j < 4; ++j) {  // m: the halves of rows 0-3 and 4-7 joined
    m[j] = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    m[j + 4] = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// ap[l][r] = im2col(x)[k0 + r][l] for r < rows (0 for rows <= r < kMR): im2col rows k0 ..
// k0 + kMR - 1 in the GEMM's A layout. Eight positions at a time: up to eight masked loads
// (one per row), one 8 x 8 transpose, eight stores of kMR taps. (A scalar loop spent as long
// on these scattered writes as the GEMM on its multiply-adds.)
void gather_a_panel(const ConvGeometry& g, const Image& in, const std::vector<Mask8>& masks,
                    int64_t k0, int64_t rows, float* ap) {
  const int64_t positions = g.out_h * g.out_w;
  for (int64_t l = 0; l < positions; l += 8) {
    Vec8 m[8] = {};
    for (int64_t r = 0; r < rows; ++r) {
      Vec8 row;
      load8(row, in.data + in.offset[k0 + r] + l);
      m[r] = (Vec8)((Mask8)row & masks[l / 8 * g.kernel_w + in.column[k0 + r]]);
    }
    transpose8(m);
    for (int64_t j = 0; j < std::min<int64_t>(8, positions - l); ++j)
      std::memcpy(ap + (l + j) * kMR, &m[j], sizeof(float) * kMR);
  }
}

// bp[panel][l][j] = grad_y[panel kNR + j][l], zero past C_out: grad_y (C_out, L) transposed
// into the GEMM's B panels of kNR output channels, by 8 x 8 blocks where they are whole.
void transpose_into_panels(const float* grad_y, int64_t c_out, int64_t positions, float* bp) {
  const int64_t panels = (c_out + kNR - 1) / kNR;
  auto at = [&](int64_t co, int64_t l) {
    return bp + ((co / kNR) * positions + l) * kNR + co % kNR;
  };
  if (c_out % kNR) std::fill(bp, bp + panels * positions * kNR, 0.f);
  const int64_t whole_c = c_out / 8 * 8, whole_l = positions / 8 * 8;
  for (int64_t co = 0; co < whole_c; co += 8)
    for (int64_t l = 0; l < whole_l; l += 8) {
      Vec8 m[8];
      for (int r = 0; r < 8; ++r) {
        Vec8 row;
        load8(row, grad_y + (co + r) * positions + l);
        m[r] = row;
      }
      transpose8(m);
      for (int j = 0; j < 8; ++j) std::memcpy(at(co, l + j), &m[j], sizeof m[j]);
    }
  for (int64_t co = 0; co < c_out; ++co)  // the edges: the last channels and positions
    for (int64_t l = co < whole_c ? whole_l : 0; l < positions; ++l)
      *at(co, l) = grad_y[co * positions + l];
}

}  // namespace

bool implicit_forward_applies(const ConvGeometry& g) {
  return g.stride == 1 && g.dilation == 1 && g.groups == 1 && g.kernel_h * g.kernel_w > 1 &&
         g.out_w == g.in_w;
}

bool implicit_weight_grad_applies(const ConvGeometry& g) {
  return implicit_forward_applies(g) && g.out_channels >= 16;
}

// Per tile of kNR consecutive output positions and per panel of kMR output channels: the
// register tile over k = (c, ki, kj), then stored into the kMR output rows.
void implicit_forward_image(const ConvGeometry& g, const float* packed_weight, const float* image,
                            float* y, float beta) {
  const Image in = pad_rows(g, image);
  const std::vector<Mask> masks = lane_masks<Mask, kLanes>(g);
  const int64_t depth = int64_t(in.offset.size()), positions = g.out_h * g.out_w;
  const int64_t* offset = in.offset.data();
  const int32_t* column = in.column.data();
  for (int64_t l = 0; l < positions; l += kNR) {
    const Mask* run_masks = masks.data() + l / kLanes * g.kernel_w;
    for (int64_t i = 0; i < g.out_channels; i += kMR) {
      Tile acc = {};
      accumulate_tile(depth, packed_weight + i * depth, [&](int64_t k, Vec* b) {
        const float* row = in.data + offset[k] + l;
        for (int v = 0; v < kVecs; ++v)
          b[v] = masked(load(row + v * kLanes), run_masks[v * g.kernel_w + column[k]]);
      }, acc);
      for (int64_t r = 0; r < std::min<int64_t>(kMR, g.out_channels - i); ++r)
        store_row(acc[r], 0, kNR, y + (i + r) * positions + l, positions - l, 1.f, beta);
    }
  }
}

// product_t (K, C_out) = im2col(x) (K, L) @ grad_y^T (L, C_out), K = C_in kh kw. grad_y^T is
// packed once into panels of kNR output channels; each panel of kMR im2col rows is gathered
// from the image into an L1-sized buffer and multiplied with every grad_y^T panel.
void implicit_weight_grad_image(const ConvGeometry& g, const float* image, const float* grad_y,
                                float* product_t) {
  const Image in = pad_rows(g, image);
  const std::vector<Mask8> masks = lane_masks<Mask8, 8>(g);
  const int64_t depth = int64_t(in.offset.size()), positions = g.out_h * g.out_w;
  const int64_t c_out = g.out_channels, b_panels = (c_out + kNR - 1) / kNR;
  float* bp = scratch(kBPanels, b_panels * positions * kNR);
  transpose_into_panels(grad_y, c_out, positions, bp);
  float* ap = scratch(kAPanel, positions * kMR);
  for (int64_t k0 = 0; k0 < depth; k0 += kMR) {
    const int64_t rows = std::min<int64_t>(kMR, depth - k0);
    gather_a_panel(g, in, masks, k0, rows, ap);
    for (int64_t j = 0; j < b_panels; ++j) {
      const float* panel = bp + j * positions * kNR;
      Tile acc = {};
      accumulate_tile(positions, ap, [&](int64_t l, Vec* b) {
        for (int v = 0; v < kVecs; ++v) b[v] = load(panel + l * kNR + v * kLanes);
      }, acc);
      for (int64_t r = 0; r < rows; ++r)
        store_row(acc[r], 0, kNR, product_t + (k0 + r) * c_out + j * kNR, c_out - j * kNR, 1.f,
                  0.f);
    }
  }
}

}  // namespace cpu
}  // namespace tinydiff
