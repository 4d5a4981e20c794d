#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// The sinusoidal embedding of diffusion timesteps (Vaswani et al. 2017, Sec. 3.5, as
// improved-diffusion's timestep_embedding): with half = dim / 2 and frequencies
//   f_i = exp(-ln(max_period) i / half) = max_period^(-i/half),  i = 0 .. half-1,
// row n is [cos(t_n f_0), ..., cos(t_n f_{half-1}), sin(t_n f_0), ..., sin(t_n f_{half-1})],
// plus one zero column when dim is odd.
// timesteps (N) of (possibly fractional) timesteps -> (N, dim)
Tensor timestep_embedding(const Tensor& timesteps, int64_t dim, float max_period = 10000.f);

}  // namespace tinydiff
