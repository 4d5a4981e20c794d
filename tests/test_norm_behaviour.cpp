// Behaviour of the normalisation, dropout, embedding and attention ops beyond parity:
// statistics of the outputs, the RNG contract of dropout, masking corner cases, and the error
// messages for bad input.
#include <cmath>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;
using tinydiff::test::uniform;

// ---- normalisation ----

TEST_CASE("group_norm without affine gives each group mean 0 and variance 1") {
  Tensor x = uniform({3, 6, 4, 5}, -3, 7, 1, false);
  Tensor y = group_norm(x, 3).reshape({3, 3, -1});  // (N, groups, group numbers)
  require_close(mean(y, {2}), zeros({3, 3}), 0, 1e-5, "group means");
  require_close(var(y, {2}, 0), ones({3, 3}), 0, 1e-3, "group variances");
}

TEST_CASE("layer_norm equals group_norm with one group on (N, C) input") {
  Tensor x = uniform({5, 8}, -2, 2, 2, false);
  Tensor w = uniform({8}, 0.5, 1.5, 3, false), b = uniform({8}, -1, 1, 4, false);
  require_close(layer_norm(x, {8}, w, b), group_norm(x, 1, w, b), 1e-5, 1e-6);
}

TEST_CASE("batch_norm in training normalises each channel over (N, H, W)") {
  Tensor x = uniform({4, 3, 2, 2}, -1, 5, 5, false);
  Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
  require_close(mean(y, {0, 2, 3}), zeros({3}), 0, 1e-5, "channel means");
  require_close(var(y, {0, 2, 3}, 0), ones({3}), 0, 1e-3, "channel variances");
}

TEST_CASE("batch_norm in inference uses the running stats and leaves them unchanged") {
  Tensor x = uniform({2, 2, 3}, -1, 1, 6, false);
  Tensor rm = from_vector({1.f, -2.f}, {2}), rv = from_vector({4.f, 0.25f}, {2});
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), false, 0.1f, 0.f);
  Tensor expected = (x - rm.reshape({1, 2, 1})) / sqrt(rv.reshape({1, 2, 1}));
  require_close(y, expected, 1e-5, 1e-6);
  CHECK(rm.tolist() == std::vector<float>{1.f, -2.f});
  CHECK(rv.tolist() == std::vector<float>{4.f, 0.25f});
}

TEST_CASE("group_norm rejects bad shapes with messages naming them") {
  Tensor x = zeros({2, 6, 4, 4});
  CHECK_THROWS_WITH_AS(group_norm(x, 4),
                       doctest::Contains("6 channels cannot be split into 4 equal groups "
                                         "(input [2, 6, 4, 4])"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 0), doctest::Contains("into 0 equal groups"), Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 2, ones({5})),
                       doctest::Contains("weight has shape [5] but the input has 6 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 2, ones({6}), ones({6, 1})),
                       doctest::Contains("bias has shape [6, 1]"), Error);
  CHECK_THROWS_WITH_AS(group_norm(zeros({6}), 2), doctest::Contains("must be (N, C, *), got [6]"),
                       Error);
}

