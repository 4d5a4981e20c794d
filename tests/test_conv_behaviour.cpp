// linear, conv2d, conv_transpose2d, pooling, upsampling: error messages for bad inputs, and
// properties that the gradchecks and parity fixtures do not reach (the adjoint identity,
// batch-parallel vs serial paths, strided inputs, NaN propagation).
#include <cmath>
#include <random>

#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;
using tinydiff::test::uniform;

namespace {
// <a, b> = sum of a * b, in double.
double dot(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.tolist(), vb = b.tolist();
  double s = 0;
  for (size_t i = 0; i < va.size(); ++i) s += double(va[i]) * vb[i];
  return s;
}
}  // namespace

TEST_CASE("conv2d errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(conv2d(zeros({100, 3, 16, 16}), zeros({64, 64, 3, 3})),
                       doctest::Contains("conv2d: input has 3 channels but weight expects 64 "
                                         "(input [100, 3, 16, 16], weight [64, 64, 3, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 4, 5, 5}), zeros({6, 2, 3, 3}), {}, 1, 1, 1, 3),
                       doctest::Contains("conv2d: groups 3 does not divide the 4 input channels "
                                         "(input [1, 4, 5, 5])"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 4, 5, 5}), zeros({5, 2, 3, 3}), {}, 1, 1, 1, 2),
                       doctest::Contains("conv2d: groups 2 does not divide the 5 output channels "
                                         "(weight [5, 2, 3, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 4, 5, 5}), zeros({6, 1, 3, 3}), {}, 1, 1, 1, 2),
                       doctest::Contains("conv2d: input has 4 channels but weight expects 2 "
                                         "(input [1, 4, 5, 5], weight [6, 1, 3, 3], groups 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(
      conv2d(zeros({1, 1, 2, 2}), zeros({1, 1, 3, 3})),
      doctest::Contains("conv2d: kernel 3x3 (dilation 1, spanning 3x3) is larger "
                        "than the padded input 2x2 (input [1, 1, 2, 2], padding 0)"),
      Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), {}, 1, 0, 2),
                       doctest::Contains("spanning 5x5) is larger than the padded input 4x4"),
                       Error);
  CHECK_THROWS_WITH_AS(
      conv2d(zeros({3, 16, 16}), zeros({4, 3, 3, 3})),
      doctest::Contains("conv2d: expects a 4-d input (N, C, H, W), got [3, 16, 16]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 3, 4, 4}), zeros({4, 3, 3})),
                       doctest::Contains("conv2d: expects a 4-d weight"), Error);
  CHECK_THROWS_WITH_AS(
      conv2d(zeros({1, 3, 4, 4}), zeros({4, 3, 3, 3}), zeros({3})),
      doctest::Contains("conv2d: bias must be [4] for weight [4, 3, 3, 3], got [3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 3, 4, 4}), zeros({4, 3, 3, 3}), {}, 0),
                       doctest::Contains("conv2d: needs stride >= 1"), Error);
}

TEST_CASE("conv_transpose2d errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(conv_transpose2d(zeros({2, 3, 4, 4}), zeros({64, 8, 2, 2})),
                       doctest::Contains("conv_transpose2d: input has 3 channels but weight "
                                         "expects 64 (input [2, 3, 4, 4], weight [64, 8, 2, 2])"),
                       Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(zeros({1, 3, 4, 4}), zeros({3, 2, 3, 3}), {}, 1, 1, 0, 2),
                       doctest::Contains("conv_transpose2d: groups 2 does not divide the 3 input "
                                         "channels (input [1, 3, 4, 4])"),
                       Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(zeros({1, 2, 4, 4}), zeros({2, 2, 3, 3}), {}, 2, 1, 2),
                       doctest::Contains("conv_transpose2d: output_padding 2 must be smaller than "
                                         "the stride 2 or the dilation 1"),
                       Error);
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(zeros({1, 2, 1, 1}), zeros({2, 2, 1, 1}), {}, 1, 1),
      doctest::Contains("conv_transpose2d: padding 1 leaves an output of -1x-1 "
                        "pixels (input [1, 2, 1, 1], weight [2, 2, 1, 1], stride 1)"),
      Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(zeros({2, 4, 4}), zeros({2, 2, 2, 2})),
                       doctest::Contains("conv_transpose2d: expects a 4-d input (N, C, H, W), got "
                                         "[2, 4, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(zeros({1, 4, 3, 3}), zeros({4, 3, 2, 2}), zeros({3}), 2, 0, 0, 2),
      doctest::Contains("conv_transpose2d: bias must be [6]"), Error);
}

