// CPU fused attention forward (tensor/kernels/attention.hpp): for a group of slices at a time,
// S = scale Q K^T into a scratch buffer (one batched GEMM), P = softmax(S) in place, then
// out = P V (a second GEMM). The GEMMs are where the CPU is fast; the scores stay in this
// thread's scratch memory and are not kept for the backward.
#include <algorithm>

#include "tensor/cpu/scratch.hpp"
#include "tensor/kernels/attention.hpp"
#include "tensor/kernels/matmul.hpp"
#include "tensor/kernels/reduce.hpp"

namespace tinydiff::cpu {

namespace {
enum Slot { kScores, kSlots };
constexpr int64_t kMaxScores = int64_t(1) << 22;  // 16 MB of scores at a time
}  // namespace

void attention_forward(const float* q, const float* k, const float* v, float* out,
                       const AttentionDims& a) {
  check_fused_head(a);
  const int64_t group = std::clamp<int64_t>(kMaxScores / std::max<int64_t>(a.lq * a.lk, 1), 1,
                                            std::max<int64_t>(a.slices, 1));
  for (int64_t first = 0; first < a.slices; first += group) {
    const int64_t n = std::min(group, a.slices - first);
    float* scores = scratch(kScores, n * a.lq * a.lk);
    GemmArgs s;  // S_b (lq, lk) = scale Q_b (lq, d) K_b^T (d, lk)
    s.trans_b = true, s.batch = n, s.m = a.lq, s.n = a.lk, s.k = a.d, s.alpha = a.scale;
    s.a = q + first * a.lq * a.d, s.lda = a.d, s.stride_a = a.lq * a.d;
    s.b = k + first * a.lk * a.d, s.ldb = a.d, s.stride_b = a.lk * a.d;
    s.c = scores, s.ldc = a.lk, s.stride_c = a.lq * a.lk;
    gemm(s);
    softmax(scores, scores, n * a.lq, a.lk, 1, false);  // each row of S, in place
    GemmArgs o;  // out_b (lq, dv) = P_b (lq, lk) V_b (lk, dv)
    o.batch = n, o.m = a.lq, o.n = a.dv, o.k = a.lk;
    o.a = scores, o.lda = a.lk, o.stride_a = a.lq * a.lk;
    o.b = v + first * a.lk * a.dv, o.ldb = a.dv, o.stride_b = a.lk * a.dv;
    o.c = out + first * a.lq * a.dv, o.ldc = a.dv, o.stride_c = a.lq * a.dv;
    gemm(o);
  }
}

}  // namespace tinydiff::cpu
