// Gradient checkpointing: gradients through the recomputed graph, exact agreement with plain
// training (dropout included), the memory it saves, and its error messages.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_gradients;
using tinydiff::test::uniform;

namespace {

// The residual MLP block of these tests: x + W2 silu(W1 x + b1) + b2, with optional dropout
// after the activation. p = {w1, b1, w2, b2}.
// x (N, D), w1 (H, D), b1 (H), w2 (D, H), b2 (D) -> (N, D)
Tensor residual_block(const Tensor& x, const TensorList& p, float dropout_p = 0.f) {
  Tensor h = silu(linear(x, p[0], p[1]));
  if (dropout_p > 0.f) h = dropout(h, dropout_p, true);
  return add(x, linear(h, p[2], p[3]));
}

TensorList block_params(int64_t d, int64_t hidden, uint64_t seed) {
  float s = 1.f / std::sqrt(float(d));
  return {uniform({hidden, d}, -s, s, seed), uniform({hidden}, -s, s, seed + 1),
          uniform({d, hidden}, -s, s, seed + 2), uniform({d}, -s, s, seed + 3)};
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.tolist(), vb = b.tolist();
  return va.size() == vb.size() &&
         std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

}  // namespace

GRADCHECK_CASE("checkpoint", "residual MLP block: input and four parameters") {
  check_gradients(
      [](const TensorList& in) {
        TensorList params(in.begin() + 1, in.end());
        auto fn = [params](const TensorList& x) { return residual_block(x[0], params); };
        return checkpoint(fn, {in[0]}, params);
      },
      {uniform({2, 3}, -1, 1, 1), uniform({4, 3}, -1, 1, 2), uniform({4}, -1, 1, 3),
       uniform({3, 4}, -1, 1, 4), uniform({3}, -1, 1, 5)});
}

GRADCHECK_CASE("checkpoint", "two inputs, one without gradient, reduced output") {
  Tensor scale = uniform({2, 3}, 0.5f, 1.5f, 6, false);
  check_gradients(
      [scale](const TensorList& in) {
        auto fn = [](const TensorList& x) { return sum(tanh(mul(x[0], x[1])), {1}); };
        return checkpoint(fn, {in[0], scale}, {});
      },
      {uniform({2, 3}, -1, 1, 7)});
}

PARITY_CASE("checkpoint", "residual MLP block (tests/ref/loss.py: checkpoint_mlp)") {
  tinydiff::test::check_parity("loss", "checkpoint_mlp", {"x", "w1", "b1", "w2", "b2"},
                               [](const TensorList& in) {
                                 TensorList params(in.begin() + 1, in.end());
                                 auto fn = [params](const TensorList& x) {
                                   return residual_block(x[0], params);
                                 };
                                 return checkpoint(fn, {in[0]}, params);
                               });
}

namespace {

struct DropoutRun {
  TensorList grads;  // x, then the block's parameters, then the head
  RngState rng_after_backward;
};

// loss = sum(head (block(tanh x))^2) with dropout in the block; the block's input is a
// non-leaf. Between forward and backward other code draws random numbers, which must not
// change the recomputed dropout mask. The parameters start with a .grad of 1 to check that
// checkpointing accumulates into existing gradients like plain backward does.
DropoutRun run_dropout_net(bool use_checkpoint) {
  manual_seed(42);
  Tensor x = uniform({8, 6}, -1, 1, 10);
  TensorList p = block_params(6, 16, 20);
  Tensor head = uniform({3, 6}, -1, 1, 30);
  for (const Tensor& t : p) t.set_grad(ones(t.shape()));
  auto fn = [p](const TensorList& in) { return residual_block(in[0], p, 0.5f); };
  Tensor h = tanh(x);
  Tensor y = use_checkpoint ? checkpoint(fn, {h}, p) : fn({h});
  Tensor loss = sum(square(linear(y, head)));
  randn({1000});  // someone else uses the default generator before backward
  loss.backward();
  DropoutRun run{{x.grad()}, default_generator().state()};
  for (const Tensor& t : p) run.grads.push_back(t.grad());
  run.grads.push_back(head.grad());
  return run;
}

}  // namespace

TEST_CASE("checkpoint: gradients with dropout are bit-identical to plain backward") {
  DropoutRun plain = run_dropout_net(false), ckpt = run_dropout_net(true);
  REQUIRE(plain.grads.size() == ckpt.grads.size());
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    REQUIRE(ckpt.grads[i].defined());
    CHECK_MESSAGE(bitwise_equal(plain.grads[i], ckpt.grads[i]), "gradient " << i << " differs");
  }
  // The backward put the generator back where it found it.
  CHECK(plain.rng_after_backward.seed == ckpt.rng_after_backward.seed);
  CHECK(plain.rng_after_backward.offset == ckpt.rng_after_backward.offset);
  // The agreement above means something only if the mask matters: w1's gradient with
  // dropout differs from the one without it.
  manual_seed(42);
  Tensor x = uniform({8, 6}, -1, 1, 10);
  TensorList p = block_params(6, 16, 20);
  sum(residual_block(tanh(x), p, 0.5f)).backward();
  Tensor with_dropout = p[0].grad();
  p[0].set_grad(Tensor());
  sum(residual_block(tanh(x), p, 0.f)).backward();
  CHECK_FALSE(bitwise_equal(with_dropout, p[0].grad()));
}

