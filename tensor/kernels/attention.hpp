// Fused attention forward, without a mask (Vaswani et al. 2017, Eq. 1), for each of `slices`
// (batch x heads) independent problems:
//   out_i = sum_j softmax_j(s_ij) v_j,   s_ij = scale q_i . k_j
// The CPU writes the scores of a group of slices to a scratch buffer between two GEMMs. The
// GPU never forms the (Lq, Lk) scores: it streams K and V through shared memory in tiles and
// keeps a running max and sum per query (FlashAttention, Dao et al. 2022), so its memory
// traffic grows with Lq + Lk, not Lq Lk.
#pragma once
#include <cstdint>

#include "tensor/error.hpp"
#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

// The widest head (D and Dv) the fused kernels take: the GPU holds a query row and its output
// row in registers. scaled_dot_product_attention runs wider heads through matmul + softmax, as
// it does whenever a backward will follow (which needs the softmax).
constexpr int64_t kFusedAttentionMaxHead = 64;

struct AttentionDims {
  int64_t slices, lq, lk, d, dv;  // d, dv <= kFusedAttentionMaxHead
  float scale;
};

// Both backends' attention_forward start with this.
inline void check_fused_head(const AttentionDims& a) {
  TD_CHECK(a.d <= kFusedAttentionMaxHead && a.dv <= kFusedAttentionMaxHead,
           "attention_forward: head dims ", a.d, " and ", a.dv, " exceed ",
           kFusedAttentionMaxHead, " (hint: scaled_dot_product_attention takes wider heads)");
}

namespace cpu {
// q (slices, lq, d), k (slices, lk, d), v (slices, lk, dv) -> out (slices, lq, dv); all
// contiguous.
void attention_forward(const float* q, const float* k, const float* v, float* out,
                       const AttentionDims& a);
}  // namespace cpu

namespace cuda {
void attention_forward(const float* q, const float* k, const float* v, float* out,
                       const AttentionDims& a);
}  // namespace cuda

}  // namespace tinydiff
