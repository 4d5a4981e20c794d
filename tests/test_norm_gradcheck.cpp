// Finite-difference gradchecks for group_norm, layer_norm, batch_norm, dropout, embedding and
// scaled_dot_product_attention. Shapes are small: a gradcheck costs O(numel^2).
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_gradients;
using tinydiff::test::uniform;

// ---- group_norm ----

GRADCHECK_CASE("group_norm", "one group, affine, 4-d") {
  Tensor x = uniform({2, 4, 2, 3}, -2, 2, 1);
  Tensor w = uniform({4}, 0.5, 1.5, 2), b = uniform({4}, -1, 1, 3);
  check_gradients([](const TensorList& in) { return group_norm(in[0], 1, in[1], in[2]); },
                  {x, w, b});
}

GRADCHECK_CASE("group_norm", "two groups, affine, 3-d") {
  Tensor x = uniform({2, 4, 5}, -2, 2, 4);
  Tensor w = uniform({4}, 0.5, 1.5, 5), b = uniform({4}, -1, 1, 6);
  check_gradients([](const TensorList& in) { return group_norm(in[0], 2, in[1], in[2]); },
                  {x, w, b});
}

GRADCHECK_CASE("group_norm", "one group per channel, no affine") {
  Tensor x = uniform({2, 3, 2, 2}, -2, 2, 7);
  check_gradients([](const TensorList& in) { return group_norm(in[0], 3); }, {x});
}

GRADCHECK_CASE("group_norm", "affine parameters only (input without grad)") {
  Tensor x = uniform({2, 4, 3}, -2, 2, 8, false);
  Tensor w = uniform({4}, 0.5, 1.5, 9), b = uniform({4}, -1, 1, 10);
  check_gradients([](const TensorList& in) { return group_norm(in[0], 2, in[1], in[2]); },
                  {x, w, b});
}

GRADCHECK_CASE("group_norm", "GroupNorm(8, 32)-like: 8 groups of 4 channels") {
  Tensor x = uniform({2, 32, 2, 2}, -1, 3, 11), w = uniform({32}, 0.5, 1.5, 12);
  Tensor b = uniform({32}, -1, 1, 13);
  check_gradients([](const TensorList& in) { return group_norm(in[0], 8, in[1], in[2]); },
                  {x, w, b});
}

// ---- layer_norm ----

GRADCHECK_CASE("layer_norm", "one normalised axis, affine") {
  Tensor x = uniform({3, 5}, -2, 2, 20);
  Tensor w = uniform({5}, 0.5, 1.5, 21), b = uniform({5}, -1, 1, 22);
  check_gradients([](const TensorList& in) { return layer_norm(in[0], {5}, in[1], in[2]); },
                  {x, w, b});
}

GRADCHECK_CASE("layer_norm", "two normalised axes, affine") {
  Tensor x = uniform({2, 3, 4}, -2, 2, 23), w = uniform({3, 4}, 0.5, 1.5, 24);
  Tensor b = uniform({3, 4}, -1, 1, 25);
  check_gradients([](const TensorList& in) { return layer_norm(in[0], {3, 4}, in[1], in[2]); },
                  {x, w, b});
}

GRADCHECK_CASE("layer_norm", "no affine, 3-d input") {
  Tensor x = uniform({2, 3, 4}, -2, 2, 26);
  check_gradients([](const TensorList& in) { return layer_norm(in[0], {4}); }, {x});
}

// ---- batch_norm ----

GRADCHECK_CASE("batch_norm", "training, affine, 4-d, with running buffers") {
  Tensor x = uniform({3, 2, 2, 2}, -2, 2, 30), w = uniform({2}, 0.5, 1.5, 31);
  Tensor b = uniform({2}, -1, 1, 32);
  Tensor running_mean = zeros({2}), running_var = ones({2});
  check_gradients(
      [&](const TensorList& in) {
        return batch_norm(in[0], running_mean, running_var, in[1], in[2], true);
      },
      {x, w, b});
}

GRADCHECK_CASE("batch_norm", "training, 2-d, no affine, no running buffers") {
  Tensor x = uniform({4, 3}, -2, 2, 33);
  check_gradients(
      [](const TensorList& in) {
        return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
      },
      {x});
}

GRADCHECK_CASE("batch_norm", "inference with running stats, affine") {
  Tensor x = uniform({2, 3, 2, 2}, -2, 2, 34), w = uniform({3}, 0.5, 1.5, 35);
  Tensor b = uniform({3}, -1, 1, 36);
  Tensor running_mean = from_vector({0.5f, -0.2f, 0.1f}, {3});
  Tensor running_var = from_vector({0.8f, 1.5f, 2.f}, {3});
  check_gradients(
      [&](const TensorList& in) {
        return batch_norm(in[0], running_mean, running_var, in[1], in[2], false);
      },
      {x, w, b});
}

// ---- dropout: the generator is rewound before each evaluation, so the mask is fixed ----

GRADCHECK_CASE("dropout", "p = 0.4 with a fixed generator") {
  Tensor x = uniform({4, 5}, -2, 2, 40);
  Generator gen(41);
  const RngState start = gen.state();
  check_gradients(
      [&](const TensorList& in) {
        gen.set_state(start);
        return dropout(in[0], 0.4f, true, &gen);
      },
      {x});
}

// ---- embedding ----

GRADCHECK_CASE("embedding", "repeated indices, 2-d indices") {
  Tensor indices = from_vector({0, 2, 2, 3, 0, 2}, {2, 3});
  Tensor w = uniform({4, 3}, -1, 1, 50);
  check_gradients([&](const TensorList& in) { return embedding(indices, in[0]); }, {w});
}

// ---- scaled_dot_product_attention ----

GRADCHECK_CASE("scaled_dot_product_attention", "self-attention, q = k = v, 2 heads") {
  Tensor x = uniform({1, 2, 3, 4}, -1, 1, 60);
  check_gradients(
      [](const TensorList& in) { return scaled_dot_product_attention(in[0], in[0], in[0]); },
      {x});
}

GRADCHECK_CASE("scaled_dot_product_attention", "cross-attention, Lq = 3, Lk = 5, Dv = 2") {
  Tensor q = uniform({2, 1, 3, 4}, -1, 1, 61), k = uniform({2, 1, 5, 4}, -1, 1, 62);
  Tensor v = uniform({2, 1, 5, 2}, -1, 1, 63);
  check_gradients(
      [](const TensorList& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); },
      {q, k, v});
}

GRADCHECK_CASE("scaled_dot_product_attention", "padding mask (B, 1, 1, Lk), 2 heads") {
  Tensor q = uniform({2, 2, 3, 2}, -1, 1, 64), k = uniform({2, 2, 4, 2}, -1, 1, 65);
  Tensor v = uniform({2, 2, 4, 3}, -1, 1, 66);
  Tensor mask = from_vector({1, 1, 0, 0, 1, 1, 1, 0}, {2, 1, 1, 4});
  check_gradients(
      [&](const TensorList& in) {
        return scaled_dot_product_attention(in[0], in[1], in[2], mask);
      },
      {q, k, v});
}

GRADCHECK_CASE("scaled_dot_product_attention", "custom scale 1.7") {
  Tensor q = uniform({1, 2, 3, 2}, -1, 1, 67), k = uniform({1, 2, 3, 2}, -1, 1, 68);
  Tensor v = uniform({1, 2, 3, 2}, -1, 1, 69);
  check_gradients(
      [](const TensorList& in) {
        return scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 1.7f);
      },
      {q, k, v});
}
