// Grading tests for lesson 01's exercises (the // BEGIN EXERCISE 01.n markers; see
// lessons/README.md). Each case fails on the handout's stub and passes on the solution.
// The diffusion steps are checked through properties a correct step must have (a step fed
// the true noise lands on the data) and against the paper's equations evaluated in double;
// GroupNorm's backward against PyTorch (tests/ref/exercises.py). Cases build their inputs
// by hand rather than with another exercise, except 01.7, whose loss is made of 01.1 and 01.4.
#include <cmath>

#include "diffusion/ddim.hpp"
#include "diffusion/ddpm.hpp"
#include "diffusion/guidance.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "tests/exercises.hpp"

using namespace tinydiff;
using tinydiff::test::fixture_tensor;
using tinydiff::test::needs_conv2d;
using tinydiff::test::require_close;
using tinydiff::test::uniform;

namespace {
const int64_t T = 500;

// sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, built elementwise here (Eq. 4).
Tensor noised(const Tensor& x0, const Tensor& eps, int64_t t, const NoiseSchedule& s) {
  double ab = s.alpha_bar[t];
  std::vector<float> x = x0.tolist(), e = eps.tolist(), out;
  for (size_t i = 0; i < x.size(); ++i)
    out.push_back(float(std::sqrt(ab) * x[i] + std::sqrt(1 - ab) * e[i]));
  return from_vector(out, x0.shape());
}

// DDPM's linear schedule with alpha_bar_t = prod_{s=1..t} alpha_s (the course's product also
// has alpha_0), so that alpha_bar_1 = alpha_1 exactly.
NoiseSchedule ddpm_schedule() {
  NoiseSchedule s;
  s.T = T;
  double ab = 1;
  for (int64_t t = 0; t <= T; ++t) {
    s.beta.push_back(t == 0 ? 0 : 1e-4 + (0.02 - 1e-4) * double(t - 1) / double(T - 1));
    s.alpha.push_back(1 - s.beta.back());
    s.alpha_bar.push_back(ab *= s.alpha.back());
  }
  return s;
}

// (B) whole step numbers.
Tensor steps(const std::vector<float>& t) { return from_vector(t, {int64_t(t.size())}); }

// The gradients group_norm's backward closure returns for the fixture case (no engine).
void check_group_norm_case(const std::string& name, int64_t groups, bool affine) {
  auto copy = [&](const char* key) {
    Tensor t = fixture_tensor("exercises", name + "." + key).detach().clone();
    return t.requires_grad_();
  };
  Tensor x = copy("x"), w = affine ? copy("weight") : Tensor(), b = affine ? copy("bias") : Tensor();
  Tensor y = group_norm(x, groups, w, b);
  REQUIRE(y.grad_fn() != nullptr);
  TensorList g = y.grad_fn()->backward(fixture_tensor("exercises", name + ".grad_out"));
  REQUIRE(g.size() == 3);
  require_close(g[0], fixture_tensor("exercises", name + ".grad.x"), 1e-4, 1e-5, name + " dx");
  if (!affine) return;
  require_close(g[1], fixture_tensor("exercises", name + ".grad.weight"), 1e-4, 1e-5, name + " dw");
  require_close(g[2], fixture_tensor("exercises", name + ".grad.bias"), 1e-4, 1e-5, name + " db");
}

// A small ContextUnet (1 x 4 x 4 images, 3 classes) and a batch for diffusion_loss.
struct LossSetup {
  ContextUnet model;
  Tensor x0, context;
  NoiseSchedule schedule = linear_schedule_course(20);
  LossSetup(int64_t batch, float x0_value)
      : model(config()), x0(full({batch, 1, 4, 4}, x0_value)),
        context(one_hot(from_vector(std::vector<float>(batch, 2.f), {batch}), 3)) {}
  static ContextUnetConfig config() {
    manual_seed(3);
    ContextUnetConfig c;
    c.in_channels = 1, c.height = 4, c.n_feat = 8, c.n_cfeat = 3;
    return c;
  }
  float loss(const Tensor& context_in, double p_uncond, uint64_t seed) {
    manual_seed(seed);
    return diffusion_loss(model, x0, context_in, schedule, p_uncond, false).item();
  }
};

// The loss of Algorithm 1 for one order of its three draws from the default generator:
// 0 = the context mask (drop_context), 1 = the noise, 2 = the steps t.
float loss_for_draw_order(LossSetup& m, double p_uncond, uint64_t seed, const int order[3]) {
  manual_seed(seed);
  Tensor c, noise, t;
  for (int k = 0; k < 3; ++k) {
    if (order[k] == 0) c = drop_context(m.context, p_uncond);
    if (order[k] == 1) noise = randn_like(m.x0);
    if (order[k] == 2) t = randint(1, m.schedule.T + 1, {m.x0.size(0)});
  }
  Tensor x_t = q_sample(m.x0, t, noise, m.schedule);
  Tensor eps = m.model.forward(x_t, t / float(m.schedule.T), c);
  return mse_loss(eps, noise).item();
}
}  // namespace

