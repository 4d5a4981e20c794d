// Lesson 02's diffusion by its identities rather than by a reference: the posterior of Ho et
// al. Eq. 6-7 from Bayes' rule, KL >= 0 with equality at the true posterior, the frozen mean of
// the hybrid loss, respacing that keeps alpha_bar, the sampling loops, the timestep samplers'
// probabilities and importance weights (Nichol & Dhariwal Eq. 18), and the error messages.
#include <cmath>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/resample.hpp"
#include "diffusion/respace.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;
using tinydiff::test::uniform;

namespace {

// x (B, C, ...), t (B) -> (B, C_out, ...): tanh(x_rep a + b t / 100) as in
// test_gaussian_diffusion.cpp, with [x, x] when a has 2C channels.
DiffusionModel toy_model(const Tensor& a, const Tensor& b) {
  return [a, b](const Tensor& x, const Tensor& t) {
    Tensor x_rep = a.size(1) == 2 * x.size(1) ? cat({x, x}, 1) : x;
    return tanh(x_rep * a + b * (t.reshape({-1, 1, 1, 1}) * 0.01f));
  };
}

GaussianDiffusion make(ModelMeanType mean, ModelVarType var, LossType loss, int64_t T = 20) {
  return GaussianDiffusion(get_named_beta_schedule("cosine", T), {mean, var, loss, false});
}

Tensor steps(std::vector<float> t) { return from_vector(t, {int64_t(t.size())}); }

float max_abs(const Tensor& x) {
  float m = 0;
  for (float v : x.tolist()) m = std::max(m, std::fabs(v));
  return m;
}

}  // namespace

