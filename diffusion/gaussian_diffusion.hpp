// improved-diffusion's Gaussian diffusion (Nichol & Dhariwal 2021, "Improved Denoising Diffusion
// Probabilistic Models", built on Ho et al. 2020, "Denoising Diffusion Probabilistic Models"):
// the noise schedules (linear and cosine), the forward process q, the model's reverse process
// p with fixed or learned variances, ancestral and DDIM sampling, the training losses
// (L_simple, L_vlb and the hybrid L_simple + lambda L_vlb) and the variational bound in bits
// per dimension.
//
// Step indices follow improved-diffusion: a diffusion of T steps has indices t = 0..T-1, and
// index t is the paper's step t + 1 (t = 0 is one step of noise, x_1; t = T-1 is x_T). Every
// `t` argument is a (B) float tensor of whole step indices, one per sample; per-step scalars
// are read from double tables and broadcast as (B, 1, ..., 1) factors.
//
// The model sees its own view of t (`model_timesteps`): after respacing (diffusion/respace.hpp)
// the index in the ORIGINAL chain, times 1000 / T_original when `rescale_timesteps` is on.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/sampler.hpp"
#include "tensor/device.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

// ---- schedules (Nichol & Dhariwal 2021, Sec. 3.2) ----

// "linear": Ho et al.'s schedule stretched to any T: beta linear from 1e-4 s to 0.02 s with
//           s = 1000 / T (T values, both ends included).
// "cosine": betas_for_alpha_bar with alpha_bar(u) = cos^2((u + 0.008) / 1.008 * pi / 2)
//           (Nichol & Dhariwal Eq. 17, offset s = 0.008).
// -> T betas. Throws for another name or T < 1.
std::vector<double> get_named_beta_schedule(const std::string& name, int64_t T);

// Betas that discretise a continuous alpha_bar(u), u in [0, 1] (Nichol & Dhariwal Sec. 3.2):
//   beta_i = min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta),  i = 0..T-1,
// clipped at max_beta = 0.999 to avoid the singularity at u = 1. -> T betas.
std::vector<double> betas_for_alpha_bar(int64_t T, const std::function<double(double)>& alpha_bar,
                                        double max_beta = 0.999);

// ---- helpers shared by the diffusion code ----

// table (T values), t (B) whole step indices, x (B, ...) -> (B, 1, ..., 1): table[t_b] as a
// float per sample, to broadcast against x (improved-diffusion's _extract_into_tensor). Throws,
// naming `op`, when t is not (B) or holds a value that is not a whole step in [0, T).
Tensor extract_into_tensor(const std::vector<double>& table, const Tensor& t, const Tensor& x,
                           const char* op);

// x (B, ...) -> (B): the mean over every axis but the batch axis (improved-diffusion's
// mean_flat).
Tensor mean_flat(const Tensor& x);

// ---- what the model predicts, and how it is trained ----

enum class ModelMeanType {
  PreviousX,  // the model predicts the posterior mean mu~(x_t, x_0) directly
  StartX,     // the model predicts x_0
  Epsilon,    // the model predicts the noise eps (Ho et al. Eq. 11; the usual choice)
};

enum class ModelVarType {
  Learned,       // the model outputs log Sigma directly (2C channels)
  FixedSmall,    // Sigma = beta~_t, the posterior variance (Ho et al. Eq. 7)
  FixedLarge,    // Sigma = beta_t (beta~_1 at the first step, for a better decoder NLL)
  LearnedRange,  // the model outputs v in [-1, 1]: log Sigma = frac log beta + (1 - frac) log
                 // beta~, frac = (v + 1) / 2 (Nichol & Dhariwal Eq. 15)
};

enum class LossType {
  MSE,          // L_simple (Ho et al. Eq. 14); plus L_vlb when the variance is learned
  RescaledMSE,  // L_simple + (T / 1000) L_vlb for learned variances: L_hybrid (Eq. 16)
  KL,           // the variational bound term L_t alone (Ho et al. Eq. 5), in bits
  RescaledKL,   // T L_t: an unbiased estimate of the whole bound
};