TEST_SUITE("lesson01") {

// ---- 01.1 q_sample ----

EXERCISE_CASE("01.1", "q_sample: Eq. 4 with each sample's own step") {
  NoiseSchedule s = linear_schedule_course(T);
  Tensor x0 = uniform({3, 2, 2}, -1, 1, 1, false), eps = uniform({3, 2, 2}, -2, 2, 2, false);
  Tensor got = q_sample(x0, steps({1, 250, 500}), eps, s);
  for (int64_t i = 0; i < 3; ++i) {
    int64_t t = i == 0 ? 1 : i == 1 ? 250 : 500;
    require_close(narrow(got, 0, i, 1), noised(narrow(x0, 0, i, 1), narrow(eps, 0, i, 1), t, s),
                  1e-5, 1e-6, "sample " + std::to_string(i));
  }
}

EXERCISE_CASE("01.1", "q_sample: t = 0 is x0 itself; t = T is almost pure noise") {
  NoiseSchedule s = linear_schedule_course(T);
  Tensor x0 = uniform({2, 1, 3, 3}, -1, 1, 3, false), eps = uniform({2, 1, 3, 3}, -1, 1, 4, false);
  require_close(q_sample(x0, steps({0, 0}), eps, s), x0, 0, 1e-6, "t = 0");
  require_close(q_sample(x0, steps({T, T}), eps, s), noised(x0, eps, T, s), 1e-5, 1e-6, "t = T");
}

EXERCISE_CASE("01.1", "q_sample: course_compat scales the noise by 1 - alpha_bar") {
  NoiseSchedule s = linear_schedule_course(T);
  Tensor x0 = uniform({2, 3}, -1, 1, 5, false), eps = uniform({2, 3}, -1, 1, 6, false);
  Tensor got = q_sample(x0, steps({100, 100}), eps, s, true);
  double ab = s.alpha_bar[100];
  std::vector<float> x = x0.tolist(), e = eps.tolist(), want;
  for (size_t i = 0; i < x.size(); ++i) want.push_back(float(std::sqrt(ab) * x[i] + (1 - ab) * e[i]));
  require_close(got, from_vector(want, {2, 3}), 1e-5, 1e-6, "course_compat");
}

// ---- 01.2 the DDPM step ----

EXERCISE_CASE("01.2", "ddpm_step: at t = 1 the true noise gives back x0") {
  // With alpha_bar_1 = alpha_1 = 1 - beta_1 the mean (Eq. 11) is exactly x0.
  NoiseSchedule s = ddpm_schedule();
  Tensor x0 = uniform({2, 4}, -1, 1, 7, false), eps = uniform({2, 4}, -1, 1, 8, false);
  Tensor x1 = noised(x0, eps, 1, s);
  require_close(ddpm_step(x1, 1, eps, Tensor(), s), x0, 1e-4, 1e-5, "mean at t = 1");
}

EXERCISE_CASE("01.2", "ddpm_step: Algorithm 2 line 4, with and without z") {
  NoiseSchedule s = linear_schedule_course(T);
  const int64_t t = 300;
  Tensor x_t = uniform({3, 2}, -2, 2, 9, false), eps = uniform({3, 2}, -1, 1, 10, false);
  Tensor z = uniform({3, 2}, -1, 1, 11, false);
  double a = s.alpha[t], ab = s.alpha_bar[t], beta = s.beta[t];
  std::vector<float> x = x_t.tolist(), e = eps.tolist(), n = z.tolist(), mean, noisy;
  for (size_t i = 0; i < x.size(); ++i) {
    double m = (x[i] - beta / std::sqrt(1 - ab) * e[i]) / std::sqrt(a);
    mean.push_back(float(m));
    noisy.push_back(float(m + std::sqrt(beta) * n[i]));
  }
  require_close(ddpm_step(x_t, t, eps, Tensor(), s), from_vector(mean, {3, 2}), 1e-5, 1e-6, "mean");
  require_close(ddpm_step(x_t, t, eps, z, s), from_vector(noisy, {3, 2}), 1e-5, 1e-6, "with z");
}

// ---- 01.3 the DDIM step ----

EXERCISE_CASE("01.3", "ddim_step: eta 0 recovers x0 from the true noise") {
  NoiseSchedule s = linear_schedule_course(T);
  Tensor x0 = uniform({2, 1, 2, 2}, -1, 1, 12, false), eps = uniform({2, 1, 2, 2}, -1, 1, 13, false);
  Tensor x_t = noised(x0, eps, 400, s);
  require_close(ddim_step(x_t, 400, 0, eps, 0.0, Tensor(), s), x0, 1e-3, 1e-3, "400 -> 0");
}

EXERCISE_CASE("01.3", "ddim_step: eta 0 with the true noise lands on x_t_prev of the same noise") {
  NoiseSchedule s = linear_schedule_course(T);
  Tensor x0 = uniform({3, 4}, -1, 1, 14, false), eps = uniform({3, 4}, -1, 1, 15, false);
  Tensor got = ddim_step(noised(x0, eps, 480, s), 480, 120, eps, 0.0, Tensor(), s);
  require_close(got, noised(x0, eps, 120, s), 1e-3, 1e-4, "480 -> 120");
}

EXERCISE_CASE("01.3", "ddim_step: eta 1 adds sigma_t z to the deterministic part of Eq. 12") {
  NoiseSchedule s = linear_schedule_course(T);
  const int64_t t = 200, t_prev = 150;
  Tensor x0 = uniform({2, 3}, -1, 1, 16, false), eps = uniform({2, 3}, -1, 1, 17, false);
  Tensor z = uniform({2, 3}, -1, 1, 18, false), x_t = noised(x0, eps, t, s);
  double sigma = ddim_sigma(t, t_prev, 1.0, s), ab_prev = s.alpha_bar[t_prev];
  // With the true noise the predicted x0 is x0, so Eq. 12 is a sum of known terms.
  std::vector<float> x = x0.tolist(), e = eps.tolist(), n = z.tolist(), want;
  for (size_t i = 0; i < x.size(); ++i)
    want.push_back(float(std::sqrt(ab_prev) * x[i] +
                         std::sqrt(1 - ab_prev - sigma * sigma) * e[i] + sigma * n[i]));
  require_close(ddim_step(x_t, t, t_prev, eps, 1.0, z, s), from_vector(want, {2, 3}), 1e-3, 1e-4,
                "eta 1");
}

// ---- 01.4 context dropout ----

EXERCISE_CASE("01.4", "drop_context: p 0 keeps every row, p 1 zeroes every row") {
  Tensor c = uniform({6, 4}, 0.5, 1, 19, false);
  require_close(drop_context(c, 0.0), c, 0, 0, "p = 0");
  require_close(drop_context(c, 1.0), zeros({6, 4}), 0, 0, "p = 1");
}

EXERCISE_CASE("01.4", "drop_context: drops whole rows, about p of them, from the given generator") {
  const int64_t rows = 4000;
  Tensor c = uniform({rows, 3}, 0.5, 1, 20, false);
  Generator gen(21), same(21);
  Tensor kept = drop_context(c, 0.3, &gen);
  require_close(drop_context(c, 0.3, &same), kept, 0, 0, "same generator, same rows");
  std::vector<float> before = c.tolist(), after = kept.tolist();
  int64_t dropped = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int zeros_in_row = 0;
    for (int k = 0; k < 3; ++k) zeros_in_row += after[r * 3 + k] == 0.f;
    REQUIRE_MESSAGE((zeros_in_row == 0 || zeros_in_row == 3), "row " << r << " is half dropped");
    if (zeros_in_row == 0)
      for (int k = 0; k < 3; ++k) REQUIRE(after[r * 3 + k] == before[r * 3 + k]);
    dropped += zeros_in_row == 3;
  }
  // Binomial(4000, 0.3): standard deviation 29 rows; allow 5 of them.
  CHECK(std::abs(double(dropped) - 0.3 * rows) < 145);
}

