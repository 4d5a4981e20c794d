// Gaussian diffusion as in DDPM (Ho et al. 2020): the forward process in closed form, the
// inversion of that closed form, and one ancestral sampling step.
#pragma once
#include "diffusion/schedule.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

// x0 is (B, ...), t is (B) step indices in [0, T], noise is like x0 -> x_t like x0.
// Ho et al. 2020, Eq. 4 (sampled by reparameterisation):
//   x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I).
// course_compat = true reproduces the course's perturb_input, which scales the noise by
// (1 - alpha_bar_t) instead of its square root; a model trained that way must be trained and
// sampled with the same convention.
Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise, const NoiseSchedule& s,
                bool course_compat = false);

// x_t is (B, ...), eps like x_t -> x_0 like x_t. Eq. 4 solved for x_0 (the "predicted x_0"
// of DDIM Eq. 12): x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t).
Tensor predict_start_from_eps(const Tensor& x_t, int64_t t, const Tensor& eps,
                              const NoiseSchedule& s);

// x_t is (B, ...), eps_pred and z like x_t -> x_{t-1} like x_t; t in [1, T].
// One step of Algorithm 2 (the mean is Eq. 11, the variance sigma_t^2 = beta_t):
//   x_{t-1} = (x_t - eps_pred beta_t / sqrt(1 - alpha_bar_t)) / sqrt(alpha_t) + sqrt(beta_t) z.
// Pass an undefined z for z = 0 (Algorithm 2 does so at the last step, t = 1).
Tensor ddpm_step(const Tensor& x_t, int64_t t, const Tensor& eps_pred, const Tensor& z,
                 const NoiseSchedule& s);

// The course's name for ddpm_step.
inline Tensor denoise_add_noise(const Tensor& x_t, int64_t t, const Tensor& eps_pred,
                                const Tensor& z, const NoiseSchedule& s) {
  return ddpm_step(x_t, t, eps_pred, z, s);
}

}  // namespace tinydiff
