// The Fréchet distance between two sets of feature vectors, each summarised by a Gaussian
// (Heusel et al. 2017, "GANs trained by a two time-scale update rule", the FID):
//   d^2 = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))
// The lessons use the lesson-00 classifier's features in place of Inception's, so the numbers
// compare runs of tinydiff with each other, not with published FIDs.
#pragma once
#include "autograd/ops.hpp"

namespace tinydiff {

// a (N, D), b (M, D) with N, M >= 2 -> d^2
double frechet_distance(const Tensor& a, const Tensor& b);

}  // namespace tinydiff
