// Classifier-free guidance (Ho & Salimans 2022): train one network both with and without the
// context by dropping the context at random, then mix its two predictions when sampling.
#pragma once
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

// c is (B, K) -> (B, K): each row zeroed with probability p_uncond, independently (Ho &
// Salimans 2022, Algorithm 1, "c <- null with probability p_uncond"). An all-zero context is
// the "null" context, as in the course, which multiplies c by a Bernoulli(1 - p) row mask.
// Draws B uniforms from `gen` (the default generator when null).
Tensor drop_context(const Tensor& c, double p_uncond, Generator* gen = nullptr);

// eps_cond and eps_uncond are (B, ...) -> (B, ...). Ho & Salimans 2022, Eq. 6:
//   eps~ = (1 + w) eps(z, c) - w eps(z),
// so w = 0 is the plain conditional model and larger w trades diversity for fidelity.
Tensor guided_eps(const Tensor& eps_cond, const Tensor& eps_uncond, double w);

}  // namespace tinydiff