// ---- 01.5 classifier-free guidance ----

EXERCISE_CASE("01.5", "guided_eps: Eq. 6, (1 + w) eps_cond - w eps_uncond") {
  Tensor cond = uniform({2, 1, 2, 2}, -1, 1, 22, false), uncond = uniform({2, 1, 2, 2}, -1, 1, 23, false);
  std::vector<float> c = cond.tolist(), u = uncond.tolist(), want;
  for (size_t i = 0; i < c.size(); ++i) want.push_back(3.5f * c[i] - 2.5f * u[i]);
  require_close(guided_eps(cond, uncond, 2.5), from_vector(want, {2, 1, 2, 2}), 1e-5, 1e-6, "w 2.5");
}

EXERCISE_CASE("01.5", "guided_eps: w 0 is the conditional model, w -1 the unconditional one") {
  Tensor cond = uniform({3, 2}, -1, 1, 24, false), uncond = uniform({3, 2}, -1, 1, 25, false);
  require_close(guided_eps(cond, uncond, 0.0), cond, 1e-6, 1e-7, "w 0");
  require_close(guided_eps(cond, uncond, -1.0), uncond, 1e-6, 1e-7, "w -1");
}

// ---- 01.6 GroupNorm's backward ----

EXERCISE_CASE("01.6", "group_norm backward: two groups, with weight and bias, vs PyTorch") {
  check_group_norm_case("gn_affine", 2, true);
}

