// Losses and the likelihood terms of the diffusion lessons.
#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

enum class Reduction { Mean, Sum, None };

// mean((pred - target)^2), elementwise with broadcasting.
Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction reduction = Reduction::Mean);

// logits (N, C) or (N, C, d...), target (N) or (N, d...) of class indices (whole numbers).
// cross_entropy = nll_loss(log_softmax(logits, 1), target).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                Reduction reduction = Reduction::Mean);

// KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats:
//   0.5 (-1 + logvar2 - logvar1 + e^(logvar1 - logvar2) + (mean1 - mean2)^2 e^(-logvar2))
// (improved-diffusion's normal_kl; Nichol & Dhariwal 2021, used in L_t of Eq. 5)
Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2,
                 const Tensor& logvar2);

// log p(x) of images x in [-1, 1] (256 levels) under a Gaussian discretised into bins of
// width 2/255, with the edge bins open to -inf / +inf (Ho et al. 2020, Eq. 13; the decoder
// L_0). means and log_scales broadcast with x. Uses the tanh approximation of the normal CDF.
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means,
                                           const Tensor& log_scales);

// KL between categorical distributions given as log-probabilities, summed over `axis`:
//   sum_c e^(log_p1) (log_p1 - log_p2)   (VQ-Diffusion's multinomial_kl; Gu et al. 2022)
Tensor multinomial_kl(const Tensor& log_prob1, const Tensor& log_prob2, int64_t axis = 1);

// Gumbel(0, 1) noise -log(-log u), u ~ U(0, 1): argmax(logits + noise) samples a categorical.
Tensor gumbel_noise(const Shape& shape, Generator* gen = nullptr, Device device = Device::cpu());

}  // namespace tinydiff
