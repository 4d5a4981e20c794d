// CPU GEMM: C = alpha op(A) op(B) + beta C, blocked as in BLIS (Van Zee & van de Geijn 2015;
// Goto & van de Geijn 2008, "Anatomy of high-performance matrix multiplication"):
//
//   for each block of kKC rows of op(B) (the k axis):
//     pack op(B)[k block, :] into panels of kNR columns        Bp, row k of a panel contiguous
//     for each block of kMC rows of op(A):
//       pack op(A)[m block, k block] into panels of kMR rows   Ap, column k of a panel contiguous
//       for each panel pair: micro_kernel: the kMR x kNR tile of C += Ap panel @ Bp panel
//
// The micro-kernel holds its 8 x 32 tile of C in 16 vector registers (with AVX-512; 32 with
// AVX2) and for each k does 16 fused multiply-adds: one broadcast element of A times two
// vectors of B. Packing makes every load of the inner loop contiguous and the zero-padded
// panels make every tile full size; an Ap block (kMC x kKC) stays in the L2 cache and a Bp
// panel (kKC x kNR, 48 KiB) streams through L1. On the lesson's convolution shapes this runs
// at ~200 GFLOP/s per core, against ~165 for Eigen 3.4's kernel (tests/bench/README.md).
//
// Threads: a GEMM called inside a parallel region (conv2d's per-image loop) runs serially.
// Otherwise the batch, or else the columns (or rows) of C, are split across the threads.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tensor/kernels/matmul.hpp"

namespace tinydiff {
namespace cpu {

namespace {

// A vector of kLanes floats, with GCC/Clang's vector extension: `a * v` broadcasts the float
// a, and the compiler emits the target's FMA instructions (AVX-512, AVX2 or plain SSE).
#ifdef __AVX512F__
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

constexpr int kMR = 8;            // rows of a C tile
constexpr int kNR = 32;           // columns of a C tile
constexpr int kVecs = kNR / kLanes;
constexpr int64_t kKC = 384;      // depth of a packed block
constexpr int64_t kMC = 128;      // rows of a packed Ap block

// The matrices of one product with op() resolved: op(A)(i, k) = a[i rs_a + k cs_a], etc.
struct Operands {
  int64_t m, n, k;
  const float* a;
  int64_t rs_a, cs_a;
  const float* b;
  int64_t rs_b, cs_b;
  float* c;
  int64_t ldc;
  float alpha, beta;
};

// Ap[k][r] = op(A)(row + r, depth + k) for a panel of kMR rows (zero beyond `rows`). The
// loops run along whichever axis op(A) is contiguous in.
void pack_a(const Operands& p, int64_t row, int64_t rows, int64_t depth, int64_t kc, float* ap) {
  const float* a = p.a + row * p.rs_a + depth * p.cs_a;
  if (rows < kMR) std::fill(ap, ap + kc * kMR, 0.f);
  if (p.cs_a == 1) {  // rows of A are contiguous
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < kc; ++k) ap[k * kMR + r] = a[r * p.rs_a + k];
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t r = 0; r < rows; ++r) ap[k * kMR + r] = a[k * p.cs_a + r * p.rs_a];
  }
}

// Bp[k][c] = op(B)(depth + k, col + c) for a panel of kNR columns (zero beyond `cols`).
void pack_b(const Operands& p, int64_t depth, int64_t kc, int64_t col, int64_t cols, float* bp) {
  const float* b = p.b + depth * p.rs_b + col * p.cs_b;
  if (cols == kNR && p.cs_b == 1) {  // the common case: whole rows of the panel are contiguous
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t c = 0; c < kNR; ++c) bp[k * kNR + c] = b[k * p.rs_b + c];
    return;
  }
  if (cols < kNR) std::fill(bp, bp + kc * kNR, 0.f);
  if (p.cs_b == 1) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t c = 0; c < cols; ++c) bp[k * kNR + c] = b[k * p.rs_b + c];
  } else {
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t k = 0; k < kc; ++k) bp[k * kNR + c] = b[c * p.cs_b + k * p.rs_b];
  }
}

// Unaligned vector load and store. (Going through a local keeps the accumulators out of
// memory: taking their address would make GCC spill them to the stack at every k.)
inline Vec load(const float* p) {
  Vec x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
inline void store(float* p, Vec x) { std::memcpy(p, &x, sizeof x); }

// The C tile (rows x cols of it are real) at c: C = alpha Ap @ Bp + beta C, where beta is
// 0 (C is not read: it may hold garbage), 1, or anything else.
void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c,
                  int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  Vec acc[kMR][kVecs] = {};
  for (int64_t k = 0; k < kc; ++k) {
    Vec b[kVecs];
    for (int v = 0; v < kVecs; ++v) b[v] = load(bp + k * kNR + v * kLanes);
    for (int r = 0; r < kMR; ++r)
      for (int v = 0; v < kVecs; ++v) acc[r][v] += ap[k * kMR + r] * b[v];
  }
  for (int64_t r = 0; r < rows; ++r) {
    float tile[kNR];
    for (int v = 0; v < kVecs; ++v) store(tile + v * kLanes, acc[r][v]);
    float* out = c + r * ldc;
    if (beta == 0.f)
      for (int64_t j = 0; j < cols; ++j) out[j] = alpha * tile[j];
    else
      for (int64_t j = 0; j < cols; ++j) out[j] = alpha * tile[j] + beta * out[j];
  }
}

