// The layers of nn/ against PyTorch (fixture: tests/ref/layers.py): each layer loads
// PyTorch's weights with load_state_dict, then its output, its input gradients, every
// parameter gradient and its buffers after the forward are compared. Then the default
// initialisation statistics, the layers' errors, and a small UNet-like model moved between
// tinydiff and PyTorch in both directions.
#include <cmath>
#include <filesystem>

#include "nn/attention.hpp"
#include "nn/basic.hpp"
#include "nn/conv.hpp"
#include "nn/init.hpp"
#include "nn/linear.hpp"
#include "nn/normalization.hpp"
#include "nn/sequential.hpp"
#include "nn/timestep_embedding.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;

namespace {

const char* kFile = "layers";

Tensor fx(const std::string& key) { return test::fixture_tensor(kFile, key); }

// The "<case>.state.*" tensors of the fixture, keyed as in the layer's state_dict.
std::map<std::string, Tensor> fixture_state(const std::string& name) {
  std::map<std::string, Tensor> state;
  std::string prefix = name + ".state.";
  for (const auto& [key, t] : test::fixture(kFile).tensors)
    if (key.rfind(prefix, 0) == 0) state[key.substr(prefix.size())] = t;
  return state;
}

using LayerFn = std::function<Tensor(const TensorList&)>;

// Loads PyTorch's state into m (strictly), runs fn on the fixture inputs (x and context take
// gradients; masks, indices and timesteps do not), and compares the output, the input and
// parameter gradients and the buffers after the forward.
void check_layer(const std::string& name, Module& m, const std::vector<std::string>& input_names,
                 const LayerFn& fn, double rtol = 1e-4, double atol = 1e-5) {
  m.load_state_dict(fixture_state(name));
  TensorList inputs;
  for (const std::string& in : input_names) {
    Tensor t = fx(name + "." + in).clone().detach();
    if (in == "x" || in == "context") t.requires_grad_();
    inputs.push_back(t);
  }
  m.zero_grad();
  Tensor out = fn(inputs);
  require_close(out, fx(name + ".out"), rtol, atol, name + " output");
  out.backward(fx(name + ".grad_out"));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad())
      require_close(inputs[i].grad(), fx(name + ".grad." + input_names[i]), rtol, atol,
                    name + " grad of " + input_names[i]);
  for (const auto& [key, p] : m.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name << ": no gradient for " << key);
    require_close(p.grad(), fx(name + ".grad." + key), rtol, atol, name + " grad of " + key);
  }
  for (const auto& [key, b] : m.named_buffers())
    require_close(b, fx(name + ".after." + key).reshape(b.shape()), rtol, atol,
                  name + " buffer " + key);  // PyTorch's 0-d buffers are stored as [1]
}

// The common case: one input x through operator().
void check_layer(const std::string& name, Module& m, double rtol = 1e-4, double atol = 1e-5) {
  check_layer(
      name, m, {"x"}, [&](const TensorList& in) { return m(in[0]); }, rtol, atol);
}

double std_of(const Tensor& t) { return std::sqrt(var(t, {}, 0).item()); }

// The default initialisation draws U(-bound, bound): std bound / sqrt(3), nothing beyond bound.
void check_uniform_init(const Tensor& w, double bound, const std::string& what) {
  INFO(what);
  CHECK(std_of(w) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  CHECK(max(abs(w)).item() <= bound);
  CHECK(max(abs(w)).item() >= 0.98 * bound);
  CHECK(std::fabs(mean(w).item()) < 0.05 * bound);
}

}  // namespace

// ---- each layer against PyTorch ----

TEST_CASE("layer parity: Linear with and without bias") {
  Linear with_bias(5, 4), without_bias(5, 4, false);
  check_layer("linear", with_bias);
  check_layer("linear_nobias", without_bias);
}

TEST_CASE("layer parity: Conv2d with stride, padding, groups, dilation") {
  Conv2d grouped(4, 6, 3, 2, 1, 1, 2);
  check_layer("conv2d", grouped);
  Conv2d dilated(3, 4, 3, 1, 2, 2, 1, false);
  check_layer("conv2d_dilated", dilated);
}

TEST_CASE("layer parity: ConvTranspose2d with output_padding and groups, and kernel 4") {
  ConvTranspose2d grouped(4, 6, 3, 2, 1, 1, 2);
  check_layer("conv_transpose2d", grouped);
  ConvTranspose2d k4(3, 2, 4, 2, 1, 0, 1, false);
  check_layer("conv_transpose2d_k4", k4);
}

