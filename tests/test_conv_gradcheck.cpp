// Finite-difference gradchecks for linear, conv2d, conv_transpose2d, pooling and upsampling.
// Shapes are small: gradcheck runs two forwards per input element. Batches of 1 take the
// kernels' serial path; batches of 2 or more the batch-parallel one.
#include <algorithm>
#include <numeric>
#include <random>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_gradients;
using tinydiff::test::uniform;

namespace {

// conv2d of inputs {x, weight[, bias]} with the given settings.
TensorFn conv2d_fn(int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  return [=](const TensorList& in) {
    return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding, dilation,
                  groups);
  };
}

TensorFn conv_transpose2d_fn(int64_t stride, int64_t padding, int64_t output_padding,
                             int64_t groups, int64_t dilation) {
  return [=](const TensorList& in) {
    return conv_transpose2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding,
                            output_padding, groups, dilation);
  };
}

// A leaf of `shape` holding a shuffled 0.1 * (0, 1, ..., n-1): every pair of values is 0.1
// apart, far more than gradcheck's 2 eps, so a max never changes under a perturbation.
Tensor distinct_values(const Shape& shape, uint32_t seed) {
  std::vector<float> v(numel_of(shape));
  std::iota(v.begin(), v.end(), 0.f);
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  for (float& f : v) f *= 0.1f;
  return from_vector(v, shape).requires_grad_();
}

}  // namespace

GRADCHECK_CASE("linear", "with bias") {
  check_gradients([](const TensorList& in) { return linear(in[0], in[1], in[2]); },
                  {uniform({3, 4}, -1, 1, 1), uniform({5, 4}, -1, 1, 2), uniform({5}, -1, 1, 3)});
}

GRADCHECK_CASE("linear", "without bias") {
  check_gradients([](const TensorList& in) { return linear(in[0], in[1]); },
                  {uniform({3, 4}, -1, 1, 4), uniform({2, 4}, -1, 1, 5)});
}

GRADCHECK_CASE("linear", "3-d input") {
  check_gradients(
      [](const TensorList& in) { return linear(in[0], in[1], in[2]); },
      {uniform({2, 3, 4}, -1, 1, 6), uniform({3, 4}, -1, 1, 7), uniform({3}, -1, 1, 8)});
}

GRADCHECK_CASE("linear", "1-d input") {
  check_gradients([](const TensorList& in) { return linear(in[0], in[1], in[2]); },
                  {uniform({4}, -1, 1, 9), uniform({3, 4}, -1, 1, 10), uniform({3}, -1, 1, 11)});
}

GRADCHECK_CASE("conv2d", "stride 1, padding 1, bias") {
  check_gradients(conv2d_fn(1, 1, 1, 1),
                  {uniform({1, 2, 5, 5}, -1, 1, 20), uniform({3, 2, 3, 3}, -1, 1, 21),
                   uniform({3}, -1, 1, 22)});
}

GRADCHECK_CASE("conv2d", "stride 2, padding 1, batch 2") {
  check_gradients(conv2d_fn(2, 1, 1, 1),
                  {uniform({2, 2, 5, 5}, -1, 1, 23), uniform({3, 2, 3, 3}, -1, 1, 24),
                   uniform({3}, -1, 1, 25)});
}

GRADCHECK_CASE("conv2d", "padding 0, no bias") {
  check_gradients(conv2d_fn(1, 0, 1, 1),
                  {uniform({2, 2, 5, 4}, -1, 1, 26), uniform({2, 2, 3, 3}, -1, 1, 27)});
}

GRADCHECK_CASE("conv2d", "padding 2, stride 2") {
  check_gradients(conv2d_fn(2, 2, 1, 1),
                  {uniform({1, 2, 4, 4}, -1, 1, 28), uniform({2, 2, 3, 3}, -1, 1, 29),
                   uniform({2}, -1, 1, 30)});
}

GRADCHECK_CASE("conv2d", "dilation 2") {
  check_gradients(conv2d_fn(1, 2, 2, 1),
                  {uniform({2, 2, 5, 5}, -1, 1, 31), uniform({2, 2, 3, 3}, -1, 1, 32),
                   uniform({2}, -1, 1, 33)});
}

GRADCHECK_CASE("conv2d", "groups 2") {
  check_gradients(conv2d_fn(1, 1, 1, 2),
                  {uniform({2, 4, 4, 4}, -1, 1, 34), uniform({4, 2, 3, 3}, -1, 1, 35),
                   uniform({4}, -1, 1, 36)});
}

GRADCHECK_CASE("conv2d", "depthwise (groups = channels)") {
  check_gradients(conv2d_fn(1, 1, 1, 3),
                  {uniform({2, 3, 4, 4}, -1, 1, 37), uniform({3, 1, 3, 3}, -1, 1, 38),
                   uniform({3}, -1, 1, 39)});
}

