// Scaled dot-product attention (Vaswani et al. 2017, Eq. 1), per batch and head:
//   Attention(Q, K, V) = softmax(Q K^T scale + mask_bias) V,   scale = 1/sqrt(d_k) by default
// When a backward will follow, it is composed from matmul, softmax and add, and autograd
// derives the backward from theirs. With the scores S, P = softmax(S) and * elementwise:
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),
//   dQ = dS K scale,  dK = dS^T Q scale
// The graph shows those nodes (matmul, softmax, ...) rather than one node of this name; it
// keeps P for the backward. Without a graph (sampling, evaluation) only the output is needed,
// and without a mask it comes from one fused kernel (tensor/kernels/attention.hpp), which on
// the GPU never stores the scores at all.
#include <algorithm>
#include <cmath>

#include "nn/functional/attention.hpp"
#include "tensor/kernels/attention.hpp"

namespace tinydiff {

namespace {

const char* kOp = "scaled_dot_product_attention";

// True when `from` broadcasts to exactly `to` (NumPy rules, without growing `to`).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

void check_shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  TD_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), kOp,
           ": q, k and v must have the same rank (at least 2), got q ", str(q.shape()), ", k ",
           str(k.shape()), ", v ", str(v.shape()));
  TD_CHECK(k.size(-1) == q.size(-1), kOp, ": q has head dim ", q.size(-1), " but k has ",
           k.size(-1), " (q ", str(q.shape()), ", k ", str(k.shape()), ")");
  TD_CHECK(v.size(-2) == k.size(-2), kOp, ": k has ", k.size(-2), " positions but v has ",
           v.size(-2), " (k ", str(k.shape()), ", v ", str(v.shape()), ")");
  const Shape batch_q(q.shape().begin(), q.shape().end() - 2);
  TD_CHECK(Shape(k.shape().begin(), k.shape().end() - 2) == batch_q &&
               Shape(v.shape().begin(), v.shape().end() - 2) == batch_q,
           kOp, ": q, k and v must share their batch and head axes, got q ", str(q.shape()),
           ", k ", str(k.shape()), ", v ", str(v.shape()));
}

// mask (1 = attend, 0 = masked out) -> additive bias: 0 where attending, -1e9 where masked.
// A masked score s - 1e9 makes exp() underflow to exactly 0, so masked keys get no weight.
// We use -1e9 rather than -inf on purpose: in a row whose keys are all masked every score
// becomes ~-1e9 (scores below 32 in size round to exactly -1e9 in float32), and softmax gives
// that row uniform weights, where -inf would give exp(-inf - (-inf)) = NaN.
Tensor mask_bias(const Tensor& mask) {
  NoGradGuard no_grad;
  return mul(eq(mask, zeros({}, mask.device())), -1e9f);
}

// The output alone, from the fused kernel: q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv)
// -> (..., Lq, Dv).
Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale) {
  Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  const Shape batch(q.shape().begin(), q.shape().end() - 2);  // (B, H)
  const AttentionDims dims{numel_of(batch), q.size(-2), k.size(-2), q.size(-1), v.size(-1), scale};
  Shape out_shape = q.shape();
  out_shape.back() = dims.dv;
  Tensor out = Tensor::empty(out_shape, q.device());
  TD_DISPATCH(q.device(), attention_forward, qc.data(), kc.data(), vc.data(), out.data(), dims);
  return out;
}

// True when no backward can follow: grad mode is off, or no input requires a gradient.
bool no_graph(const Tensor& q, const Tensor& k, const Tensor& v) {
  return !grad_enabled() || !(q.requires_grad() || k.requires_grad() || v.requires_grad());
}

}  // namespace

// q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv), mask broadcastable to (B, H, Lq, Lk)
// -> (B, H, Lq, Dv)
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, float scale) {
  check_shapes(q, k, v);
  if (scale <= 0.f) scale = 1.f / std::sqrt(float(q.size(-1)));
  const bool fused = no_graph(q, k, v) && !mask.defined() && k.size(-2) > 0 &&
                     std::max(q.size(-1), v.size(-1)) <= kFusedAttentionMaxHead;
  if (fused) return fused_attention(q, k, v, scale);
  // (q scale) k^T = scale (q k^T); scaling q (Lq, D) is cheaper than scaling the scores
  // (Lq, Lk) whenever Lk > D, the usual case.
  Tensor scores = matmul(mul(q, scale), transpose(k, -1, -2));  // (B, H, Lq, Lk)
  if (mask.defined()) {
    TD_CHECK(broadcasts_to(mask.shape(), scores.shape()), kOp, ": mask ", str(mask.shape()),
             " is not broadcastable to the attention scores ", str(scores.shape()),
             " (batch, heads, Lq, Lk)");
    scores = add(scores, mask_bias(mask));
  }
  return matmul(softmax(scores, -1), v);
}

}  // namespace tinydiff