// A buffer of this thread that only grows, so that packing allocates nothing after the first
// products. Slot 0 holds the Ap block, slot 1 the Bp panels.
float* scratch(int64_t numel, int slot) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (int64_t(b.size()) < numel) b.resize(numel);
  return b.data();
}

// C = alpha op(A) op(B) + beta C on one thread.
void gemm_serial(const Operands& p) {
  if (p.k == 0) {  // an empty sum: C = beta C
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j)
        p.c[i * p.ldc + j] = p.beta == 0.f ? 0.f : p.beta * p.c[i * p.ldc + j];
    return;
  }
  const int64_t col_panels = (p.n + kNR - 1) / kNR;
  float* bp = scratch(kKC * col_panels * kNR, 1);
  float* ap = scratch(kKC * kMC, 0);
  for (int64_t depth = 0; depth < p.k; depth += kKC) {
    const int64_t kc = std::min(kKC, p.k - depth);
    const float beta = depth == 0 ? p.beta : 1.f;  // later blocks add onto the first
    for (int64_t j = 0; j < col_panels; ++j)
      pack_b(p, depth, kc, j * kNR, std::min<int64_t>(kNR, p.n - j * kNR), bp + j * kc * kNR);
    for (int64_t row = 0; row < p.m; row += kMC) {
      const int64_t mc = std::min(kMC, p.m - row);
      for (int64_t i = 0; i < mc; i += kMR)
        pack_a(p, row + i, std::min<int64_t>(kMR, mc - i), depth, kc, ap + i * kc);
      for (int64_t j = 0; j < col_panels; ++j)
        for (int64_t i = 0; i < mc; i += kMR)
          micro_kernel(kc, ap + i * kc, bp + j * kc * kNR, p.c + (row + i) * p.ldc + j * kNR,
                       p.ldc, std::min<int64_t>(kMR, mc - i),
                       std::min<int64_t>(kNR, p.n - j * kNR), p.alpha, beta);
    }
  }
}

// Product `index` of the batch, restricted to C's rows [r0, r1) and columns [c0, c1).
Operands sub_problem(const GemmArgs& g, int64_t index, int64_t r0, int64_t r1, int64_t c0,
                     int64_t c1) {
  Operands p;
  p.m = r1 - r0, p.n = c1 - c0, p.k = g.k;
  p.rs_a = g.trans_a ? 1 : g.lda, p.cs_a = g.trans_a ? g.lda : 1;
  p.rs_b = g.trans_b ? 1 : g.ldb, p.cs_b = g.trans_b ? g.ldb : 1;
  p.a = g.a + index * g.stride_a + r0 * p.rs_a;
  p.b = g.b + index * g.stride_b + c0 * p.cs_b;
  p.c = g.c + index * g.stride_c + r0 * g.ldc + c0;
  p.ldc = g.ldc, p.alpha = g.alpha, p.beta = g.beta;
  return p;
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Below ~4 MFLOP (about 20 us) waking the threads costs more than it saves.
  const double flops = 2.0 * g.m * g.n * g.k;
  const bool parallel = threads > 1 && flops * g.batch > 4e6;
  // Large products are split into `parts` blocks of whole tiles along their longer side (in
  // tiles), so that batch * parts jobs give every thread work.
  const int64_t parts =
      parallel && flops > 4e6 ? std::max<int64_t>(1, (threads + g.batch - 1) / g.batch) : 1;
  const bool split_cols = (g.n + kNR - 1) / kNR >= (g.m + kMR - 1) / kMR;
  const int64_t unit = split_cols ? kNR : kMR, extent = split_cols ? g.n : g.m;
  const int64_t step = ((extent + parts - 1) / parts + unit - 1) / unit * unit;
  const int64_t jobs = g.batch * parts;
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel && jobs > 1)
  for (int64_t job = 0; job < jobs; ++job) {
    const int64_t lo = std::min(extent, job % parts * step), hi = std::min(extent, lo + step);
    if (lo == hi) continue;
    gemm_serial(split_cols ? sub_problem(g, job / parts, 0, g.m, lo, hi)
                           : sub_problem(g, job / parts, lo, hi, 0, g.n));
  }
}

}  // namespace cpu
}  // namespace tinydiff
