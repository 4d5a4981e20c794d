// Context dropout for training and the guided noise prediction for sampling (see guidance.hpp).
#include "diffusion/guidance.hpp"

#include "autograd/ops.hpp"

namespace tinydiff {

// c (B, K) -> (B, K)
Tensor drop_context(const Tensor& c, double p_uncond, Generator* gen) {
  TD_CHECK(c.dim() == 2, "drop_context: context must be (B, K), got ", str(c.shape()));
  TD_CHECK(p_uncond >= 0 && p_uncond <= 1, "drop_context: p_uncond = ", p_uncond,
           " must be in [0, 1]");
  // BEGIN EXERCISE 01.4 context dropout (#5-context-and-classifier-free-guidance)
  std::vector<float> keep = rand({c.size(0)}, gen).tolist();
  for (float& k : keep) k = k < 1 - p_uncond ? 1.f : 0.f;  // Bernoulli(1 - p): 1 keeps the row
  return c * from_vector(keep, {c.size(0), 1}, c.device());
  // END EXERCISE
}

// eps_cond (B, ...), eps_uncond (B, ...) -> (B, ...)
Tensor guided_eps(const Tensor& eps_cond, const Tensor& eps_uncond, double w) {
  TD_CHECK(eps_cond.shape() == eps_uncond.shape(), "guided_eps: eps_cond ", str(eps_cond.shape()),
           " and eps_uncond ", str(eps_uncond.shape()), " must have the same shape");
  // BEGIN EXERCISE 01.5 classifier-free guidance (#5-context-and-classifier-free-guidance)
  return eps_cond * float(1 + w) - eps_uncond * float(w);
  // END EXERCISE
}

}  // namespace tinydiff