TEST_CASE("layer parity: GroupNorm and LayerNorm, affine and not") {
  GroupNorm gn(2, 6), gn_plain(3, 6, 1e-5f, false);
  check_layer("group_norm", gn);
  check_layer("group_norm_noaffine", gn_plain);
  CHECK(gn_plain.named_parameters().empty());
  LayerNorm ln(8), ln_plain(Shape{3, 4}, 1e-5f, false);
  check_layer("layer_norm", ln);
  check_layer("layer_norm_2d_noaffine", ln_plain);
}

TEST_CASE("layer parity: BatchNorm2d updates its buffers in training and uses them in eval") {
  BatchNorm2d bn(3, 1e-5f, 0.2f);
  check_layer("batch_norm_train", bn);  // also compares running_mean/var, num_batches_tracked
  bn.eval();
  check_layer("batch_norm_eval", bn);
  CHECK(bn.num_batches_tracked.item() == 4.f);  // 3 in the fixture, +1 in training only
}

TEST_CASE("layer parity: Embedding, its weight gradient scatter-adds repeated rows") {
  Embedding emb(10, 4);
  check_layer("embedding", emb, {"idx_x"}, [&](const TensorList& in) { return emb(in[0]); });
}

TEST_CASE("layer parity: pooling and upsampling") {
  MaxPool2d max2(2), max3(3, 2, 1);
  AvgPool2d avg2(2), avg3(3, 2, 1);
  Upsample up(2);
  check_layer("max_pool2d", max2);
  check_layer("max_pool2d_pad", max3);
  check_layer("avg_pool2d", avg2);
  check_layer("avg_pool2d_pad", avg3);
  check_layer("upsample", up);
}

TEST_CASE("layer parity: activations, Identity, Flatten") {
  ReLU relu_layer;
  GELU gelu_erf, gelu_approx("tanh");
  SiLU silu_layer;
  Identity identity;
  Flatten flat;
  check_layer("relu", relu_layer);
  check_layer("gelu", gelu_erf);
  check_layer("gelu_tanh", gelu_approx);
  check_layer("silu", silu_layer);
  check_layer("identity", identity);
  check_layer("flatten", flat);
}

TEST_CASE("layer parity: Sequential of Linear, ReLU, Linear") {
  auto seq = sequential(
      {std::make_shared<Linear>(4, 8), std::make_shared<ReLU>(), std::make_shared<Linear>(8, 3)});
  check_layer("sequential", *seq);
}

TEST_CASE("layer parity: MultiheadAttention self, masked, cross and without bias") {
  MultiheadAttention self_attn(8, 2);
  check_layer("mha_self", self_attn);
  auto masked = [&](const TensorList& in) { return self_attn.forward(in[0], in[0], in[1]); };
  check_layer("mha_mask", self_attn, {"x", "mask"}, masked);
  auto cross = [](MultiheadAttention& m) {
    return [&m](const TensorList& in) { return m.forward(in[0], in[1]); };
  };
  MultiheadAttention separate(8, 2, true, 6);
  check_layer("mha_cross", separate, {"x", "context"}, cross(separate));
  MultiheadAttention packed(8, 4);
  check_layer("mha_cross_packed", packed, {"x", "context"}, cross(packed));
  MultiheadAttention no_bias(8, 2, false);
  check_layer("mha_nobias", no_bias);
}

// q k^T / sqrt(d) = (q / d^(1/4)) (k / d^(1/4))^T: the same values as PyTorch's, up to rounding.
TEST_CASE("layer parity: MultiheadAttention with split_scale matches the plain scaling") {
  MultiheadAttention split(8, 2, true, 0, true);
  check_layer("mha_self", split);
}

TEST_CASE("layer parity: timestep_embedding, even and odd dim") {
  // cos and sin of arguments up to ~1000: one float32 ulp of the argument (6e-5) moves the
  // result by up to that much, and tinydiff's and PyTorch's exp/cos may differ by an ulp.
  require_close(timestep_embedding(fx("timestep_even.t"), 16), fx("timestep_even.out"), 1e-4, 2e-4,
                "timestep_even");
  require_close(timestep_embedding(fx("timestep_odd.t"), 9, 1000.f), fx("timestep_odd.out"), 1e-4,
                2e-4, "timestep_odd");
}

