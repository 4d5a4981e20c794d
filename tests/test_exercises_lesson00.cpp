// Grading tests for lesson 00's exercises (the // BEGIN EXERCISE 00.n markers; see
// lessons/README.md). Each case fails on the handout's stub and passes on the solution.
// Expected numbers come from PyTorch (tests/ref/exercises.py) or from calculus done here,
// never from a copy of the solution. The cases of 00.1 and 00.2 call a node's backward
// closure directly, so they do not need the engine (00.4 and 00.5).
#include <cmath>

#include "tests/exercises.hpp"

using namespace tinydiff;
using tinydiff::test::fixture_tensor;
using tinydiff::test::needs_conv2d;
using tinydiff::test::require_close;

namespace {
const char* kFile = "exercises";

// A fresh leaf copy of fixture tensor "<name>.<key>".
Tensor leaf(const std::string& name, const std::string& key, bool requires_grad = true) {
  Tensor t = fixture_tensor(kFile, name + "." + key).detach().clone();
  t.requires_grad_(requires_grad);
  return t;
}
Tensor expected(const std::string& name, const std::string& key) {
  return fixture_tensor(kFile, name + "." + key);
}

// The gradients y's own backward closure returns for grad_out (no engine involved).
TensorList closure_grads(const Tensor& y, const Tensor& grad_out) {
  REQUIRE_MESSAGE(y.grad_fn() != nullptr, "the op recorded no graph node");
  return y.grad_fn()->backward(grad_out);
}

// div's gradients for fixture case `name` against PyTorch's.
void check_div_case(const std::string& name) {
  Tensor a = leaf(name, "a"), b = leaf(name, "b");
  Tensor y = div(a, b);
  require_close(y, expected(name, "out"), 1e-5, 1e-6, name + " forward");
  TensorList g = closure_grads(y, expected(name, "grad_out"));
  REQUIRE(g.size() == 2);
  REQUIRE_MESSAGE(g[0].defined(), "no gradient for a");
  REQUIRE_MESSAGE(g[1].defined(), "no gradient for b");
  require_close(g[0], expected(name, "grad.a"), 1e-4, 1e-5, name + " grad a");
  require_close(g[1], expected(name, "grad.b"), 1e-4, 1e-5, name + " grad b");
}

// softmax or log_softmax along `axis`: the backward closure's gradient against PyTorch's.
void check_softmax_case(const std::string& name, int64_t axis, bool log) {
  Tensor x = leaf(name, "x");
  Tensor y = log ? log_softmax(x, axis) : softmax(x, axis);
  TensorList g = closure_grads(y, expected(name, "grad_out"));
  REQUIRE(g.size() == 1);
  require_close(g[0], expected(name, "grad.x"), 1e-4, 1e-5, name + " grad x");
}

// cpu::im2col of fixture image "<name>.x" (C, H, W) against F.unfold. The column buffer
// starts as NaN, so an entry the student forgets to write (e.g. a padding zero) fails.
void check_im2col_case(const std::string& name, int64_t kh, int64_t kw, int64_t stride,
                       int64_t padding, int64_t dilation) {
  Tensor x = expected(name, "x").contiguous(), want = expected(name, "out");
  ConvGeometry g;
  g.in_channels = x.size(0), g.in_h = x.size(1), g.in_w = x.size(2);
  g.kernel_h = kh, g.kernel_w = kw, g.stride = stride, g.padding = padding, g.dilation = dilation;
  g.out_h = (g.in_h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1;
  g.out_w = (g.in_w + 2 * padding - dilation * (kw - 1) - 1) / stride + 1;
  REQUIRE(want.shape() == Shape{g.in_channels * kh * kw, g.out_h * g.out_w});
  Tensor columns = full(want.shape(), NAN);
  cpu::im2col(g, x.data(), columns.data());
  require_close(columns, want, 0, 1e-6, name + " columns");
}

// A leaf (n) of uniform values in [lo, hi) that requires grad.
Tensor leaf_uniform(int64_t n, float lo, float hi, uint64_t seed) {
  return tinydiff::test::uniform({n}, lo, hi, seed);
}

// The values of t in double.
std::vector<double> values(const Tensor& t) {
  std::vector<float> v = t.tolist();
  return {v.begin(), v.end()};
}

// fn(inputs) as a fresh leaf that requires grad but has no graph: gradcheck's analytic
// gradient is then 0 and its numeric one is the true derivative, so the reported error
// measures the central difference itself (without the engine).
TensorFn detached(Tensor (*fn)(const Tensor&)) {
  return [fn](const TensorList& in) {
    Tensor out = fn(in[0]).detach();
    out.requires_grad_();
    return out;
  };
}
Tensor cube(const Tensor& x) { return mul(square(x), x); }

// gradcheck's weights R, drawn as gradcheck draws them (options.seed).
std::vector<double> gradcheck_weights(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return values(randn(shape, &gen));
}
}  // namespace

TEST_SUITE("lesson00") {

// ---- 00.1 div's backward with broadcasting ----

EXERCISE_CASE("00.1", "div backward: b (3, 1) broadcast over a (2, 3, 4) gets summed gradients") {
  check_div_case("div_rows");
}

EXERCISE_CASE("00.1", "div backward: both inputs broadcast, (3, 1, 5) / (1, 4, 1)") {
  check_div_case("div_both");
}

EXERCISE_CASE("00.1", "div backward: a 0-d divisor gets the sum over every element") {
  check_div_case("div_scalar");
}

EXERCISE_CASE("00.1", "div backward: a divisor that needs no gradient") {
  Tensor a = leaf("div_rows", "a"), b = leaf("div_rows", "b", false);
  TensorList g = closure_grads(div(a, b), expected("div_rows", "grad_out"));
  REQUIRE(g.size() == 2);
  REQUIRE_MESSAGE(g[0].defined(), "no gradient for a");
  require_close(g[0], expected("div_rows", "grad.a"), 1e-4, 1e-5, "grad a");
}

// ---- 00.2 softmax's backward ----

EXERCISE_CASE("00.2", "softmax backward along a middle axis of (2, 5, 3)") {
  check_softmax_case("softmax_mid", 1, false);
}

EXERCISE_CASE("00.2", "log_softmax backward along a middle axis of (2, 5, 3)") {
  check_softmax_case("log_softmax_mid", 1, true);
}

EXERCISE_CASE("00.2", "softmax backward along the last axis, log_softmax along the first") {
  check_softmax_case("softmax_last", -1, false);
  check_softmax_case("log_softmax_first", 0, true);
}

// ---- 00.3 im2col ----

EXERCISE_CASE("00.3", "im2col: 3x3 kernel, padding 1 (output as wide as the input)") {
  check_im2col_case("im2col_same3x3", 3, 3, 1, 1, 1);
}

EXERCISE_CASE("00.3", "im2col: stride 2 with padding, and a 2x2 kernel without") {
  check_im2col_case("im2col_stride2", 3, 3, 2, 1, 1);
  check_im2col_case("im2col_valid2x2", 2, 2, 1, 0, 1);
}

EXERCISE_CASE("00.3", "im2col: dilation 2, a 2x3 kernel and a padded 1x1 kernel") {
  check_im2col_case("im2col_dilated", 3, 3, 1, 2, 2);
  check_im2col_case("im2col_kernel2x3", 2, 3, 1, 0, 1);
  check_im2col_case("im2col_1x1_padded", 1, 1, 1, 1, 1);
}

EXERCISE_CASE("00.3", "conv2d through im2col: output and weight gradient match PyTorch") {
  needs_conv2d();
  for (const char* name : {"conv2d_same", "conv2d_stride2"}) {
    bool has_bias = std::string(name) == "conv2d_same";
    Tensor x = leaf(name, "x"), w = leaf(name, "weight");
    Tensor b = has_bias ? leaf(name, "bias") : Tensor();
    Tensor y = conv2d(x, w, b, has_bias ? 1 : 2, 1);
    require_close(y, expected(name, "out"), 1e-4, 1e-4, std::string(name) + " forward");
    TensorList g = closure_grads(y, expected(name, "grad_out"));
    require_close(g[1], expected(name, "grad.weight"), 1e-4, 1e-4, std::string(name) + " grad w");
  }
}

// ---- 00.4 the topological order, 00.5 the accumulation loop ----
// Both run inside Tensor::backward, so each needs the other: their cases pass once both are
// written. They avoid div (00.1) and compare with derivatives worked out here.

EXERCISE_CASE("00.4", "backward order: a node waits until every consumer has sent its gradient") {
  // a = e^x feeds d twice: directly and through b = sin(a), c = cos(b), created later; both
  // orders of add's inputs, so that neither a depth-first nor a breadth-first visit is enough.
  Tensor x = leaf_uniform(4, -1.f, 1.f, 1);
  std::vector<double> want;
  for (double v : values(x)) {
    double av = std::exp(v);
    want.push_back(2 * (1 - std::sin(std::sin(av)) * std::cos(av)) * av);  // dd/da * da/dx
  }
  Tensor a = exp(x);
  Tensor d = add(add(a, cos(sin(a))), add(cos(sin(a)), a));
  sum(d).backward();
  REQUIRE(x.grad().defined());
  require_close(x.grad(), from_vector({want.begin(), want.end()}, {4}), 1e-4, 1e-6, "dL/dx");
}

EXERCISE_CASE("00.4", "backward order: a chain of residual steps h + e^(-h)") {
  Tensor x = leaf_uniform(5, 0.2f, 0.5f, 2);
  Tensor h = x;
  for (int k = 0; k < 6; ++k) h = k % 2 ? add(h, exp(neg(h))) : add(exp(neg(h)), h);
  sum(h).backward();
  REQUIRE(x.grad().defined());
  std::vector<double> want;
  for (double v : values(x)) {
    double dh = 1;  // the product of dh_k/dh_(k-1) = 1 - e^(-h_(k-1)) along the chain
    for (int k = 0; k < 6; ++k) {
      dh *= 1 - std::exp(-v);
      v += std::exp(-v);
    }
    want.push_back(dh);
  }
  require_close(x.grad(), from_vector({want.begin(), want.end()}, {5}), 1e-4, 1e-6, "dL/dx");
}

EXERCISE_CASE("00.5", "backward: a leaf used twice gets the sum of both gradients") {
  Tensor x = leaf_uniform(3, -1.f, 1.f, 3);
  sum(add(exp(x), x)).backward();
  std::vector<double> want;
  for (double v : values(x)) want.push_back(std::exp(v) + 1);
  require_close(x.grad(), from_vector({want.begin(), want.end()}, {3}), 1e-5, 1e-6, "dL/dx");
}

EXERCISE_CASE("00.5", "backward: .grad accumulates over calls; inputs without grad get none") {
  Tensor x = leaf_uniform(3, -1.f, 1.f, 4);
  Tensor c = tinydiff::test::uniform({3}, 0.f, 1.f, 5, false);
  sum(add(x, c)).backward();
  sum(sin(x)).backward();
  std::vector<double> want;
  for (double v : values(x)) want.push_back(1 + std::cos(v));
  require_close(x.grad(), from_vector({want.begin(), want.end()}, {3}), 1e-5, 1e-6, "dL/dx");
  CHECK_FALSE(c.grad().defined());
}

EXERCISE_CASE("00.5", "backward: retain_graph keeps the graph; without it a second call fails") {
  Tensor x = leaf_uniform(2, 0.5f, 1.f, 6);
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  std::vector<double> want;
  for (double v : values(x)) want.push_back(2 * std::exp(v));
  require_close(x.grad(), from_vector({want.begin(), want.end()}, {2}), 1e-5, 1e-6, "dL/dx");
  CHECK_THROWS_AS(y.backward(), tinydiff::Error);
}

EXERCISE_CASE("00.5", "backward: a non-leaf used by two ops, with an explicit output gradient") {
  Tensor x = leaf_uniform(3, -1.f, 1.f, 7);
  Tensor s = sin(x);
  Tensor y = sub(exp(s), s);  // dy/dx = (e^s - 1) cos x
  Tensor seed = from_vector({1.f, -2.f, 0.5f}, {3});
  y.backward(seed);
  std::vector<double> xs = values(x), seeds = values(seed), want;
  for (size_t i = 0; i < xs.size(); ++i)
    want.push_back(seeds[i] * (std::exp(std::sin(xs[i])) - 1) * std::cos(xs[i]));
  require_close(x.grad(), from_vector({want.begin(), want.end()}, {3}), 1e-5, 1e-6, "dL/dx");
}

// ---- 00.6 gradcheck's central difference ----

EXERCISE_CASE("00.6", "gradcheck: the identity's gradient passes and the inputs are unchanged") {
  Tensor x = leaf_uniform(6, -1.f, 1.f, 8);
  std::vector<float> before = x.tolist();
  GradcheckResult r = gradcheck([](const TensorList& in) { return in[0]; }, {x});
  CHECK_MESSAGE(r.passed, r.message);
  CHECK(r.max_abs_error < 1e-3);
  CHECK(x.tolist() == before);
}

EXERCISE_CASE("00.6", "gradcheck: a missing gradient fails, with the worst gap |2 x R|") {
  Tensor x = leaf_uniform(5, 0.5f, 2.f, 9);
  GradcheckOptions options;
  GradcheckResult r = gradcheck(detached(square), {x}, options);
  CHECK_FALSE(r.passed);
  CHECK_FALSE(r.message.empty());
  std::vector<double> xs = values(x), weights = gradcheck_weights({5}, options.seed);
  double worst = 0;
  for (size_t j = 0; j < xs.size(); ++j) worst = std::max(worst, std::fabs(2 * xs[j] * weights[j]));
  CHECK(r.max_abs_error == doctest::Approx(worst).epsilon(1e-3));
}

EXERCISE_CASE("00.6", "gradcheck: the difference is central, so a cube's carries eps^2") {
  // ((x + e)^3 - (x - e)^3) / 2e = 3 x^2 + e^2; a one-sided difference adds 3 x e.
  Tensor x = leaf_uniform(4, 1.f, 2.f, 10);
  GradcheckOptions options;
  options.eps = 0.125f;  // exact in float, and large enough for e^2 to show
  GradcheckResult r = gradcheck(detached(cube), {x}, options);
  std::vector<double> xs = values(x), weights = gradcheck_weights({4}, options.seed);
  double worst = 0, e = options.eps;
  for (size_t j = 0; j < xs.size(); ++j)
    worst = std::max(worst, std::fabs((3 * xs[j] * xs[j] + e * e) * weights[j]));
  CHECK_FALSE(r.passed);
  CHECK(r.max_abs_error == doctest::Approx(worst).epsilon(1e-3));
}

}  // TEST_SUITE("lesson00")