TEST_CASE("checkpoint: one node over inputs and parameters; none when off or in no-grad") {
  Tensor x = uniform({2, 3}, -1, 1, 1);
  TensorList p = block_params(3, 4, 2);
  auto fn = [p](const TensorList& in) { return residual_block(in[0], p); };
  Tensor y = checkpoint(fn, {x}, p);
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(std::string(y.grad_fn()->op) == "checkpoint");
  CHECK(y.grad_fn()->inputs.size() == 5);
  Tensor plain = checkpoint(fn, {x}, p, false);
  CHECK(std::string(plain.grad_fn()->op) == "add");
  CHECK(bitwise_equal(y, plain));
  NoGradGuard no_grad;
  CHECK(checkpoint(fn, {x}, p).grad_fn() == nullptr);
}

TEST_CASE("checkpoint: a function that returns its input unchanged keeps the input a leaf") {
  Tensor x = uniform({3}, -1, 1, 1);
  Tensor y = checkpoint([](const TensorList& in) { return in[0]; }, {x}, {});
  CHECK(x.is_leaf());
  mul(y, 2.f).sum().backward();
  CHECK(x.grad().tolist() == std::vector<float>{2.f, 2.f, 2.f});
}

TEST_CASE("checkpoint: nested checkpoints give the plain gradients") {
  Tensor x = uniform({4, 5}, -1, 1, 1);
  TensorList p1 = block_params(5, 7, 2), p2 = block_params(5, 7, 6);
  auto inner = [p1](const TensorList& in) { return residual_block(in[0], p1); };
  auto outer = [p1, p2, inner](const TensorList& in) {
    return residual_block(checkpoint(inner, in, p1), p2);
  };
  TensorList all = p2;
  all.insert(all.end(), p1.begin(), p1.end());
  sum(square(checkpoint(outer, {x}, all))).backward();
  std::vector<Tensor> ckpt_grads = {x.grad(), p1[0].grad(), p2[0].grad()};
  for (Tensor t : {x, p1[0], p2[0]}) t.set_grad(Tensor());
  sum(square(residual_block(residual_block(x, p1), p2))).backward();
  CHECK(bitwise_equal(ckpt_grads[0], x.grad()));
  CHECK(bitwise_equal(ckpt_grads[1], p1[0].grad()));
  CHECK(bitwise_equal(ckpt_grads[2], p2[0].grad()));
}

