// Core tensor and autograd behaviour: views, broadcasting, the engine, RNG, memory stats.
#include <cmath>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;

TEST_CASE("views share storage and reshape infers -1") {
  Tensor x = arange(0, 24).reshape({2, 3, 4});
  Tensor y = x.reshape({4, -1});
  CHECK(y.shape() == Shape{4, 6});
  CHECK(y.same_storage(x));
  Tensor t = x.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.contiguous().tolist()[1] == 12.f);  // t[0][0][1] = x[1][0][0]
}

TEST_CASE("broadcasting add and its gradient sums over broadcast axes") {
  Tensor a = ones({2, 3}).requires_grad_();
  Tensor b = from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor c = a * b + 1.f;
  require_close(c, from_vector({2, 3, 4, 2, 3, 4}, {2, 3}));
  c.sum().backward();
  require_close(b.grad(), full({3}, 2.f));
  require_close(a.grad(), from_vector({1, 2, 3, 1, 2, 3}, {2, 3}));
}

TEST_CASE("gradients accumulate across uses and across backward calls") {
  Tensor x = from_vector({2}, {1}).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1 = 5
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(5.f));
  (x * 3.f).backward();
  CHECK(x.grad().item() == doctest::Approx(8.f));
}

TEST_CASE("a leaf keeps a gradient nothing else holds, and copies a shared one or a view") {
  Tensor x = from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor w = from_vector({4, 5, 6}, {3});
  Tensor y = (x * w).sum();  // dy/dx = w, computed into fresh storage by mul's backward
  int64_t before = memory_stats().allocations;
  y.backward();
  CHECK(memory_stats().allocations - before == 2);  // the seed ones() and mul's w g: no copy
  require_close(x.grad(), w);

  Tensor z = from_vector({1, 2}, {2}).requires_grad_();
  z.sum().backward();  // sum's backward expands one number: a view, copied into x.grad
  CHECK(z.grad().is_contiguous());
  require_close(z.grad(), ones({2}));

  Tensor leaf = from_vector({1, 2}, {2}).requires_grad_();
  Tensor seed = from_vector({7, 8}, {2});
  leaf.backward(seed);  // the caller still holds `seed`: the leaf gets a copy
  CHECK_FALSE(leaf.grad().same_storage(seed));
  require_close(leaf.grad(), seed);
}

TEST_CASE("no-grad mode records nothing and detach cuts the graph") {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard guard;
    CHECK_FALSE((x * 2.f).requires_grad());
  }
  CHECK((x * 2.f).requires_grad());
  CHECK_FALSE((x * 2.f).detach().requires_grad());
}

TEST_CASE("backward twice without retain_graph is an error naming the op") {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = exp(x).sum();
  y.backward(Tensor(), true);
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), Error);
}

TEST_CASE("philox gives the same numbers for a seed, whatever the chunking") {
  Generator g1(7), g2(7);
  std::vector<float> all = randn({10}, &g1).tolist();
  std::vector<float> first = randn({4}, &g2).tolist();  // one block of 4
  std::vector<float> rest = randn({6}, &g2).tolist();
  for (int i = 0; i < 4; ++i) CHECK(all[i] == first[i]);
  Generator g3(7);
  CHECK(randn({10}, &g3).tolist() == all);
  CHECK(rest.size() == 6);
  // Standard normal: mean ~ 0, variance ~ 1 over many draws.
  Tensor big = randn({200000}, &g3);
  CHECK(std::fabs(mean(big).item()) < 0.01f);
  CHECK(std::fabs(var(big).item() - 1.f) < 0.02f);
}

TEST_CASE("memory statistics track live storage and the peak") {
  reset_peak_memory_stats();
  int64_t before = memory_stats().current_bytes;
  {
    Tensor t = zeros({1 << 20});
    CHECK(memory_stats().current_bytes - before >= (4 << 20));
  }
  CHECK(memory_stats().current_bytes == before);
  CHECK(memory_stats().peak_bytes - before >= (4 << 20));
}

TEST_CASE("shape errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(add(ones({2, 3}), ones({4})),
                       doctest::Contains("add: shapes [2, 3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({4, 5})),
                       doctest::Contains("matmul: inner dimensions differ"), Error);
  CHECK_THROWS_WITH_AS(ones({2, 3}).reshape({5}), doctest::Contains("reshape"), Error);
}
