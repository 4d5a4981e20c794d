// PyTorch parity for group_norm, layer_norm, batch_norm, dropout, embedding and attention:
// outputs and gradients against tests/ref/fixtures/norm.safetensors (tests/ref/norm.py).
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_parity;
using tinydiff::test::fixture_tensor;
using tinydiff::test::require_close;

namespace {
const char* kFile = "norm";

Tensor fixture_copy(const std::string& key) { return fixture_tensor(kFile, key).detach().clone(); }
}  // namespace

// ---- group_norm ----

PARITY_CASE("group_norm", "one group, affine, 4-d") {
  check_parity(kFile, "gn_groups1", {"x", "weight", "bias"},
               [](const TensorList& in) { return group_norm(in[0], 1, in[1], in[2]); });
}

PARITY_CASE("group_norm", "two groups, affine, 3-d") {
  check_parity(kFile, "gn_groups2_3d", {"x", "weight", "bias"},
               [](const TensorList& in) { return group_norm(in[0], 2, in[1], in[2]); });
}

PARITY_CASE("group_norm", "one group per channel, no affine") {
  check_parity(kFile, "gn_groupsC_noaffine", {"x"},
               [](const TensorList& in) { return group_norm(in[0], 6); });
}

PARITY_CASE("group_norm", "weight without bias") {
  check_parity(kFile, "gn_weight_only", {"x", "weight"},
               [](const TensorList& in) { return group_norm(in[0], 2, in[1]); });
}

PARITY_CASE("group_norm", "ContextUnet's GroupNorm(8, 128), inputs off mean 0 / var 1") {
  check_parity(kFile, "gn_contextunet", {"x", "weight", "bias"},
               [](const TensorList& in) { return group_norm(in[0], 8, in[1], in[2]); });
}

// ---- layer_norm ----

PARITY_CASE("layer_norm", "one normalised axis, affine") {
  check_parity(kFile, "ln_1axis", {"x", "weight", "bias"},
               [](const TensorList& in) { return layer_norm(in[0], {10}, in[1], in[2]); });
}

PARITY_CASE("layer_norm", "two normalised axes, affine") {
  check_parity(kFile, "ln_2axes", {"x", "weight", "bias"},
               [](const TensorList& in) { return layer_norm(in[0], {4, 6}, in[1], in[2]); });
}

PARITY_CASE("layer_norm", "no affine") {
  check_parity(kFile, "ln_noaffine", {"x"},
               [](const TensorList& in) { return layer_norm(in[0], {8}); });
}

PARITY_CASE("layer_norm", "100 columns (more than one block of the weight gradient)") {
  check_parity(kFile, "ln_wide", {"x", "weight", "bias"},
               [](const TensorList& in) { return layer_norm(in[0], {100}, in[1], in[2]); });
}

// ---- batch_norm: output, gradients, and the running statistics after the call ----

namespace {
void check_batch_norm(const std::string& name, const std::vector<std::string>& inputs,
                      bool training, float momentum) {
  Tensor running_mean = fixture_copy(name + ".running_mean");
  Tensor running_var = fixture_copy(name + ".running_var");
  check_parity(kFile, name, inputs, [&](const TensorList& in) {
    Tensor weight = in.size() > 1 ? in[1] : Tensor(), bias = in.size() > 2 ? in[2] : Tensor();
    return batch_norm(in[0], running_mean, running_var, weight, bias, training, momentum);
  });
  require_close(running_mean, fixture_tensor(kFile, name + ".running_mean_after"), 1e-4, 1e-5,
                name + " running_mean");
  require_close(running_var, fixture_tensor(kFile, name + ".running_var_after"), 1e-4, 1e-5,
                name + " running_var");
}
}  // namespace

PARITY_CASE("batch_norm", "training, affine, 4-d: output, gradients, running stats") {
  check_batch_norm("bn_train", {"x", "weight", "bias"}, true, 0.1f);
  // The buffers moved: the test cannot pass by leaving them untouched.
  CHECK_FALSE(fixture_tensor(kFile, "bn_train.running_var").tolist() ==
              fixture_tensor(kFile, "bn_train.running_var_after").tolist());
}

PARITY_CASE("batch_norm", "training, 2-d, no affine, momentum 0.3") {
  check_batch_norm("bn_train_2d_noaffine", {"x"}, true, 0.3f);
}

PARITY_CASE("batch_norm", "inference with running stats (left unchanged)") {
  check_batch_norm("bn_eval", {"x", "weight", "bias"}, false, 0.1f);
}