TEST_CASE("gradcheck MultiheadAttention: input and context of a cross-attention") {
  manual_seed(5);
  MultiheadAttention attn(4, 2, true, 3);
  test::check_gradients([&](const TensorList& in) { return attn.forward(in[0], in[1]); },
                        {test::uniform({1, 3, 4}, -1, 1, 1), test::uniform({1, 2, 3}, -1, 1, 2)});
  MultiheadAttention split(4, 2, true, 0, true);
  test::check_gradients([&](const TensorList& in) { return split(in[0]); },
                        {test::uniform({2, 3, 4}, -1, 1, 3)});
}

// ---- behaviour without a PyTorch reference ----

TEST_CASE(
    "layers: Dropout zeroes a fraction p in training, scales the rest, and is the identity in "
    "eval") {
  manual_seed(1);
  Dropout drop(0.25f);
  Tensor x = ones({20000});
  std::vector<float> y = drop(x).tolist();
  int64_t zeros_seen = 0;
  for (float v : y) {
    if (v == 0.f)
      ++zeros_seen;
    else
      CHECK(v == doctest::Approx(1.f / 0.75f));
  }
  CHECK(double(zeros_seen) / y.size() == doctest::Approx(0.25).epsilon(0.04));
  drop.eval();
  require_close(drop(x), x, 0, 0, "dropout in eval");
}

TEST_CASE("layers: default initialisation matches PyTorch's distributions") {
  manual_seed(0);
  Linear lin(1024, 512);
  check_uniform_init(lin.weight, 1 / std::sqrt(1024.0), "Linear weight");
  check_uniform_init(lin.bias, 1 / std::sqrt(1024.0), "Linear bias");
  Conv2d conv(64, 128, 3);
  check_uniform_init(conv.weight, 1 / std::sqrt(64 * 9.0), "Conv2d weight");
  Conv2d grouped(64, 128, 3, 1, 0, 1, 4);
  check_uniform_init(grouped.weight, 1 / std::sqrt(16 * 9.0), "grouped Conv2d weight");
  // fan_in from weight.size(1) k^2 = out_channels k^2, as PyTorch does
  ConvTranspose2d convt(128, 64, 3);
  check_uniform_init(convt.weight, 1 / std::sqrt(64 * 9.0), "ConvTranspose2d weight");
  check_uniform_init(convt.bias, 1 / std::sqrt(64 * 9.0), "ConvTranspose2d bias");
  MultiheadAttention attn(64, 4);
  check_uniform_init(attn.in_proj_weight, std::sqrt(6.0 / (64 + 192)), "in_proj_weight (xavier)");
  check_uniform_init(attn.out_proj->weight, 1 / std::sqrt(64.0), "out_proj.weight");
  CHECK(max(abs(attn.in_proj_bias)).item() == 0.f);
  CHECK(max(abs(attn.out_proj->bias)).item() == 0.f);
  Embedding emb(1000, 64);
  CHECK(std_of(emb.weight) == doctest::Approx(1.0).epsilon(0.02));
  CHECK(std::fabs(mean(emb.weight).item()) < 0.02);
  BatchNorm2d bn(4);
  GroupNorm gn(2, 4);
  LayerNorm ln(4);
  for (Module* m : std::initializer_list<Module*>{&bn, &gn, &ln}) {
    for (auto& [name, t] : m->state_dict()) {
      float expected = name == "weight" || name == "running_var" ? 1.f : 0.f;
      CHECK_MESSAGE(t.tolist() == std::vector<float>(t.numel(), expected), m->type_name()
                                                                               << "." << name);
    }
  }
}

TEST_CASE("layers: the same seed gives the same weights") {
  manual_seed(3);
  Conv2d a(3, 8, 3);
  manual_seed(3);
  Conv2d b(3, 8, 3);
  require_close(a.weight, b.weight, 0, 0, "weight");
  require_close(a.bias, b.bias, 0, 0, "bias");
  Conv2d c(3, 8, 3);
  CHECK(a.weight.tolist() != c.weight.tolist());
}