TEST_CASE("layer_norm rejects bad shapes with messages naming them") {
  Tensor x = zeros({2, 3, 5});
  CHECK_THROWS_WITH_AS(layer_norm(x, {4}),
                       doctest::Contains("normalized_shape [4] does not match the trailing axes "
                                         "of the input [2, 3, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {2, 3, 5, 1}), doctest::Contains("normalized_shape"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {3, 5}, ones({15})),
                       doctest::Contains("weight has shape [15] but normalized_shape is [3, 5]"),
                       Error);
}

TEST_CASE("batch_norm rejects bad shapes with messages naming them") {
  Tensor x = zeros({4, 3, 2});
  CHECK_THROWS_WITH_AS(batch_norm(x, zeros({2}), ones({2}), Tensor(), Tensor(), true),
                       doctest::Contains("running_mean has shape [2] but the input has 3 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), ones({4}), Tensor(), true),
                       doctest::Contains("weight has shape [4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, zeros({3}), Tensor(), Tensor(), Tensor(), false),
                       doctest::Contains("both running_mean and running_var"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("more than one value per channel, got input [1, 3]"),
                       Error);
}

// ---- dropout ----

TEST_CASE("dropout keeps about 1 - p of the elements and scales them by 1/(1-p)") {
  const int64_t n = 200000;
  const float p = 0.3f;
  Tensor x = ones({n}).requires_grad_();
  Generator gen(5);
  Tensor y = dropout(x, p, true, &gen);
  y.sum().backward();
  std::vector<float> values = y.tolist(), grads = x.grad().tolist();
  int64_t kept = 0, wrong_scale = 0, wrong_grad = 0;
  for (int64_t i = 0; i < n; ++i) {
    kept += values[i] != 0.f;
    wrong_scale += values[i] != 0.f && std::abs(values[i] * (1.f - p) - 1.f) > 1e-6f;
    wrong_grad += grads[i] != values[i];  // dy/dx = mask / (1 - p), and x = 1
  }
  CHECK(wrong_scale == 0);
  CHECK(wrong_grad == 0);
  // The keep count is Binomial(n, 0.7): standard deviation sqrt(n 0.7 0.3) ~ 205, so 0.005 n
  // is ~5 standard deviations.
  CHECK(std::abs(double(kept) / n - (1 - p)) < 0.005);
  CHECK(std::abs(mean(y).item() - 1.f) < 0.01f);  // E[y] = x
}

TEST_CASE("dropout redraws the same mask when the generator state is restored") {
  Tensor x = uniform({64, 16}, -1, 1, 7, false);
  Generator gen(9);
  const RngState start = gen.state();
  std::vector<float> first = dropout(x, 0.5f, true, &gen).tolist();
  std::vector<float> next = dropout(x, 0.5f, true, &gen).tolist();
  CHECK(first != next);  // the generator advanced: a new mask
  gen.set_state(start);
  CHECK(dropout(x, 0.5f, true, &gen).tolist() == first);
  // The default generator follows manual_seed.
  manual_seed(123);
  std::vector<float> a = dropout(x, 0.5f, true).tolist();
  manual_seed(123);
  CHECK(dropout(x, 0.5f, true).tolist() == a);
}

TEST_CASE("dropout is the identity for p = 0 or in inference, and zeroes everything for p = 1") {
  Tensor x = uniform({8, 8}, -1, 1, 8);
  CHECK(dropout(x, 0.f, true).tolist() == x.tolist());
  CHECK(dropout(x, 0.9f, false).tolist() == x.tolist());
  Tensor y = dropout(x, 1.f, true);
  CHECK(y.tolist() == zeros({8, 8}).tolist());
  y.sum().backward();
  CHECK(x.grad().tolist() == zeros({8, 8}).tolist());
  CHECK_THROWS_WITH_AS(dropout(x, 1.5f, true), doctest::Contains("p must be in [0, 1], got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1f, true), doctest::Contains("got -0.1"), Error);
}

// ---- embedding ----

TEST_CASE("embedding looks up rows and sums the gradients of repeated indices") {
  Tensor w = arange(0, 12).reshape({4, 3}).detach().requires_grad_();
  Tensor out = embedding(from_vector({3, 1, 3}, {3}), w);
  require_close(out, from_vector({9, 10, 11, 3, 4, 5, 9, 10, 11}, {3, 3}));
  out.backward(from_vector({1, 2, 3, 10, 20, 30, 100, 200, 300}, {3, 3}));
  require_close(w.grad(), from_vector({0, 0, 0, 10, 20, 30, 0, 0, 0, 101, 202, 303}, {4, 3}));
}

TEST_CASE("embedding rejects out-of-range and fractional indices naming index and table") {
  Tensor w = zeros({5, 2});
  CHECK_THROWS_WITH_AS(embedding(from_vector({0, 7, 1}, {3}), w),
                       doctest::Contains("index 7 at position 1 is not a whole number in [0, 5) "
                                         "for a table of 5 rows"),
                       Error);
  CHECK_THROWS_WITH_AS(embedding(from_vector({-1}, {1}), w), doctest::Contains("index -1"), Error);
  CHECK_THROWS_WITH_AS(embedding(from_vector({1.5f}, {1}), w), doctest::Contains("index 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(embedding(from_vector({0}, {1}), zeros({5})),
                       doctest::Contains("weight must be (num, dim), got [5]"), Error);
}

// ---- scaled_dot_product_attention ----

TEST_CASE("attention with an all-ones mask equals attention without one") {
  Tensor q = uniform({2, 2, 3, 4}, -1, 1, 10, false), k = uniform({2, 2, 5, 4}, -1, 1, 11, false);
  Tensor v = uniform({2, 2, 5, 3}, -1, 1, 12, false);
  require_close(scaled_dot_product_attention(q, k, v, ones({2, 1, 1, 5})),
                scaled_dot_product_attention(q, k, v), 1e-5, 1e-6);
  // The default scale is 1/sqrt(D) = 0.5 here.
  require_close(scaled_dot_product_attention(q, k, v, Tensor(), 0.5f),
                scaled_dot_product_attention(q, k, v), 1e-6, 1e-7);
}

// Without a graph and a mask attention runs one fused kernel (tensor/kernels/attention.hpp);
// an all-ones mask takes matmul + softmax. 3 slices of 1200 x 1200 scores make the CPU's kernel
// run its GEMMs in two groups of slices (its scratch holds 2^22 scores).
TEST_CASE("attention without a graph (the fused kernel) equals matmul + softmax") {
  NoGradGuard no_grad;
  Tensor q = uniform({1, 3, 1200, 16}, -1, 1, 20), k = uniform({1, 3, 1200, 16}, -1, 1, 21);
  Tensor v = uniform({1, 3, 1200, 8}, -1, 1, 22);
  require_close(scaled_dot_product_attention(q, k, v),
                scaled_dot_product_attention(q, k, v, ones({1})), 1e-5, 1e-6);
  q = uniform({2, 2, 3, 4}, -1, 1, 10), k = uniform({2, 2, 5, 4}, -1, 1, 11);
  v = uniform({2, 2, 5, 3}, -1, 1, 12);
  require_close(scaled_dot_product_attention(q, k, v),
                scaled_dot_product_attention(q, k, v, ones({1})), 1e-5, 1e-6);
}

TEST_CASE("attention gives a fully masked row uniform weights, not NaN") {
  Tensor q = uniform({1, 1, 2, 4}, -3, 3, 13), k = uniform({1, 1, 3, 4}, -3, 3, 14);
  Tensor v = uniform({1, 1, 3, 2}, -1, 1, 15);
  Tensor mask = from_vector({1, 0, 1, 0, 0, 0}, {2, 3});  // query 1 sees no key
  Tensor out = scaled_dot_product_attention(q, k, v, mask);
  Tensor row1 = out.narrow(2, 1, 1).reshape({2});
  require_close(row1, mean(v.detach(), {2}).reshape({2}), 1e-5, 1e-6, "fully masked row");
  out.sum().backward();
  for (float g : q.grad().tolist()) CHECK(std::isfinite(g));
  // The partly masked row ignores key 1: changing it changes nothing.
  Tensor k2 = k.detach().clone();
  k2.cpu_data()[4] += 5.f;  // k[0, 0, 1, 0]
  require_close(scaled_dot_product_attention(q, k2, v, mask).narrow(2, 0, 1), out.narrow(2, 0, 1),
                1e-6, 1e-7, "masked key");
}

TEST_CASE("attention rejects mismatched shapes with messages naming them") {
  Tensor q = zeros({2, 4, 3, 8}), k = zeros({2, 4, 5, 8}), v = zeros({2, 4, 5, 6});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, zeros({2, 4, 5, 7}), v),
                       doctest::Contains("q has head dim 8 but k has 7 "
                                         "(q [2, 4, 3, 8], k [2, 4, 5, 7])"),
                       Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, zeros({2, 4, 6, 6})),
                       doctest::Contains("k has 5 positions but v has 6"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, zeros({1, 4, 5, 8}), zeros({1, 4, 5, 6})),
                       doctest::Contains("must share their batch and head axes"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, zeros({4, 5, 8}), v),
                       doctest::Contains("same rank"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, ones({2, 1, 1, 4})),
                       doctest::Contains("mask [2, 1, 1, 4] is not broadcastable to the attention "
                                         "scores [2, 4, 3, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, ones({1, 2, 4, 3, 5})),
                       doctest::Contains("not broadcastable"), Error);
}
