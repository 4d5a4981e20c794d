// DDIM sampling (Song et al. 2021, "Denoising Diffusion Implicit Models"): a step from x_t to
// any earlier x_{t_prev} that reuses a model trained with DDPM's objective. eta = 0 makes the
// step deterministic; eta = 1 makes it DDPM's ancestral step.
#pragma once
#include <vector>

#include "diffusion/schedule.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

// The increasing sub-sequence of steps that DDIM visits (Song et al. 2021, Sec. 4.2):
// tau_0 = 0 < tau_1 < ... < tau_S = T with tau_i = floor(i T / S), S = n_steps in [1, T].
// Sampling goes tau_S -> tau_{S-1} -> ... -> tau_0. When S divides T the steps are evenly
// T / S apart, as in the course's sample_ddim.
std::vector<int64_t> ddim_timesteps(int64_t T, int64_t n_steps);

// Song et al. 2021, Eq. 16 (with alpha there = alpha_bar here):
//   sigma_t(eta) = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t))
//                      sqrt(1 - alpha_bar_t / alpha_bar_prev).
// With t_prev = t - 1 and eta = 1, sigma_t^2 is DDPM's posterior variance beta~_t (Ho et al.
// Eq. 7).
double ddim_sigma(int64_t t, int64_t t_prev, double eta, const NoiseSchedule& s);

// x_t is (B, ...), eps_pred and z like x_t -> x_{t_prev} like x_t; 0 <= t_prev < t <= T.
// Song et al. 2021, Eq. 12:
//   x_prev = sqrt(alpha_bar_prev) x0_pred                      "predicted x_0"
//          + sqrt(1 - alpha_bar_prev - sigma_t^2) eps_pred     "direction pointing to x_t"
//          + sigma_t z                                         "random noise"
// with x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_bar_t) and sigma_t from
// Eq. 16. Pass an undefined z for z = 0 (it is unused when sigma_t = 0, e.g. eta = 0).
Tensor ddim_step(const Tensor& x_t, int64_t t, int64_t t_prev, const Tensor& eps_pred, double eta,
                 const Tensor& z, const NoiseSchedule& s);

}  // namespace tinydiff