TEST_CASE("init: fans, gains and bad arguments") {
  init::Fans fans = init::calculate_fan_in_and_fan_out(zeros({6, 4, 3, 3}));
  CHECK(fans.fan_in == 36);
  CHECK(fans.fan_out == 54);
  CHECK(init::calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain("leaky_relu", std::sqrt(5.f)) ==
        doctest::Approx(std::sqrt(1.0 / 3.0)));
  CHECK(init::calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
  CHECK_THROWS_WITH_AS(init::calculate_gain("swish"),
                       doctest::Contains("unknown nonlinearity 'swish'"), Error);
  CHECK_THROWS_WITH_AS(init::kaiming_uniform_(zeros({5})),
                       doctest::Contains("at least 2 dimensions, got [5]"), Error);
  CHECK_THROWS_WITH_AS(init::kaiming_uniform_(zeros({2, 2}), 0.f, "fan_avg"),
                       doctest::Contains("unknown mode 'fan_avg'"), Error);
  CHECK_THROWS_WITH_AS(init::uniform_(zeros({4, 2}).transpose(0, 1)),
                       doctest::Contains("not contiguous"), Error);
  Tensor w = zeros({1000});
  init::uniform_(w, 2.f, 3.f);
  CHECK(min(w).item() >= 2.f);
  CHECK(max(w).item() <= 3.f);
  init::normal_(w, 5.f, 0.5f);
  CHECK(mean(w).item() == doctest::Approx(5.0).epsilon(0.01));
}

TEST_CASE("layers: bad inputs and arguments are errors naming the layer and the shapes") {
  auto seq = sequential({std::make_shared<Conv2d>(3, 8, 3), std::make_shared<Linear>(4, 2)});
  CHECK_THROWS_WITH_AS((*seq)(zeros({2, 4, 8, 8})),
                       doctest::Contains("Conv2d '0': input has 4 channels but the layer expects 3 "
                                         "(input [2, 4, 8, 8], weight [8, 3, 3, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(
      (*seq)(zeros({2, 3, 8, 8})),
      doctest::Contains("Linear '1': input [2, 8, 6, 6] has 6 features in its last "
                        "axis but in_features is 4"),
      Error);
  CHECK_THROWS_WITH_AS(Conv2d(3, 8, 3, 1, 0, 1, 2),
                       doctest::Contains("groups (2) must divide in_channels (3)"), Error);
  CHECK_THROWS_WITH_AS(
      ConvTranspose2d(4, 4, 3)(zeros({1, 2, 4, 4})),
      doctest::Contains("ConvTranspose2d: input has 2 channels but the layer expects 4"), Error);
  CHECK_THROWS_WITH_AS(ConvTranspose2d(4, 4, 3, 2, 0, 2),
                       doctest::Contains("output_padding (2) must be smaller"), Error);
  CHECK_THROWS_WITH_AS(
      GroupNorm(3, 8),
      doctest::Contains("num_channels (8) must be a positive multiple of num_groups (3)"), Error);
  CHECK_THROWS_WITH_AS(GroupNorm(2, 8)(zeros({1, 6, 2, 2})),
                       doctest::Contains("GroupNorm: input [1, 6, 2, 2] should have 8 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(
      LayerNorm(Shape{3, 4})(zeros({2, 4, 3})),
      doctest::Contains("input [2, 4, 3] does not end with normalized_shape [3, 4]"), Error);
  CHECK_THROWS_WITH_AS(BatchNorm2d(3)(zeros({2, 3})),
                       doctest::Contains("BatchNorm2d: input must be (N, 3, H, W), got [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(Embedding(10, 4)(from_vector({3, 12}, {2})),
                       doctest::Contains("embedding: index 12 at position 1"), Error);
  CHECK_THROWS_WITH_AS(Upsample(2, "bilinear"),
                       doctest::Contains("mode 'bilinear' is not supported"), Error);
  CHECK_THROWS_WITH_AS(
      GELU("fast"), doctest::Contains("approximate must be 'none' or 'tanh', got 'fast'"), Error);
  CHECK_THROWS_WITH_AS(Dropout(1.5f), doctest::Contains("p must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(
      MultiheadAttention(10, 3),
      doctest::Contains("embed_dim (10) must be a positive multiple of num_heads (3)"), Error);
  MultiheadAttention attn(8, 2, true, 6);
  CHECK_THROWS_WITH_AS(
      attn.forward(zeros({2, 3, 8}), zeros({2, 5, 8})),
      doctest::Contains("context must be (2, S, 6), got [2, 5, 8] (input [2, 3, 8])"), Error);
  CHECK_THROWS_WITH_AS(attn(zeros({2, 3, 7})),
                       doctest::Contains("input must be (B, L, 8), got [2, 3, 7]"), Error);
  CHECK_THROWS_WITH_AS(timestep_embedding(zeros({2, 1}), 8),
                       doctest::Contains("timesteps must be 1-d (N), got [2, 1]"), Error);
  CHECK_THROWS_WITH_AS(timestep_embedding(zeros({2}), 1),
                       doctest::Contains("dim must be at least 2, got 1"), Error);
}
