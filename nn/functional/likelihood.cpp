// The likelihood terms of the diffusion lessons: the KL between two diagonal Gaussians and
// the discretised Gaussian decoder of improved-diffusion (lesson 02), and the KL between two
// categorical distributions of VQ-Diffusion (lesson 04).
//
// Each is composed from differentiable tensor ops, so autograd derives its gradient; the
// derivative is still written beside each formula so that a reader can check it.
#include <cmath>

#include "nn/functional/loss.hpp"

namespace tinydiff {

// KL(N(m1, v1) || N(m2, v2)) = 0.5 (-1 + log v2 - log v1 + v1/v2 + (m1 - m2)^2 / v2), with
// v = e^logvar: the L_{t-1} terms of the variational bound (Ho et al. 2020, Eq. 5), which
// improved-diffusion trains once the variances are learned (Nichol & Dhariwal 2021, Sec. 3.1).
//   dKL/dm1 = (m1 - m2) / v2 = -dKL/dm2
//   dKL/dlogvar1 = 0.5 (v1/v2 - 1)
//   dKL/dlogvar2 = 0.5 (1 - v1/v2 - (m1 - m2)^2 / v2)
// all four broadcast to a common shape S -> S
Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2,
                 const Tensor& logvar2) {
  Shape s = broadcast_shapes(mean1.shape(), logvar1.shape(), "normal_kl");
  s = broadcast_shapes(s, mean2.shape(), "normal_kl");
  broadcast_shapes(s, logvar2.shape(), "normal_kl");
  Tensor variance_terms = add(sub(logvar2, logvar1), exp(sub(logvar1, logvar2)));
  Tensor mean_term = mul(square(sub(mean1, mean2)), exp(neg(logvar2)));
  return mul(add(add(variance_terms, mean_term), -1.f), 0.5f);
}

namespace {

// The standard normal CDF by the tanh approximation (GELU's tanh form uses the same one), as
// improved-diffusion's approx_standard_normal_cdf:
//   Phi(z) ~ 0.5 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
// z -> same shape
Tensor approx_standard_normal_cdf(const Tensor& z) {
  const float sqrt_2_over_pi = float(std::sqrt(2.0 / M_PI));
  Tensor inner = mul(add(z, mul(pow(z, 3.f), 0.044715f)), sqrt_2_over_pi);
  return mul(add(tanh(inner), 1.f), 0.5f);
}

// log(max(p, 1e-12)): the floor keeps log finite where a bin's mass underflows.
Tensor log_clamped(const Tensor& p) { return log(clamp(p, 1e-12f, INFINITY)); }

}  // namespace

// Ho et al. 2020, Eq. 13 (the decoder L_0): pixel values are 256 levels scaled to [-1, 1], so
// level x owns the bin [x - 1/255, x + 1/255] of width 2/255. With s = e^log_scale,
//   p(x) = Phi((x + 1/255 - mean) / s) - Phi((x - 1/255 - mean) / s)
// except that the lowest bin (x = -1) extends to -inf and the highest (x = 1) to +inf:
//   p(-1) = Phi((-1 + 1/255 - mean) / s),   p(1) = 1 - Phi((1 - 1/255 - mean) / s).
// The bins then tile the real line, so the 256 probabilities sum to 1. x < -0.999 and
// x > 0.999 pick the edge bins as improved-diffusion does.
// Autograd differentiates through Phi: dPhi(z)/dz = 0.5 (1 - tanh^2(u)) du/dz with
// u = sqrt(2/pi) (z + 0.044715 z^3); a bin floored at 1e-12 passes no gradient.
// x (S), means and log_scales broadcast to S -> S (log-probabilities in nats)
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means,
                                           const Tensor& log_scales) {
  const char* op = "discretized_gaussian_log_likelihood";
  Shape s = broadcast_shapes(x.shape(), means.shape(), op);
  s = broadcast_shapes(s, log_scales.shape(), op);
  TD_CHECK(s == x.shape(), op, ": means ", str(means.shape()), " and log_scales ",
           str(log_scales.shape()), " must broadcast to the shape of x ", str(x.shape()));
  const float half_bin = 1.f / 255.f;
  Tensor centered = sub(x, means);
  Tensor inv_stdv = exp(neg(log_scales));
  Tensor cdf_plus = approx_standard_normal_cdf(mul(inv_stdv, add(centered, half_bin)));
  Tensor cdf_min = approx_standard_normal_cdf(mul(inv_stdv, add(centered, -half_bin)));
  Tensor log_lowest_bin = log_clamped(cdf_plus);              // P(X <= x + 1/255)
  Tensor log_highest_bin = log_clamped(rsub(cdf_min, 1.f));   // P(X > x - 1/255)
  Tensor log_inner_bin = log_clamped(sub(cdf_plus, cdf_min));  // P(x - 1/255 < X <= x + 1/255)
  Tensor xd = x.detach();
  Tensor is_lowest = lt(xd, full({}, -0.999f, x.device()));
  Tensor is_highest = gt(xd, full({}, 0.999f, x.device()));
  return where(is_lowest, log_lowest_bin, where(is_highest, log_highest_bin, log_inner_bin));
}

// KL(p1 || p2) = sum_c p1_c (log p1_c - log p2_c), p = e^log_prob, summed over `axis`
// (Gu et al. 2022, VQ-Diffusion: the KL terms of its variational bound; its multinomial_kl).
//   dKL/dlog_p1_c = p1_c (log p1_c - log p2_c + 1),   dKL/dlog_p2_c = -p1_c
// Log-probabilities must be finite (VQ-Diffusion floors probabilities at 1e-30 first): at
// log p1 = -inf the product 0 * inf is NaN.
// log_prob1, log_prob2 (..., C at axis, ...) -> the same shape without `axis`
Tensor multinomial_kl(const Tensor& log_prob1, const Tensor& log_prob2, int64_t axis) {
  TD_CHECK(log_prob1.shape() == log_prob2.shape(), "multinomial_kl: log_prob1 ",
           str(log_prob1.shape()), " and log_prob2 ", str(log_prob2.shape()),
           " must have the same shape");
  axis = normalize_axis(axis, log_prob1.dim(), "multinomial_kl");
  return sum(mul(exp(log_prob1), sub(log_prob1, log_prob2)), {axis});
}

}  // namespace tinydiff
