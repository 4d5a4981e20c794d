// Grading tests for lesson 02's exercises (the // BEGIN EXERCISE 02.n markers; see
// lessons/README.md). Each case fails on the handout's stub and passes on the solution.
// The embedding, the attention and the scale-shift ResBlock are compared with PyTorch
// (tests/ref/exercises.py); the posterior with the Gaussian product form of Bayes' rule (not
// the formula the exercise writes); the hybrid loss and respacing through their defining
// properties. 02.5's cases construct a GaussianDiffusion, whose tables need 02.4.
#include <cmath>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/respace.hpp"
#include "lessons/02_improved_diffusion/blocks.hpp"
#include "nn/timestep_embedding.hpp"
#include "tests/exercises.hpp"

using namespace tinydiff;
using tinydiff::test::fixture;
using tinydiff::test::fixture_tensor;
using tinydiff::test::needs_conv2d;
using tinydiff::test::require_close;
using tinydiff::test::uniform;

namespace {
const char* kFile = "exercises";

Tensor expected(const std::string& name, const std::string& key) {
  return fixture_tensor(kFile, name + "." + key);
}

// A scale-shift ResBlock with the fixture's parameters, run on its inputs.
void check_resblock_case(const std::string& name, int64_t channels, int64_t out_channels,
                         int64_t emb_channels, int64_t groups) {
  needs_conv2d();
  lesson02::ResBlockOptions options;
  options.emb_channels = emb_channels, options.num_groups = groups;
  options.use_scale_shift_norm = true;
  lesson02::ResBlock block(channels, out_channels, options);
  std::map<std::string, Tensor> state;
  const std::string prefix = name + ".param.";
  for (const auto& [key, value] : fixture(kFile).tensors)
    if (key.rfind(prefix, 0) == 0) state[key.substr(prefix.size())] = value.detach().clone();
  block.load_state_dict(state);
  Tensor y = block.forward(expected(name, "x"), expected(name, "emb"));
  require_close(y, expected(name, "out"), 1e-4, 1e-5, name);
}

// The improved-diffusion linear schedule over T steps (T >= 20, so that its betas, scaled by
// 1000 / T, stay below 1), with learned-range variances.
GaussianDiffusion diffusion(int64_t T, LossType loss) {
  DiffusionConfig config;
  config.var_type = ModelVarType::LearnedRange;
  config.loss_type = loss;
  return GaussianDiffusion(get_named_beta_schedule("linear", T), config);
}

// alpha_bar_t = prod_{s <= t} (1 - beta_s) for each t.
std::vector<double> cumulative_alphas(const std::vector<double>& betas) {
  std::vector<double> out;
  double ab = 1;
  for (double b : betas) out.push_back(ab *= 1 - b);
  return out;
}

// The hybrid loss's inputs: x_0 in [-1, 1], its noise, steps t = 0 (the decoder term) and
// t = 6 (a KL term), and a model that returns `out` (B, 2C, ...) whatever it is given.
struct HybridSetup {
  Tensor x0 = uniform({2, 1, 2, 2}, -1, 1, 31, false);
  Tensor noise = uniform({2, 1, 2, 2}, -1, 1, 32, false);
  Tensor t = from_vector({0, 6}, {2});
  Tensor out = uniform({2, 2, 2, 2}, -1, 1, 33);
  DiffusionModel model() const {
    Tensor o = out;
    return [o](const Tensor&, const Tensor&) { return o; };
  }
  // L_t of the model's output, from the bound's own code (not the exercise).
  Tensor bound_term(const GaussianDiffusion& d) const {
    return d.vb_terms_bpd_from_output(out.detach(), x0, d.q_sample(x0, t, noise), t, false).output;
  }
};
}  // namespace

TEST_SUITE("lesson02") {

// ---- 02.1 the timestep embedding ----

EXERCISE_CASE("02.1", "timestep_embedding: even dim, as improved-diffusion") {
  require_close(timestep_embedding(expected("temb_even", "t"), 8),
                expected("temb_even", "out"), 1e-4, 1e-5, "dim 8");
}

EXERCISE_CASE("02.1", "timestep_embedding: odd dim ends in a zero column; another max_period") {
  require_close(timestep_embedding(expected("temb_odd", "t"), 7),
                expected("temb_odd", "out"), 1e-4, 1e-5, "dim 7");
  require_close(timestep_embedding(expected("temb_period", "t"), 6, 100.f),
                expected("temb_period", "out"), 1e-4, 1e-5, "max_period 100");
}

// ---- 02.2 the scale-shift ResBlock ----

EXERCISE_CASE("02.2", "ResBlock with scale-shift norm: 4 -> 8 channels, vs PyTorch") {
  check_resblock_case("resblock_widen", 4, 8, 6, 2);
}

EXERCISE_CASE("02.2", "ResBlock with scale-shift norm: identity skip, one group per channel") {
  check_resblock_case("resblock_same", 4, 4, 3, 4);
}

// ---- 02.3 QKV attention ----

EXERCISE_CASE("02.3", "qkv_attention: one head, vs PyTorch") {
  require_close(lesson02::qkv_attention(expected("qkv_one_head", "qkv"), 1),
                expected("qkv_one_head", "out"), 1e-4, 1e-5, "one head");
}

EXERCISE_CASE("02.3", "qkv_attention: two heads, each with its own q, k, v rows") {
  require_close(lesson02::qkv_attention(expected("qkv_two_heads", "qkv"), 2),
                expected("qkv_two_heads", "out"), 1e-4, 1e-5, "two heads");
}

// ---- 02.4 the posterior q(x_{t-1} | x_t, x_0) ----

EXERCISE_CASE("02.4", "posterior: the product of q(x_t | x_{t-1}) and q(x_{t-1} | x_0)") {
  // Bayes: N(x_{t-1}; sqrt(ab_{t-1}) x_0, 1 - ab_{t-1}) N(x_t; sqrt(a_t) x_{t-1}, beta_t) is,
  // in x_{t-1}, a Gaussian with precision 1 / (1 - ab_{t-1}) + a_t / beta_t and mean
  // variance (sqrt(ab_{t-1}) x_0 / (1 - ab_{t-1}) + sqrt(a_t) x_t / beta_t).
  GaussianDiffusion d(get_named_beta_schedule("linear", 40));  // T >= 20 keeps beta_T <= 1
  std::vector<double> ab = cumulative_alphas(d.betas);
  Tensor x0 = uniform({3, 2}, -1, 1, 34, false), x_t = uniform({3, 2}, -2, 2, 35, false);
  std::vector<float> steps = {1, 17, 39}, x = x0.tolist(), xt = x_t.tolist(), mean, var;
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t t = int64_t(steps[i / 2]);
    double beta = d.betas[t], a = 1 - beta, ab_prev = ab[t - 1];
    double v = 1 / (1 / (1 - ab_prev) + a / beta);
    mean.push_back(float(v * (std::sqrt(ab_prev) * x[i] / (1 - ab_prev) + std::sqrt(a) * xt[i] / beta)));
    var.push_back(float(v));
  }
  MeanVariance q = d.q_posterior_mean_variance(x0, x_t, from_vector(steps, {3}));
  require_close(q.mean, from_vector(mean, {3, 2}), 1e-4, 1e-6, "mean");
  require_close(q.variance, from_vector(var, {3, 2}), 1e-4, 1e-9, "variance");
}