GRADCHECK_CASE("conv2d", "1x1 kernel (the no-im2col path)") {
  check_gradients(conv2d_fn(1, 0, 1, 1),
                  {uniform({2, 3, 3, 4}, -1, 1, 40), uniform({4, 3, 1, 1}, -1, 1, 41),
                   uniform({4}, -1, 1, 42)});
}

GRADCHECK_CASE("conv2d", "1x1 kernel, stride 2, groups 3") {
  check_gradients(conv2d_fn(2, 0, 1, 3),
                  {uniform({2, 3, 5, 5}, -1, 1, 43), uniform({6, 1, 1, 1}, -1, 1, 44)});
}

GRADCHECK_CASE("conv2d", "non-square input and kernel") {
  check_gradients(conv2d_fn(2, 1, 1, 1),
                  {uniform({1, 2, 4, 7}, -1, 1, 45), uniform({2, 2, 3, 2}, -1, 1, 46),
                   uniform({2}, -1, 1, 47)});
}

GRADCHECK_CASE("conv_transpose2d", "kernel 2, stride 2 (UnetUp)") {
  check_gradients(conv_transpose2d_fn(2, 0, 0, 1, 1),
                  {uniform({2, 3, 3, 3}, -1, 1, 50), uniform({3, 2, 2, 2}, -1, 1, 51),
                   uniform({2}, -1, 1, 52)});
}

GRADCHECK_CASE("conv_transpose2d", "kernel 4, stride 4 from 1x1 (up0)") {
  check_gradients(conv_transpose2d_fn(4, 0, 0, 1, 1),
                  {uniform({2, 3, 1, 1}, -1, 1, 53), uniform({3, 2, 4, 4}, -1, 1, 54),
                   uniform({2}, -1, 1, 55)});
}

GRADCHECK_CASE("conv_transpose2d", "stride 2, padding 1, output_padding 1") {
  check_gradients(conv_transpose2d_fn(2, 1, 1, 1, 1),
                  {uniform({1, 2, 3, 3}, -1, 1, 56), uniform({2, 3, 3, 3}, -1, 1, 57),
                   uniform({3}, -1, 1, 58)});
}

GRADCHECK_CASE("conv_transpose2d", "groups 2, no bias") {
  check_gradients(conv_transpose2d_fn(1, 1, 0, 2, 1),
                  {uniform({2, 4, 3, 3}, -1, 1, 59), uniform({4, 1, 3, 3}, -1, 1, 60)});
}

GRADCHECK_CASE("conv_transpose2d", "dilation 2, non-square") {
  check_gradients(conv_transpose2d_fn(1, 1, 0, 1, 2),
                  {uniform({1, 2, 3, 4}, -1, 1, 61), uniform({2, 2, 3, 2}, -1, 1, 62),
                   uniform({2}, -1, 1, 63)});
}

GRADCHECK_CASE("max_pool2d", "kernel 2") {
  check_gradients([](const TensorList& in) { return max_pool2d(in[0], 2); },
                  {distinct_values({2, 2, 4, 4}, 70)});
}

GRADCHECK_CASE("max_pool2d", "kernel 3, stride 2, padding 1 (overlapping windows)") {
  check_gradients([](const TensorList& in) { return max_pool2d(in[0], 3, 2, 1); },
                  {distinct_values({2, 2, 5, 5}, 71)});
}

GRADCHECK_CASE("avg_pool2d", "kernel 2") {
  check_gradients([](const TensorList& in) { return avg_pool2d(in[0], 2); },
                  {uniform({2, 2, 4, 4}, -1, 1, 72)});
}

GRADCHECK_CASE("avg_pool2d", "kernel 4 to 1x1 (to_vec)") {
  check_gradients([](const TensorList& in) { return avg_pool2d(in[0], 4); },
                  {uniform({2, 3, 4, 4}, -1, 1, 73)});
}

GRADCHECK_CASE("avg_pool2d", "kernel 3, stride 2, padding 1") {
  check_gradients([](const TensorList& in) { return avg_pool2d(in[0], 3, 2, 1); },
                  {uniform({2, 2, 5, 4}, -1, 1, 74)});
}

GRADCHECK_CASE("upsample_nearest2d", "scale 2") {
  check_gradients([](const TensorList& in) { return upsample_nearest2d(in[0], 2); },
                  {uniform({2, 2, 3, 3}, -1, 1, 75)});
}

GRADCHECK_CASE("upsample_nearest2d", "scale 3") {
  check_gradients([](const TensorList& in) { return upsample_nearest2d(in[0], 3); },
                  {uniform({1, 2, 2, 3}, -1, 1, 76)});
}