TEST_SUITE("lesson02") {

TEST_CASE("GaussianDiffusion: the posterior q(x_{t-1} | x_t, x_0) is Bayes' rule (Eq. 6-7)") {
  for (std::string name : {"linear", "cosine"}) {
    GaussianDiffusion d(get_named_beta_schedule(name, 100));
    for (int64_t t = 1; t < 100; ++t) {
      // Precisions add: 1 / beta~ = alpha_t / beta_t + 1 / (1 - ab_{t-1}); the mean is the
      // precision-weighted sum of sqrt(alpha_t) x_t / beta_t and
      // sqrt(ab_{t-1}) x_0 / (1 - ab_{t-1}).
      double beta = d.betas[t], alpha = 1 - beta, ab_prev = d.alphas_cumprod[t - 1];
      double var = 1 / (alpha / beta + 1 / (1 - ab_prev));
      CHECK(d.posterior_variance[t] == doctest::Approx(var).epsilon(1e-10));
      CHECK(d.posterior_mean_coef1[t] ==
            doctest::Approx(var * std::sqrt(ab_prev) / (1 - ab_prev)).epsilon(1e-10));
      CHECK(d.posterior_mean_coef2[t] ==
            doctest::Approx(var * std::sqrt(alpha) / beta).epsilon(1e-10));
      CHECK(d.alphas_cumprod_prev[t] == d.alphas_cumprod[t - 1]);
      CHECK(d.posterior_log_variance_clipped[t] == doctest::Approx(std::log(var)).epsilon(1e-10));
    }
    CHECK(d.posterior_variance[0] == 0.0);
    CHECK(d.posterior_log_variance_clipped[0] == d.posterior_log_variance_clipped[1]);
    CHECK(d.alphas_cumprod_next[99] == 0.0);
  }
}

TEST_CASE("get_named_beta_schedule: linear ends and the cosine alpha_bar of Eq. 17") {
  std::vector<double> linear = get_named_beta_schedule("linear", 1000);
  CHECK(linear[0] == doctest::Approx(1e-4).epsilon(1e-12));
  CHECK(linear[999] == doctest::Approx(0.02).epsilon(1e-12));
  CHECK(get_named_beta_schedule("linear", 250)[249] == doctest::Approx(0.08).epsilon(1e-12));
  GaussianDiffusion d(get_named_beta_schedule("cosine", 50));
  auto f = [](double u) { return std::pow(std::cos((u + 0.008) / 1.008 * M_PI / 2), 2); };
  for (int64_t t = 0; t < 49; ++t)  // the last beta is clipped at 0.999
    CHECK(d.alphas_cumprod[t] == doctest::Approx(f((t + 1) / 50.0) / f(0)).epsilon(1e-10));
  CHECK(d.betas[49] == 0.999);
}

TEST_CASE("vb_terms_bpd: KL >= 0, and 0 when the model is the true posterior") {
  GaussianDiffusion d = make(ModelMeanType::PreviousX, ModelVarType::FixedSmall, LossType::KL);
  Tensor x0 = uniform({3, 2, 4, 4}, -1, 1, 1, false),
         noise = uniform({3, 2, 4, 4}, -2, 2, 2, false);
  Tensor t = steps({3, 11, 19});
  Tensor x_t = d.q_sample(x0, t, noise);
  DiffusionModel exact = [&](const Tensor& x, const Tensor& tm) {
    return d.q_posterior_mean_variance(x0, x, tm).mean;
  };
  CHECK(max_abs(d.vb_terms_bpd(exact, x0, x_t, t, false).output) < 1e-6f);
  Tensor a = uniform({1, 2, 1, 1}, -1, 1, 3, false), b = uniform({1, 2, 1, 1}, -1, 1, 4, false);
  for (float v : d.vb_terms_bpd(toy_model(a, b), x0, x_t, t, false).output.tolist()) CHECK(v > 0);
  // An eps model that returns the true noise recovers x_0, hence the posterior: KL ~ 0.
  GaussianDiffusion e = make(ModelMeanType::Epsilon, ModelVarType::FixedSmall, LossType::KL);
  DiffusionModel oracle = [&](const Tensor&, const Tensor&) { return noise; };
  CHECK(max_abs(e.vb_terms_bpd(oracle, x0, x_t, t, false).output) < 1e-3f);
  TrainingLosses mse = make(ModelMeanType::Epsilon, ModelVarType::FixedSmall, LossType::MSE)
                           .training_losses(oracle, x0, t, noise);
  CHECK(max_abs(mse.loss) == 0.f);
  CHECK_FALSE(mse.vb.defined());
}

TEST_CASE("training_losses: the hybrid loss trains the mean by L_simple only (frozen mean)") {
  GaussianDiffusion d =
      make(ModelMeanType::Epsilon, ModelVarType::LearnedRange, LossType::RescaledMSE);
  Tensor x0 = uniform({2, 2, 4, 4}, -1, 1, 5, false),
         noise = uniform({2, 2, 4, 4}, -2, 2, 6, false);
  Tensor a = uniform({1, 4, 1, 1}, -1, 1, 7), b = uniform({1, 4, 1, 1}, -1, 1, 8);
  TrainingLosses terms = d.training_losses(toy_model(a, b), x0, steps({0, 9}), noise);
  terms.vb.sum().backward();
  std::vector<float> ga = a.grad().tolist();
  CHECK(ga[0] == 0.f);  // mean channels: no gradient from L_vlb
  CHECK(ga[1] == 0.f);
  CHECK(std::fabs(ga[2]) + std::fabs(ga[3]) > 0.f);  // variance channels: trained by L_vlb
  a.set_grad(Tensor());
  terms = d.training_losses(toy_model(a, b), x0, steps({0, 9}), noise);
  terms.mse.sum().backward();
  ga = a.grad().tolist();
  CHECK(ga[2] == 0.f);  // L_simple never sees the variance channels
  CHECK(ga[3] == 0.f);
  // RescaledMSE scales vb by T / 1000; RescaledKL scales the KL by T.
  GaussianDiffusion plain =
      make(ModelMeanType::Epsilon, ModelVarType::LearnedRange, LossType::MSE);
  TrainingLosses p = plain.training_losses(toy_model(a, b), x0, steps({0, 9}), noise);
  require_close(terms.vb, p.vb * 0.02f, 1e-6, 0, "vb * T / 1000");
  Tensor kl = make(ModelMeanType::Epsilon, ModelVarType::LearnedRange, LossType::KL)
                  .training_losses(toy_model(a, b), x0, steps({0, 9}), noise)
                  .loss;
  Tensor rkl = make(ModelMeanType::Epsilon, ModelVarType::LearnedRange, LossType::RescaledKL)
                   .training_losses(toy_model(a, b), x0, steps({0, 9}), noise)
                   .loss;
  require_close(rkl, kl * 20.f, 1e-6, 0, "T * KL");
}

// (The hybrid loss detaches the mean inside vb on purpose, so finite differences would not
// match it; the frozen-mean test above covers it.)
GRADCHECK_CASE("training_losses", "KL with learned range, T KL with learned, MSE fixed small") {
  Tensor x0 = uniform({2, 1, 3, 3}, -0.9f, 0.9f, 9, false),
         noise = uniform({2, 1, 3, 3}, -2, 2, 10, false);
  Tensor t = steps({0, 6});
  for (auto [var, loss] : {std::pair{ModelVarType::LearnedRange, LossType::KL},
                           std::pair{ModelVarType::Learned, LossType::RescaledKL},
                           std::pair{ModelVarType::FixedSmall, LossType::MSE}}) {
    CAPTURE(int(var));
    GaussianDiffusion d = make(ModelMeanType::Epsilon, var, loss, 10);
    auto fn = [&](const TensorList& in) {
      return d.training_losses(toy_model(in[0], in[1]), x0, t, noise).loss;
    };
    int64_t channels = var == ModelVarType::FixedSmall ? 1 : 2;
    test::check_gradients(
        fn, {uniform({1, channels, 1, 1}, -1, 1, 11), uniform({1, channels, 1, 1}, -1, 1, 12)});
  }
}

TEST_CASE("SpacedDiffusion: respaced betas reproduce alpha_bar at the kept steps") {
  std::vector<double> betas = get_named_beta_schedule("linear", 1000);
  GaussianDiffusion base(betas);
  DiffusionConfig c;
  c.rescale_timesteps = true;
  for (std::string text : {"ddim50", "10,15,20", "1000", "37"}) {
    CAPTURE(text);
    std::set<int64_t> kept = space_timesteps(1000, text);
    SpacedDiffusion d(kept, betas, c);
    REQUIRE(d.num_timesteps == int64_t(kept.size()));
    REQUIRE(d.original_num_steps == 1000);
    int64_t i = 0;
    for (int64_t s : kept) {
      CHECK(d.timestep_map[i] == s);
      CHECK(d.alphas_cumprod[i] == doctest::Approx(base.alphas_cumprod[s]).epsilon(1e-12));
      ++i;
    }
    // The model sees the original step, scaled to 0..1000.
    Tensor t = steps({0, float(d.num_timesteps - 1)});
    std::vector<float> seen = d.model_timesteps(t).tolist();
    CHECK(seen[0] == float(*kept.begin()));
    CHECK(seen[1] == doctest::Approx(double(*kept.rbegin())));
  }
  CHECK(space_timesteps(1000, "ddim50").size() == 50);
  CHECK(space_timesteps(10, "7") ==
        std::set<int64_t>{0, 2, 3, 4, 6, 8, 9});  // 1.5 -> 2, 4.5 -> 4
  CHECK(space_timesteps(20, "ddim7") == std::set<int64_t>{0, 3, 6, 9, 12, 15, 18});
}

TEST_CASE("create_gaussian_diffusion: improved-diffusion's flags") {
  DiffusionFlags f;
  f.steps = 100;
  f.learn_sigma = true;
  f.noise_schedule = "cosine";
  f.timestep_respacing = "ddim10";
  SpacedDiffusion d = create_gaussian_diffusion(f);
  CHECK(d.num_timesteps == 10);
  CHECK(d.config.var_type == ModelVarType::LearnedRange);
  CHECK(d.config.loss_type == LossType::RescaledMSE);
  CHECK(d.config.mean_type == ModelMeanType::Epsilon);
  CHECK(d.model_timesteps(steps({1})).item() == doctest::Approx(100.0));  // step 10 of 100
  f = DiffusionFlags{};
  f.use_kl = true;
  f.sigma_small = true;
  f.predict_xstart = true;
  f.steps = 50;
  d = create_gaussian_diffusion(f);
  CHECK(d.num_timesteps == 50);
  CHECK(d.config.var_type == ModelVarType::FixedSmall);
  CHECK(d.config.loss_type == LossType::RescaledKL);
  CHECK(d.config.mean_type == ModelMeanType::StartX);
}

TEST_CASE("p_sample_loop / ddim_sample_loop: frames, determinism, steps") {
  DiffusionConfig c;
  SpacedDiffusion d(space_timesteps(20, "ddim5"), get_named_beta_schedule("cosine", 20), c);
  std::vector<float> seen_t;
  DiffusionModel model = [&](const Tensor& x, const Tensor& t) {
    seen_t.push_back(t.tolist()[0]);
    return tanh(x * 0.5f);
  };
  Generator g1(3), g2(3);
  DiffusionSampleOptions o;
  o.keep_every = 2;
  o.gen = &g1;
  int64_t calls = 0;
  o.on_step = [&](int64_t done, int64_t total) {
    CHECK(total == 5);
    CHECK(done == ++calls);
  };
  Samples s1 = d.p_sample_loop(model, {2, 1, 3, 3}, o);
  CHECK(seen_t == std::vector<float>{16, 12, 8, 4, 0});  // the original steps, newest first
  CHECK(s1.frame_steps == std::vector<int64_t>{5, 3, 1, 0});
  REQUIRE(s1.frames.size() == 4);
  CHECK(s1.x0.shape() == Shape{2, 1, 3, 3});
  o.gen = &g2;
  o.on_step = nullptr;
  require_close(d.p_sample_loop(model, {2, 1, 3, 3}, o).x0, s1.x0, 0, 0, "same seed");
  o.noise = uniform({2, 1, 3, 3}, -1, 1, 13, false);
  Samples a = d.ddim_sample_loop(model, {2, 1, 3, 3}, o),
          b = d.ddim_sample_loop(model, {2, 1, 3, 3}, o);
  require_close(a.x0, b.x0, 0, 0, "DDIM with eta 0 is deterministic");
  require_close(a.frames[0], o.noise, 0, 0, "x_T is the given noise");
}

TEST_CASE("ddim_sample: eta = 1 adds the posterior standard deviation; no noise at t = 0") {
  GaussianDiffusion d = make(ModelMeanType::Epsilon, ModelVarType::FixedSmall, LossType::MSE);
  DiffusionModel model = [](const Tensor& x, const Tensor&) { return tanh(x); };
  Tensor x = uniform({2, 1, 2, 2}, -1, 1, 14, false), z = uniform({2, 1, 2, 2}, -1, 1, 15, false);
  Tensor t = steps({5, 0});
  Tensor diff = d.ddim_sample(model, x, t, true, 1.0, z).sample -
                d.ddim_sample(model, x, t, true, 1.0, zeros_like(z)).sample;
  float sd = float(std::sqrt(d.posterior_variance[5]));
  require_close(diff.narrow(0, 0, 1), z.narrow(0, 0, 1) * sd, 1e-4, 1e-6, "sigma at t = 5");
  CHECK(max_abs(diff.narrow(0, 1, 1)) == 0.f);
  Tensor p_diff = d.p_sample(model, x, t, true, z).sample -
                  d.p_sample(model, x, t, true, zeros_like(z)).sample;
  require_close(p_diff.narrow(0, 0, 1), z.narrow(0, 0, 1) * sd, 1e-4, 1e-6, "p_sample at t = 5");
  CHECK(max_abs(p_diff.narrow(0, 1, 1)) == 0.f);
}

TEST_CASE("GaussianDiffusion: bad inputs are errors naming the values") {
  CHECK_THROWS_WITH_AS(get_named_beta_schedule("cosin", 10),
                       doctest::Contains("unknown schedule 'cosin'"), Error);
  CHECK_THROWS_WITH_AS(GaussianDiffusion({0.1}),
                       doctest::Contains("got 1 betas, needs at least 2"), Error);
  CHECK_THROWS_WITH_AS(GaussianDiffusion({0.1, 0.0}),
                       doctest::Contains("beta[1] = 0 is not in (0, 1]"), Error);
  CHECK_THROWS_WITH_AS(parse_model_var_type("big"),
                       doctest::Contains("unknown variance type 'big'"), Error);
  GaussianDiffusion d = make(ModelMeanType::Epsilon, ModelVarType::LearnedRange, LossType::MSE);
  Tensor x = zeros({2, 1, 2, 2});
  CHECK_THROWS_WITH_AS(
      d.q_sample(x, steps({1, 2, 3}), x),
      doctest::Contains("q_sample: t [3] must hold one step per sample of x [2, 1, 2, 2]"),
      Error);
  CHECK_THROWS_WITH_AS(d.q_sample(x, steps({1, 20}), x),
                       doctest::Contains("t[1] = 20 is not a whole step in [0, 20)"), Error);
  CHECK_THROWS_WITH_AS(d.q_sample(x, steps({1.5f, 2}), x),
                       doctest::Contains("t[0] = 1.5 is not a whole step"), Error);
  CHECK_THROWS_WITH_AS(
      d.q_sample(x, steps({1, 2}), zeros({2, 1, 2, 3})),
      doctest::Contains("noise [2, 1, 2, 3] must have the shape of x_start [2, 1, 2, 2]"), Error);
  DiffusionModel same_channels = [](const Tensor& x, const Tensor&) { return x; };
  CHECK_THROWS_WITH_AS(
      d.p_mean_variance(same_channels, x, steps({1, 2})),
      doctest::Contains(
          "the model returned [2, 1, 2, 2] for x_t [2, 1, 2, 2]; expected [2, 2, 2, 2]"),
      Error);
  CHECK_THROWS_WITH_AS(d.training_losses(same_channels, x, steps({1, 2})),
                       doctest::Contains("a learned variance needs [2, 2, 2, 2]"), Error);
  CHECK_THROWS_WITH_AS(d.calc_bpd_loop(same_channels, x, true, nullptr, {x}),
                       doctest::Contains("got 1 noise tensors for 20 steps"), Error);
  CHECK_THROWS_WITH_AS(d.p_sample_loop(same_channels, {2}),
                       doctest::Contains("sample shape [2] must be (B, C, ...)"), Error);
}

TEST_CASE("space_timesteps / SpacedDiffusion: bad inputs are errors naming the values") {
  CHECK_THROWS_WITH_AS(space_timesteps(10, "6,6"),
                       doctest::Contains("cannot take 6 steps from a section of 5"), Error);
  CHECK_THROWS_WITH_AS(space_timesteps(20, "ddim8"),
                       doctest::Contains("cannot take exactly 8 of 20 steps"), Error);
  CHECK_THROWS_WITH_AS(space_timesteps(20, "a,3"),
                       doctest::Contains("'a' in 'a,3' is not a whole number"), Error);
  CHECK_THROWS_WITH_AS(space_timesteps(20, "3,"),
                       doctest::Contains("'' in '3,' is not a whole number"), Error);
  std::vector<double> betas = get_named_beta_schedule("linear", 10);
  CHECK_THROWS_WITH_AS(SpacedDiffusion({0, 10}, betas),
                       doctest::Contains("step 10 is not in [0, 10)"), Error);
  CHECK_THROWS_WITH_AS(SpacedDiffusion({}, betas), doctest::Contains("no steps to keep"), Error);
}

TEST_CASE("UniformSampler: uniform steps, weights 1") {
  UniformSampler s(8);
  Generator g(4);
  TimestepSample ts = s.sample(4000, &g);
  std::vector<int64_t> counts(8);
  for (float t : ts.t.tolist()) {
    REQUIRE((t >= 0 && t < 8 && t == std::floor(t)));
    ++counts[int64_t(t)];
  }
  for (int64_t c : counts) CHECK(std::abs(c - 500) < 100);  // ~6 standard deviations
  CHECK(max_abs(ts.weights - 1.f) == 0.f);
}

TEST_CASE("LossSecondMomentResampler: p_t ~ sqrt(E[L_t^2]) after warm-up (Eq. 18)") {
  const int64_t T = 4;
  LossSecondMomentResampler s(T, 3, 0.01);
  for (double w : s.weights()) CHECK(w == 1.0);  // not warmed up: uniform
  // Step t sees losses (t + 1) * {1, 1, 1}, then step 0 sees {3, 4} more: its last three
  // are {1, 3, 4}, so E[L_0^2] = 26 / 3.
  for (int k = 0; k < 3; ++k) s.update_with_all_losses({0, 1, 2}, {1, 2, 3});
  CHECK_FALSE(s.warmed_up());
  s.update_with_local_losses(steps({3, 3, 3}), steps({4, 4, 4}));
  CHECK(s.warmed_up());
  s.update_with_all_losses({0, 0}, {3, 4});
  std::vector<double> rms = {std::sqrt(26.0 / 3), 2, 3, 4}, w = s.weights();
  double total = rms[0] + 9;
  for (int64_t t = 0; t < T; ++t)
    CHECK(w[t] == doctest::Approx(0.99 * rms[t] / total + 0.01 / T).epsilon(1e-12));
  // Importance weights 1 / (T p_t) make the weighted loss unbiased: E[w] = 1.
  Generator g(5);
  TimestepSample ts = s.sample(20000, &g);
  std::vector<float> t = ts.t.tolist(), iw = ts.weights.tolist();
  double mean_w = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    CHECK(iw[i] == doctest::Approx(1 / (T * w[size_t(t[i])])).epsilon(1e-6));
    mean_w += iw[i] / double(t.size());
  }
  CHECK(mean_w == doctest::Approx(1.0).epsilon(0.03));
  // The state survives a save and a load.
  LossSecondMomentResampler r(T, 3, 0.01);
  r.load_state(s.save_state());
  std::vector<double> w2 = r.weights();
  for (int64_t k = 0; k < T; ++k) CHECK(w2[k] == w[k]);
}

TEST_CASE("ScheduleSampler: bad inputs are errors naming the values") {
  LossSecondMomentResampler s(4);
  CHECK_THROWS_WITH_AS(s.update_with_local_losses(steps({1, 2}), steps({1})),
                       doctest::Contains("t [2] and losses [1] must both be (B)"), Error);
  CHECK_THROWS_WITH_AS(s.update_with_all_losses({4}, {1.0}),
                       doctest::Contains("step 4 is not in [0, 4)"), Error);
  CHECK_THROWS_WITH_AS(s.update_with_all_losses({1}, {NAN}),
                       doctest::Contains("the loss at step 1 is nan"), Error);
  CHECK_THROWS_WITH_AS(
      LossSecondMomentResampler(5).load_state(s.save_state()),
      doctest::Contains("the state is for T = 4, history 10 but this sampler has T = 5"), Error);
  CHECK_THROWS_WITH_AS(create_named_schedule_sampler("loss", 4),
                       doctest::Contains("unknown sampler 'loss'"), Error);
  CHECK_THROWS_WITH_AS(UniformSampler(4).sample(0),
                       doctest::Contains("batch = 0 must be at least 1"), Error);
}

}  // TEST_SUITE
