#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// Srivastava et al. 2014 (inverted dropout): in training, zero each element with probability
// p and scale the rest by 1/(1-p); identity otherwise. The mask comes from `gen` (the default
// generator when null), so restoring the RNG state reproduces it (gradient checkpointing).
Tensor dropout(const Tensor& x, float p, bool training, Generator* gen = nullptr);

}  // namespace tinydiff
