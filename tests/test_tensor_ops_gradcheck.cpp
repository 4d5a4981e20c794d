// Finite-difference gradchecks for every tensor-level op in autograd/op_list.cpp's "shape",
// "elementwise", "reductions" and "linear algebra" sections. Shapes are small (gradcheck costs
// two forward passes per input element). Inputs are chosen away from kinks (relu, abs, clamp
// bounds, max ties) by at least 5 eps, and inside the domain of log, sqrt and pow.
#include <numeric>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_gradients;
using tinydiff::test::uniform;

namespace {

// A leaf from `values` that requires grad.
Tensor leaf(const Tensor& values) {
  Tensor t = values.detach().contiguous().clone();
  t.requires_grad_();
  return t;
}

// Magnitudes in [0.2, 1] with random signs: far from the kink at 0.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Tensor magnitude = uniform(shape, 0.2f, 1.f, seed, false);
  Tensor sign_source = uniform(shape, -1.f, 1.f, seed + 1, false);
  return leaf(mul(magnitude, sign(sign_source)));
}

// Distinct values start + step * k, k = 0..n-1 in a scrambled order: no two within `step`.
Tensor spaced(const Shape& shape, float start, float step) {
  int64_t n = numel_of(shape), stride = 7;
  while (std::gcd(stride, n) != 1) stride += 2;
  std::vector<float> v(n);
  for (int64_t k = 0; k < n; ++k) v[k] = start + step * float((k * stride) % n);
  return leaf(from_vector(v, shape));
}

Tensor index_tensor(const std::vector<float>& values, const Shape& shape) {
  return from_vector(values, shape);
}

// cat(piece_i * (i + 1)): every piece of split/chunk gets a different weight.
Tensor joined(const TensorList& pieces, int64_t axis) {
  TensorList scaled;
  for (size_t i = 0; i < pieces.size(); ++i) scaled.push_back(mul(pieces[i], float(i + 1)));
  return cat(scaled, axis);
}

void check_unary(const std::function<Tensor(const Tensor&)>& fn, const Tensor& x) {
  check_gradients([&](const TensorList& in) { return fn(in[0]); }, {x});
}

void check_binary(const std::function<Tensor(const Tensor&, const Tensor&)>& fn, const Tensor& a,
                  const Tensor& b) {
  check_gradients([&](const TensorList& in) { return fn(in[0], in[1]); }, {a, b});
}

}  // namespace

// ---- shape ----

