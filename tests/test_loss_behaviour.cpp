// Properties of the losses and likelihood terms that hold whatever the implementation: KLs are
// non-negative and zero between equal distributions, the discretised likelihood is a
// distribution over the 256 levels, Gumbel noise has the Gumbel law and samples softmax(logits)
// by the Gumbel-max trick; and the error messages of bad inputs.
#include <cmath>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;
using tinydiff::test::uniform;

TEST_CASE("normal_kl: zero for equal Gaussians, positive otherwise, 0.5 for unit mean shift") {
  Tensor m = uniform({1000}, -2, 2, 1, false), lv = uniform({1000}, -3, 2, 2, false);
  CHECK(max(abs(normal_kl(m, lv, m, lv))).item() <= 1e-6f);
  Tensor kl = normal_kl(m, lv, uniform({1000}, -2, 2, 3, false), uniform({1000}, -3, 2, 4, false));
  CHECK(min(kl).item() > 0.f);
  // KL(N(1, 1) || N(0, 1)) = (1 - 0)^2 / 2; KL(N(0, e) || N(0, 1)) = (e - 1 - 1) / 2
  Tensor k = normal_kl(from_vector({1, 0}, {2}), from_vector({0, 1}, {2}), zeros({1}), zeros({1}));
  require_close(k, from_vector({0.5f, float(0.5 * (std::exp(1.0) - 2.0))}, {2}));
}

TEST_CASE("multinomial_kl: zero for equal distributions, positive otherwise") {
  Tensor a = log_softmax(uniform({6, 10, 3}, -3, 3, 5, false), 1);
  Tensor b = log_softmax(uniform({6, 10, 3}, -3, 3, 6, false), 1);
  Tensor same = multinomial_kl(a, a);
  CHECK(same.shape() == Shape{6, 3});
  CHECK(max(abs(same)).item() <= 1e-6f);
  CHECK(min(multinomial_kl(a, b)).item() > 0.f);
  // KL((1/2, 1/2) || (1/4, 3/4)) = 0.5 ln 2 + 0.5 ln(2/3)
  Tensor p = log(from_vector({0.5f, 0.5f}, {1, 2}));
  Tensor q = log(from_vector({0.25f, 0.75f}, {1, 2}));
  double expected = 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0);
  CHECK(multinomial_kl(p, q, -1).item() == doctest::Approx(expected));
}

TEST_CASE("discretized_gaussian_log_likelihood: the 256 bins carry probability 1") {
  Tensor levels = add(mul(arange(0, 256), 2.f / 255.f), -1.f);  // -1, ..., 1
  const float means[] = {0.f, -0.97f, 0.999f, 0.3f};
  const float log_scales[] = {-1.f, -3.f, -2.f, -6.f};
  for (int i = 0; i < 4; ++i) {
    Tensor logp = discretized_gaussian_log_likelihood(levels, full({1}, means[i]),
                                                      full({1}, log_scales[i]));
    CHECK_MESSAGE(sum(exp(logp)).item() == doctest::Approx(1.0).epsilon(1e-4),
                  "mean " << means[i] << ", log_scale " << log_scales[i]);
  }
}

