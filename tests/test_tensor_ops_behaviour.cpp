// Behaviour of the tensor-level ops beyond gradients: creation ops and random numbers,
// one_hot, argmax/argmin, comparisons, which ops return views, the edge cases of the
// joining/indexing ops, their parallel kernels on large inputs, and the error messages.
#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/op_list.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;

// Checks that `expr` throws tinydiff::Error with a message containing `text`.
#define CHECK_ERROR(expr, text) CHECK_THROWS_WITH_AS((void)(expr), doctest::Contains(text), Error)

namespace {

Tensor vec(const std::vector<float>& values, const Shape& shape) {
  return from_vector(values, shape);
}

}  // namespace

// ---- creation ----

TEST_CASE("zeros, ones, full and scalar_tensor fill their shapes") {
  CHECK(zeros({2, 3}).tolist() == std::vector<float>(6, 0.f));
  CHECK(ones({4}).tolist() == std::vector<float>(4, 1.f));
  Tensor f = full({2, 2}, -2.5f);
  CHECK(f.shape() == Shape{2, 2});
  CHECK(f.tolist() == std::vector<float>(4, -2.5f));
  Tensor s = scalar_tensor(3.f);
  CHECK(s.dim() == 0);
  CHECK(s.item() == 3.f);
  CHECK(zeros({0, 3}).numel() == 0);
  CHECK(ones_like(f).shape() == f.shape());
  CHECK_ERROR(zeros({2, -1}), "empty: negative size in shape [2, -1]");
}

TEST_CASE("arange and linspace follow PyTorch's endpoints") {
  CHECK(arange(0, 5).tolist() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25f).tolist() == std::vector<float>{1, 1.25f, 1.5f, 1.75f});
  CHECK(arange(5, 0, -2).tolist() == std::vector<float>{5, 3, 1});
  CHECK(arange(3, 3).numel() == 0);
  CHECK_ERROR(arange(0, 1, 0), "arange: step must not be 0");
  require_close(linspace(-1, 1, 5), vec({-1, -0.5f, 0, 0.5f, 1}, {5}));
  CHECK(linspace(2, 7, 1).tolist() == std::vector<float>{2});
  CHECK(linspace(0, 1, 0).numel() == 0);
  CHECK_ERROR(linspace(0, 1, -1), "linspace: steps must be >= 0, got -1");
}