EXERCISE_CASE("02.4", "posterior: at t = 0 it is x0 itself; its log variance borrows t = 1's") {
  GaussianDiffusion d(get_named_beta_schedule("cosine", 10));
  Tensor x0 = uniform({2, 3}, -1, 1, 36, false), x_t = uniform({2, 3}, -1, 1, 37, false);
  MeanVariance q = d.q_posterior_mean_variance(x0, x_t, from_vector({0, 0}, {2}));
  require_close(q.mean, x0, 1e-5, 1e-6, "mean at t = 0");
  require_close(q.variance, zeros({2, 3}), 0, 1e-9, "variance at t = 0");
  MeanVariance q1 = d.q_posterior_mean_variance(x0, x_t, from_vector({1, 1}, {2}));
  require_close(q.log_variance, q1.log_variance, 1e-6, 1e-7, "clipped log variance");
  CHECK(std::isfinite(q1.log_variance.tolist()[0]));
}

// ---- 02.5 the hybrid loss ----

EXERCISE_CASE("02.5", "hybrid loss: vb is the bound's L_t, loss = mse + vb (loss type MSE)") {
  GaussianDiffusion d = diffusion(40, LossType::MSE);
  HybridSetup s;
  TrainingLosses l = d.training_losses(s.model(), s.x0, s.t, s.noise);
  REQUIRE(l.vb.defined());
  require_close(l.vb, s.bound_term(d), 1e-5, 1e-6, "vb");
  require_close(l.loss, l.mse + l.vb, 1e-6, 1e-7, "loss");
}

EXERCISE_CASE("02.5", "hybrid loss: RescaledMSE weighs L_vlb by T / 1000 (Eq. 16's lambda)") {
  GaussianDiffusion d = diffusion(50, LossType::RescaledMSE);
  HybridSetup s;
  TrainingLosses l = d.training_losses(s.model(), s.x0, s.t, s.noise);
  REQUIRE(l.vb.defined());
  require_close(l.vb, s.bound_term(d) * (50.f / 1000.f), 1e-5, 1e-7, "vb");
  require_close(l.loss, l.mse + l.vb, 1e-6, 1e-7, "loss");
}

EXERCISE_CASE("02.5", "hybrid loss: L_vlb trains only the variance half of the output") {
  GaussianDiffusion d = diffusion(40, LossType::RescaledMSE);
  HybridSetup s;
  TrainingLosses l = d.training_losses(s.model(), s.x0, s.t, s.noise);
  REQUIRE(l.vb.defined());
  sum(l.vb).backward();
  REQUIRE(s.out.grad().defined());
  require_close(narrow(s.out.grad(), 1, 0, 1), zeros({2, 1, 2, 2}), 0, 0, "mean half");
  CHECK(sum(abs(narrow(s.out.grad(), 1, 1, 1))).item() > 0);
}

// ---- 02.6 respacing ----

EXERCISE_CASE("02.6", "respaced_betas: the kept steps keep their alpha_bar") {
  std::vector<double> betas = get_named_beta_schedule("linear", 40);
  std::set<int64_t> keep = {0, 4, 5, 17, 39};
  std::vector<double> ab = cumulative_alphas(betas);
  std::vector<double> got = cumulative_alphas(respaced_betas(keep, betas));
  REQUIRE(got.size() == keep.size());
  size_t i = 0;
  for (int64_t t : keep) CHECK(got[i++] == doctest::Approx(ab[t]).epsilon(1e-9));
}

EXERCISE_CASE("02.6", "respaced_betas: keeping every step keeps every beta") {
  std::vector<double> betas = get_named_beta_schedule("cosine", 8);
  std::set<int64_t> all = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<double> got = respaced_betas(all, betas);
  REQUIRE(got.size() == betas.size());
  for (size_t i = 0; i < betas.size(); ++i) CHECK(got[i] == doctest::Approx(betas[i]).epsilon(1e-9));
}

}  // TEST_SUITE("lesson02")
