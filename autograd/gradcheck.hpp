// Finite-difference gradient check: the test that an op's backward matches its forward.
//
// For a function f of some inputs we form the scalar L = sum(f(inputs) * R) with a fixed
// random R, and compare
//   analytic:  dL/dx_j from backward(), i.e. the vector-Jacobian product R^T J
//   numeric:   (L(x_j + eps) - L(x_j - eps)) / (2 eps)          (central difference)
// for every element j of every input that requires grad.
//
// tinydiff computes in float32, so the numeric side carries rounding error of about
// |L| * 1e-7 / eps: we use eps = 1e-2 by default (truncation error ~eps^2) and compare with
// |analytic - numeric| <= atol + rtol |numeric|. Ops with kinks (relu, max, abs, clamp) are
// checked at inputs away from the kink.
#pragma once
#include <functional>
#include <string>

#include "autograd/graph.hpp"

namespace tinydiff {

struct GradcheckOptions {
  float eps = 1e-2f;
  double atol = 2e-3;
  double rtol = 2e-2;
  uint64_t seed = 1234;  // for R
};

struct GradcheckResult {
  bool passed = true;
  double max_abs_error = 0;
  std::string message;  // the worst element, when it failed
};

using TensorFn = std::function<Tensor(const TensorList&)>;

GradcheckResult gradcheck(const TensorFn& fn, const TensorList& inputs,
                          const GradcheckOptions& options = {});

}  // namespace tinydiff