// The enums from their names (e.g. for command-line flags): "epsilon" | "start_x" |
// "previous_x"; "learned" | "fixed_small" | "fixed_large" | "learned_range"; "mse" |
// "rescaled_mse" | "kl" | "rescaled_kl". Throws, listing the names, for another one.
ModelMeanType parse_model_mean_type(const std::string& name);
ModelVarType parse_model_var_type(const std::string& name);
LossType parse_loss_type(const std::string& name);

struct DiffusionConfig {
  ModelMeanType mean_type = ModelMeanType::Epsilon;
  ModelVarType var_type = ModelVarType::FixedLarge;
  LossType loss_type = LossType::MSE;
  bool rescale_timesteps = false;  // pass the model t * 1000 / T (the papers' 0..1000 scale)
};

// The network: x_t (B, C, ...) and t (B) as the model sees it (`model_timesteps`) ->
// (B, C, ...), or (B, 2C, ...) for learned variances (the first C channels are the mean
// prediction, the last C the variance values).
using DiffusionModel = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

// ---- results ----

struct MeanVariance {
  Tensor mean, variance, log_variance;  // each like x
};

struct PMeanVariance {
  Tensor mean, variance, log_variance;  // of p(x_{t-1} | x_t), each like x
  Tensor pred_xstart;                   // the model's x_0 (clipped to [-1, 1] when asked)
};

struct SampleStep {
  Tensor sample;       // x_{t-1}, like x
  Tensor pred_xstart;  // the x_0 predicted on the way
};

struct VbTerms {
  Tensor output;       // (B): L_t in bits per dimension (the decoder NLL L_0 where t = 0)
  Tensor pred_xstart;  // like x_0
};

// Per-sample loss terms, each (B). As in improved-diffusion, `mse` is undefined for the KL
// loss types and `vb` is defined only when the variance is learned or the loss is a KL.
struct TrainingLosses {
  Tensor loss;  // what to minimise (times the resampler's weights, then averaged)
  Tensor mse;   // L_simple: mean over non-batch axes of (target - model output)^2
  Tensor vb;    // L_vlb term in bits per dimension
};

struct BpdResult {
  Tensor total_bpd;   // (B): sum_t vb[:, t] + prior_bpd, the whole bound in bits/dim
  Tensor prior_bpd;   // (B): L_T = KL(q(x_T | x_0) || N(0, I)) in bits/dim
  // (B, T) each, in the loop's order as in improved-diffusion: column j is step T-1-j.
  Tensor vb;          // L_t in bits/dim
  Tensor xstart_mse;  // mean squared error of the predicted x_0
  Tensor mse;         // mean squared error of the implied eps against the true noise
};

struct DiffusionSampleOptions {
  Tensor noise;                    // x_T; undefined: drawn from gen
  bool clip_denoised = true;       // clip the predicted x_0 to [-1, 1]
  double eta = 0;                  // DDIM only: eta of Song et al. Eq. 16 (0: deterministic)
  int64_t keep_every = 0;          // keep a frame every k steps (0: keep none)
  Generator* gen = nullptr;        // source of x_T and z (the default generator when null)
  Device device = Device::cpu();
  // Called after each step with (steps done, steps in all), e.g. for a progress bar.
  std::function<void(int64_t, int64_t)> on_step;
};

class GaussianDiffusion {
 public:
  // betas (T >= 2) in (0, 1]; throws naming the first bad beta. (Two steps at least: the
  // clipped posterior log variance at t = 0 borrows beta~ of t = 1.)
  explicit GaussianDiffusion(const std::vector<double>& betas, const DiffusionConfig& config = {});

  int64_t num_timesteps = 0;  // T
  DiffusionConfig config;
  // timestep_map[t]: the index in the original chain of this chain's step t (identity unless
  // respaced); original_num_steps: the original chain's T.
  std::vector<int64_t> timestep_map;
  int64_t original_num_steps = 0;

