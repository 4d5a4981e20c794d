// Lesson 01's diffusion math (diffusion/): the course's schedule, DDPM's forward process and
// sampling step, DDIM's step, classifier-free guidance and the sampling loops. Expected
// values are computed here with plain double arithmetic, independently of diffusion/.
#include <cmath>

#include "diffusion/ddim.hpp"
#include "diffusion/ddpm.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/sampler.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::fixture_tensor;
using tinydiff::test::require_close;

namespace {

// The course's beta_t and alpha_bar_t = prod_{s=0..t} (1 - beta_s) (alpha_bar_0 = 1), by a
// plain product rather than diffusion/'s exp(cumsum(log)).
double beta_of(int64_t t, int64_t T) { return 1e-4 + (0.02 - 1e-4) * double(t) / double(T); }
double alpha_bar_of(int64_t t, int64_t T) {
  if (t == 0) return 1;
  double p = 1;
  for (int64_t s = 0; s <= t; ++s) p *= 1 - beta_of(s, T);
  return p;
}

Tensor tensor_of(const std::vector<double>& v, const Shape& shape) {
  return from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

const std::vector<double> kX = {0.5, -1.2, 2.0, 0.1}, kEps = {0.3, -0.7, 1.1, 0.0},
                          kZ = {-0.4, 0.9, 0.2, -1.5};
const Shape kShape = {1, 1, 2, 2};

}  // namespace

TEST_SUITE("lesson01") {

TEST_CASE("linear_schedule_course: beta, alpha and alpha_bar match hand-computed values") {
  NoiseSchedule s = linear_schedule_course();
  REQUIRE(s.T == 500);
  REQUIRE(s.beta.size() == 501);
  REQUIRE(s.alpha_bar.size() == 501);
  CHECK(s.alpha_bar[0] == 1.0);
  CHECK(s.beta[0] == doctest::Approx(1e-4).epsilon(1e-12));
  CHECK(s.beta[1] == doctest::Approx(1.398e-4).epsilon(1e-12));  // 1e-4 + 0.0199 / 500
  CHECK(s.beta[250] == doctest::Approx(0.01005).epsilon(1e-12));
  CHECK(s.beta[500] == doctest::Approx(0.02).epsilon(1e-12));
  // (1 - 1e-4)(1 - 1.398e-4), by hand; the other two from an exact rational product.
  CHECK(s.alpha_bar[1] == doctest::Approx(0.99976021398).epsilon(1e-12));
  CHECK(s.alpha_bar[250] == doctest::Approx(0.2785597568902111).epsilon(1e-10));
  CHECK(s.alpha_bar[500] == doctest::Approx(0.006288760165501342).epsilon(1e-10));
  for (int64_t t = 0; t <= 500; ++t) {
    CHECK(s.alpha[t] == doctest::Approx(1 - s.beta[t]).epsilon(1e-15));
    CHECK(s.alpha_bar[t] == doctest::Approx(alpha_bar_of(t, 500)).epsilon(1e-10));
  }
}

TEST_CASE("linear_schedule_course: bad arguments are errors naming the values") {
  CHECK_THROWS_WITH_AS(linear_schedule_course(0),
                       doctest::Contains("T = 0 must be at least 1"), Error);
  CHECK_THROWS_WITH_AS(linear_schedule_course(10, 0.02, 1e-4),
                       doctest::Contains("beta1 = 0.02, beta2 = 0.0001"), Error);
  CHECK_THROWS_WITH_AS(linear_schedule_course(10, 1e-4, 1.0),
                       doctest::Contains("beta2 = 1"), Error);
}

TEST_CASE("q_sample: Eq. 4 and the course's variant on a tiny batch") {
  NoiseSchedule s = linear_schedule_course();
  Tensor x0 = tensor_of({1, -2, 0.5, 3}, {2, 2}), noise = tensor_of({0.2, 1.5, -1, 0.7}, {2, 2});
  Tensor t = from_vector({1, 500}, {2});
  double a1 = alpha_bar_of(1, 500), a5 = alpha_bar_of(500, 500);
  std::vector<double> want, want_course;
  for (int i = 0; i < 4; ++i) {
    double ab = i < 2 ? a1 : a5, x = x0.tolist()[i], e = noise.tolist()[i];
    want.push_back(std::sqrt(ab) * x + std::sqrt(1 - ab) * e);
    want_course.push_back(std::sqrt(ab) * x + (1 - ab) * e);
  }
  require_close(q_sample(x0, t, noise, s), tensor_of(want, {2, 2}), 1e-5, 1e-6, "q_sample");
  require_close(q_sample(x0, t, noise, s, true), tensor_of(want_course, {2, 2}), 1e-5, 1e-6,
                "q_sample course_compat");
  require_close(q_sample(x0, from_vector({0, 0}, {2}), noise, s), x0, 0, 0, "q_sample at t = 0");
}

TEST_CASE("q_sample: the closed form has the distribution of t one-step forward steps") {
  // Iterating x_s = sqrt(alpha_s) x_{s-1} + sqrt(beta_s) eps for s = 1..t gives mean
  // sqrt(alpha_bar_t) x_0 and variance 1 - alpha_bar_t (its alpha_bar lacks the course's
  // alpha_0 = 0.9999 factor, far below the sampling error here).
  NoiseSchedule s = linear_schedule_course();
  const int64_t N = 20000, t = 100;
  Generator gen(11);
  Tensor x0 = from_vector({0.8f, -0.5f}, {1, 2}).expand({N, 2}).contiguous();
  Tensor x = x0;
  for (int64_t step = 1; step <= t; ++step)
    x = x * float(std::sqrt(s.alpha[step])) + randn({N, 2}, &gen) * float(std::sqrt(s.beta[step]));
  Tensor steps = full({N}, float(t));
  Tensor closed = q_sample(x0, steps, randn({N, 2}, &gen), s);
  Tensor course = q_sample(x0, steps, randn({N, 2}, &gen), s, true);
  double ab = alpha_bar_of(t, 500);
  Tensor want_mean = from_vector({float(0.8 * std::sqrt(ab)), float(-0.5 * std::sqrt(ab))}, {2});
  Tensor want_var = full({2}, float(1 - ab));
  // Standard errors: mean sqrt(var / N) ~ 0.003, variance var sqrt(2 / N) ~ 0.002; allow 5.
  require_close(mean(x, {0}), want_mean, 0, 0.016, "iterated mean");
  require_close(var(x, {0}), want_var, 0, 0.01, "iterated variance");
  require_close(mean(closed, {0}), want_mean, 0, 0.016, "q_sample mean");
  require_close(var(closed, {0}), want_var, 0, 0.01, "q_sample variance");
  // The course's defect: variance (1 - alpha_bar)^2 ~ 0.036 instead of ~ 0.19.
  require_close(var(course, {0}), full({2}, float((1 - ab) * (1 - ab))), 0, 0.005,
                "course variance");
}

TEST_CASE("q_sample: bad steps and shapes are errors naming the values") {
  NoiseSchedule s = linear_schedule_course();
  Tensor x0 = zeros({2, 3}), noise = zeros({2, 3});
  CHECK_THROWS_WITH_AS(q_sample(x0, from_vector({1, 501}, {2}), noise, s),
                       doctest::Contains("q_sample: step t = 501 is outside [0, 500]"), Error);
  CHECK_THROWS_WITH_AS(q_sample(x0, from_vector({-1, 1}, {2}), noise, s),
                       doctest::Contains("step t = -1"), Error);
  CHECK_THROWS_WITH_AS(q_sample(x0, from_vector({2.5f, 1}, {2}), noise, s),
                       doctest::Contains("t holds 2.5, not a whole step number"), Error);
  CHECK_THROWS_WITH_AS(q_sample(x0, from_vector({1, 1, 1}, {3}), noise, s),
                       doctest::Contains("t [3] must hold one step per sample of x0 [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(q_sample(x0, from_vector({1, 1}, {2}), zeros({3, 2}), s),
                       doctest::Contains("noise [3, 2] must have the shape of x0 [2, 3]"), Error);
}

TEST_CASE("ddpm_step: Algorithm 2 on a tiny tensor, with and without z") {
  NoiseSchedule s = linear_schedule_course();
  for (int64_t t : {1, 250, 500}) {
    double beta = beta_of(t, 500), ab = alpha_bar_of(t, 500);
    std::vector<double> mean, noisy;
    for (int i = 0; i < 4; ++i) {
      mean.push_back((kX[i] - kEps[i] * beta / std::sqrt(1 - ab)) / std::sqrt(1 - beta));
      noisy.push_back(mean.back() + std::sqrt(beta) * kZ[i]);
    }
    Tensor x = tensor_of(kX, kShape), eps = tensor_of(kEps, kShape), z = tensor_of(kZ, kShape);
    Tensor got = ddpm_step(x, t, eps, z, s);
    require_close(got, tensor_of(noisy, kShape), 1e-5, 1e-6, "with z");
    require_close(ddpm_step(x, t, eps, Tensor(), s), tensor_of(mean, kShape), 1e-5, 1e-6, "z = 0");
    require_close(denoise_add_noise(x, t, eps, z, s), got, 0, 0, "the course's name");
  }
}

TEST_CASE("ddpm_step: bad steps and shapes are errors naming the values") {
  NoiseSchedule s = linear_schedule_course();
  Tensor x = zeros({1, 4});
  CHECK_THROWS_WITH_AS(ddpm_step(x, 0, x, Tensor(), s),
                       doctest::Contains("ddpm_step: step t = 0 is outside [1, 500]"), Error);
  CHECK_THROWS_WITH_AS(ddpm_step(x, 501, x, Tensor(), s), doctest::Contains("t = 501"), Error);
  CHECK_THROWS_WITH_AS(ddpm_step(x, 5, zeros({4}), Tensor(), s),
                       doctest::Contains("eps_pred [4] must have the shape of x_t [1, 4]"), Error);
  CHECK_THROWS_WITH_AS(ddpm_step(x, 5, x, zeros({2, 4}), s),
                       doctest::Contains("z [2, 4] must have the shape of x_t [1, 4]"), Error);
}

TEST_CASE("ddim_step: Eq. 12 with sigma from Eq. 16 on a tiny tensor") {
  NoiseSchedule s = linear_schedule_course();
  const int64_t t = 300, t_prev = 250;
  double ab = alpha_bar_of(t, 500), ab_prev = alpha_bar_of(t_prev, 500);
  for (double eta : {0.0, 0.5, 1.0}) {
    double sigma = eta * std::sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev));
    std::vector<double> want;
    for (int i = 0; i < 4; ++i) {
      double x0 = (kX[i] - std::sqrt(1 - ab) * kEps[i]) / std::sqrt(ab);
      want.push_back(std::sqrt(ab_prev) * x0 + std::sqrt(1 - ab_prev - sigma * sigma) * kEps[i] +
                     sigma * kZ[i]);
    }
    CHECK(ddim_sigma(t, t_prev, eta, s) == doctest::Approx(sigma).epsilon(1e-10));
    Tensor got = ddim_step(tensor_of(kX, kShape), t, t_prev, tensor_of(kEps, kShape), eta,
                           tensor_of(kZ, kShape), s);
    require_close(got, tensor_of(want, kShape), 1e-5, 1e-6, "ddim_step");
  }
}

TEST_CASE("ddim_step: eta = 0 is deterministic and recovers x0 from the true noise") {
  NoiseSchedule s = linear_schedule_course();
  Tensor x0 = test::uniform({2, 1, 3, 3}, -1, 1, 3, false);
  Tensor eps = test::uniform({2, 1, 3, 3}, -2, 2, 4, false);
  Tensor z1 = test::uniform({2, 1, 3, 3}, -2, 2, 5, false), z2 = -z1;
  Tensor x_t = q_sample(x0, full({2}, 250.f), eps, s);
  require_close(ddim_step(x_t, 250, 100, eps, 0, z1, s), ddim_step(x_t, 250, 100, eps, 0, z2, s),
                0, 0, "eta = 0 ignores z");
  // With the true eps, one step lands on the forward marginal with that same eps...
  require_close(ddim_step(x_t, 250, 100, eps, 0, z1, s), q_sample(x0, full({2}, 100.f), eps, s),
                1e-4, 1e-5, "250 -> 100");
  // ... and stepping to t_prev = 0 gives x0 back.
  require_close(ddim_step(x_t, 250, 0, eps, 0, Tensor(), s), x0, 1e-4, 1e-5, "250 -> 0");
  // At t = 500, 1/sqrt(alpha_bar) ~ 12.6 amplifies float32 rounding of x_t, hence atol 1e-4.
  Tensor x_T = q_sample(x0, full({2}, 500.f), eps, s);
  require_close(ddim_step(x_T, 500, 0, eps, 0, Tensor(), s), x0, 1e-4, 1e-4, "500 -> 0");
}

TEST_CASE("ddim_step: eta = 1 over single steps is DDPM's posterior mean and variance") {
  NoiseSchedule s = linear_schedule_course();
  Tensor x = tensor_of(kX, kShape), eps = tensor_of(kEps, kShape), z = tensor_of(kZ, kShape);
  for (int64_t t : {2, 250, 500}) {
    double ab = alpha_bar_of(t, 500), ab_prev = alpha_bar_of(t - 1, 500);
    double beta_tilde = (1 - ab_prev) / (1 - ab) * beta_of(t, 500);  // Ho et al. Eq. 7
    CHECK(ddim_sigma(t, t - 1, 1, s) == doctest::Approx(std::sqrt(beta_tilde)).epsilon(1e-9));
    Tensor mean = ddim_step(x, t, t - 1, eps, 1, Tensor(), s);
    require_close(mean, ddpm_step(x, t, eps, Tensor(), s), 1e-4, 1e-6, "mean = Eq. 11");
    require_close(ddim_step(x, t, t - 1, eps, 1, z, s), mean + z * float(std::sqrt(beta_tilde)),
                  1e-4, 1e-6, "noise scale = sqrt(beta~)");
  }
}

TEST_CASE("ddim_timesteps and ddim_step: the visited steps and bad arguments") {
  std::vector<int64_t> tau = ddim_timesteps(500, 20);
  REQUIRE(tau.size() == 21);
  for (int64_t i = 0; i <= 20; ++i) CHECK(tau[i] == 25 * i);
  CHECK(ddim_timesteps(10, 3) == std::vector<int64_t>{0, 3, 6, 10});
  CHECK(ddim_timesteps(4, 4) == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(ddim_timesteps(500, 0),
                       doctest::Contains("n_steps = 0 must be in [1, T] (T = 500)"), Error);
  CHECK_THROWS_WITH_AS(ddim_timesteps(10, 11), doctest::Contains("n_steps = 11"), Error);
  NoiseSchedule s = linear_schedule_course();
  Tensor x = zeros({1, 4});
  CHECK_THROWS_WITH_AS(ddim_step(x, 100, 100, x, 0, Tensor(), s),
                       doctest::Contains("ddim_step: t_prev = 100 must be in [0, t) (t = 100)"),
                       Error);
  CHECK_THROWS_WITH_AS(ddim_step(x, 600, 100, x, 0, Tensor(), s),
                       doctest::Contains("t = 600"), Error);
  CHECK_THROWS_WITH_AS(ddim_step(x, 100, 50, x, 1.5, Tensor(), s),
                       doctest::Contains("ddim_step: eta = 1.5 must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(ddim_step(x, 100, 50, zeros({4, 1}), 0, Tensor(), s),
                       doctest::Contains("ddim_step: eps_pred [4, 1] must have the shape of x_t"),
                       Error);
}

TEST_CASE("guided_eps: Eq. 6; w = 0 is the conditional prediction") {
  Tensor c = tensor_of(kX, kShape), u = tensor_of(kEps, kShape);
  require_close(guided_eps(c, u, 0), c, 0, 0, "w = 0");
  std::vector<double> want;
  for (int i = 0; i < 4; ++i) want.push_back(3 * kX[i] - 2 * kEps[i]);
  require_close(guided_eps(c, u, 2), tensor_of(want, kShape), 1e-6, 1e-6, "w = 2");
  CHECK_THROWS_WITH_AS(guided_eps(c, zeros({4}), 1),
                       doctest::Contains("eps_cond [1, 1, 2, 2] and eps_uncond [4]"), Error);
}

TEST_CASE("drop_context: zeroes ~p of the rows, whole rows only") {
  const int64_t B = 10000;
  Tensor c = test::uniform({B, 3}, 0.5, 1.5, 8, false);
  Generator gen(21);
  std::vector<float> in = c.tolist(), out = drop_context(c, 0.1, &gen).tolist();
  int64_t dropped = 0;
  for (int64_t b = 0; b < B; ++b) {
    bool zero = out[3 * b] == 0 && out[3 * b + 1] == 0 && out[3 * b + 2] == 0;
    bool same = out[3 * b] == in[3 * b] && out[3 * b + 1] == in[3 * b + 1] &&
                out[3 * b + 2] == in[3 * b + 2];
    REQUIRE_MESSAGE((zero || same), "row " << b << " is neither dropped nor kept");
    dropped += zero;
  }
  CHECK(dropped > 880);  // 1000 expected, standard deviation 30
  CHECK(dropped < 1120);
  Generator again(21);
  require_close(drop_context(c, 0.1, &again), from_vector(out, {B, 3}), 0, 0, "same seed");
  require_close(drop_context(c, 0, &gen), c, 0, 0, "p = 0");
  require_close(drop_context(c, 1, &gen), zeros({B, 3}), 0, 0, "p = 1");
  CHECK_THROWS_WITH_AS(drop_context(c, 1.5, &gen),
                       doctest::Contains("p_uncond = 1.5 must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(drop_context(zeros({2, 3, 4}), 0.1, &gen),
                       doctest::Contains("context must be (B, K), got [2, 3, 4]"), Error);
}

TEST_CASE("parity lesson01: schedule, q_sample, a DDPM and a DDIM step vs float64 PyTorch") {
  const std::string file = "diffusion_lesson01";
  auto f = [&](const std::string& key) { return fixture_tensor(file, key); };
  NoiseSchedule s = linear_schedule_course(500, 1e-4, 0.02);
  // The tables are float64 on both sides, rounded to float32 for the fixture: equal to rounding.
  require_close(tensor_of(s.beta, {501}), f("schedule.beta"), 1e-6, 0, "beta");
  require_close(tensor_of(s.alpha, {501}), f("schedule.alpha"), 1e-6, 0, "alpha");
  require_close(tensor_of(s.alpha_bar, {501}), f("schedule.alpha_bar"), 1e-6, 0, "alpha_bar");
  Tensor x0 = f("q_sample.x0"), t = f("q_sample.t"), noise = f("q_sample.noise");
  require_close(q_sample(x0, t, noise, s), f("q_sample.out"), 1e-4, 1e-5, "q_sample");
  require_close(q_sample(x0, t, noise, s, true), f("q_sample.out_course"), 1e-4, 1e-5, "course");
  require_close(ddpm_step(f("ddpm.x_t"), 300, f("ddpm.eps"), f("ddpm.z"), s), f("ddpm.out"), 1e-4,
                1e-5, "ddpm_step");
  for (auto [eta, key] : {std::pair{0.0, "ddim.out_eta0"}, std::pair{0.5, "ddim.out_eta05"}})
    require_close(ddim_step(f("ddim.x_t"), 300, 275, f("ddim.eps"), eta, f("ddim.z"), s), f(key),
                  1e-4, 1e-5, key);
}

namespace {

// The exact noise predictor for data that is the single point x_star, (1, C, H, W):
// eps(x_t, t) = (x_t - sqrt(alpha_bar_t) x_star) / sqrt(1 - alpha_bar_t). It records the
// step sizes, t / T values and contexts it sees, and that grad mode is off.
struct PointModel {
  PointModel(NoiseSchedule schedule, Tensor point) : s(std::move(schedule)), x_star(point) {}
  NoiseSchedule s;
  Tensor x_star;
  std::vector<float> t_seen;
  std::vector<Tensor> contexts;
  bool grad_seen = false;
  Tensor operator()(const Tensor& x, const Tensor& t_normalised, const Tensor& context) {
    REQUIRE(t_normalised.shape() == Shape{x.size(0)});
    t_seen.push_back(t_normalised.tolist()[0]);
    contexts.push_back(context);
    grad_seen = grad_seen || grad_enabled();
    double ab = s.alpha_bar[int64_t(std::lround(t_seen.back() * s.T))];
    return (x - x_star * float(std::sqrt(ab))) * float(1 / std::sqrt(1 - ab));
  }
};

}  // namespace

TEST_CASE("sample_ddim and sample_ddpm: with the exact model both end at the data point") {
  NoiseSchedule s = linear_schedule_course(50);
  PointModel m(s, tensor_of(kX, kShape));
  auto model = [&](const Tensor& x, const Tensor& t, const Tensor& c) { return m(x, t, c); };
  Generator gen(5);
  SampleOptions opt;
  opt.gen = &gen, opt.ddim_steps = 5, opt.keep_every = 2;
  Samples ddim = sample_ddim(model, {3, 1, 2, 2}, Tensor(), s, opt);
  require_close(ddim.x0, m.x_star.expand({3, 1, 2, 2}).contiguous(), 1e-4, 1e-4, "ddim x0");
  CHECK(m.t_seen == std::vector<float>{1.f, 0.8f, 0.6f, 0.4f, 0.2f});  // tau = 50, 40, ..., 10
  CHECK(ddim.frame_steps == std::vector<int64_t>{50, 30, 10, 0});
  CHECK_FALSE(m.grad_seen);
  CHECK_FALSE(m.contexts[0].defined());

  m.t_seen.clear();
  opt.keep_every = 10;
  uint64_t before = gen.state().offset;
  Samples ddpm = sample_ddpm(model, {3, 1, 2, 2}, Tensor(), s, opt);
  // x_T and the T - 1 draws of z (none at t = 1), each 12 values = 3 Philox blocks.
  CHECK(gen.state().offset - before == 3 * 50);
  REQUIRE(m.t_seen.size() == 50);
  CHECK(m.t_seen.back() == doctest::Approx(1.0 / 50));
  // The last step removes most of what noise the chain added: a few 1e-3 is left.
  require_close(ddpm.x0, m.x_star.expand({3, 1, 2, 2}).contiguous(), 0, 0.05, "ddpm x0");
  CHECK(ddpm.frame_steps == std::vector<int64_t>{50, 40, 30, 20, 10, 0});
  require_close(ddpm.frames.back(), ddpm.x0, 0, 0, "last frame");
}

TEST_CASE("sample_ddpm and sample_ddim: guidance runs cond and uncond in one batch of 2B") {
  NoiseSchedule s = linear_schedule_course(20);
  Tensor c = from_vector({1, 0, 0, 1}, {2, 2});
  std::vector<Tensor> contexts;
  // eps = 0.1 x + (c_0 - 2 c_1): depends on the context row, zero for the null context.
  auto eps_of = [](const Tensor& x, const Tensor& ctx) {
    Tensor shift = (narrow(ctx, 1, 0, 1) - narrow(ctx, 1, 1, 1) * 2.f).reshape({-1, 1, 1, 1});
    return x * 0.1f + shift;
  };
  auto model = [&](const Tensor& x, const Tensor&, const Tensor& ctx) {
    contexts.push_back(ctx);
    return eps_of(x, ctx);
  };
  const double w = 2;
  auto guided_by_hand = [&](const Tensor& x, const Tensor&, const Tensor& ctx) {
    return eps_of(x, ctx) * float(1 + w) - eps_of(x, zeros_like(ctx)) * float(w);
  };
  SampleOptions opt;
  opt.ddim_steps = 4, opt.eta = 0.5;
  for (bool ddim : {false, true}) {
    Generator g1(9), g2(9);
    opt.gen = &g1, opt.guidance_w = w;
    auto sample = ddim ? sample_ddim : sample_ddpm;
    Samples got = sample(model, {2, 1, 2, 2}, c, s, opt);
    opt.gen = &g2, opt.guidance_w = 0;
    Samples want = sample(guided_by_hand, {2, 1, 2, 2}, c, s, opt);
    require_close(got.x0, want.x0, 1e-5, 1e-5, ddim ? "ddim" : "ddpm");
    REQUIRE(contexts.front().shape() == Shape{4, 2});
    require_close(contexts.front(), from_vector({1, 0, 0, 1, 0, 0, 0, 0}, {4, 2}), 0, 0, "[c, 0]");
    contexts.clear();
  }
}

TEST_CASE("sample_ddpm and sample_ddim: bad arguments are errors naming the values") {
  NoiseSchedule s = linear_schedule_course(10);
  auto model = [](const Tensor& x, const Tensor&, const Tensor&) { return zeros_like(x); };
  auto wrong = [](const Tensor& x, const Tensor&, const Tensor&) { return zeros({1, 2}); };
  SampleOptions opt;
  opt.guidance_w = 1, opt.ddim_steps = 5;
  CHECK_THROWS_WITH_AS(sample_ddpm(model, {2, 1, 2, 2}, Tensor(), s, opt),
                       doctest::Contains("sample_ddpm: guidance w = 1 needs a context"), Error);
  CHECK_THROWS_WITH_AS(sample_ddim(model, {2, 1, 2, 2}, zeros({3, 4}), s, opt),
                       doctest::Contains("sample_ddim: context [3, 4] must be (B, K) with B = 2"),
                       Error);
  CHECK_THROWS_WITH_AS(sample_ddim(wrong, {2, 1, 2, 2}, zeros({2, 4}), s, opt),
                       doctest::Contains("the model returned [1, 2] for x_t [4, 1, 2, 2]"), Error);
  opt.guidance_w = 0;
  CHECK_THROWS_WITH_AS(sample_ddpm(wrong, {2, 1, 2, 2}, Tensor(), s, opt),
                       doctest::Contains("the model returned [1, 2] for x_t [2, 1, 2, 2]"), Error);
  opt.ddim_steps = 20;
  CHECK_THROWS_WITH_AS(sample_ddim(model, {2, 1, 2, 2}, Tensor(), s, opt),
                       doctest::Contains("ddim_timesteps: n_steps = 20 must be in [1, T] (T = 10)"),
                       Error);
}

}  // TEST_SUITE("lesson01")
