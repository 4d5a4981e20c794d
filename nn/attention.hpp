// Multi-head attention, as torch.nn.MultiheadAttention with batch_first=True, no dropout
// and no extra key/value biases (Vaswani et al. 2017, Sec. 3.2.2):
//   MultiHead(x, c) = Concat(head_1, ..., head_h) W_O + b_O,
//   head_i = Attention(x W_q,i + b_q,i, c W_k,i + b_k,i, c W_v,i + b_v,i),
//   Attention(q, k, v) = softmax(q k^T / sqrt(d) + mask) v                      (Eq. 1)
// with d = embed_dim / num_heads and c = x for self-attention.
//
// Parameter names match PyTorch's state_dict: "in_proj_weight" (3E, E) holds W_q, W_k, W_v
// stacked when the context has embed_dim features; with another context_dim (PyTorch's
// kdim = vdim) they are "q_proj_weight" (E, E), "k_proj_weight" and "v_proj_weight"
// (E, context_dim). Then "in_proj_bias" (3E), "out_proj.weight" (E, E), "out_proj.bias" (E).
#pragma once
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace tinydiff {

class MultiheadAttention : public Module {
 public:
  // context_dim 0 means embed_dim. split_scale multiplies q and k each by 1/sqrt(sqrt(d))
  // instead of the logits by 1/sqrt(d), as improved-diffusion's QKVAttention does (the same
  // value; smaller intermediate numbers, which matters in float16).
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, bool bias = true,
                     int64_t context_dim = 0, bool split_scale = false);
  std::string type_name() const override { return "MultiheadAttention"; }
  // Self-attention: x (B, L, E) -> (B, L, E)
  Tensor forward(const Tensor& x) override;
  // Cross-attention: x (B, L, E), context (B, S, context_dim) -> (B, L, E).
  // mask: undefined, or broadcastable to (B, num_heads, L, S) with 1 = attend, 0 = masked out
  // (the opposite of PyTorch's boolean attn_mask, where True masks out).
  Tensor forward(const Tensor& x, const Tensor& context, const Tensor& mask = Tensor());

  int64_t embed_dim, num_heads, head_dim, context_dim;
  bool split_scale;
  Tensor in_proj_weight;                               // when context_dim == embed_dim
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // otherwise
  Tensor in_proj_bias;                                 // undefined when bias = false
  std::shared_ptr<Linear> out_proj;

 private:
  Tensor attend(const Tensor& x, const Tensor& context, const Tensor& mask);
  // x W_i^T + b_i for i = 0 (query), 1 (key), 2 (value): (B, L, in) -> (B, L, E)
  Tensor project(const Tensor& input, int64_t i) const;
};

}  // namespace tinydiff