  // The tables, in double, T entries each, indexed by t = 0..T-1 (Ho et al. Eq. 4, 6, 7):
  std::vector<double> betas;                           // beta_t
  std::vector<double> alphas_cumprod;                  // alpha_bar_t = prod_{s<=t} (1 - beta_s)
  std::vector<double> alphas_cumprod_prev;             // alpha_bar_{t-1}, 1 at t = 0
  std::vector<double> alphas_cumprod_next;             // alpha_bar_{t+1}, 0 at t = T-1
  std::vector<double> sqrt_alphas_cumprod;             // sqrt(alpha_bar_t)
  std::vector<double> sqrt_one_minus_alphas_cumprod;   // sqrt(1 - alpha_bar_t)
  std::vector<double> log_one_minus_alphas_cumprod;    // log(1 - alpha_bar_t)
  std::vector<double> sqrt_recip_alphas_cumprod;       // 1 / sqrt(alpha_bar_t)
  std::vector<double> sqrt_recipm1_alphas_cumprod;     // sqrt(1 / alpha_bar_t - 1)
  std::vector<double> posterior_variance;  // beta~_t = beta_t (1 - ab_{t-1}) / (1 - ab_t)
  std::vector<double> posterior_log_variance_clipped;  // log beta~_t, with beta~_1 at t = 0
  std::vector<double> posterior_mean_coef1;  // beta_t sqrt(ab_{t-1}) / (1 - ab_t)     (of x_0)
  std::vector<double> posterior_mean_coef2;  // (1 - ab_{t-1}) sqrt(alpha_t) / (1 - ab_t) (of x_t)

  // t (B) -> (B): the timesteps the model is called with (respacing map, then rescaling).
  Tensor model_timesteps(const Tensor& t) const;

  // x_start (B, ...), t (B) -> q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I) (Ho et al. Eq. 4):
  // mean, variance and log variance, each like x_start.
  MeanVariance q_mean_variance(const Tensor& x_start, const Tensor& t) const;

  // x_start (B, ...), t (B), noise like x_start (undefined: drawn from gen) -> x_t.
  // Ho et al. Eq. 4 by reparameterisation: x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps.
  Tensor q_sample(const Tensor& x_start, const Tensor& t, const Tensor& noise = {},
                  Generator* gen = nullptr) const;

  // x_start, x_t (B, ...), t (B) -> q(x_{t-1} | x_t, x_0) = N(mu~, beta~ I) (Ho et al. Eq. 6-7):
  //   mu~ = coef1_t x_0 + coef2_t x_t,  beta~_t = beta_t (1 - ab_{t-1}) / (1 - ab_t);
  // log_variance is posterior_log_variance_clipped.
  MeanVariance q_posterior_mean_variance(const Tensor& x_start, const Tensor& x_t,
                                         const Tensor& t) const;

  // x (B, C, ...), t (B) -> p(x_{t-1} | x_t) = N(mean, variance) and the predicted x_0.
  // Calls model(x, model_timesteps(t)) once. Variance by config.var_type (Eq. 15 for
  // LearnedRange); mean by config.mean_type: Epsilon and StartX go through pred_xstart and
  // q_posterior_mean_variance (Ho et al. Eq. 11 in that form); PreviousX is the output itself.
  PMeanVariance p_mean_variance(const DiffusionModel& model, const Tensor& x, const Tensor& t,
                                bool clip_denoised = true) const;
  // The same from a model output already computed (B, C or 2C, ...): training_losses uses it
  // with the mean half detached ("frozen_out").
  PMeanVariance p_mean_variance_from_output(const Tensor& model_output, const Tensor& x,
                                            const Tensor& t, bool clip_denoised) const;

  // x_t, eps (B, ...), t (B) -> x_0 = sqrt(1 / ab_t) x_t - sqrt(1 / ab_t - 1) eps (Eq. 4 solved).
  Tensor predict_xstart_from_eps(const Tensor& x_t, const Tensor& t, const Tensor& eps) const;
  // x_t, x_prev (B, ...), t (B) -> x_0 = (x_prev - coef2_t x_t) / coef1_t (Eq. 7 solved).
  Tensor predict_xstart_from_xprev(const Tensor& x_t, const Tensor& t, const Tensor& xprev) const;
  // x_t, pred_xstart (B, ...), t (B) -> eps = (sqrt(1 / ab_t) x_t - x_0) / sqrt(1 / ab_t - 1).
  Tensor predict_eps_from_xstart(const Tensor& x_t, const Tensor& t,
                                 const Tensor& pred_xstart) const;

  // x (B, ...), t (B) -> x_{t-1} = mean + exp(log_variance / 2) z (z = 0 where t = 0), Ho et al.
  // Algorithm 2 with the model's variance. noise: z (undefined: drawn from gen).
  SampleStep p_sample(const DiffusionModel& model, const Tensor& x, const Tensor& t,
                      bool clip_denoised = true, const Tensor& noise = {},
                      Generator* gen = nullptr) const;

