#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// Vaswani et al. 2017, Eq. 1: softmax(q k^T * scale + mask_bias) v, per batch and head.
// q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv) -> (B, H, Lq, Dv).
// mask: undefined, or broadcastable to (B, H, Lq, Lk) with 1 = attend, 0 = masked out.
// scale <= 0 means 1/sqrt(D). Self-attention passes the same source for q, k, v;
// cross-attention takes k, v from the context. Without a graph (grad mode off or no input
// requiring grad) and a mask, with D, Dv at most kFusedAttentionMaxHead (64), it runs one
// fused kernel (on the GPU the (Lq, Lk) scores are never stored); otherwise matmul + softmax +
// matmul, whose graph keeps the softmax for the backward. Both give the same numbers.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask = Tensor(), float scale = 0.f);

}  // namespace tinydiff
