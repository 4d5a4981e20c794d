// The training losses and the variational bound of improved-diffusion's GaussianDiffusion
// (Ho et al. 2020, Eq. 5, 13, 14; Nichol & Dhariwal 2021, Eq. 16). See gaussian_diffusion.hpp.
#include <cmath>

#include "autograd/ops.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "nn/functional/loss.hpp"

namespace tinydiff {

namespace {

const float kInvLog2 = float(1.0 / M_LN2);  // nats -> bits

// t (B) -> (B): 1 where t = 0, else 0.
Tensor is_first_step(const Tensor& t) {
  std::vector<float> steps = t.tolist();
  for (float& s : steps) s = s == 0 ? 1.f : 0.f;
  return from_vector(steps, t.shape(), t.device());
}

}  // namespace

// x_start, x_t (B, ...), t (B) -> L_t (B) in bits/dim
VbTerms GaussianDiffusion::vb_terms_bpd(const DiffusionModel& model, const Tensor& x_start,
                                        const Tensor& x_t, const Tensor& t,
                                        bool clip_denoised) const {
  TD_CHECK(x_t.dim() >= 2, "vb_terms_bpd: x_t ", str(x_t.shape()), " must be (B, C, ...)");
  return vb_terms_bpd_from_output(model(x_t, model_timesteps(t)), x_start, x_t, t, clip_denoised);
}

// Ho et al. 2020, Eq. 5: for t > 0, L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t));
// for t = 0, L_0 = -log p(x_0 | x_1), the discretised decoder of Eq. 13 with
// log_scale = log Sigma / 2. Both averaged over the non-batch axes and divided by log 2.
// model_output (B, C or 2C, ...), x_start, x_t (B, C, ...), t (B) -> (B)
VbTerms GaussianDiffusion::vb_terms_bpd_from_output(const Tensor& model_output,
                                                    const Tensor& x_start, const Tensor& x_t,
                                                    const Tensor& t, bool clip_denoised) const {
  MeanVariance posterior = q_posterior_mean_variance(x_start, x_t, t);
  PMeanVariance p = p_mean_variance_from_output(model_output, x_t, t, clip_denoised);
  Tensor kl = mean_flat(normal_kl(posterior.mean, posterior.log_variance, p.mean, p.log_variance));
  Tensor decoder_nll =
      mean_flat(neg(discretized_gaussian_log_likelihood(x_start, p.mean, p.log_variance * 0.5f)));
  Tensor output = where(is_first_step(t), decoder_nll, kl) * kInvLog2;
  return {output, p.pred_xstart};
}

// x_start (B, C, ...), t (B), noise like x_start -> loss, mse, vb (B)
TrainingLosses GaussianDiffusion::training_losses(const DiffusionModel& model,
                                                  const Tensor& x_start, const Tensor& t,
                                                  const Tensor& noise_in, Generator* gen) const {
  const char* op = "training_losses";
  TD_CHECK(x_start.dim() >= 2, op, ": x_start ", str(x_start.shape()), " must be (B, C, ...)");
  Tensor noise = noise_in.defined() ? noise_in : randn_like(x_start, gen);
  TD_CHECK(noise.shape() == x_start.shape(), op, ": noise ", str(noise.shape()),
           " must have the shape of x_start ", str(x_start.shape()));
  Tensor x_t = q_sample(x_start, t, noise);
  TrainingLosses terms;
  if (config.loss_type == LossType::KL || config.loss_type == LossType::RescaledKL) {
    // L_vlb alone: one term per sample (times T, an estimate of the sum over all t).
    terms.vb = vb_terms_bpd(model, x_start, x_t, t, false).output;
    terms.loss = config.loss_type == LossType::RescaledKL ? terms.vb * float(num_timesteps)
                                                          : terms.vb;
    return terms;
  }
  Tensor output = model(x_t, model_timesteps(t));
  Tensor mean_output = output;
  bool learned = config.var_type == ModelVarType::Learned ||
                 config.var_type == ModelVarType::LearnedRange;
  if (learned) {
    int64_t C = x_t.size(1);
    Shape expected = x_t.shape();
    expected[1] = 2 * C;
    TD_CHECK(output.shape() == expected, op, ": the model returned ", str(output.shape()),
             " for x_t ", str(x_t.shape()), "; a learned variance needs ", str(expected));
    // BEGIN EXERCISE 02.5 the hybrid loss (#3-the-hybrid-loss-eq-16)
    mean_output = narrow(output, 1, 0, C);
    // L_vlb trains only the variance: the mean half enters it detached ("frozen_out"), so
    // L_simple alone trains the mean (Nichol & Dhariwal Sec. 3.1).
    Tensor frozen_out = cat({mean_output.detach(), narrow(output, 1, C, C)}, 1);
    terms.vb = vb_terms_bpd_from_output(frozen_out, x_start, x_t, t, false).output;
    // L_vlb = sum_t L_t is estimated by T L_t for a uniform t, so Eq. 16's lambda L_vlb with
    // lambda = 0.001 is (T / 1000) L_t. (Plain MSE keeps L_t: lambda = 1 / T.)
    if (config.loss_type == LossType::RescaledMSE)
      terms.vb = terms.vb * float(double(num_timesteps) / 1000.0);
    // END EXERCISE
  }
  // L_simple (Ho et al. Eq. 14) with the target the model predicts.
  Tensor target = noise;
  if (config.mean_type == ModelMeanType::StartX) target = x_start;
  if (config.mean_type == ModelMeanType::PreviousX)
    target = q_posterior_mean_variance(x_start, x_t, t).mean;
  TD_CHECK(mean_output.shape() == target.shape(), op, ": the model returned ",
           str(output.shape()), " for x_t ", str(x_t.shape()));
  terms.mse = mean_flat(square(target - mean_output));
  terms.loss = terms.vb.defined() ? terms.mse + terms.vb : terms.mse;
  return terms;
}

// L_T = KL(q(x_T | x_0) || N(0, I)): it has no parameter to train, but completes the bound.
// x_start (B, ...) -> (B) in bits/dim
Tensor GaussianDiffusion::prior_bpd(const Tensor& x_start) const {
  TD_CHECK(x_start.dim() >= 1, "prior_bpd: x_start ", str(x_start.shape()), " has no batch axis");
  Tensor t = full({x_start.size(0)}, float(num_timesteps - 1), x_start.device());
  MeanVariance q = q_mean_variance(x_start, t);
  Tensor zero = zeros({}, x_start.device());
  return mean_flat(normal_kl(q.mean, q.log_variance, zero, zero)) * kInvLog2;
}

// The whole bound in bits/dim: L_T + sum_t L_t, each L_t on its own draw of x_t.
// x_start (B, ...) -> BpdResult
BpdResult GaussianDiffusion::calc_bpd_loop(const DiffusionModel& model, const Tensor& x_start,
                                           bool clip_denoised, Generator* gen,
                                           const std::vector<Tensor>& noise) const {
  const char* op = "calc_bpd_loop";
  TD_CHECK(x_start.dim() >= 2, op, ": x_start ", str(x_start.shape()), " must be (B, C, ...)");
  TD_CHECK(noise.empty() || int64_t(noise.size()) == num_timesteps, op, ": got ", noise.size(),
           " noise tensors for ", num_timesteps, " steps");
  NoGradGuard no_grad;
  int64_t B = x_start.size(0);
  TensorList vb, xstart_mse, mse;
  for (int64_t i = num_timesteps - 1; i >= 0; --i) {
    Tensor t = full({B}, float(i), x_start.device());
    Tensor eps = noise.empty() ? randn_like(x_start, gen) : noise[i];
    Tensor x_t = q_sample(x_start, t, eps);
    VbTerms out = vb_terms_bpd(model, x_start, x_t, t, clip_denoised);
    vb.push_back(out.output);
    xstart_mse.push_back(mean_flat(square(out.pred_xstart - x_start)));
    mse.push_back(mean_flat(square(predict_eps_from_xstart(x_t, t, out.pred_xstart) - eps)));
  }
  BpdResult result;
  result.vb = stack(vb, 1);
  result.xstart_mse = stack(xstart_mse, 1);
  result.mse = stack(mse, 1);
  result.prior_bpd = prior_bpd(x_start);
  result.total_bpd = sum(result.vb, {1}) + result.prior_bpd;
  return result;
}

}  // namespace tinydiff