GRADCHECK_CASE("reshape", "contiguous with -1; transposed input (copy)") {
  check_unary([](const Tensor& x) { return reshape(x, {-1, 2}); }, uniform({2, 3, 2}, -1, 1, 1));
  check_unary([](const Tensor& x) { return reshape(transpose(x, 0, 1), {6}); },
              uniform({2, 3}, -1, 1, 2));
}
GRADCHECK_CASE("permute", "three axes, negative axis") {
  check_unary([](const Tensor& x) { return permute(x, {2, 0, -2}); }, uniform({2, 3, 2}, -1, 1, 3));
}
GRADCHECK_CASE("transpose", "first and last of three") {
  check_unary([](const Tensor& x) { return transpose(x, 0, -1); }, uniform({2, 3, 2}, -1, 1, 4));
}
GRADCHECK_CASE("expand", "size-1 axes stretched and new leading axes") {
  check_unary([](const Tensor& x) { return expand(x, {2, 3, 4}); }, uniform({3, 1}, -1, 1, 5));
  check_unary([](const Tensor& x) { return expand(x, {2, -1, 3}); }, uniform({1, 2, 1}, -1, 1, 6));
}
GRADCHECK_CASE("squeeze", "middle axis, negative axis") {
  check_unary([](const Tensor& x) { return squeeze(x, 1); }, uniform({2, 1, 3}, -1, 1, 7));
  check_unary([](const Tensor& x) { return squeeze(x, -1); }, uniform({3, 1}, -1, 1, 8));
}
GRADCHECK_CASE("unsqueeze", "front and back") {
  check_unary([](const Tensor& x) { return unsqueeze(x, 0); }, uniform({2, 3}, -1, 1, 9));
  check_unary([](const Tensor& x) { return unsqueeze(x, -1); }, uniform({2, 3}, -1, 1, 10));
}
GRADCHECK_CASE("flatten", "middle axes; all axes of a transposed input") {
  check_unary([](const Tensor& x) { return flatten(x, 1, 2); }, uniform({2, 2, 3, 2}, -1, 1, 11));
  check_unary([](const Tensor& x) { return flatten(transpose(x, 0, 1)); },
              uniform({2, 3}, -1, 1, 12));
}
GRADCHECK_CASE("narrow", "inner axis; outer axis") {
  check_unary([](const Tensor& x) { return narrow(x, 1, 1, 3); }, uniform({3, 5}, -1, 1, 13));
  check_unary([](const Tensor& x) { return narrow(x, 0, 2, 1); }, uniform({3, 5}, -1, 1, 14));
}
GRADCHECK_CASE("slice", "step 2; negative start with step 3") {
  check_unary([](const Tensor& x) { return slice(x, 1, 1, 6, 2); }, uniform({3, 7}, -1, 1, 15));
  check_unary([](const Tensor& x) { return slice(x, 0, -5, 100, 3); }, uniform({6, 2}, -1, 1, 16));
}
GRADCHECK_CASE("cat", "three tensors along axis 1; a transposed input along axis -1") {
  check_gradients(
      [](const TensorList& in) { return cat(in, 1); },
      {uniform({2, 3}, -1, 1, 17), uniform({2, 1}, -1, 1, 18), uniform({2, 2}, -1, 1, 19)});
  check_gradients(
      [](const TensorList& in) {
        return cat({transpose(in[0], 0, 1), in[1]}, -1);
      },
      {uniform({2, 3}, -1, 1, 20), uniform({3, 1}, -1, 1, 21)});
}
GRADCHECK_CASE("stack", "new first axis; new last axis") {
  check_gradients([](const TensorList& in) { return stack(in, 0); },
                  {uniform({2, 3}, -1, 1, 22), uniform({2, 3}, -1, 1, 23)});
  check_gradients(
      [](const TensorList& in) { return stack(in, -1); },
      {uniform({2, 2}, -1, 1, 24), uniform({2, 2}, -1, 1, 25), uniform({2, 2}, -1, 1, 26)});
}
GRADCHECK_CASE("split", "uneven pieces along axis 0; even pieces along axis 1") {
  check_unary([](const Tensor& x) { return joined(split(x, 2, 0), 0); },
              uniform({5, 2}, -1, 1, 27));
  check_unary([](const Tensor& x) { return joined(split(x, 2, 1), 1); },
              uniform({2, 4}, -1, 1, 28));
}
GRADCHECK_CASE("chunk", "7 columns in 3 chunks; 4 rows in 4 chunks") {
  check_unary([](const Tensor& x) { return joined(chunk(x, 3, 1), 1); },
              uniform({2, 7}, -1, 1, 29));
  check_unary([](const Tensor& x) { return joined(chunk(x, 4, 0), 0); },
              uniform({4, 2}, -1, 1, 30));
}
GRADCHECK_CASE("index_select", "repeated indices on the middle axis; first and last axes") {
  Tensor idx = index_tensor({2, 0, 2, 1}, {4});
  check_unary([&](const Tensor& x) { return index_select(x, 1, idx); },
              uniform({2, 3, 2}, -1, 1, 31));
  check_unary([&](const Tensor& x) { return index_select(x, 0, idx); }, uniform({3, 2}, -1, 1, 32));
  check_unary([&](const Tensor& x) { return index_select(x, -1, idx); },
              uniform({2, 3}, -1, 1, 33));
}
GRADCHECK_CASE("gather", "repeats along axis 1; axis 0 with a smaller index; transposed input") {
  Tensor idx = index_tensor({0, 2, 2, 1, 1, 1, 0, 2}, {2, 4});
  check_unary([&](const Tensor& x) { return gather(x, 1, idx); }, uniform({2, 3}, -1, 1, 34));
  Tensor small = index_tensor({2, 0, 0, 0}, {2, 2});
  check_unary([&](const Tensor& x) { return gather(x, 0, small); }, uniform({3, 3}, -1, 1, 35));
  check_unary([&](const Tensor& x) { return gather(transpose(x, 0, 1), 1, idx); },
              uniform({3, 2}, -1, 1, 36));
}
GRADCHECK_CASE("scatter_add", "collisions along axis 1; index smaller than x and src") {
  Tensor idx = index_tensor({0, 2, 2, 1, 3, 3, 3, 0}, {2, 4});
  check_gradients([&](const TensorList& in) { return scatter_add(in[0], 1, idx, in[1]); },
                  {uniform({2, 4}, -1, 1, 37), uniform({2, 4}, -1, 1, 38)});
  Tensor small = index_tensor({2, 0, 0, 1}, {2, 2});
  check_gradients([&](const TensorList& in) { return scatter_add(in[0], 0, small, in[1]); },
                  {uniform({3, 3}, -1, 1, 39), uniform({3, 2}, -1, 1, 40)});
}
GRADCHECK_CASE("repeat", "new leading axis; counts of 1") {
  check_unary([](const Tensor& x) { return repeat(x, {2, 1, 3}); }, uniform({2, 2}, -1, 1, 41));
  check_unary([](const Tensor& x) { return repeat(x, {1, 2}); }, uniform({3, 1}, -1, 1, 42));
}
GRADCHECK_CASE("contiguous", "of a transposed view") {
  check_unary([](const Tensor& x) { return contiguous(transpose(x, 0, 1)); },
              uniform({2, 3}, -1, 1, 43));
}
GRADCHECK_CASE("clone", "plain copy") {
  check_unary([](const Tensor& x) { return clone(x); }, uniform({2, 3}, -1, 1, 44));
}
GRADCHECK_CASE("to_device", "cpu to cpu") {
  check_unary([](const Tensor& x) { return to_device(mul(x, 2.f), Device::cpu()); },
              uniform({2, 3}, -1, 1, 45));
}

