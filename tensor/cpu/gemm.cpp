// The CPU matrix product, blocked as in BLIS (Van Zee & van de Geijn 2015; Goto & van de Geijn
// 2008, "Anatomy of high-performance matrix multiplication"):
//
//   for each block of kKC rows of op(B) (the k axis):
//     pack op(B)[k block, :] into panels of kNR columns        Bp, row k of a panel contiguous
//     for each block of kMC rows of op(A):
//       pack op(A)[m block, k block] into panels of kMR rows   Ap, column k of a panel contiguous
//       for each panel pair: micro_kernel: the kMR x kNR tile of C (+)= Ap panel @ Bp panel
//
// The micro-kernel (tensor/cpu/gemm_kernel.hpp) holds its kMR x kNR tile of C in registers
// while k runs. Packing makes every load of the inner loop contiguous and the zero-padded
// panels make every tile full size; an Ap block (kMC x kKC) stays in the L2 cache and a Bp panel
// (kKC x kNR, 48 KiB with AVX-512) streams through L1. On the lesson's convolution shapes the
// AVX-512 kernel runs at ~235 GFLOP/s per core once its operands are packed (peak: 256), and
// the whole product at ~200, against ~165 for Eigen 3.4 (tests/bench/README.md).
#include "tensor/cpu/gemm.hpp"

#include <algorithm>

#include "tensor/cpu/gemm_kernel.hpp"
#include "tensor/cpu/scratch.hpp"

namespace tinydiff {
namespace cpu {

namespace {

constexpr int64_t kKC = 384;  // depth of a packed block
constexpr int64_t kMC = 16 * kMR;  // rows of a packed Ap block (128 with AVX-512)

// The C tile at c (its first `rows` x `cols` are real): C = alpha Ap @ B + beta C, where Ap
// is a packed panel (kc x kMR) and row k of the B panel starts at bp + k ldb.
void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, int64_t ldb,
                  float* c, int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  Tile acc = {};
  accumulate_tile(kc, ap, [&](int64_t k, Vec* b) {
    for (int v = 0; v < kVecs; ++v) b[v] = load(bp + k * ldb + v * kLanes);
  }, acc);
  for (int64_t r = 0; r < rows; ++r) store_row(acc[r], 0, kNR, c + r * ldc, cols, alpha, beta);
}

// Ap[k][r] = op(A)(r, k) for one panel of `rows` <= kMR rows starting at a, zero beyond `rows`.
// The loops run along whichever axis op(A) is contiguous in.
void pack_a(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kc, float* ap) {
  if (rows < kMR) std::fill(ap, ap + kc * kMR, 0.f);
  if (cs == 1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < kc; ++k) ap[k * kMR + r] = a[r * rs + k];
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t r = 0; r < rows; ++r) ap[k * kMR + r] = a[k * cs + r * rs];
  }
}

// Bp[k][j] = op(B)(k, j) for one panel of `cols` <= kNR columns starting at b, zero beyond.
void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kc, int64_t cols, float* bp) {
  if (cols < kNR) std::fill(bp, bp + kc * kNR, 0.f);
  if (cs == 1) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < cols; ++j) bp[k * kNR + j] = b[k * rs + j];
  } else {  // a transpose, in blocks of 16 rows so that reads and writes stay in L1
    for (int64_t k0 = 0; k0 < kc; k0 += 16)
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t k = k0; k < std::min(kc, k0 + 16); ++k) bp[k * kNR + j] = b[j * cs + k * rs];
  }
}

// The per-thread packing buffers (tensor/cpu/scratch.hpp): packing allocates nothing after
// the first products.
enum Slot { kAPanels, kBPanels, kSlots };

int64_t tiles(int64_t size, int64_t tile) { return (size + tile - 1) / tile; }

}  // namespace

void gemm_blocked(const GemmOperands& p) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {  // an empty sum: C = beta C
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j)
        p.c[i * p.ldc + j] = p.beta == 0.f ? 0.f : p.beta * p.c[i * p.ldc + j];
    return;
  }
  const int64_t col_panels = tiles(p.n, kNR);
  float* bp = scratch(kBPanels, kKC * col_panels * kNR);
  float* ap = scratch(kAPanels, kKC * kMC);
  for (int64_t depth = 0; depth < p.k; depth += kKC) {
    const int64_t kc = std::min(kKC, p.k - depth);
    const float beta = depth == 0 ? p.beta : 1.f;  // later blocks add onto the first
    for (int64_t j = 0; j < col_panels; ++j)
      pack_b(p.b + depth * p.rs_b + j * kNR * p.cs_b, p.rs_b, p.cs_b, kc,
             std::min<int64_t>(kNR, p.n - j * kNR), bp + j * kc * kNR);
    for (int64_t row = 0; row < p.m; row += kMC) {
      const int64_t mc = std::min(kMC, p.m - row);
      for (int64_t i = 0; i < mc; i += kMR)
        pack_a(p.a + (row + i) * p.rs_a + depth * p.cs_a, p.rs_a, p.cs_a,
               std::min<int64_t>(kMR, mc - i), kc, ap + i * kc);
      for (int64_t j = 0; j < col_panels; ++j)
        for (int64_t i = 0; i < mc; i += kMR)
          micro_kernel(kc, ap + i * kc, bp + j * kc * kNR, kNR, p.c + (row + i) * p.ldc + j * kNR,
                       p.ldc, std::min<int64_t>(kMR, mc - i),
                       std::min<int64_t>(kNR, p.n - j * kNR), p.alpha, beta);
    }
  }
}

int64_t packed_a_size(int64_t m, int64_t k) { return tiles(m, kMR) * kMR * k; }

void pack_a_panels(bool trans_a, int64_t m, int64_t k, const float* a, int64_t lda,
                   float* packed) {
  const int64_t rs = trans_a ? 1 : lda, cs = trans_a ? lda : 1;
  for (int64_t i = 0; i < m; i += kMR)
    pack_a(a + i * rs, rs, cs, std::min<int64_t>(kMR, m - i), k, packed + i * k);
}

// The whole depth k in one pass (no k blocks): conv2d's operands (k <= ~1200) fit the L2
// cache. Full column panels of an untransposed B are read where they lie, which costs only
// ~2% over packed panels because they are already in cache (conv2d has just written them);
// the last, partial panel and transposed panels are packed.
void gemm_packed_a(const float* packed_a, int64_t m, int64_t n, int64_t k, bool trans_b,
                   const float* b, int64_t ldb, float* c, int64_t ldc, float alpha, float beta) {
  if (k == 0) return gemm_blocked({m, n, 0, nullptr, 0, 0, nullptr, 0, 0, c, ldc, alpha, beta});
  const int64_t rs = trans_b ? 1 : ldb, cs = trans_b ? ldb : 1;
  for (int64_t j = 0; j < n; j += kNR) {
    const int64_t cols = std::min<int64_t>(kNR, n - j);
    const float* panel = b + j * cs;
    int64_t panel_ld = ldb;
    if (trans_b || cols < kNR) {
      float* bp = scratch(kBPanels, k * kNR);
      pack_b(panel, rs, cs, k, cols, bp);
      panel = bp, panel_ld = kNR;
    }
    for (int64_t i = 0; i < m; i += kMR)
      micro_kernel(k, packed_a + i * k, panel, panel_ld, c + i * ldc + j, ldc,
                   std::min<int64_t>(kMR, m - i), cols, alpha, beta);
  }
}

}  // namespace cpu
}  // namespace tinydiff
