// DDPM's forward process and ancestral sampling step (see ddpm.hpp for the equations).
#include "diffusion/ddpm.hpp"

#include <cmath>

#include "autograd/ops.hpp"

namespace tinydiff {

namespace {

// coef (B values), like (B, ...) -> (B, 1, ..., 1): one scalar per sample, broadcastable.
Tensor per_sample(const std::vector<float>& coef, const Tensor& like) {
  Shape shape(like.dim(), 1);
  shape[0] = int64_t(coef.size());
  return from_vector(coef, shape, like.device());
}

// a (...), b (...): throws naming `op` unless b has a's shape.
void check_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* a_name,
                      const char* b_name) {
  TD_CHECK(a.shape() == b.shape(), op, ": ", b_name, " ", str(b.shape()),
           " must have the shape of ", a_name, " ", str(a.shape()));
}

}  // namespace

// x0 (B, ...), t (B), noise (B, ...) -> x_t (B, ...)
Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise, const NoiseSchedule& s,
                bool course_compat) {
  TD_CHECK(x0.dim() >= 1 && t.shape() == Shape{x0.size(0)}, "q_sample: t ", str(t.shape()),
           " must hold one step per sample of x0 ", str(x0.shape()));
  check_same_shape(x0, noise, "q_sample", "x0", "noise");
  // BEGIN EXERCISE 01.1 q_sample (#1-the-forward-process-and-its-closed-form)
  std::vector<float> steps = t.tolist(), signal, noise_scale;
  for (float step : steps) {
    TD_CHECK(std::isfinite(step) && step == std::floor(step), "q_sample: t holds ", step,
             ", not a whole step number");
    s.check_step(int64_t(step), 0, "q_sample");
    double ab = s.alpha_bar[int64_t(step)];
    signal.push_back(float(std::sqrt(ab)));
    noise_scale.push_back(float(course_compat ? 1 - ab : std::sqrt(1 - ab)));
  }
  return x0 * per_sample(signal, x0) + noise * per_sample(noise_scale, x0);
  // END EXERCISE
}

// x_t (B, ...), eps (B, ...) -> x_0 (B, ...)
Tensor predict_start_from_eps(const Tensor& x_t, int64_t t, const Tensor& eps,
                              const NoiseSchedule& s) {
  s.check_step(t, 0, "predict_start_from_eps");
  check_same_shape(x_t, eps, "predict_start_from_eps", "x_t", "eps");
  double ab = s.alpha_bar[t];
  return (x_t - eps * float(std::sqrt(1 - ab))) * float(1 / std::sqrt(ab));
}

// x_t (B, ...), eps_pred (B, ...), z (B, ...) or undefined -> x_{t-1} (B, ...)
Tensor ddpm_step(const Tensor& x_t, int64_t t, const Tensor& eps_pred, const Tensor& z,
                 const NoiseSchedule& s) {
  s.check_step(t, 1, "ddpm_step");
  check_same_shape(x_t, eps_pred, "ddpm_step", "x_t", "eps_pred");
  // BEGIN EXERCISE 01.2 the DDPM step (#4-the-ddpm-reverse-step)
  double a = s.alpha[t], ab = s.alpha_bar[t], beta = s.beta[t];
  Tensor mean = (x_t - eps_pred * float(beta / std::sqrt(1 - ab))) * float(1 / std::sqrt(a));
  if (!z.defined()) return mean;
  check_same_shape(x_t, z, "ddpm_step", "x_t", "z");
  return mean + z * float(std::sqrt(beta));
  // END EXERCISE
}

}  // namespace tinydiff