// ---- elementwise ----

GRADCHECK_CASE("add", "b broadcast; a broadcast; both broadcast; scalar") {
  auto f = [](const Tensor& a, const Tensor& b) { return add(a, b); };
  check_binary(f, uniform({2, 3}, -1, 1, 50), uniform({3}, -1, 1, 51));
  check_binary(f, uniform({3, 1}, -1, 1, 52), uniform({2, 3, 2}, -1, 1, 53));
  check_binary(f, uniform({3, 1}, -1, 1, 54), uniform({2, 1, 2}, -1, 1, 55));
  check_unary([](const Tensor& x) { return add(x, 1.5f); }, uniform({2, 3}, -1, 1, 56));
}
GRADCHECK_CASE("sub", "b broadcast; a broadcast; scalar minus tensor") {
  auto f = [](const Tensor& a, const Tensor& b) { return sub(a, b); };
  check_binary(f, uniform({2, 3}, -1, 1, 57), uniform({2, 1}, -1, 1, 58));
  check_binary(f, uniform({3}, -1, 1, 59), uniform({2, 3}, -1, 1, 60));
  check_unary([](const Tensor& x) { return rsub(x, 2.f); }, uniform({2, 3}, -1, 1, 61));
}
GRADCHECK_CASE("mul", "b broadcast; both broadcast; scalar") {
  auto f = [](const Tensor& a, const Tensor& b) { return mul(a, b); };
  check_binary(f, uniform({2, 3}, -1, 1, 62), uniform({3}, -1, 1, 63));
  check_binary(f, uniform({2, 1}, -1, 1, 64), uniform({1, 3}, -1, 1, 65));
  check_unary([](const Tensor& x) { return mul(x, -3.f); }, uniform({2, 3}, -1, 1, 66));
}
GRADCHECK_CASE("div", "b broadcast; a broadcast") {
  auto f = [](const Tensor& a, const Tensor& b) { return div(a, b); };
  check_binary(f, uniform({2, 3}, -1, 1, 67), uniform({3}, 0.5f, 2, 68));
  check_binary(f, uniform({1, 3}, -1, 1, 69), uniform({2, 3}, 0.5f, 2, 70));
}
GRADCHECK_CASE("neg", "elementwise") {
  check_unary([](const Tensor& x) { return neg(x); }, uniform({2, 3}, -1, 1, 71));
}
GRADCHECK_CASE("pow", "tensor exponent, broadcast both ways; scalar exponents") {
  auto f = [](const Tensor& a, const Tensor& b) { return pow(a, b); };
  check_binary(f, uniform({2, 3}, 0.5f, 2, 72), uniform({3}, -1.5f, 1.5f, 73));
  check_binary(f, uniform({3}, 0.5f, 2, 74), uniform({2, 3}, -1.5f, 1.5f, 75));
  check_unary([](const Tensor& x) { return pow(x, 2.5f); }, uniform({2, 3}, 0.5f, 2, 76));
  check_unary([](const Tensor& x) { return pow(x, -1.f); }, uniform({2, 3}, 0.5f, 2, 77));
  check_unary([](const Tensor& x) { return pow(x, 3.f); }, uniform({2, 3}, -1.5f, 1.5f, 78));
}
GRADCHECK_CASE("square", "elementwise") {
  check_unary([](const Tensor& x) { return square(x); }, uniform({2, 3}, -1, 1, 79));
}
GRADCHECK_CASE("sqrt", "positive inputs") {
  check_unary([](const Tensor& x) { return sqrt(x); }, uniform({2, 3}, 0.5f, 2, 80));
}
GRADCHECK_CASE("rsqrt", "positive inputs") {
  check_unary([](const Tensor& x) { return rsqrt(x); }, uniform({2, 3}, 0.5f, 2, 81));
}
GRADCHECK_CASE("exp", "elementwise") {
  check_unary([](const Tensor& x) { return exp(x); }, uniform({2, 3}, -1, 1, 82));
}
GRADCHECK_CASE("log", "positive inputs") {
  check_unary([](const Tensor& x) { return log(x); }, uniform({2, 3}, 0.5f, 2, 83));
}
GRADCHECK_CASE("log1p", "inputs above -1") {
  check_unary([](const Tensor& x) { return log1p(x); }, uniform({2, 3}, -0.5f, 1, 84));
}
GRADCHECK_CASE("abs", "away from 0") {
  check_unary([](const Tensor& x) { return abs(x); }, away_from_zero({2, 3}, 85));
}
GRADCHECK_CASE("sin", "elementwise") {
  check_unary([](const Tensor& x) { return sin(x); }, uniform({2, 3}, -3, 3, 86));
}
GRADCHECK_CASE("cos", "elementwise") {
  check_unary([](const Tensor& x) { return cos(x); }, uniform({2, 3}, -3, 3, 87));
}
GRADCHECK_CASE("tanh", "elementwise") {
  check_unary([](const Tensor& x) { return tanh(x); }, uniform({2, 3}, -2, 2, 88));
}
GRADCHECK_CASE("sigmoid", "elementwise") {
  check_unary([](const Tensor& x) { return sigmoid(x); }, uniform({2, 3}, -3, 3, 89));
}
GRADCHECK_CASE("relu", "away from 0") {
  check_unary([](const Tensor& x) { return relu(x); }, away_from_zero({2, 3}, 90));
}
GRADCHECK_CASE("gelu", "erf form") {
  check_unary([](const Tensor& x) { return gelu(x); }, uniform({2, 3}, -3, 3, 91));
}
GRADCHECK_CASE("gelu_tanh", "tanh form") {
  check_unary([](const Tensor& x) { return gelu_tanh(x); }, uniform({2, 3}, -3, 3, 92));
}
GRADCHECK_CASE("silu", "elementwise") {
  check_unary([](const Tensor& x) { return silu(x); }, uniform({2, 3}, -3, 3, 93));
}
GRADCHECK_CASE("clamp", "inputs inside and outside [-0.5, 0.5], none near the bounds") {
  // values -1.15, -1.05, ..., 1.15: at least 0.05 from either bound
  check_unary([](const Tensor& x) { return clamp(x, -0.5f, 0.5f); }, spaced({4, 6}, -1.15f, 0.1f));
}
GRADCHECK_CASE("maximum", "both broadcast, no ties") {
  // a holds multiples of 0.1, b odd multiples of 0.05: every pair differs by >= 0.05.
  auto f = [](const Tensor& a, const Tensor& b) { return maximum(a, b); };
  check_binary(f, spaced({2, 1, 3}, -0.3f, 0.1f), spaced({4, 1}, -0.15f, 0.1f));
}
GRADCHECK_CASE("minimum", "both broadcast, no ties") {
  auto f = [](const Tensor& a, const Tensor& b) { return minimum(a, b); };
  check_binary(f, spaced({4, 1}, -0.15f, 0.1f), spaced({2, 1, 3}, -0.3f, 0.1f));
}
GRADCHECK_CASE("where", "condition broadcast over rows, b broadcast over columns") {
  Tensor cond = index_tensor({1, 0, 0, 1}, {4});
  check_binary([&](const Tensor& a, const Tensor& b) { return where(cond, a, b); },
               uniform({3, 4}, -1, 1, 94), uniform({3, 1}, -1, 1, 95));
}

