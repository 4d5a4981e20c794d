// Lesson 02's Gaussian diffusion (diffusion/gaussian_diffusion.hpp) against float64 PyTorch
// (tests/ref/gaussian_diffusion.py): every schedule table, q, p for each variance and mean
// type, the training losses of every loss type (values and gradients), the bound in bits per
// dimension, one ancestral and one DDIM step, and a respaced diffusion. The toy model below is
// the script's.
#include <cmath>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/respace.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_parity;
using tinydiff::test::require_close;

namespace {

const char* kFile = "gaussian_diffusion";

Tensor fx(const std::string& key) { return test::fixture_tensor(kFile, key); }

// x (B, C, ...), t_model (B) -> (B, C_out, ...): tanh(x_rep a + b t_model / 100), with
// x_rep = [x, x] along channels when a has 2C channels (a learned variance's output).
DiffusionModel toy_model(const Tensor& a, const Tensor& b) {
  return [a, b](const Tensor& x, const Tensor& t_model) {
    Tensor x_rep = a.size(1) == 2 * x.size(1) ? cat({x, x}, 1) : x;
    return tanh(x_rep * a + b * (t_model.reshape({-1, 1, 1, 1}) * 0.01f));
  };
}

bool is_learned(ModelVarType v) {
  return v == ModelVarType::Learned || v == ModelVarType::LearnedRange;
}

DiffusionModel model_for(ModelVarType v) {
  return is_learned(v) ? toy_model(fx("a_learned"), fx("b_learned"))
                       : toy_model(fx("a_fixed"), fx("b_fixed"));
}

GaussianDiffusion cosine_diffusion(const std::string& mean, const std::string& var,
                                   const std::string& loss, bool rescale) {
  DiffusionConfig c{parse_model_mean_type(mean), parse_model_var_type(var), parse_loss_type(loss),
                    rescale};
  return GaussianDiffusion(get_named_beta_schedule("cosine", 20), c);
}

Tensor table_tensor(const std::vector<double>& v) {
  return from_vector(std::vector<float>(v.begin(), v.end()), {int64_t(v.size())});
}

// Compares mean, variance, log_variance and pred_xstart with "<prefix>.<field>".
void check_p(const PMeanVariance& p, const std::string& prefix, double rtol, double atol) {
  require_close(p.mean, fx(prefix + ".mean"), rtol, atol, prefix + ".mean");
  require_close(p.variance, fx(prefix + ".variance"), rtol, atol, prefix + ".variance");
  require_close(p.log_variance, fx(prefix + ".log_variance"), rtol, atol, prefix + ".log_variance");
  require_close(p.pred_xstart, fx(prefix + ".pred_xstart"), rtol, atol, prefix + ".pred_xstart");
}

const std::vector<std::string> kMeanTypes = {"epsilon", "start_x", "previous_x"};
const std::vector<std::string> kVarTypes = {"learned", "fixed_small", "fixed_large",
                                            "learned_range"};
const std::vector<std::string> kLossTypes = {"mse", "rescaled_mse", "kl", "rescaled_kl"};

}  // namespace