// ---- dropout ----

PARITY_CASE("dropout", "inference is the identity") {
  check_parity(kFile, "dropout_eval", {"x"},
               [](const TensorList& in) { return dropout(in[0], 0.5f, false); });
}

// The masks come from different generators, so compare where both kept an element: there
// output and gradient must equal PyTorch's (x / (1 - p) and grad_out / (1 - p)), and where we
// dropped, both must be 0. The keep rates must agree within sampling noise.
PARITY_CASE("dropout", "training: kept elements scaled as PyTorch, same keep rate") {
  Tensor x = fixture_copy("dropout_train.x").requires_grad_();
  Generator gen(11);
  Tensor y = dropout(x, 0.3f, true, &gen);
  y.backward(fixture_tensor(kFile, "dropout_train.grad_out"));
  std::vector<float> ours = y.tolist(), gx = x.grad().tolist();
  std::vector<float> torch_y = fixture_tensor(kFile, "dropout_train.out").tolist();
  std::vector<float> torch_gx = fixture_tensor(kFile, "dropout_train.grad.x").tolist();
  int both = 0, kept = 0, torch_kept = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    bool we_keep = ours[i] != 0.f, they_keep = torch_y[i] != 0.f;
    kept += we_keep, torch_kept += they_keep;
    if (!we_keep) REQUIRE(gx[i] == 0.f);
    if (!(we_keep && they_keep)) continue;
    ++both;
    REQUIRE(ours[i] == doctest::Approx(torch_y[i]).epsilon(1e-6));
    REQUIRE(gx[i] == doctest::Approx(torch_gx[i]).epsilon(1e-6));
  }
  const double n = double(ours.size());  // 2000; keep rate 0.7 has std ~0.01
  CHECK(both > 0.4 * n);
  CHECK(std::abs(kept / n - torch_kept / n) < 0.06);
}

// ---- embedding ----

PARITY_CASE("embedding", "repeated indices accumulate into the weight gradient") {
  check_parity(kFile, "emb_repeat", {"idx_indices", "weight"},
               [](const TensorList& in) { return embedding(in[0], in[1]); });
}

// ---- scaled_dot_product_attention ----

PARITY_CASE("scaled_dot_product_attention", "self-attention, q = k = v, (B, H, L, D)") {
  check_parity(kFile, "attn_self", {"x"}, [](const TensorList& in) {
    return scaled_dot_product_attention(in[0], in[0], in[0]);
  });
}

PARITY_CASE("scaled_dot_product_attention", "cross-attention, Lq != Lk, Dv != D") {
  check_parity(kFile, "attn_cross", {"q", "k", "v"}, [](const TensorList& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2]);
  });
}

PARITY_CASE("scaled_dot_product_attention", "custom scale") {
  check_parity(kFile, "attn_scale", {"q", "k", "v"}, [](const TensorList& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.3f);
  });
}

// Without a graph the same cases run the fused kernel (tensor/kernels/attention.hpp): its
// output against PyTorch's.
TEST_CASE("parity scaled_dot_product_attention without a graph (the fused forward)") {
  NoGradGuard no_grad;
  auto input = [](const std::string& key) { return fixture_tensor(kFile, key); };
  Tensor x = input("attn_self.x");
  require_close(scaled_dot_product_attention(x, x, x), input("attn_self.out"), 1e-4, 1e-5);
  require_close(scaled_dot_product_attention(input("attn_cross.q"), input("attn_cross.k"),
                                             input("attn_cross.v")),
                input("attn_cross.out"), 1e-4, 1e-5);
  require_close(scaled_dot_product_attention(input("attn_scale.q"), input("attn_scale.k"),
                                             input("attn_scale.v"), Tensor(), 0.3f),
                input("attn_scale.out"), 1e-4, 1e-5);
}

PARITY_CASE("scaled_dot_product_attention", "padding mask (B, 1, 1, Lk)") {
  Tensor mask = fixture_tensor(kFile, "attn_padding.mask");
  check_parity(kFile, "attn_padding", {"q", "k", "v"}, [&](const TensorList& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], mask);
  });
}

PARITY_CASE("scaled_dot_product_attention", "causal mask (Lq, Lk) broadcast") {
  Tensor mask = fixture_tensor(kFile, "attn_causal.mask");
  check_parity(kFile, "attn_causal", {"q", "k", "v"}, [&](const TensorList& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], mask);
  });
}