TEST_CASE("discretized_gaussian_log_likelihood: bin values, edge bins and the 1e-12 floor") {
  // A scale much narrower than a bin puts all the mass on the nearest level.
  Tensor x = from_vector({0.f, -1.f, 1.f, 0.5f}, {4});
  Tensor mean = from_vector({0.f, -1.f, 1.f, -0.5f}, {4});
  std::vector<float> logp = discretized_gaussian_log_likelihood(x, mean, full({1}, -8.f)).tolist();
  CHECK(logp[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(logp[1] == doctest::Approx(0.0).epsilon(1e-6));  // the open lowest bin
  CHECK(logp[2] == doctest::Approx(0.0).epsilon(1e-6));  // the open highest bin
  CHECK(logp[3] == doctest::Approx(std::log(1e-12)));    // no mass: floored at 1e-12
  // A wide Gaussian centred on an edge level: the edge bin holds about half of the mass.
  Tensor edge = discretized_gaussian_log_likelihood(from_vector({-1.f}, {1}), full({1}, -1.f),
                                                    full({1}, 0.f));
  double phi_half_bin = 0.5 + 0.398942 / 255;  // Phi(1/255), to first order
  CHECK(std::exp(edge.item()) == doctest::Approx(phi_half_bin).epsilon(1e-5));
}

TEST_CASE("gumbel_noise: mean is Euler's constant, variance pi^2/6, reproducible per seed") {
  Generator gen(3);
  Tensor g = gumbel_noise({200000}, &gen);
  CHECK(std::isfinite(max(abs(g)).item()));
  CHECK(mean(g).item() == doctest::Approx(0.5772157).epsilon(0.02));
  CHECK(var(g).item() == doctest::Approx(M_PI * M_PI / 6).epsilon(0.03));
  Generator a(9), b(9);
  CHECK(gumbel_noise({5}, &a).tolist() == gumbel_noise({5}, &b).tolist());
  manual_seed(4);
  Tensor first = gumbel_noise({5});
  manual_seed(4);
  CHECK(gumbel_noise({5}).tolist() == first.tolist());
  CHECK_FALSE(gumbel_noise({5}).requires_grad());
}

TEST_CASE("gumbel_noise: argmax(logits + noise) samples softmax(logits)") {
  const int64_t n = 100000;
  Tensor logits = from_vector({0.f, 1.f, 2.f, -1.f}, {1, 4});
  Generator gen(11);
  std::vector<float> picks = argmax(add(logits, gumbel_noise({n, 4}, &gen)), 1).tolist();
  std::vector<double> freq(4, 0.0);
  for (float k : picks) freq[size_t(k)] += 1.0 / n;
  std::vector<float> p = softmax(logits, 1).tolist();
  for (int k = 0; k < 4; ++k)  // standard error <= 0.0016 at n = 100000
    CHECK_MESSAGE(std::fabs(freq[k] - p[k]) < 0.008,
                  "class " << k << ": " << freq[k] << " vs " << p[k]);
}

TEST_CASE("cross_entropy equals nll_loss of log_softmax; mean = sum / count") {
  Tensor logits = uniform({3, 4, 5}, -3, 3, 12);
  Tensor target = from_vector({0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 1, 1, 2, 2, 3}, {3, 5});
  Tensor ce = cross_entropy(logits, target, Reduction::None);
  Tensor nll = nll_loss(log_softmax(logits, 1), target, Reduction::None);
  require_close(ce, nll, 1e-6, 1e-6);
  CHECK(cross_entropy(logits, target).item() ==
        doctest::Approx(cross_entropy(logits, target, Reduction::Sum).item() / 15).epsilon(1e-6));
  // Huge logits stay finite: the log-softmax subtracts the row maximum.
  Tensor big = cross_entropy(from_vector({1000.f, 0.f, -1000.f}, {1, 3}), from_vector({1}, {1}));
  CHECK(big.item() == doctest::Approx(1000.0));
}

TEST_CASE("mse_loss: hand-computed values for each reduction") {
  Tensor pred = from_vector({1, 2, 3, 4}, {2, 2}), target = from_vector({0, 0}, {2});
  CHECK(mse_loss(pred, target).item() == doctest::Approx(7.5));
  CHECK(mse_loss(pred, target, Reduction::Sum).item() == doctest::Approx(30.0));
  CHECK(mse_loss(pred, target, Reduction::None).tolist() == std::vector<float>{1, 4, 9, 16});
}

// Each bad call must throw tinydiff::Error whose message contains `expected`.
#define CHECK_ERROR(call, expected) CHECK_THROWS_WITH_AS(call, doctest::Contains(expected), Error)

TEST_CASE("losses: bad inputs name the op, the values and the shapes") {
  Tensor logits = zeros({2, 4});
  CHECK_ERROR(cross_entropy(logits, from_vector({1, 5}, {2})),
              "cross_entropy: target class 5 (element 1) is out of range for 4 classes "
              "(input [2, 4])");
  CHECK_ERROR(nll_loss(logits, from_vector({-1, 0}, {2})),
              "nll_loss: target class -1 (element 0) is out of range for 4 classes");
  CHECK_ERROR(cross_entropy(logits, from_vector({1.5f, 0}, {2})),
              "cross_entropy: target 0 is 1.5, not a whole number");
  CHECK_ERROR(cross_entropy(logits, zeros({3})),
              "cross_entropy: target has shape [3] but input [2, 4] needs a target of shape [2]");
  CHECK_ERROR(nll_loss(zeros({4}), zeros({4})),
              "nll_loss: input must be (N, C) or (N, C, d...), got [4]");
  CHECK_ERROR(mse_loss(zeros({2, 3}), zeros({4})),
              "mse_loss: shapes [2, 3] and [4] cannot be broadcast");
  CHECK_ERROR(normal_kl(zeros({2}), zeros({2}), zeros({3}), zeros({2})),
              "normal_kl: shapes [2] and [3] cannot be broadcast");
  CHECK_ERROR(discretized_gaussian_log_likelihood(zeros({3}), zeros({2, 3}), zeros({3})),
              "discretized_gaussian_log_likelihood: means [2, 3] and log_scales [3] must "
              "broadcast to the shape of x [3]");
  CHECK_ERROR(multinomial_kl(zeros({2, 3}), zeros({3, 2})),
              "multinomial_kl: log_prob1 [2, 3] and log_prob2 [3, 2] must have the same shape");
  CHECK_ERROR(multinomial_kl(zeros({2, 3}), zeros({2, 3}), 2),
              "multinomial_kl: axis 2 is out of range for a tensor of rank 2");
}