TEST_SUITE("lesson02") {

PARITY_CASE("get_named_beta_schedule", "every table of linear (T 50) and cosine (T 20)") {
  for (auto [name, T] : {std::pair<std::string, int64_t>{"linear", 50}, {"cosine", 20}}) {
    GaussianDiffusion d(get_named_beta_schedule(name, T));
    std::string p = "tables_" + name + std::to_string(T) + ".";
    const std::vector<std::pair<std::string, const std::vector<double>*>> tables = {
        {"betas", &d.betas},
        {"alphas_cumprod", &d.alphas_cumprod},
        {"alphas_cumprod_prev", &d.alphas_cumprod_prev},
        {"alphas_cumprod_next", &d.alphas_cumprod_next},
        {"sqrt_alphas_cumprod", &d.sqrt_alphas_cumprod},
        {"sqrt_one_minus_alphas_cumprod", &d.sqrt_one_minus_alphas_cumprod},
        {"log_one_minus_alphas_cumprod", &d.log_one_minus_alphas_cumprod},
        {"sqrt_recip_alphas_cumprod", &d.sqrt_recip_alphas_cumprod},
        {"sqrt_recipm1_alphas_cumprod", &d.sqrt_recipm1_alphas_cumprod},
        {"posterior_variance", &d.posterior_variance},
        {"posterior_log_variance_clipped", &d.posterior_log_variance_clipped},
        {"posterior_mean_coef1", &d.posterior_mean_coef1},
        {"posterior_mean_coef2", &d.posterior_mean_coef2}};
    for (const auto& [key, table] : tables)
      require_close(table_tensor(*table), fx(p + key), 1e-6, 1e-30, p + key);
  }
}

PARITY_CASE("get_named_beta_schedule", "betas and alpha_bar of linear and cosine at T 1000") {
  for (std::string name : {"linear", "cosine"}) {
    GaussianDiffusion d(get_named_beta_schedule(name, 1000));
    std::string p = "tables_" + name + "1000.";
    require_close(table_tensor(d.betas), fx(p + "betas"), 1e-6, 1e-30, p + "betas");
    require_close(table_tensor(d.alphas_cumprod), fx(p + "alphas_cumprod"), 1e-6, 1e-30,
                  p + "alphas_cumprod");
  }
}

PARITY_CASE("q_sample", "q_sample, q_mean_variance, q_posterior_mean_variance, prior_bpd") {
  GaussianDiffusion d = cosine_diffusion("epsilon", "fixed_small", "mse", false);
  Tensor x0 = fx("x0"), t = fx("t");
  require_close(d.q_sample(x0, t, fx("noise")), fx("q_sample.out"), 1e-4, 1e-6, "q_sample");
  MeanVariance q = d.q_mean_variance(x0, t);
  require_close(q.mean, fx("q_mean_variance.mean"), 1e-4, 1e-6, "q mean");
  require_close(q.variance, fx("q_mean_variance.variance"), 1e-4, 1e-6, "q variance");
  require_close(q.log_variance, fx("q_mean_variance.log_variance"), 1e-4, 1e-6, "q log variance");
  MeanVariance post = d.q_posterior_mean_variance(x0, fx("x_t"), t);
  require_close(post.mean, fx("q_posterior.mean"), 1e-4, 1e-6, "posterior mean");
  require_close(post.variance, fx("q_posterior.variance"), 1e-4, 1e-6, "posterior variance");
  require_close(post.log_variance, fx("q_posterior.log_variance"), 1e-4, 1e-6,
                "posterior log variance");
  // prior_bpd is ~1e-6 bits: float32's 1 - alpha_bar loses digits there, so compare absolutely.
  require_close(d.prior_bpd(x0), fx("prior_bpd.out"), 1e-4, 1e-8, "prior_bpd");
}

PARITY_CASE("p_mean_variance", "4 variance types x 3 mean types, clipped (rescaled t) or not") {
  Tensor x_t = fx("x_t"), t = fx("t");
  for (const std::string& var : kVarTypes)
    for (const std::string& mean : kMeanTypes)
      for (bool clip : {true, false}) {
        CAPTURE(var);
        CAPTURE(mean);
        CAPTURE(clip);
        GaussianDiffusion d = cosine_diffusion(mean, var, "mse", clip);
        PMeanVariance p = d.p_mean_variance(model_for(d.config.var_type), x_t, t, clip);
        check_p(p, "p_mean_variance." + var + "." + mean + (clip ? ".clip" : ".noclip"), 1e-4,
                1e-5);
      }
}

PARITY_CASE("training_losses", "4 loss types x 4 variance types, and x_0 / x_{t-1} targets") {
  struct Case {
    std::string loss, var, mean;
  };
  std::vector<Case> cases;
  for (const std::string& loss : kLossTypes)
    for (const std::string& var : kVarTypes) cases.push_back({loss, var, "epsilon"});
  cases.push_back({"rescaled_mse", "learned_range", "start_x"});
  cases.push_back({"rescaled_mse", "learned_range", "previous_x"});
  cases.push_back({"kl", "fixed_small", "start_x"});
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::string name = "training_losses." + c.loss + "." + c.var + "." + c.mean;
    CAPTURE(name);
    GaussianDiffusion d = cosine_diffusion(c.mean, c.var, c.loss, i % 2 == 0);
    auto fn = [&d](const TensorList& in) {
      return d.training_losses(toy_model(in[0], in[1]), in[2], in[4], in[3]).loss;
    };
    // x_0-target KL: float32 PyTorch's gradient is itself 1.3e-4 off the float64 one.
    double rtol = c.mean == "start_x" ? 2e-4 : 1e-4;
    check_parity(kFile, name, {"a", "b", "x0", "noise", "idx_t"}, fn, rtol, 1e-5);
    TrainingLosses terms =
        d.training_losses(model_for(d.config.var_type), fx("x0"), fx("loss_t"), fx("noise"));
    bool has_mse = test::fixture(kFile).tensors.count(name + ".mse") > 0;
    bool has_vb = test::fixture(kFile).tensors.count(name + ".vb") > 0;
    REQUIRE(terms.mse.defined() == has_mse);
    REQUIRE(terms.vb.defined() == has_vb);
    if (has_mse) require_close(terms.mse, fx(name + ".mse"), 1e-4, 1e-6, name + ".mse");
    if (has_vb) require_close(terms.vb, fx(name + ".vb"), 1e-4, 1e-5, name + ".vb");
  }
}

