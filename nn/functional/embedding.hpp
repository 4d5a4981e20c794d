#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// Row lookup: indices (...) of whole numbers in [0, num), weight (num, dim) -> (..., dim).
// The gradient scatters-adds rows back into the weight's gradient.
Tensor embedding(const Tensor& indices, const Tensor& weight);

}  // namespace tinydiff