TEST_CASE("from_buffer and from_vector copy their values") {
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  Tensor t = from_buffer(values.data(), {2, 3});
  values[0] = 100;
  CHECK(t.tolist() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(t.shape() == Shape{2, 3});
  CHECK_ERROR(from_vector({1, 2, 3}, {2, 2}), "from_vector: 3 values cannot fill shape [2, 2]");
}

TEST_CASE("rand and randn have the right statistics") {
  Generator gen(11);
  std::vector<float> u = rand({100000}, &gen).tolist();
  double sum = 0, sum_sq = 0;
  bool open_interval = true;
  for (float v : u) {
    open_interval &= v > 0.f && v < 1.f;
    sum += v, sum_sq += double(v) * v;
  }
  CHECK(open_interval);
  double m = sum / u.size();
  CHECK(std::fabs(m - 0.5) < 0.005);
  CHECK(std::fabs(sum_sq / u.size() - m * m - 1.0 / 12) < 0.002);
  Tensor z = randn({100000}, &gen);
  CHECK(std::fabs(mean(z).item()) < 0.01f);
  CHECK(std::fabs(var(z).item() - 1.f) < 0.02f);
  // About 95.4% of a standard normal lies within 2 standard deviations.
  CHECK(std::fabs(mean(lt(abs(z), full({}, 2.f))).item() - 0.9545f) < 0.005f);
}

TEST_CASE("randint gives every whole number in [low, high) about equally often") {
  Generator gen(5);
  std::vector<float> v = randint(-2, 3, {50000}, &gen).tolist();
  std::map<float, int> counts;
  bool whole = true;
  for (float x : v) {
    whole &= x == std::floor(x);
    ++counts[x];
  }
  CHECK(whole);
  REQUIRE(counts.size() == 5);
  CHECK(counts.begin()->first == -2.f);
  CHECK(counts.rbegin()->first == 2.f);
  for (auto& [value, count] : counts) CHECK(std::abs(count - 10000) < 400);
  CHECK_ERROR(randint(3, 3, {2}), "randint: empty range [3, 3)");
}

TEST_CASE("random ops are deterministic per seed and per generator") {
  Generator a(42), b(42), c(43);
  std::vector<float> first = randn({8}, &a).tolist();
  CHECK(randn({8}, &b).tolist() == first);
  CHECK(randn({8}, &c).tolist() != first);
  CHECK(randn({8}, &a).tolist() != first);  // the generator moved on
  RngState saved = a.state();
  std::vector<float> next = rand({5}, &a).tolist();
  a.set_state(saved);
  CHECK(rand({5}, &a).tolist() == next);
  // The default generator, reseeded, repeats itself; a private generator does not touch it.
  manual_seed(7);
  std::vector<float> d1 = rand({6}).tolist();
  std::vector<float> i1 = randint(0, 10, {6}).tolist();
  manual_seed(7);
  Generator other(7);
  rand({100}, &other);
  CHECK(rand({6}).tolist() == d1);
  CHECK(randint(0, 10, {6}).tolist() == i1);
}

TEST_CASE("one_hot encodes whole-number indices and checks them") {
  Tensor y = one_hot(vec({2, 0, 1, 2}, {2, 2}), 3);
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(y.tolist() == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK(one_hot(vec({0, 4}, {2}), -1).shape() == Shape{2, 5});  // inferred: max + 1
  CHECK_FALSE(one_hot(vec({1}, {1}), 2).requires_grad());
  CHECK_ERROR(one_hot(vec({0, 5}, {2}), 5), "one_hot: index 5 is out of range for num_classes 5");
  CHECK_ERROR(one_hot(vec({-1}, {1}), 5), "one_hot: index -1 is out of range");
  CHECK_ERROR(one_hot(vec({1.5f}, {1}), 5), "one_hot: index 1.5 is not a whole number");
  CHECK_ERROR(one_hot(vec({1}, {1}), 0), "one_hot: num_classes must be positive");
  CHECK_ERROR(one_hot(zeros({0}), -1), "one_hot: cannot infer num_classes");
}

// ---- argmax, argmin, comparisons ----

TEST_CASE("argmax and argmin return the first extreme index along an axis") {
  Tensor x = vec({1, 5, 5, 0, -3, 2, -3, 4}, {2, 4});
  CHECK(argmax(x, 1).tolist() == std::vector<float>{1, 3});  // tie 5, 5: the first
  CHECK(argmin(x, 1).tolist() == std::vector<float>{3, 0});  // tie -3, -3: the first
  CHECK(argmax(x, 0).tolist() == std::vector<float>{0, 0, 0, 1});
  Tensor k = argmin(x, -1, true);
  CHECK(k.shape() == Shape{2, 1});
  CHECK_FALSE(argmax(x.detach().requires_grad_(), 0).requires_grad());
  CHECK_ERROR(argmax(x, 2), "argmax: axis 2 is out of range for a tensor of rank 2");
}

TEST_CASE("comparisons broadcast, give 0/1 and carry no gradient") {
  Tensor a = vec({1, 2, 3}, {3}).requires_grad_();
  Tensor b = vec({2, 2}, {2, 1});
  CHECK(eq(a, b).tolist() == std::vector<float>{0, 1, 0, 0, 1, 0});
  CHECK(ne(a, b).tolist() == std::vector<float>{1, 0, 1, 1, 0, 1});
  CHECK(lt(a, b).tolist() == std::vector<float>{1, 0, 0, 1, 0, 0});
  CHECK(le(a, b).tolist() == std::vector<float>{1, 1, 0, 1, 1, 0});
  CHECK(gt(a, b).tolist() == std::vector<float>{0, 0, 1, 0, 0, 1});
  CHECK(ge(a, b).tolist() == std::vector<float>{0, 1, 1, 0, 1, 1});
  CHECK(gt(a, b).shape() == Shape{2, 3});
  CHECK_FALSE(lt(a, b).requires_grad());
  CHECK_ERROR(eq(a, ones({2})), "eq: shapes [3] and [2] cannot be broadcast");
}

// ---- views ----

TEST_CASE("view ops share storage and copies do not") {
  Tensor x = arange(0, 12).reshape({3, 4});
  for (const Tensor& v :
       {reshape(x, {2, 6}), permute(x, {1, 0}), transpose(x, 0, 1), narrow(x, 1, 1, 2),
        slice(x, 0, 0, 3, 2), expand(unsqueeze(x, 0), {2, 3, 4}), squeeze(unsqueeze(x, 1), 1),
        flatten(x), x.detach(), split(x, 2, 1)[1], chunk(x, 3, 0)[2], contiguous(x)})
    CHECK(v.same_storage(x));
  for (const Tensor& c :
       {clone(x), contiguous(transpose(x, 0, 1)), reshape(transpose(x, 0, 1), {12}), cat({x, x}, 0),
        stack({x}, 0), index_select(x, 0, vec({0}, {1})), repeat(x, {1, 1}),
        gather(x, 0, zeros({1, 4})), x + 0.f})
    CHECK_FALSE(c.same_storage(x));
  // A write through the storage shows in every view.
  Tensor n = narrow(x, 1, 1, 2), t = transpose(x, 0, 1);
  x.cpu_data()[5] = -1.f;  // x[1][1]
  CHECK(n.contiguous().tolist()[2] == -1.f);  // n[1][0]
  CHECK(t.contiguous().tolist()[4] == -1.f);  // t[1][1]
  CHECK(slice(x, 1, 1, 4, 2).shape() == Shape{3, 2});
  CHECK(slice(x, 1, -1, 100).tolist() == std::vector<float>{3, 7, 11});
}

// ---- joining and indexing: semantics and edge cases ----

TEST_CASE("cat and stack place their inputs in order") {
  Tensor a = vec({1, 2, 3, 4}, {2, 2}), b = vec({5, 6}, {2, 1});
  CHECK(cat({a, b}, 1).tolist() == std::vector<float>{1, 2, 5, 3, 4, 6});
  CHECK(cat({a, zeros({0, 2}), a}, 0).shape() == Shape{4, 2});
  CHECK(cat({transpose(a, 0, 1), a}, 0).tolist() == std::vector<float>{1, 3, 2, 4, 1, 2, 3, 4});
  Tensor s = stack({a, a * 2.f}, 2);
  CHECK(s.shape() == Shape{2, 2, 2});
  CHECK(s.tolist() == std::vector<float>{1, 2, 2, 4, 3, 6, 4, 8});
}

TEST_CASE("split and chunk give PyTorch's piece sizes") {
  Tensor x = arange(0, 5);
  auto sizes = [](const TensorList& pieces) {
    Shape s;
    for (const Tensor& p : pieces) s.push_back(p.numel());
    return s;
  };
  CHECK(sizes(split(x, 2, 0)) == Shape{2, 2, 1});
  CHECK(sizes(split(x, 5, 0)) == Shape{5});
  CHECK(sizes(split(x, 9, 0)) == Shape{5});
  CHECK(sizes(chunk(x, 4, 0)) == Shape{2, 2, 1});  // fewer chunks than asked, as torch.chunk
  CHECK(sizes(chunk(arange(0, 6), 4, 0)) == Shape{2, 2, 2});
  CHECK(sizes(chunk(x, 5, 0)) == Shape{1, 1, 1, 1, 1});
  CHECK(sizes(chunk(zeros({0}), 3, 0)) == Shape{0, 0, 0});
  CHECK(sizes(split(zeros({0}), 2, 0)) == Shape{0});
  CHECK(split(x, 2, 0)[2].tolist() == std::vector<float>{4});
}

TEST_CASE("index_select, gather and scatter_add follow torch semantics") {
  Tensor x = arange(0, 6).reshape({2, 3});
  CHECK(index_select(x, 1, vec({2, 2, 0}, {3})).tolist() == std::vector<float>{2, 2, 0, 5, 5, 3});
  CHECK(index_select(x, 0, scalar_tensor(1)).shape() == Shape{1, 3});
  CHECK(index_select(x, 0, zeros({0})).shape() == Shape{0, 3});
  CHECK(gather(x, 1, vec({2, 0, 1, 1}, {2, 2})).tolist() == std::vector<float>{2, 0, 4, 4});
  CHECK(gather(x, 0, vec({1, 0}, {1, 2})).tolist() == std::vector<float>{3, 1});
  Tensor out = scatter_add(x, 1, vec({0, 0, 2, 1}, {2, 2}), vec({10, 20, 30, 40}, {2, 2}));
  CHECK(out.tolist() == std::vector<float>{30, 1, 2, 3, 44, 35});
  CHECK(x.tolist() == std::vector<float>{0, 1, 2, 3, 4, 5});  // out of place
  // An index smaller than x (axis 0): only x's leading corner receives src's leading corner.
  Tensor corner = scatter_add(zeros({3, 3}), 0, vec({2, 0}, {1, 2}), vec({1, 2, 3, 4}, {2, 2}));
  CHECK(corner.tolist() == std::vector<float>{0, 2, 0, 0, 0, 0, 1, 0, 0});
}

TEST_CASE("repeat tiles like Tensor.repeat") {
  Tensor x = vec({1, 2}, {2});
  CHECK(repeat(x, {2}).tolist() == std::vector<float>{1, 2, 1, 2});
  Tensor y = repeat(x, {2, 2});
  CHECK(y.shape() == Shape{2, 4});
  CHECK(y.tolist() == std::vector<float>{1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(repeat(x, {0, 1}).shape() == Shape{0, 2});
  CHECK(repeat(scalar_tensor(3), {}).dim() == 0);
  CHECK(repeat(transpose(vec({1, 2, 3, 4}, {2, 2}), 0, 1), {1, 2}).tolist() ==
        std::vector<float>{1, 3, 1, 3, 2, 4, 2, 4});
}

TEST_CASE("reductions over all axes and vector dot products give 0-d tensors") {
  Tensor x = arange(0, 6).reshape({2, 3});
  for (const Tensor& r : {sum(x), mean(x), max(x), min(x), var(x), logsumexp(x, {0, 1})})
    CHECK(r.dim() == 0);
  CHECK(sum(x, {}, true).shape() == Shape{1, 1});
  CHECK(max(x, {0, 1}, true).item() == 5.f);
  Tensor dot = matmul(vec({1, 2, 3}, {3}), vec({4, 5, 6}, {3}));
  CHECK(dot.dim() == 0);
  CHECK(dot.item() == 32.f);
  CHECK(matmul(vec({1, 2}, {2}), x).tolist() == std::vector<float>{6, 9, 12});
}

// ---- the parallel kernels against plain loops (sizes above the OpenMP threshold) ----

TEST_CASE("index_select and its backward on a large tensor match plain loops") {
  const int64_t outer = 8, n = 50, inner = 300, k = 70;
  Tensor x = test::uniform({outer, n, inner}, -1, 1, 3);
  Tensor idx = randint(0, n, {k}, nullptr);
  Tensor y = index_select(x, 1, idx);
  Tensor g = test::uniform({outer, k, inner}, -1, 1, 4, false);
  y.backward(g);
  std::vector<float> xv = x.tolist(), iv = idx.tolist(), gv = g.tolist(), yv = y.tolist();
  std::vector<float> gx(xv.size(), 0.f);
  bool forward_ok = true;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        int64_t src = (o * n + int64_t(iv[i])) * inner + j, dst = (o * k + i) * inner + j;
        forward_ok &= yv[dst] == xv[src];
        gx[src] += gv[dst];
      }
  CHECK(forward_ok);
  require_close(x.grad(), from_vector(gx, x.shape()), 1e-5, 1e-5, "index_select backward");
}

TEST_CASE("gather and scatter_add on a large tensor match plain loops") {
  const int64_t outer = 6, n = 20, inner = 700, k = 40;
  Tensor x = test::uniform({outer, n, inner}, -1, 1, 5);
  Tensor idx = randint(0, n, {outer, k, inner}, nullptr);
  Tensor src = test::uniform({outer, k, inner}, -1, 1, 6, false);
  Tensor y = gather(x, 1, idx);
  Tensor s = scatter_add(zeros({outer, n, inner}), 1, idx, src);
  std::vector<float> xv = x.tolist(), iv = idx.tolist(), sv = src.tolist(), yv = y.tolist();
  std::vector<float> expected(xv.size(), 0.f);
  bool gather_ok = true;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        int64_t at = (o * k + i) * inner + j, to = (o * n + int64_t(iv[at])) * inner + j;
        gather_ok &= yv[at] == xv[to];
        expected[to] += sv[at];
      }
  CHECK(gather_ok);
  require_close(s, from_vector(expected, s.shape()), 1e-5, 1e-5, "scatter_add");
  y.backward(src);  // gather's backward is the same scatter
  require_close(x.grad(), from_vector(expected, s.shape()), 1e-5, 1e-5, "gather backward");
}

TEST_CASE("cat of large tensors along the middle axis matches narrow views") {
  Tensor a = test::uniform({4, 30, 500}, -1, 1, 7, false),
         b = test::uniform({4, 20, 500}, -1, 1, 8, false);
  Tensor c = cat({a, b}, 1);
  CHECK(narrow(c, 1, 0, 30).tolist() == a.tolist());
  CHECK(narrow(c, 1, 30, 20).tolist() == b.tolist());
}

// ---- errors name the op and the values ----

TEST_CASE("shape op errors") {
  Tensor x = zeros({2, 3});
  CHECK_ERROR(reshape(x, {4}), "reshape: cannot reshape [2, 3] (6 elements) into [4]");
  CHECK_ERROR(reshape(x, {-1, -1}), "reshape: only one -1 allowed in [-1, -1]");
  CHECK_ERROR(reshape(x, {4, -1}), "reshape: cannot reshape [2, 3] (6 elements) into [4, -1]");
  CHECK_ERROR(permute(x, {0}), "permute: 1 axes given for a tensor of rank 2");
  CHECK_ERROR(permute(x, {1, 1}), "permute: axis 1 repeated in [1, 1]");
  CHECK_ERROR(transpose(x, 0, 2), "transpose: axis 2 is out of range for a tensor of rank 2");
  CHECK_ERROR(expand(x, {2, 4}), "expand: cannot expand [2, 3] to [2, 4]");
  CHECK_ERROR(expand(x, {3}), "expand: cannot expand [2, 3] to [3] (fewer axes)");
  CHECK_ERROR(squeeze(x, 0), "squeeze: axis 0 of [2, 3] has size 2, not 1");
  CHECK_ERROR(unsqueeze(x, 3), "unsqueeze: axis 3 is out of range");
  CHECK_ERROR(flatten(zeros({2, 3, 4}), 2, 1), "flatten: start axis 2 is after end axis 1");
  CHECK_ERROR(narrow(x, 1, 2, 2), "narrow: range [2, 4) is outside axis 1 of size 3");
  CHECK_ERROR(slice(x, 1, 0, 3, 0), "slice: step must be positive, got 0");
}

TEST_CASE("joining op errors") {
  Tensor a = zeros({2, 3});
  CHECK_ERROR(cat({}, 0), "cat: needs at least one tensor");
  CHECK_ERROR(cat({a, zeros({3, 3})}, 1),
              "cat: tensor 1 has shape [3, 3] but tensor 0 has [2, 3]; shapes must match except "
              "along axis 1");
  CHECK_ERROR(cat({a, zeros({2})}, 0), "cat: tensor 1 has shape [2] but tensor 0 has [2, 3]");
  CHECK_ERROR(cat({a, a}, 2), "cat: axis 2 is out of range for a tensor of rank 2");
  CHECK_ERROR(cat({scalar_tensor(1), scalar_tensor(2)}, 0),
              "cat: needs a tensor with at least one axis");
  CHECK_ERROR(stack({}, 0), "stack: needs at least one tensor");
  CHECK_ERROR(stack({a, zeros({3, 2})}, 0),
              "stack: tensor 1 has shape [3, 2] but tensor 0 has [2, 3]");
  CHECK_ERROR(stack({a, a}, 3), "stack: axis 3 is out of range for a tensor of rank 3");
  CHECK_ERROR(split(a, 0, 1), "split: split_size must be positive, got 0 for axis 1 of [2, 3]");
  CHECK_ERROR(split(a, 1, -3), "split: axis -3 is out of range");
  CHECK_ERROR(chunk(a, 0, 0), "chunk: the number of chunks must be positive, got 0");
  CHECK_ERROR(repeat(a, {2}),
              "repeat: 1 repeat counts given for a tensor of rank 2 [2, 3] (needs at least 2)");
  CHECK_ERROR(repeat(a, {1, -1}), "repeat: negative repeat count -1 in [1, -1]");
}

TEST_CASE("indexing op errors name the bad index and the axis size") {
  Tensor x = zeros({2, 5});
  CHECK_ERROR(
      index_select(x, 1, vec({0, 7}, {2})),
      "index_select: index 7 is out of range for axis 1 of size 5 (input [2, 5], index [2])");
  CHECK_ERROR(index_select(x, 0, vec({-1}, {1})),
              "index_select: index -1 is out of range for axis 0 of size 2");
  CHECK_ERROR(index_select(x, 0, vec({0.5f}, {1})),
              "index_select: index 0.5 is not a whole number");
  CHECK_ERROR(index_select(x, 0, zeros({1, 1})), "index_select: index must be 1-d, got [1, 1]");
  CHECK_ERROR(index_select(x, 2, zeros({1})), "index_select: axis 2 is out of range");
  CHECK_ERROR(gather(x, 1, vec({5, 0}, {1, 2})),
              "gather: index 5 is out of range for axis 1 of size 5 (input [2, 5], index [1, 2])");
  CHECK_ERROR(gather(x, 1, zeros({2})), "gather: index has rank 1 but input has rank 2");
  CHECK_ERROR(gather(x, 1, zeros({3, 1})),
              "gather: index is larger than input along axis 0 (input [2, 5], index [3, 1])");
  CHECK_ERROR(scatter_add(x, 0, vec({2}, {1, 1}), ones({1, 1})),
              "scatter_add: index 2 is out of range for axis 0 of size 2");
  CHECK_ERROR(scatter_add(x, 1, zeros({2, 3}), ones({2, 2})),
              "scatter_add: index is larger than src along axis 1 (src [2, 2], index [2, 3])");
  CHECK_ERROR(scatter_add(x, 1, zeros({2, 3}), ones({2})),
              "scatter_add: index has rank 2 but src has rank 1");
}

TEST_CASE("elementwise op errors") {
  CHECK_ERROR(mul(zeros({2, 3}), zeros({2})),
              "mul: shapes [2, 3] and [2] cannot be broadcast (axis 1: 3 vs 2)");
  CHECK_ERROR(pow(zeros({4}), zeros({3})), "pow: shapes [4] and [3] cannot be broadcast");
  CHECK_ERROR(maximum(zeros({2, 1, 3}), zeros({4, 2})),
              "maximum: shapes [2, 1, 3] and [4, 2] cannot be broadcast");
  CHECK_ERROR(where(zeros({3}), zeros({2, 3}), zeros({2})),
              "where: shapes [2, 3] and [2] cannot be broadcast");
  CHECK_ERROR(clamp(zeros({2}), 1.f, -1.f), "clamp: lower bound 1 is above upper bound -1");
}

TEST_CASE("reduction op errors") {
  Tensor x = zeros({2, 3});
  CHECK_ERROR(sum(x, {2}), "sum: axis 2 is out of range for a tensor of rank 2");
  CHECK_ERROR(mean(x, {0, -2}), "mean: repeated axis in [0, -2]");
  CHECK_ERROR(var(x, {0}, 2), "var: 2 elements with correction 2 leave no degrees of freedom");
  CHECK_ERROR(max(zeros({2, 0}), {1}), "max: cannot reduce the empty axis 1 of [2, 0]");
  CHECK_ERROR(min(x, {-3}), "min: axis -3 is out of range");
  CHECK_ERROR(logsumexp(x, {5}), "logsumexp: axis 5 is out of range");
  CHECK_ERROR(softmax(x, 2), "softmax: axis 2 is out of range for a tensor of rank 2");
  CHECK_ERROR(log_softmax(x, -3), "log_softmax: axis -3 is out of range");
}

TEST_CASE("matmul errors") {
  CHECK_ERROR(matmul(zeros({2, 3}), zeros({2, 3})),
              "matmul: inner dimensions differ: [2, 3] @ [2, 3] (3 vs 2)");
  CHECK_ERROR(matmul(zeros({3}), zeros({4})), "matmul: inner dimensions differ");
  CHECK_ERROR(matmul(zeros({2, 2, 3}), zeros({3, 3, 1})),
              "matmul: shapes [2] and [3] cannot be broadcast");
  CHECK_ERROR(matmul(scalar_tensor(1), zeros({2})), "matmul: scalars cannot be multiplied");
}