TEST_CASE("pooling, upsampling and linear errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(
      max_pool2d(zeros({3, 8, 8}), 2),
      doctest::Contains("max_pool2d: expects a 4-d input (N, C, H, W), got [3, 8, 8]"), Error);
  CHECK_THROWS_WITH_AS(
      avg_pool2d(zeros({1, 1, 8, 8}), 3, 1, 2),
      doctest::Contains("avg_pool2d: padding 2 must be between 0 and half the kernel 3"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 3, 3}), 4),
                       doctest::Contains("max_pool2d: kernel 4 is larger than the padded input 3x3 "
                                         "(input [1, 1, 3, 3], padding 0)"),
                       Error);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(zeros({4, 4}), 2),
                       doctest::Contains("upsample_nearest2d: expects a 4-d input"), Error);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(zeros({1, 1, 4, 4}), 0),
                       doctest::Contains("upsample_nearest2d: scale must be at least 1, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(zeros({2, 3}), zeros({4, 5})),
                       doctest::Contains("linear: input has 3 features but weight expects 5 "
                                         "(input [2, 3], weight [4, 5])"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(zeros({2, 5}), zeros({4, 5}), zeros({5})),
                       doctest::Contains("linear: bias must be [4] for weight [4, 5], got [5]"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(zeros({2, 5}), zeros({20})),
                       doctest::Contains("linear: expects a 2-d weight (out, in), got [20]"),
                       Error);
}

// conv_transpose2d is the adjoint of conv2d: <conv2d(x, W), y> = <x, conv_transpose2d(y, W)>
// for every x and y, with the same weight, stride, padding, dilation and groups.
TEST_CASE("conv_transpose2d is the adjoint of conv2d") {
  struct Setting {
    Shape x, w;
    int64_t stride, padding, dilation, groups;
  };
  for (const Setting& s : {Setting{{3, 4, 9, 9}, {6, 2, 3, 3}, 2, 1, 1, 2},
                           Setting{{2, 3, 8, 7}, {5, 3, 3, 2}, 1, 2, 2, 1},
                           Setting{{2, 4, 8, 8}, {4, 4, 2, 2}, 2, 0, 1, 1},
                           Setting{{2, 4, 8, 8}, {4, 2, 3, 3}, 2, 1, 1, 2},
                           Setting{{2, 3, 6, 6}, {5, 3, 1, 1}, 1, 0, 1, 1}}) {
    Tensor x = uniform(s.x, -1, 1, 1, false), w = uniform(s.w, -1, 1, 2, false);
    Tensor cx = conv2d(x, w, {}, s.stride, s.padding, s.dilation, s.groups);
    Tensor y = uniform(cx.shape(), -1, 1, 3, false);
    // output_padding restores the rows that conv2d's floor division dropped (the settings
    // drop the same number of rows and columns).
    int64_t span = s.dilation * (s.w[2] - 1) + 1;
    int64_t dropped = (s.x[2] + 2 * s.padding - span) % s.stride;
    Tensor ty = conv_transpose2d(y, w, {}, s.stride, s.padding, dropped, s.groups, s.dilation);
    REQUIRE(ty.shape() == x.shape());
    double lhs = dot(cx, y), rhs = dot(x, ty);
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
  }
}

// A batch runs image-parallel with per-thread weight-gradient partials; one image at a time
// runs serially. Both must give the same outputs and summed weight gradients.
TEST_CASE("conv2d on a batch equals conv2d image by image") {
  Tensor x = uniform({5, 4, 6, 6}, -1, 1, 10);
  Tensor w = uniform({6, 2, 3, 3}, -1, 1, 11), b = uniform({6}, -1, 1, 12);
  Tensor g = uniform({5, 6, 3, 3}, -1, 1, 13, false);
  Tensor y = conv2d(x, w, b, 2, 1, 1, 2);
  y.backward(g);
  Tensor batch_gw = w.grad(), batch_gb = b.grad(), batch_gx = x.grad();
  w.set_grad(Tensor()), b.set_grad(Tensor()), x.set_grad(Tensor());
  TensorList ys;
  for (int64_t n = 0; n < 5; ++n) {
    Tensor yn = conv2d(x.narrow(0, n, 1), w, b, 2, 1, 1, 2);
    yn.backward(g.narrow(0, n, 1).contiguous());
    ys.push_back(yn.detach());
  }
  require_close(y, cat(ys, 0), 1e-5, 1e-6, "output");
  require_close(batch_gw, w.grad(), 1e-5, 1e-5, "weight gradient");
  require_close(batch_gb, b.grad(), 1e-5, 1e-5, "bias gradient");
  require_close(batch_gx, x.grad(), 1e-5, 1e-6, "input gradient");
}

namespace {
// conv2d from its definition, in double, with the gradients of sum(y * g):
//   y[n][o][oy][ox] = b[o] + sum_{c, ki, kj} w[o][c][ki][kj] x[n][c'][oy s + ki d - p][ox s + kj d
//   - p]
// where c' = (o / (C_out / groups)) (C_in / groups) + c and pixels outside x count as 0.
struct DirectConv {
  Shape xs, ws;
  int64_t stride, padding, dilation, groups;
  std::vector<double> y, gx, gw;

  void run(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
           const std::vector<float>& g, int64_t out_h, int64_t out_w) {
    const int64_t n_batch = xs[0], c_in = xs[1], h = xs[2], wd = xs[3], c_out = ws[0];
    const int64_t cig = ws[1], kh = ws[2], kw = ws[3], cog = c_out / groups;
    y.assign(n_batch * c_out * out_h * out_w, 0), gx.assign(x.size(), 0), gw.assign(w.size(), 0);
    for (int64_t n = 0; n < n_batch; ++n)
      for (int64_t o = 0; o < c_out; ++o)
        for (int64_t p = 0; p < out_h * out_w; ++p) {
          int64_t yi = (n * c_out + o) * out_h * out_w + p;
          y[yi] = b[o];
          for (int64_t c = 0; c < cig; ++c)
            for (int64_t k = 0; k < kh * kw; ++k) {
              int64_t iy = p / out_w * stride + k / kw * dilation - padding;
              int64_t ix = p % out_w * stride + k % kw * dilation - padding;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              int64_t xi = ((n * c_in + o / cog * cig + c) * h + iy) * wd + ix;
              int64_t wi = (o * cig + c) * kh * kw + k;
              y[yi] += double(w[wi]) * x[xi];
              gx[xi] += double(w[wi]) * g[yi];
              gw[wi] += double(x[xi]) * g[yi];
            }
        }
  }
};

Tensor as_tensor(const std::vector<double>& v, const Shape& shape) {
  return from_vector(std::vector<float>(v.begin(), v.end()), shape);
}
}  // namespace

// Random small geometries (kernels wider than the stride, taps that only see padding, odd
// sizes, groups, dilation) against DirectConv: forward and all three gradients.
TEST_CASE("conv2d matches its definition on random geometries") {
  std::mt19937 rng(5);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  int tested = 0;
  for (int trial = 0; trial < 300; ++trial) {
    int64_t groups = pick(1, 3);
    DirectConv d{{pick(1, 3), groups * pick(1, 2), pick(1, 8), pick(1, 8)},
                 {groups * pick(1, 2), 0, pick(1, 4), pick(1, 4)},
                 pick(1, 3),
                 pick(0, 2),
                 pick(1, 2),
                 groups,
                 {},
                 {},
                 {}};
    d.ws[1] = d.xs[1] / groups;
    int64_t span_h = d.dilation * (d.ws[2] - 1) + 1, span_w = d.dilation * (d.ws[3] - 1) + 1;
    if (span_h > d.xs[2] + 2 * d.padding || span_w > d.xs[3] + 2 * d.padding) continue;
    Tensor x = uniform(d.xs, -1, 1, trial), w = uniform(d.ws, -1, 1, trial + 1000);
    Tensor b = uniform({d.ws[0]}, -1, 1, trial + 2000);
    Tensor y = conv2d(x, w, b, d.stride, d.padding, d.dilation, groups);
    Tensor g = uniform(y.shape(), -1, 1, trial + 3000, false);
    y.backward(g);
    d.run(x.tolist(), w.tolist(), b.tolist(), g.tolist(), y.size(2), y.size(3));
    CAPTURE(trial);
    require_close(y, as_tensor(d.y, y.shape()), 1e-4, 1e-5, "output");
    require_close(x.grad(), as_tensor(d.gx, x.shape()), 1e-4, 1e-5, "input gradient");
    require_close(w.grad(), as_tensor(d.gw, w.shape()), 1e-4, 1e-5, "weight gradient");
    ++tested;
  }
  CHECK(tested > 150);
}

TEST_CASE("conv ops read strided inputs and send gradients back through the view") {
  Tensor w = uniform({4, 3, 3, 3}, -1, 1, 21, false);
  // The same NHWC values twice: one is read as a permuted (strided) view, the other copied.
  Tensor strided_base = uniform({2, 5, 5, 3}, -1, 1, 20),
         copied_base = uniform({2, 5, 5, 3}, -1, 1, 20);
  Tensor x = strided_base.permute({0, 3, 1, 2});
  REQUIRE_FALSE(x.is_contiguous());
  Tensor y = conv2d(x, w, {}, 1, 1);
  Tensor y_copied = conv2d(copied_base.permute({0, 3, 1, 2}).contiguous(), w, {}, 1, 1);
  require_close(y, y_copied, 1e-6, 1e-7, "strided conv2d");
  Tensor g = uniform(y.shape(), -1, 1, 24, false);
  y.backward(g);
  y_copied.backward(g);
  require_close(strided_base.grad(), copied_base.grad(), 1e-6, 1e-7, "gradient through the view");
  CHECK_FALSE(w.grad().defined());  // the weight did not ask for a gradient

  Tensor wt = uniform({3, 2, 2, 2}, -1, 1, 22, false);
  require_close(conv_transpose2d(x, wt, {}, 2), conv_transpose2d(x.contiguous(), wt, {}, 2), 1e-6,
                1e-7, "strided conv_transpose2d");
  Tensor wl = uniform({3, 4}, -1, 1, 23, false).transpose(0, 1);  // (4, 3), not contiguous
  require_close(linear(strided_base, wl), linear(strided_base, wl.contiguous()), 1e-6, 1e-7,
                "linear with a transposed weight");
}

TEST_CASE("no graph is recorded in no-grad mode") {
  Tensor x = uniform({1, 2, 4, 4}, -1, 1, 30), w = uniform({2, 2, 3, 3}, -1, 1, 31);
  NoGradGuard guard;
  CHECK_FALSE(conv2d(x, w, {}, 1, 1).requires_grad());
  CHECK_FALSE(max_pool2d(x, 2).requires_grad());
  CHECK_FALSE(linear(x, uniform({3, 4}, -1, 1, 32)).requires_grad());
}

TEST_CASE("max_pool2d propagates NaN like PyTorch") {
  Tensor x = from_vector({1, NAN, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  std::vector<float> y = max_pool2d(x, 2).tolist();
  CHECK(std::isnan(y[0]));
  CHECK(y[1] == 8.f);
  CHECK(y[3] == 16.f);
}