PARITY_CASE("calc_bpd_loop", "T 20, learned range (clipped) and fixed large (not clipped)") {
  Tensor noise_all = fx("bpd.noise");
  std::vector<Tensor> noise;
  for (int64_t t = 0; t < 20; ++t) noise.push_back(noise_all.narrow(0, t, 1).squeeze(0));
  for (auto [var, clip] :
       {std::pair<std::string, bool>{"learned_range", true}, {"fixed_large", false}}) {
    CAPTURE(var);
    GaussianDiffusion d = cosine_diffusion("epsilon", var, "mse", true);
    BpdResult r = d.calc_bpd_loop(model_for(d.config.var_type), fx("x0"), clip, nullptr, noise);
    std::string p = "bpd." + var + ".";
    require_close(r.total_bpd, fx(p + "total_bpd"), 1e-4, 1e-6, p + "total_bpd");
    require_close(r.prior_bpd, fx(p + "prior_bpd"), 1e-4, 1e-8, p + "prior_bpd");
    require_close(r.vb, fx(p + "vb"), 1e-4, 1e-5, p + "vb");
    require_close(r.xstart_mse, fx(p + "xstart_mse"), 1e-4, 1e-5, p + "xstart_mse");
    require_close(r.mse, fx(p + "mse"), 1e-4, 1e-5, p + "mse");
  }
}

PARITY_CASE("p_sample", "one ancestral step and one DDIM step (eta 0, 0.5) with fixed noise") {
  for (std::string var : {"fixed_large", "learned_range"}) {
    CAPTURE(var);
    GaussianDiffusion d = cosine_diffusion("epsilon", var, "mse", true);
    DiffusionModel m = model_for(d.config.var_type);
    Tensor x = fx("x_t"), t = fx("t"), z = fx("z");
    std::string p = var + ".";
    require_close(d.p_sample(m, x, t, true, z).sample, fx("p_sample." + p + "out"), 1e-4, 1e-5,
                  "p_sample");
    require_close(d.ddim_sample(m, x, t, true, 0.0, z).sample,
                  fx("ddim_sample." + p + "eta0.0.out"), 1e-4, 1e-5, "ddim eta 0");
    require_close(d.ddim_sample(m, x, t, true, 0.5, z).sample,
                  fx("ddim_sample." + p + "eta0.5.out"), 1e-4, 1e-5, "ddim eta 0.5");
  }
}

PARITY_CASE("space_timesteps", "sections, ddimN and rounding half to even") {
  for (auto [text, T] : {std::pair<std::string, int64_t>{"ddim5", 20},
                         {"3,4", 20},
                         {"ddim50", 1000},
                         {"250", 1000},
                         {"10,15,20", 300},
                         {"7", 10}}) {
    CAPTURE(text);
    std::set<int64_t> kept = space_timesteps(T, text);
    std::vector<float> v(kept.begin(), kept.end());
    require_close(from_vector(v, {int64_t(v.size())}),
                  fx("space." + text + "." + std::to_string(T)), 0, 0, text);
  }
}

PARITY_CASE("SpacedDiffusion", "respaced betas, p_mean_variance and losses at mapped steps") {
  for (std::string text : {"ddim5", "3,4"}) {
    CAPTURE(text);
    DiffusionConfig c{ModelMeanType::Epsilon, ModelVarType::LearnedRange, LossType::RescaledMSE,
                      true};
    SpacedDiffusion d(space_timesteps(20, text), get_named_beta_schedule("cosine", 20), c);
    std::string p = "spaced." + text + ".";
    require_close(table_tensor(d.betas), fx(p + "betas"), 1e-6, 1e-30, p + "betas");
    float last = float(d.num_timesteps - 1);
    Tensor t = from_vector({0, 2, last}, {3});
    DiffusionModel m = model_for(c.var_type);
    check_p(d.p_mean_variance(m, fx("x_t"), t, true), p + "p_mean_variance", 1e-4, 1e-5);
    TrainingLosses terms = d.training_losses(m, fx("x0"), t, fx("noise"));
    require_close(terms.loss, fx(p + "training_losses.loss"), 1e-4, 1e-5, p + "loss");
    require_close(terms.vb, fx(p + "training_losses.vb"), 1e-4, 1e-5, p + "vb");
  }
}

}  // TEST_SUITE
