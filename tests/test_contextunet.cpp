// Lesson 01's ContextUnet against the PyTorch reference in tests/ref/contextunet.py: the same
// weights give the same noise prediction and the same gradients, and the parameter names are
// the course's state_dict keys.
#include <sstream>

#include "lessons/01_contextunet/lesson.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::fixture;
using tinydiff::test::fixture_tensor;
using tinydiff::test::require_close;

namespace {

// The fixture's weights for `name`, keyed by state_dict key.
std::map<std::string, Tensor> fixture_weights(const std::string& name) {
  std::map<std::string, Tensor> weights;
  std::string prefix = name + ".param.";
  for (const auto& [key, value] : fixture("contextunet").tensors)
    if (key.rfind(prefix, 0) == 0) weights[key.substr(prefix.size())] = value;
  return weights;
}

// Gradients are sums over many products; an element near zero in a tensor whose entries reach
// ~100 carries the absolute rounding error of its large neighbours. So the absolute tolerance
// is relative to the tensor's largest entry (1e-5 of it), and the per-element relative one is
// 1e-3: a whole-model gradient goes back through ~20 layers and BatchNorm over a batch of 3,
// whose 1/std amplifies float32 rounding. Measured worst case: 6e-4 relative, on the time
// embedding's first bias (a sum of three cancelling terms), after GELU's erf became the
// vectorised normal_cdf of tensor/kernels/unary_math.hpp (itself accurate to ~1e-7). The
// forward output is still held to 1e-4, and every op is checked alone at 1e-4 elsewhere.
void require_close_to_scale(const Tensor& actual, const Tensor& expected, const std::string& what) {
  require_close(actual, expected, 1e-3, 1e-5 * max(abs(expected)).item(), what);
}

// Besides the conv biases before BatchNorm (testing.hpp), "out.0.bias" has a true gradient of
// 0 at n_feat 8: GroupNorm(8, 8) follows it, one channel per group.
bool is_bias_removed_by_norm(const std::string& key) {
  return test::is_bias_before_batch_norm(key) || key == "out.0.bias";
}

void check_case(const std::string& name, const std::string& dataset, bool with_context) {
  ContextUnet model(model_config(dataset, 8, false));
  model.load_state_dict(fixture_weights(name));
  Tensor x = fixture_tensor("contextunet", name + ".x").clone().requires_grad_();
  Tensor t = fixture_tensor("contextunet", name + ".t");
  Tensor c = with_context ? fixture_tensor("contextunet", name + ".c") : Tensor();
  Tensor eps = model.forward(x, t, c);
  // Through ~20 layers with batch statistics the float32 rounding of two implementations
  // drifts apart by a few 1e-5 relative: 1e-4 relative with a 1e-5 floor holds.
  require_close(eps, fixture_tensor("contextunet", name + ".out"), 1e-4, 1e-5, name + " eps");
  eps.backward(fixture_tensor("contextunet", name + ".grad_out"));
  require_close_to_scale(x.grad(), fixture_tensor("contextunet", name + ".grad.x"), name + " dx");
  for (const auto& [key, p] : model.named_parameters()) {
    Tensor expected = fixture_tensor("contextunet", name + ".grad." + key);
    if (!is_bias_removed_by_norm(key)) {
      require_close_to_scale(p.grad(), expected, name + " d" + key);
      continue;
    }
    std::string weight_key = key.substr(0, key.size() - 4) + "weight";
    test::check_negligible_bias_grad(p.grad(), expected,
                                     fixture_tensor("contextunet", name + ".grad." + weight_key),
                                     name + " d" + key);
  }
}

}  // namespace

TEST_SUITE("lesson01") {

TEST_CASE("ContextUnet matches PyTorch on sprites with context (forward and all gradients)") {
  check_case("sprites", "sprites", true);
}

TEST_CASE("ContextUnet matches PyTorch on sprites without context") {
  check_case("sprites_nocontext", "sprites", false);
}

TEST_CASE("ContextUnet matches PyTorch on 28x28 MNIST (AvgPool2d(7) to_vec)") {
  check_case("mnist", "mnist", true);
}

TEST_CASE("ContextUnet parameter names are the course's state_dict keys") {
  ContextUnet model(model_config("sprites", 8, false));
  std::string expected = fixture("contextunet").metadata.at("state_dict_keys"), actual;
  for (const auto& [key, value] : model.state_dict()) actual += (actual.empty() ? "" : ",") + key;
  std::vector<std::string> a, e;
  std::stringstream sa(actual), se(expected);
  for (std::string k; std::getline(sa, k, ',');) a.push_back(k);
  for (std::string k; std::getline(se, k, ',');) e.push_back(k);
  std::sort(a.begin(), a.end());
  std::sort(e.begin(), e.end());
  CHECK(a == e);
  CHECK(std::count(a.begin(), a.end(), "up0.0.weight") == 1);
  CHECK(std::count(a.begin(), a.end(), "out.3.weight") == 1);
  CHECK(std::count(a.begin(), a.end(), "down1.model.0.conv1.0.weight") == 1);
}

TEST_CASE("course-compat ContextUnet has no trained shortcut and pools with AvgPool2d(4)") {
  ContextUnet model(model_config("mnist", 8, true));
  for (const auto& [key, value] : model.state_dict()) CHECK(key.find("shortcut") == std::string::npos);
  // Defect (2): the shortcut is redrawn on every call, so two forwards differ.
  model.eval();
  Tensor x = randn({2, 1, 28, 28}), t = full({2}, 0.5f);
  NoGradGuard no_grad;
  std::vector<float> a = model.forward(x, t, Tensor()).tolist(), b = model.forward(x, t, Tensor()).tolist();
  CHECK(a != b);
  ContextUnet fixed(model_config("mnist", 8, false));
  fixed.eval();
  CHECK(fixed.forward(x, t, Tensor()).tolist() == fixed.forward(x, t, Tensor()).tolist());
}

TEST_CASE("ContextUnet rejects bad inputs with the shapes in the message") {
  ContextUnet model(model_config("sprites", 8, false));
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 1, 16, 16}), zeros({2}), Tensor()),
                       doctest::Contains("expects x (N, 3, 16, 16), got [2, 1, 16, 16]"), Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 3, 16, 16}), zeros({3}), Tensor()),
                       doctest::Contains("t has 3 elements for a batch of 2"), Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 3, 16, 16}), zeros({2}), zeros({2, 10})),
                       doctest::Contains("context must be (2, 5)"), Error);
  CHECK_THROWS_WITH_AS(ContextUnet(model_config("sprites", 12, false)),
                       doctest::Contains("n_feat 12 must be divisible by 8"), Error);
}

}  // TEST_SUITE