  // shape (B, C, ...) -> B samples: x_T ~ N(0, I) (or options.noise), then p_sample for
  // t = T-1..0. Frames (options.keep_every = k): x_T, then x after every k steps, then x_0;
  // frame_steps holds the paper's step of each frame (T for x_T, ..., 0 for x_0). No grad.
  Samples p_sample_loop(const DiffusionModel& model, const Shape& shape,
                        const DiffusionSampleOptions& options = {}) const;

  // x (B, ...), t (B) -> one DDIM step (Song et al. 2021, Eq. 12) to the previous index:
  //   x_prev = sqrt(ab_prev) x_0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z,
  //   sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)     (Eq. 16),
  // with eps re-derived from pred_xstart (so any mean type works) and z = 0 where t = 0.
  // On a respaced diffusion "previous" is the previous kept step.
  SampleStep ddim_sample(const DiffusionModel& model, const Tensor& x, const Tensor& t,
                         bool clip_denoised = true, double eta = 0, const Tensor& noise = {},
                         Generator* gen = nullptr) const;

  // shape (B, C, ...) -> B samples by ddim_sample for t = T-1..0 (use a respaced diffusion for
  // fewer steps); frames as p_sample_loop. No grad.
  Samples ddim_sample_loop(const DiffusionModel& model, const Shape& shape,
                           const DiffusionSampleOptions& options = {}) const;

  // x_start, x_t (B, ...), t (B) -> L_t in bits per dimension (Ho et al. Eq. 5):
  //   t > 0: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)), mean over non-batch axes, / log 2;
  //   t = 0: the decoder NLL -log p(x_0 | x_1) (Ho et al. Eq. 13), likewise.
  VbTerms vb_terms_bpd(const DiffusionModel& model, const Tensor& x_start, const Tensor& x_t,
                       const Tensor& t, bool clip_denoised = true) const;
  // The same from a model output already computed (used with "frozen_out").
  VbTerms vb_terms_bpd_from_output(const Tensor& model_output, const Tensor& x_start,
                                   const Tensor& x_t, const Tensor& t, bool clip_denoised) const;

  // x_start (B, C, ...), t (B), noise like x_start (undefined: drawn from gen) -> the loss
  // terms for one noising of each sample (differentiable through the model's output):
  //   KL / RescaledKL: loss = vb (times T for RescaledKL);
  //   MSE / RescaledMSE: mse = mean((target - output)^2) with target eps, x_0 or mu~ by
  //     mean_type (L_simple, Ho et al. Eq. 14); with a learned variance also
  //     vb = L_t computed with the mean output DETACHED, so that L_vlb trains only the
  //     variance, times T / 1000 for RescaledMSE; loss = mse + vb. With T = 4000 this is
  //     L_hybrid = L_simple + lambda L_vlb, lambda = 0.001 (Nichol & Dhariwal Eq. 16).
  TrainingLosses training_losses(const DiffusionModel& model, const Tensor& x_start,
                                 const Tensor& t, const Tensor& noise = {},
                                 Generator* gen = nullptr) const;

  // x_start (B, ...) -> (B): L_T = KL(q(x_T | x_0) || N(0, I)) in bits per dimension.
  Tensor prior_bpd(const Tensor& x_start) const;

  // x_start (B, ...) -> the whole variational bound, one vb_terms_bpd per step t = T-1..0 on a
  // fresh x_t, plus prior_bpd. noise: optional T tensors like x_start, noise[t] for step t
  // (else drawn from gen). No grad.
  BpdResult calc_bpd_loop(const DiffusionModel& model, const Tensor& x_start,
                          bool clip_denoised = true, Generator* gen = nullptr,
                          const std::vector<Tensor>& noise = {}) const;

 protected:
  // The respaced constructor (diffusion/respace.hpp): betas of the kept steps, the original
  // index of each kept step and the original T.
  GaussianDiffusion(const std::vector<double>& betas, const DiffusionConfig& config,
                    std::vector<int64_t> timestep_map, int64_t original_num_steps);
};

}  // namespace tinydiff
