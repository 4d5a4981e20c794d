#include "nn/attention.hpp"

#include <cmath>

#include "nn/functional/attention.hpp"
#include "nn/functional/conv.hpp"
#include "nn/init.hpp"

namespace tinydiff {

namespace {

// (B, L, H d) -> (B, H, L, d)
Tensor split_heads(const Tensor& t, int64_t heads) {
  return t.reshape({t.size(0), t.size(1), heads, t.size(2) / heads}).permute({0, 2, 1, 3});
}

// (B, H, L, d) -> (B, L, H d)
Tensor merge_heads(const Tensor& t) {
  return t.permute({0, 2, 1, 3}).reshape({t.size(0), t.size(2), t.size(1) * t.size(3)});
}

}  // namespace

// PyTorch's initialisation: xavier_uniform for the input projections, zero biases, and
// out_proj.weight as a Linear's default.
MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, bool bias,
                                       int64_t context_dim, bool split_scale)
    : embed_dim(embed_dim), num_heads(num_heads),
      head_dim(num_heads > 0 ? embed_dim / num_heads : 0),
      context_dim(context_dim ? context_dim : embed_dim), split_scale(split_scale) {
  TD_CHECK(num_heads > 0 && embed_dim > 0 && embed_dim % num_heads == 0,
           "MultiheadAttention: embed_dim (", embed_dim, ") must be a positive multiple of ",
           "num_heads (", num_heads, ")");
  TD_CHECK(this->context_dim > 0, "MultiheadAttention: context_dim must be positive, got ",
           context_dim);
  int64_t e = embed_dim, c = this->context_dim;
  if (c == e) {
    register_parameter("in_proj_weight", &in_proj_weight, Tensor::empty({3 * e, e}));
    init::xavier_uniform_(in_proj_weight);
  } else {
    register_parameter("q_proj_weight", &q_proj_weight, Tensor::empty({e, e}));
    register_parameter("k_proj_weight", &k_proj_weight, Tensor::empty({e, c}));
    register_parameter("v_proj_weight", &v_proj_weight, Tensor::empty({e, c}));
    for (const Tensor& w : {q_proj_weight, k_proj_weight, v_proj_weight}) init::xavier_uniform_(w);
  }
  if (bias) register_parameter("in_proj_bias", &in_proj_bias, zeros({3 * e}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(e, e, bias));
  if (bias) init::zeros_(out_proj->bias);
}

Tensor MultiheadAttention::project(const Tensor& input, int64_t i) const {
  const Tensor* separate[] = {&q_proj_weight, &k_proj_weight, &v_proj_weight};
  Tensor w = in_proj_weight.defined() ? in_proj_weight.narrow(0, i * embed_dim, embed_dim)
                                      : *separate[i];
  Tensor b = in_proj_bias.defined() ? in_proj_bias.narrow(0, i * embed_dim, embed_dim) : Tensor();
  return linear(input, w, b);
}

// x (B, L, E), context (B, S, context_dim) -> (B, L, E)
Tensor MultiheadAttention::attend(const Tensor& x, const Tensor& context, const Tensor& mask) {
  TD_CHECK(x.dim() == 3 && x.size(2) == embed_dim, label(), ": input must be (B, L, ", embed_dim,
           "), got ", str(x.shape()));
  TD_CHECK(context.dim() == 3 && context.size(2) == context_dim && context.size(0) == x.size(0),
           label(), ": context must be (", x.size(0), ", S, ", context_dim, "), got ",
           str(context.shape()), " (input ", str(x.shape()), ")");
  Tensor q = split_heads(project(x, 0), num_heads);
  Tensor k = split_heads(project(context, 1), num_heads);
  Tensor v = split_heads(project(context, 2), num_heads);
  float scale = 0.f;  // the default 1/sqrt(d)
  if (split_scale) {
    float s = 1.f / std::sqrt(std::sqrt(float(head_dim)));  // (q s)(k s)^T = q k^T / sqrt(d)
    q = q * s;
    k = k * s;
    scale = 1.f;
  }
  return (*out_proj)(merge_heads(scaled_dot_product_attention(q, k, v, mask, scale)));
}

// x (B, L, E) -> (B, L, E)
Tensor MultiheadAttention::forward(const Tensor& x) { return attend(x, x, Tensor()); }

// x (B, L, E), context (B, S, context_dim) -> (B, L, E)
Tensor MultiheadAttention::forward(const Tensor& x, const Tensor& context, const Tensor& mask) {
  Tensor out = attend(x, context, mask);
  trace_call(x, out);
  return out;
}

}  // namespace tinydiff
