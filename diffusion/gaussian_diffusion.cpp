// improved-diffusion's Gaussian diffusion: schedules, tables, the forward process q and the
// model's reverse process p (see gaussian_diffusion.hpp). Sampling is in gaussian_sampling.cpp,
// the losses and the bound in gaussian_losses.cpp.
#include "diffusion/gaussian_diffusion.hpp"

#include <cmath>

#include "autograd/ops.hpp"

namespace tinydiff {

// ---- schedules ----

// -> T betas
std::vector<double> get_named_beta_schedule(const std::string& name, int64_t T) {
  TD_CHECK(T >= 1, "get_named_beta_schedule: T = ", T, " must be at least 1");
  if (name == "linear") {
    // Ho et al. 2020, Sec. 4 (1e-4 to 0.02 over 1000 steps), scaled so that any T adds about
    // the same total noise (Nichol & Dhariwal 2021, Sec. 3.2).
    double scale = 1000.0 / double(T), start = 1e-4 * scale, end = 0.02 * scale;
    std::vector<double> betas(T, start);  // np.linspace(start, end, T)
    if (T == 1) return betas;
    double step = (end - start) / double(T - 1);
    for (int64_t i = 0; i < T; ++i) betas[i] = start + double(i) * step;
    betas[T - 1] = end;
    return betas;
  }
  if (name == "cosine") {
    // Nichol & Dhariwal 2021, Eq. 17: alpha_bar(u) = f(u) / f(0) with
    // f(u) = cos^2((u + s) / (1 + s) pi / 2), s = 0.008; consecutive ratios cancel f(0).
    return betas_for_alpha_bar(T, [](double u) {
      double c = std::cos((u + 0.008) / 1.008 * M_PI / 2);
      return c * c;
    });
  }
  throw_error("get_named_beta_schedule: unknown schedule '", name, "' (expected linear or cosine)");
}

// -> T betas
std::vector<double> betas_for_alpha_bar(int64_t T, const std::function<double(double)>& alpha_bar,
                                        double max_beta) {
  TD_CHECK(T >= 1, "betas_for_alpha_bar: T = ", T, " must be at least 1");
  std::vector<double> betas(T);
  for (int64_t i = 0; i < T; ++i) {
    double u1 = double(i) / double(T), u2 = double(i + 1) / double(T);
    betas[i] = std::min(1 - alpha_bar(u2) / alpha_bar(u1), max_beta);
  }
  return betas;
}

ModelMeanType parse_model_mean_type(const std::string& name) {
  if (name == "epsilon") return ModelMeanType::Epsilon;
  if (name == "start_x") return ModelMeanType::StartX;
  if (name == "previous_x") return ModelMeanType::PreviousX;
  throw_error("parse_model_mean_type: unknown mean type '", name,
              "' (expected epsilon, start_x or previous_x)");
}

ModelVarType parse_model_var_type(const std::string& name) {
  if (name == "learned") return ModelVarType::Learned;
  if (name == "fixed_small") return ModelVarType::FixedSmall;
  if (name == "fixed_large") return ModelVarType::FixedLarge;
  if (name == "learned_range") return ModelVarType::LearnedRange;
  throw_error("parse_model_var_type: unknown variance type '", name,
              "' (expected learned, fixed_small, fixed_large or learned_range)");
}

LossType parse_loss_type(const std::string& name) {
  if (name == "mse") return LossType::MSE;
  if (name == "rescaled_mse") return LossType::RescaledMSE;
  if (name == "kl") return LossType::KL;
  if (name == "rescaled_kl") return LossType::RescaledKL;
  throw_error("parse_loss_type: unknown loss type '", name,
              "' (expected mse, rescaled_mse, kl or rescaled_kl)");
}

// ---- helpers ----

// table (T), t (B), x (B, ...) -> (B, 1, ..., 1)
Tensor extract_into_tensor(const std::vector<double>& table, const Tensor& t, const Tensor& x,
                           const char* op) {
  TD_CHECK(x.dim() >= 1 && t.shape() == Shape{x.size(0)}, op, ": t ", str(t.shape()),
           " must hold one step per sample of x ", str(x.shape()));
  std::vector<float> steps = t.tolist(), values(steps.size());
  for (size_t b = 0; b < steps.size(); ++b) {
    float s = steps[b];
    TD_CHECK(std::isfinite(s) && s == std::floor(s) && s >= 0 && s < float(table.size()), op,
             ": t[", b, "] = ", s, " is not a whole step in [0, ", table.size(), ")");
    values[b] = float(table[size_t(s)]);
  }
  Shape shape(x.dim(), 1);
  shape[0] = x.size(0);
  return from_vector(values, shape, x.device());
}

// x (B, ...) -> (B)
Tensor mean_flat(const Tensor& x) {
  TD_CHECK(x.dim() >= 1, "mean_flat: x ", str(x.shape()), " has no batch axis");
  if (x.dim() == 1) return x;
  Shape axes;
  for (int64_t a = 1; a < x.dim(); ++a) axes.push_back(a);
  return mean(x, axes);
}

// ---- the tables (Ho et al. 2020, Eq. 4, 6, 7) ----

GaussianDiffusion::GaussianDiffusion(const std::vector<double>& betas_in,
                                     const DiffusionConfig& config_in)
    : GaussianDiffusion(betas_in, config_in, {}, int64_t(betas_in.size())) {}

GaussianDiffusion::GaussianDiffusion(const std::vector<double>& betas_in,
                                     const DiffusionConfig& config_in,
                                     std::vector<int64_t> map, int64_t original_steps)
    : num_timesteps(int64_t(betas_in.size())),
      config(config_in),
      timestep_map(std::move(map)),
      original_num_steps(original_steps),
      betas(betas_in) {
  const int64_t T = num_timesteps;
  TD_CHECK(T >= 2, "GaussianDiffusion: got ", T, " betas, needs at least 2 steps");
  for (int64_t t = 0; t < T; ++t)
    TD_CHECK(betas[t] > 0 && betas[t] <= 1, "GaussianDiffusion: beta[", t, "] = ", betas[t],
             " is not in (0, 1]");
  if (timestep_map.empty())
    for (int64_t t = 0; t < T; ++t) timestep_map.push_back(t);

  auto table = [T]() { return std::vector<double>(T); };
  alphas_cumprod = alphas_cumprod_prev = alphas_cumprod_next = table();
  sqrt_alphas_cumprod = sqrt_one_minus_alphas_cumprod = log_one_minus_alphas_cumprod = table();
  sqrt_recip_alphas_cumprod = sqrt_recipm1_alphas_cumprod = posterior_variance = table();
  posterior_log_variance_clipped = posterior_mean_coef1 = posterior_mean_coef2 = table();
  double ab = 1;
  for (int64_t t = 0; t < T; ++t) {
    alphas_cumprod_prev[t] = ab;
    ab *= 1 - betas[t];
    alphas_cumprod[t] = ab;
  }
  for (int64_t t = 0; t < T; ++t) {
    double a = 1 - betas[t], ab_t = alphas_cumprod[t], ab_prev = alphas_cumprod_prev[t];
    alphas_cumprod_next[t] = t + 1 < T ? alphas_cumprod[t + 1] : 0;
    sqrt_alphas_cumprod[t] = std::sqrt(ab_t);
    sqrt_one_minus_alphas_cumprod[t] = std::sqrt(1 - ab_t);
    log_one_minus_alphas_cumprod[t] = std::log(1 - ab_t);
    sqrt_recip_alphas_cumprod[t] = std::sqrt(1 / ab_t);
    sqrt_recipm1_alphas_cumprod[t] = std::sqrt(1 / ab_t - 1);
    // Eq. 7: beta~_t = beta_t (1 - ab_{t-1}) / (1 - ab_t); mu~ = coef1 x_0 + coef2 x_t.
    // BEGIN EXERCISE 02.4 the posterior's mean and variance (#1-the-variational-bound-term-by-term)
    posterior_variance[t] = betas[t] * (1 - ab_prev) / (1 - ab_t);
    posterior_mean_coef1[t] = betas[t] * std::sqrt(ab_prev) / (1 - ab_t);
    posterior_mean_coef2[t] = (1 - ab_prev) * std::sqrt(a) / (1 - ab_t);
    // END EXERCISE
  }
  // beta~_0 = 0 (x_0 is known given x_1 and x_0): its log is clipped to log beta~_1.
  for (int64_t t = 0; t < T; ++t)
    posterior_log_variance_clipped[t] = std::log(posterior_variance[t == 0 ? 1 : t]);
}

// t (B) -> (B)
Tensor GaussianDiffusion::model_timesteps(const Tensor& t) const {
  TD_CHECK(t.dim() == 1, "model_timesteps: t ", str(t.shape()), " must be (B)");
  double scale = config.rescale_timesteps ? 1000.0 / double(original_num_steps) : 1.0;
  std::vector<float> steps = t.tolist();
  for (size_t b = 0; b < steps.size(); ++b) {
    float s = steps[b];
    TD_CHECK(std::isfinite(s) && s == std::floor(s) && s >= 0 && s < float(num_timesteps),
             "model_timesteps: t[", b, "] = ", s, " is not a whole step in [0, ", num_timesteps,
             ")");
    steps[b] = float(double(timestep_map[size_t(s)]) * scale);
  }
  return from_vector(steps, t.shape(), t.device());
}

// ---- the forward process q ----

// x_start (B, ...), t (B) -> mean, variance, log_variance like x_start
MeanVariance GaussianDiffusion::q_mean_variance(const Tensor& x_start, const Tensor& t) const {
  const char* op = "q_mean_variance";
  Tensor mean = extract_into_tensor(sqrt_alphas_cumprod, t, x_start, op) * x_start;
  std::vector<double> one_minus_ab(num_timesteps);
  for (int64_t i = 0; i < num_timesteps; ++i) one_minus_ab[i] = 1 - alphas_cumprod[i];
  Tensor variance = extract_into_tensor(one_minus_ab, t, x_start, op).expand(x_start.shape());
  Tensor log_variance =
      extract_into_tensor(log_one_minus_alphas_cumprod, t, x_start, op).expand(x_start.shape());
  return {mean, variance, log_variance};
}

// x_start (B, ...), t (B), noise like x_start -> x_t like x_start
Tensor GaussianDiffusion::q_sample(const Tensor& x_start, const Tensor& t, const Tensor& noise_in,
                                   Generator* gen) const {
  Tensor noise = noise_in.defined() ? noise_in : randn_like(x_start, gen);
  TD_CHECK(noise.shape() == x_start.shape(), "q_sample: noise ", str(noise.shape()),
           " must have the shape of x_start ", str(x_start.shape()));
  return extract_into_tensor(sqrt_alphas_cumprod, t, x_start, "q_sample") * x_start +
         extract_into_tensor(sqrt_one_minus_alphas_cumprod, t, x_start, "q_sample") * noise;
}

// x_start, x_t (B, ...), t (B) -> mean, variance, log_variance like x_t
MeanVariance GaussianDiffusion::q_posterior_mean_variance(const Tensor& x_start, const Tensor& x_t,
                                                          const Tensor& t) const {
  const char* op = "q_posterior_mean_variance";
  TD_CHECK(x_start.shape() == x_t.shape(), op, ": x_start ", str(x_start.shape()),
           " and x_t ", str(x_t.shape()), " must have the same shape");
  Tensor mean = extract_into_tensor(posterior_mean_coef1, t, x_t, op) * x_start +
                extract_into_tensor(posterior_mean_coef2, t, x_t, op) * x_t;
  Tensor variance = extract_into_tensor(posterior_variance, t, x_t, op).expand(x_t.shape());
  Tensor log_variance =
      extract_into_tensor(posterior_log_variance_clipped, t, x_t, op).expand(x_t.shape());
  return {mean, variance, log_variance};
}

// ---- inverting the closed forms ----

// x_t, eps (B, ...), t (B) -> x_0 (B, ...)
Tensor GaussianDiffusion::predict_xstart_from_eps(const Tensor& x_t, const Tensor& t,
                                                  const Tensor& eps) const {
  const char* op = "predict_xstart_from_eps";
  TD_CHECK(x_t.shape() == eps.shape(), op, ": eps ", str(eps.shape()),
           " must have the shape of x_t ", str(x_t.shape()));
  return extract_into_tensor(sqrt_recip_alphas_cumprod, t, x_t, op) * x_t -
         extract_into_tensor(sqrt_recipm1_alphas_cumprod, t, x_t, op) * eps;
}

// x_t, xprev (B, ...), t (B) -> x_0 (B, ...)
Tensor GaussianDiffusion::predict_xstart_from_xprev(const Tensor& x_t, const Tensor& t,
                                                    const Tensor& xprev) const {
  const char* op = "predict_xstart_from_xprev";
  TD_CHECK(x_t.shape() == xprev.shape(), op, ": xprev ", str(xprev.shape()),
           " must have the shape of x_t ", str(x_t.shape()));
  std::vector<double> recip_coef1(num_timesteps), coef2_over_coef1(num_timesteps);
  for (int64_t i = 0; i < num_timesteps; ++i) {
    recip_coef1[i] = 1 / posterior_mean_coef1[i];
    coef2_over_coef1[i] = posterior_mean_coef2[i] / posterior_mean_coef1[i];
  }
  return extract_into_tensor(recip_coef1, t, x_t, op) * xprev -
         extract_into_tensor(coef2_over_coef1, t, x_t, op) * x_t;
}

// x_t, pred_xstart (B, ...), t (B) -> eps (B, ...)
Tensor GaussianDiffusion::predict_eps_from_xstart(const Tensor& x_t, const Tensor& t,
                                                  const Tensor& pred_xstart) const {
  const char* op = "predict_eps_from_xstart";
  TD_CHECK(x_t.shape() == pred_xstart.shape(), op, ": pred_xstart ", str(pred_xstart.shape()),
           " must have the shape of x_t ", str(x_t.shape()));
  return (extract_into_tensor(sqrt_recip_alphas_cumprod, t, x_t, op) * x_t - pred_xstart) /
         extract_into_tensor(sqrt_recipm1_alphas_cumprod, t, x_t, op);
}

// ---- the reverse process p ----

// x (B, C, ...), t (B) -> p(x_{t-1} | x_t)
PMeanVariance GaussianDiffusion::p_mean_variance(const DiffusionModel& model, const Tensor& x,
                                                 const Tensor& t, bool clip_denoised) const {
  TD_CHECK(x.dim() >= 2, "p_mean_variance: x ", str(x.shape()), " must be (B, C, ...)");
  return p_mean_variance_from_output(model(x, model_timesteps(t)), x, t, clip_denoised);
}

namespace {

// table (T), t (B), x (B, ...) -> the per-sample values expanded to x's shape
Tensor extract_expanded(const std::vector<double>& table, const Tensor& t, const Tensor& x) {
  return extract_into_tensor(table, t, x, "p_mean_variance").expand(x.shape());
}

}  // namespace

// model_output (B, C or 2C, ...), x (B, C, ...), t (B) -> p(x_{t-1} | x_t)
PMeanVariance GaussianDiffusion::p_mean_variance_from_output(const Tensor& model_output,
                                                             const Tensor& x, const Tensor& t,
                                                             bool clip_denoised) const {
  const char* op = "p_mean_variance";
  TD_CHECK(x.dim() >= 2, op, ": x ", str(x.shape()), " must be (B, C, ...)");
  bool learned = config.var_type == ModelVarType::Learned ||
                 config.var_type == ModelVarType::LearnedRange;
  int64_t C = x.size(1);
  Shape expected = x.shape();
  if (learned) expected[1] = 2 * C;
  TD_CHECK(model_output.shape() == expected, op, ": the model returned ",
           str(model_output.shape()), " for x_t ", str(x.shape()), "; expected ", str(expected),
           learned ? " (a learned variance needs 2C channels: mean, then variance values)" : "");
  PMeanVariance out;
  Tensor mean_output = learned ? narrow(model_output, 1, 0, C) : model_output;
  if (config.var_type == ModelVarType::Learned) {
    out.log_variance = narrow(model_output, 1, C, C);
  } else if (config.var_type == ModelVarType::LearnedRange) {
    // Nichol & Dhariwal Eq. 15: Sigma = exp(v log beta_t + (1 - v) log beta~_t), with the
    // network's v in [-1, 1] mapped to frac = (v + 1) / 2 in [0, 1].
    std::vector<double> log_betas(num_timesteps);
    for (int64_t i = 0; i < num_timesteps; ++i) log_betas[i] = std::log(betas[i]);
    Tensor min_log = extract_into_tensor(posterior_log_variance_clipped, t, x, op);
    Tensor max_log = extract_into_tensor(log_betas, t, x, op);
    Tensor frac = (narrow(model_output, 1, C, C) + 1.f) * 0.5f;
    out.log_variance = frac * max_log + (1.f - frac) * min_log;
  } else if (config.var_type == ModelVarType::FixedLarge) {
    // Sigma = beta_t, but beta~_1 at t = 0 for a better decoder likelihood L_0.
    std::vector<double> large(betas), log_large(num_timesteps);
    large[0] = posterior_variance[1];
    for (int64_t i = 0; i < num_timesteps; ++i) log_large[i] = std::log(large[i]);
    out.variance = extract_expanded(large, t, x);
    out.log_variance = extract_expanded(log_large, t, x);
  } else {  // FixedSmall: Sigma = beta~_t (Ho et al. Sec. 3.2)
    out.variance = extract_expanded(posterior_variance, t, x);
    out.log_variance = extract_expanded(posterior_log_variance_clipped, t, x);
  }
  if (learned) out.variance = exp(out.log_variance);

  auto process_xstart = [&](const Tensor& x0) { return clip_denoised ? clamp(x0, -1.f, 1.f) : x0; };
  if (config.mean_type == ModelMeanType::PreviousX) {
    out.pred_xstart = process_xstart(predict_xstart_from_xprev(x, t, mean_output));
    out.mean = mean_output;
  } else {
    out.pred_xstart = config.mean_type == ModelMeanType::StartX
                          ? process_xstart(mean_output)
                          : process_xstart(predict_xstart_from_eps(x, t, mean_output));
    out.mean = q_posterior_mean_variance(out.pred_xstart, x, t).mean;
  }
  return out;
}

}  // namespace tinydiff