// ---- reductions ----

GRADCHECK_CASE("sum", "one axis; non-adjacent axes; all axes; keepdim") {
  Tensor x = uniform({2, 3, 2}, -1, 1, 100);
  check_unary([](const Tensor& t) { return sum(t, {1}); }, x);
  check_unary([](const Tensor& t) { return sum(t, {0, 2}); }, x);
  check_unary([](const Tensor& t) { return sum(t); }, x);
  check_unary([](const Tensor& t) { return sum(t, {-1}, true); }, x);
}
GRADCHECK_CASE("mean", "one axis with keepdim; non-adjacent axes; all axes") {
  Tensor x = uniform({2, 3, 2}, -1, 1, 101);
  check_unary([](const Tensor& t) { return mean(t, {1}, true); }, x);
  check_unary([](const Tensor& t) { return mean(t, {0, 2}); }, x);
  check_unary([](const Tensor& t) { return mean(t); }, x);
}
GRADCHECK_CASE("var", "unbiased over non-adjacent axes; biased keepdim; all axes") {
  Tensor x = uniform({2, 3, 2}, -1, 1, 102);
  check_unary([](const Tensor& t) { return var(t, {0, 2}); }, x);
  check_unary([](const Tensor& t) { return var(t, {1}, 0, true); }, x);
  check_unary([](const Tensor& t) { return var(t); }, x);
}
GRADCHECK_CASE("max", "one axis; non-adjacent axes with keepdim; all axes (values 0.1 apart)") {
  Tensor x = spaced({2, 3, 2}, -0.6f, 0.1f);
  check_unary([](const Tensor& t) { return max(t, {1}); }, x);
  check_unary([](const Tensor& t) { return max(t, {0, 2}, true); }, x);
  check_unary([](const Tensor& t) { return max(t); }, x);
}
GRADCHECK_CASE("min", "one axis; non-adjacent axes; all axes with keepdim (values 0.1 apart)") {
  Tensor x = spaced({2, 3, 2}, -0.6f, 0.1f);
  check_unary([](const Tensor& t) { return min(t, {2}); }, x);
  check_unary([](const Tensor& t) { return min(t, {0, 2}); }, x);
  check_unary([](const Tensor& t) { return min(t, {}, true); }, x);
}
GRADCHECK_CASE("logsumexp", "one axis; non-adjacent axes with keepdim") {
  Tensor x = uniform({2, 3, 2}, -2, 2, 103);
  check_unary([](const Tensor& t) { return logsumexp(t, {1}); }, x);
  check_unary([](const Tensor& t) { return logsumexp(t, {0, 2}, true); }, x);
}
GRADCHECK_CASE("softmax", "middle axis; last axis") {
  Tensor x = uniform({2, 3, 2}, -2, 2, 104);
  check_unary([](const Tensor& t) { return softmax(t, 1); }, x);
  check_unary([](const Tensor& t) { return softmax(t, -1); }, x);
}
GRADCHECK_CASE("log_softmax", "middle axis; first axis") {
  Tensor x = uniform({2, 3, 2}, -2, 2, 105);
  check_unary([](const Tensor& t) { return log_softmax(t, 1); }, x);
  check_unary([](const Tensor& t) { return log_softmax(t, 0); }, x);
}

