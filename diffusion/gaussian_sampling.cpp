// Sampling from improved-diffusion's GaussianDiffusion: the ancestral step and loop (Ho et al.
// 2020, Algorithm 2, with the model's own variance) and the DDIM step and loop (Song et al.
// 2021, Eq. 12 and 16). See gaussian_diffusion.hpp.
#include <cmath>

#include "autograd/ops.hpp"
#include "diffusion/gaussian_diffusion.hpp"

namespace tinydiff {

namespace {

// t (B), x (B, ...) -> (B, 1, ..., 1): 1 where t > 0, 0 where t = 0 (no noise on the last step).
Tensor nonzero_mask(const Tensor& t, const Tensor& x) {
  std::vector<float> steps = t.tolist();
  for (float& s : steps) s = s != 0 ? 1.f : 0.f;
  Shape shape(x.dim(), 1);
  shape[0] = x.size(0);
  return from_vector(steps, shape, x.device());
}

// noise like x, or undefined: drawn from gen. Throws naming `op` for a wrong shape.
Tensor noise_like(const Tensor& noise, const Tensor& x, Generator* gen, const char* op) {
  if (!noise.defined()) return randn_like(x, gen);
  TD_CHECK(noise.shape() == x.shape(), op, ": noise ", str(noise.shape()),
           " must have the shape of x ", str(x.shape()));
  return noise;
}

// shape (B, C, ...): throws naming `op` unless it is a batch of at least one sample.
void check_sample_shape(const Shape& shape, const DiffusionSampleOptions& options,
                        const char* op) {
  TD_CHECK(shape.size() >= 2 && numel_of(shape) > 0, op, ": sample shape ", str(shape),
           " must be (B, C, ...) with no empty axis");
  TD_CHECK(!options.noise.defined() || options.noise.shape() == shape, op, ": noise ",
           options.noise.defined() ? str(options.noise.shape()) : "", " must have the shape ",
           str(shape));
  TD_CHECK(options.keep_every >= 0, op, ": keep_every = ", options.keep_every, " must be >= 0");
}

// Keeps x as a frame at paper step `step` after `done` of `total` steps when asked to.
void keep_frame(Samples& out, const Tensor& x, int64_t step, int64_t done, int64_t total,
                int64_t keep_every) {
  if (keep_every == 0 || (done % keep_every != 0 && done != total)) return;
  out.frames.push_back(x);
  out.frame_steps.push_back(step);
}

using StepFn = std::function<SampleStep(const Tensor& x, const Tensor& t)>;

// shape (B, C, ...) -> Samples: x_T, then `step` for t = T-1..0.
Samples run_loop(const StepFn& step, int64_t T, const Shape& shape,
                 const DiffusionSampleOptions& options) {
  NoGradGuard no_grad;
  Samples out;
  Tensor x = options.noise.defined() ? options.noise.to(options.device)
                                     : randn(shape, options.gen, options.device);
  keep_frame(out, x, T, 0, T, options.keep_every);
  for (int64_t i = T - 1; i >= 0; --i) {
    x = step(x, full({shape[0]}, float(i), options.device)).sample;
    // After the step at index i the sample is the paper's x_i.
    keep_frame(out, x, i, T - i, T, options.keep_every);
    if (options.on_step) options.on_step(T - i, T);
  }
  out.x0 = x;
  return out;
}

}  // namespace

// x (B, ...), t (B) -> x_{t-1}
// x_{t-1} = mu_theta(x_t, t) + exp(log Sigma / 2) z, z ~ N(0, I), z = 0 where t = 0.
SampleStep GaussianDiffusion::p_sample(const DiffusionModel& model, const Tensor& x,
                                       const Tensor& t, bool clip_denoised, const Tensor& noise,
                                       Generator* gen) const {
  PMeanVariance out = p_mean_variance(model, x, t, clip_denoised);
  Tensor z = noise_like(noise, x, gen, "p_sample");
  Tensor sample = out.mean + nonzero_mask(t, x) * exp(out.log_variance * 0.5f) * z;
  return {sample, out.pred_xstart};
}

// shape (B, C, ...) -> Samples
Samples GaussianDiffusion::p_sample_loop(const DiffusionModel& model, const Shape& shape,
                                         const DiffusionSampleOptions& options) const {
  check_sample_shape(shape, options, "p_sample_loop");
  StepFn step = [&](const Tensor& x, const Tensor& t) {
    return p_sample(model, x, t, options.clip_denoised, Tensor(), options.gen);
  };
  return run_loop(step, num_timesteps, shape, options);
}

// x (B, ...), t (B) -> x_prev. Song et al. 2021, Eq. 12 with sigma from Eq. 16:
//   x_prev = sqrt(ab_prev) x0_pred + sqrt(1 - ab_prev - sigma^2) eps + sigma z.
SampleStep GaussianDiffusion::ddim_sample(const DiffusionModel& model, const Tensor& x,
                                          const Tensor& t, bool clip_denoised, double eta,
                                          const Tensor& noise, Generator* gen) const {
  TD_CHECK(eta >= 0, "ddim_sample: eta = ", eta, " must be >= 0");
  PMeanVariance out = p_mean_variance(model, x, t, clip_denoised);
  // eps re-derived from the (possibly clipped) x_0, so x_0 and StartX models work too.
  Tensor eps = predict_eps_from_xstart(x, t, out.pred_xstart);
  std::vector<double> sigma(num_timesteps), sqrt_ab_prev(num_timesteps), dir(num_timesteps);
  for (int64_t i = 0; i < num_timesteps; ++i) {
    double ab = alphas_cumprod[i], ab_prev = alphas_cumprod_prev[i];
    sigma[i] = eta * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(1 - ab / ab_prev);
    sqrt_ab_prev[i] = std::sqrt(ab_prev);
    // 1 - ab_prev - sigma^2 >= 0 for eta <= 1; larger eta would make it negative: floor at 0.
    dir[i] = std::sqrt(std::max(1 - ab_prev - sigma[i] * sigma[i], 0.0));
  }
  const char* op = "ddim_sample";
  Tensor mean_pred = out.pred_xstart * extract_into_tensor(sqrt_ab_prev, t, x, op) +
                     eps * extract_into_tensor(dir, t, x, op);
  if (eta == 0) return {mean_pred, out.pred_xstart};
  Tensor z = noise_like(noise, x, gen, op);
  Tensor sample = mean_pred + nonzero_mask(t, x) * extract_into_tensor(sigma, t, x, op) * z;
  return {sample, out.pred_xstart};
}

// shape (B, C, ...) -> Samples
Samples GaussianDiffusion::ddim_sample_loop(const DiffusionModel& model, const Shape& shape,
                                            const DiffusionSampleOptions& options) const {
  check_sample_shape(shape, options, "ddim_sample_loop");
  TD_CHECK(options.eta >= 0, "ddim_sample_loop: eta = ", options.eta, " must be >= 0");
  StepFn step = [&](const Tensor& x, const Tensor& t) {
    return ddim_sample(model, x, t, options.clip_denoised, options.eta, Tensor(), options.gen);
  };
  return run_loop(step, num_timesteps, shape, options);
}

}  // namespace tinydiff