TEST_CASE("checkpoint: bad arguments are named") {
  Tensor x = uniform({2}, -1, 1, 1);
  CHECK_THROWS_WITH_AS(
      checkpoint([](const TensorList&) { return Tensor(); }, {x}, {}),
      doctest::Contains("checkpoint: the checkpointed function returned an undefined tensor"),
      Error);
  CHECK_THROWS_WITH_AS(checkpoint([](const TensorList& in) { return in[0]; }, {x}, {Tensor()}),
                       doctest::Contains("checkpoint: parameter 0 of 1 is an undefined tensor"),
                       Error);
  Tensor computed = mul(x, 2.f);
  CHECK_THROWS_WITH_AS(
      checkpoint([computed](const TensorList& in) { return mul(in[0], computed); }, {x},
                 {computed}),
      doctest::Contains("checkpoint: parameter 0 [2] is computed from other tensors"), Error);
}

namespace {

struct MemoryRun {
  int64_t peak_bytes;  // peak live tensor bytes above what was live before the step
  double ms;
  TensorList grads;
};

// One forward+backward of 8 residual MLP blocks (width 256) on a (64, 256) batch.
MemoryRun run_stack(const Tensor& x, const std::vector<TensorList>& blocks, bool use_checkpoint) {
  for (const TensorList& p : blocks)
    for (const Tensor& t : p) t.set_grad(Tensor());
  reset_peak_memory_stats();
  int64_t before = memory_stats().current_bytes;
  auto start = std::chrono::steady_clock::now();
  Tensor h = x;
  for (const TensorList& p : blocks) {
    auto fn = [p](const TensorList& in) { return residual_block(in[0], p); };
    h = use_checkpoint ? checkpoint(fn, {h}, p) : fn({h});
  }
  mean(square(h)).backward();
  std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
  MemoryRun run{memory_stats().peak_bytes - before, elapsed.count(), {}};
  for (const TensorList& p : blocks) run.grads.insert(run.grads.end(), p.begin(), p.end());
  for (Tensor& g : run.grads) g = g.grad();
  return run;
}

}  // namespace

TEST_CASE("checkpoint: 8 residual blocks at batch 64 keep fewer live bytes") {
  const int64_t width = 256, depth = 8;
  Tensor x = uniform({64, width}, -1, 1, 1, false);
  std::vector<TensorList> blocks;
  for (int64_t b = 0; b < depth; ++b) blocks.push_back(block_params(width, width, 100 + 10 * b));
  int64_t grad_bytes = 0;
  for (const TensorList& p : blocks)
    for (const Tensor& t : p) grad_bytes += t.numel() * int64_t(sizeof(float));
  // The first run warms the allocator's cache; the times are the best of three runs.
  MemoryRun plain = run_stack(x, blocks, false), ckpt = run_stack(x, blocks, true);
  for (int rep = 0; rep < 3; ++rep) {
    plain.ms = std::min(plain.ms, run_stack(x, blocks, false).ms);
    ckpt.ms = std::min(ckpt.ms, run_stack(x, blocks, true).ms);
  }
  MESSAGE("peak live bytes, forward+backward: plain " << plain.peak_bytes << ", checkpointed "
          << ckpt.peak_bytes << " (both include " << grad_bytes << " of parameter gradients)");
  MESSAGE("wall time: plain " << plain.ms << " ms, checkpointed " << ckpt.ms << " ms");
  // Plain keeps three (64, 256) activations per block (64 KiB each) until the backward;
  // checkpointed keeps one per block plus one block's recomputation.
  CHECK(ckpt.peak_bytes < plain.peak_bytes);
  CHECK(plain.peak_bytes - ckpt.peak_bytes >= int64_t(depth) * 64 * width * 4);
  for (size_t i = 0; i < plain.grads.size(); ++i)
    CHECK(bitwise_equal(plain.grads[i], ckpt.grads[i]));
}