// ---- linear algebra ----

GRADCHECK_CASE("matmul", "2-d; batched; broadcast batch") {
  auto f = [](const Tensor& a, const Tensor& b) { return matmul(a, b); };
  check_binary(f, uniform({2, 3}, -1, 1, 110), uniform({3, 4}, -1, 1, 111));
  check_binary(f, uniform({2, 2, 3}, -1, 1, 112), uniform({2, 3, 2}, -1, 1, 113));
  check_binary(f, uniform({2, 1, 2, 3}, -1, 1, 114), uniform({2, 3, 2}, -1, 1, 115));
}
GRADCHECK_CASE("matmul", "1-d operands: vector-matrix, matrix-vector, vector-vector") {
  auto f = [](const Tensor& a, const Tensor& b) { return matmul(a, b); };
  check_binary(f, uniform({3}, -1, 1, 116), uniform({2, 3, 2}, -1, 1, 117));
  check_binary(f, uniform({2, 3}, -1, 1, 118), uniform({3}, -1, 1, 119));
  check_binary(f, uniform({3}, -1, 1, 120), uniform({3}, -1, 1, 121));
}
GRADCHECK_CASE("matmul", "transposed operands (views handed to GEMM without a copy)") {
  auto f = [](const Tensor& a, const Tensor& b) { return matmul(transpose(a, -1, -2), b); };
  check_binary(f, uniform({3, 2}, -1, 1, 122), uniform({3, 4}, -1, 1, 123));
  auto g = [](const Tensor& a, const Tensor& b) {
    return matmul(transpose(a, -1, -2), transpose(b, -1, -2));
  };
  check_binary(g, uniform({2, 3, 2}, -1, 1, 124), uniform({2, 4, 3}, -1, 1, 125));
}
