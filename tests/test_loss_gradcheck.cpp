// Finite-difference gradchecks of the losses and likelihood terms (small shapes: gradcheck is
// O(numel^2)). Class targets and image levels get no gradient.
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_gradients;
using tinydiff::test::uniform;

namespace {
// Whole numbers in [0, classes) as a float tensor of `shape`, from a fixed seed.
Tensor class_targets(const Shape& shape, int64_t classes, uint64_t seed) {
  Generator gen(seed);
  return randint(0, classes, shape, &gen);
}
}  // namespace

GRADCHECK_CASE("mse_loss", "mean, same shapes") {
  check_gradients([](const TensorList& in) { return mse_loss(in[0], in[1]); },
                  {uniform({3, 4}, -1, 1, 1), uniform({3, 4}, -1, 1, 2)});
}

GRADCHECK_CASE("mse_loss", "sum, pred (2, 3) broadcast against target (2, 1, 3)") {
  check_gradients([](const TensorList& in) { return mse_loss(in[0], in[1], Reduction::Sum); },
                  {uniform({2, 3}, -1, 1, 3), uniform({2, 1, 3}, -1, 1, 4)});
}

GRADCHECK_CASE("mse_loss", "no reduction") {
  check_gradients([](const TensorList& in) { return mse_loss(in[0], in[1], Reduction::None); },
                  {uniform({2, 3}, -1, 1, 5), uniform({2, 3}, -1, 1, 6)});
}

GRADCHECK_CASE("nll_loss", "(N, C), mean") {
  Tensor target = class_targets({4}, 3, 7);
  check_gradients([target](const TensorList& in) { return nll_loss(in[0], target); },
                  {uniform({4, 3}, -3, 0, 8)});
}

GRADCHECK_CASE("nll_loss", "(N, C, d1, d2), sum and no reduction") {
  Tensor target = class_targets({2, 2, 2}, 3, 9);
  for (Reduction r : {Reduction::Sum, Reduction::None})
    check_gradients([target, r](const TensorList& in) { return nll_loss(in[0], target, r); },
                    {uniform({2, 3, 2, 2}, -3, 0, 10)});
}

GRADCHECK_CASE("cross_entropy", "(N, C), mean") {
  Tensor target = class_targets({4}, 5, 11);
  check_gradients([target](const TensorList& in) { return cross_entropy(in[0], target); },
                  {uniform({4, 5}, -2, 2, 12)});
}

GRADCHECK_CASE("cross_entropy", "(N, C, d), sum") {
  Tensor target = class_targets({2, 4}, 3, 13);
  check_gradients(
      [target](const TensorList& in) { return cross_entropy(in[0], target, Reduction::Sum); },
      {uniform({2, 3, 4}, -2, 2, 14)});
}

GRADCHECK_CASE("cross_entropy", "(N, C, d1, d2), no reduction") {
  Tensor target = class_targets({2, 2, 2}, 3, 15);
  check_gradients(
      [target](const TensorList& in) { return cross_entropy(in[0], target, Reduction::None); },
      {uniform({2, 3, 2, 2}, -2, 2, 16)});
}

GRADCHECK_CASE("normal_kl", "same shapes, all four inputs") {
  check_gradients([](const TensorList& in) { return normal_kl(in[0], in[1], in[2], in[3]); },
                  {uniform({2, 3}, -1, 1, 17), uniform({2, 3}, -1.5, 0.5, 18),
                   uniform({2, 3}, -1, 1, 19), uniform({2, 3}, -1.5, 0.5, 20)});
}

GRADCHECK_CASE("normal_kl", "against a broadcast prior (1) and per-column logvar2 (3)") {
  check_gradients([](const TensorList& in) { return normal_kl(in[0], in[1], in[2], in[3]); },
                  {uniform({2, 3}, -1, 1, 21), uniform({2, 3}, -1.5, 0.5, 22),
                   uniform({1}, -1, 1, 23), uniform({3}, -1.5, 0.5, 24)});
}

// x holds image levels with both edges; it is data (no gradient), as in training: a finite
// difference of 1e-2 in x would move an edge level into the inner-bin branch.
GRADCHECK_CASE("discretized_gaussian_log_likelihood", "means and log_scales, edge levels") {
  Tensor x = from_vector({-1.f, 1.f, 0.f, -1.f + 20 / 127.5f, 1.f - 7 / 127.5f, 0.2f}, {2, 3});
  check_gradients(
      [x](const TensorList& in) { return discretized_gaussian_log_likelihood(x, in[0], in[1]); },
      {uniform({2, 3}, -0.9f, 0.9f, 25), uniform({2, 3}, -1.5f, -0.5f, 26)});
}

// Interior levels (at least 0.05 from +-0.999), so x can take a gradient as well.
GRADCHECK_CASE("discretized_gaussian_log_likelihood", "x, means and per-row log_scales (2, 1)") {
  Tensor x = add(mul(class_targets({2, 3}, 200, 27), 1 / 127.5f), -1.f + 20 / 127.5f);
  x.requires_grad_();
  check_gradients(
      [](const TensorList& in) { return discretized_gaussian_log_likelihood(in[0], in[1], in[2]); },
      {x, add(x.detach(), uniform({2, 3}, -0.2f, 0.2f, 28, false)).detach().requires_grad_(),
       uniform({2, 1}, -1.5f, -0.5f, 29)});
}

GRADCHECK_CASE("multinomial_kl", "over axis 1 of (2, 4, 3)") {
  check_gradients([](const TensorList& in) { return multinomial_kl(in[0], in[1], 1); },
                  {uniform({2, 4, 3}, -3, 0, 30), uniform({2, 4, 3}, -3, 0, 31)});
}

GRADCHECK_CASE("multinomial_kl", "over the last axis of (3, 5)") {
  check_gradients([](const TensorList& in) { return multinomial_kl(in[0], in[1], -1); },
                  {uniform({3, 5}, -3, 0, 32), uniform({3, 5}, -3, 0, 33)});
}