EXERCISE_CASE("01.6", "group_norm backward: three groups without affine parameters") {
  check_group_norm_case("gn_plain", 3, false);
}

EXERCISE_CASE("01.6", "group_norm backward: one group over all channels") {
  check_group_norm_case("gn_one_group", 1, true);
}

// ---- 01.7 the training loss (uses 01.1 q_sample and 01.4 drop_context) ----

EXERCISE_CASE("01.7", "diffusion_loss: a model that predicts 0 scores E[eps^2] = 1") {
  needs_conv2d();
  LossSetup m(64, 3.f);  // x0 = 3: a loss on x0 or x_t instead of eps would be far from 1
  for (auto& [name, p] : m.model.named_parameters())
    if (name == "out.3.weight" || name == "out.3.bias") std::fill(p.data(), p.data() + p.numel(), 0.f);
  // mean of 1024 squared normals: standard deviation sqrt(2 / 1024) = 0.044; allow 4.5 of them.
  CHECK(m.loss(m.context, 0.1, 5) == doctest::Approx(1.0).epsilon(0.2));
}

EXERCISE_CASE("01.7", "diffusion_loss: |eps - eps_theta(q_sample(x0, t, eps), t/T, c)|^2") {
  needs_conv2d();
  LossSetup m(6, 0.5f);
  float got = m.loss(m.context, 0.5, 7);
  // Algorithm 1 leaves the order of the draws free: accept any of the six.
  const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  double closest = INFINITY;
  for (const auto& order : orders)
    closest = std::min(closest, std::fabs(double(loss_for_draw_order(m, 0.5, 7, order)) - got));
  CHECK_MESSAGE(closest <= 1e-5 * std::fabs(got), "loss " << got << " matches no order of the draws "
                                                  "(context mask, noise, t ~ U{1..T})");
}

EXERCISE_CASE("01.7", "diffusion_loss: p_uncond 1 trains on the null context, p_uncond 0 on c") {
  needs_conv2d();
  LossSetup m(4, 0.5f);
  Tensor null_context = zeros(m.context.shape());
  CHECK(m.loss(m.context, 1.0, 9) == m.loss(null_context, 0.0, 9));
  CHECK(m.loss(m.context, 0.0, 9) != m.loss(null_context, 0.0, 9));
}

}  // TEST_SUITE("lesson01")
