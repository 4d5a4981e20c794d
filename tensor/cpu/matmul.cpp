// CPU batched GEMM (tensor/kernels/matmul.hpp) on our own blocked product (tensor/cpu/gemm.cpp).
//
// Threads: a GEMM called inside a parallel region (conv2d's per-image loop) runs serially.
// Otherwise the batch, or else the columns (or rows) of each product, are split across the
// threads, each running the serial blocked product on its share.
#include <omp.h>

#include <algorithm>

#include "tensor/cpu/gemm.hpp"
#include "tensor/cpu/gemm_kernel.hpp"
#include "tensor/kernels/matmul.hpp"

namespace tinydiff {
namespace cpu {

namespace {

// Product `index` of the batch, restricted to C's rows [r0, r1) and columns [c0, c1).
GemmOperands sub_problem(const GemmArgs& g, int64_t index, int64_t r0, int64_t r1, int64_t c0,
                         int64_t c1) {
  GemmOperands p;
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
  // Large products are split into `parts` blocks of whole kMR x kNR tiles along their longer
  // side (in tiles), so that batch * parts jobs give every thread work.
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
    gemm_blocked(split_cols ? sub_problem(g, job / parts, 0, g.m, lo, hi)
                            : sub_problem(g, job / parts, lo, hi, 0, g.n));
  }
}

}  // namespace cpu
}  // namespace tinydiff
