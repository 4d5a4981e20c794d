// DDIM's timestep sub-sequence, its sigma_t(eta) and its update (see ddim.hpp).
#include "diffusion/ddim.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/ops.hpp"
#include "diffusion/ddpm.hpp"

namespace tinydiff {

namespace {

// 0 <= t_prev < t <= T and 0 <= eta <= 1, else an error naming `op`.
void check_steps(int64_t t, int64_t t_prev, double eta, const NoiseSchedule& s, const char* op) {
  s.check_step(t, 1, op);
  TD_CHECK(t_prev >= 0 && t_prev < t, op, ": t_prev = ", t_prev, " must be in [0, t) (t = ", t,
           ")");
  TD_CHECK(eta >= 0 && eta <= 1, op, ": eta = ", eta, " must be in [0, 1]");
}

}  // namespace

// T, S -> S + 1 steps [0, ..., T]
std::vector<int64_t> ddim_timesteps(int64_t T, int64_t n_steps) {
  TD_CHECK(n_steps >= 1 && n_steps <= T, "ddim_timesteps: n_steps = ", n_steps,
           " must be in [1, T] (T = ", T, ")");
  std::vector<int64_t> tau;
  for (int64_t i = 0; i <= n_steps; ++i) tau.push_back(i * T / n_steps);
  return tau;
}

// t, t_prev, eta -> sigma_t (a scalar)
double ddim_sigma(int64_t t, int64_t t_prev, double eta, const NoiseSchedule& s) {
  check_steps(t, t_prev, eta, s, "ddim_sigma");
  double ab = s.alpha_bar[t], ab_prev = s.alpha_bar[t_prev];
  return eta * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(1 - ab / ab_prev);
}

// x_t (B, ...), eps_pred (B, ...), z (B, ...) or undefined -> x_{t_prev} (B, ...)
Tensor ddim_step(const Tensor& x_t, int64_t t, int64_t t_prev, const Tensor& eps_pred, double eta,
                 const Tensor& z, const NoiseSchedule& s) {
  check_steps(t, t_prev, eta, s, "ddim_step");
  TD_CHECK(eps_pred.shape() == x_t.shape(), "ddim_step: eps_pred ", str(eps_pred.shape()),
           " must have the shape of x_t ", str(x_t.shape()));
  // BEGIN EXERCISE 01.3 the DDIM step (#6-ddim)
  double sigma = ddim_sigma(t, t_prev, eta, s), ab_prev = s.alpha_bar[t_prev];
  // 1 - ab_prev - sigma^2 >= 0 for eta <= 1; the max only absorbs rounding.
  double dir_scale = std::sqrt(std::max(0.0, 1 - ab_prev - sigma * sigma));
  Tensor x0_pred = predict_start_from_eps(x_t, t, eps_pred, s);
  Tensor x_prev = x0_pred * float(std::sqrt(ab_prev)) + eps_pred * float(dir_scale);
  if (!z.defined() || sigma == 0) return x_prev;
  TD_CHECK(z.shape() == x_t.shape(), "ddim_step: z ", str(z.shape()),
           " must have the shape of x_t ", str(x_t.shape()));
  return x_prev + z * float(sigma);
  // END EXERCISE
}

}  // namespace tinydiff
