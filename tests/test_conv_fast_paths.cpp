// The CPU convolution kernels' fast paths (tensor/cpu/conv.cpp, tensor/cpu/conv_implicit.cpp)
// against the convolution's definition summed in double:
//   y[n][co][oy][ox] = b[co] + sum_{ci, i, j} W[co][ci][i][j] x[n][ci][y][x],
//   y = oy s + i d - p, x = ox s + j d - p
// and its two gradients. The geometries are chosen to take each path: the implicit GEMM
// (stride 1, output as wide as the input; for the weight gradient also >= 16 output channels)
// with row lengths, channel counts and depths that are not multiples of the 8 x 8 transposes
// and 8 x 32 register tiles; the im2col path (other paddings, strides, dilation, groups); and
// the flipped-kernel input gradient (stride 1) against col2im (the others).
#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "tensor/cpu/parallel_errors.hpp"
#include "tensor/kernels/conv.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

namespace {

struct Case {
  const char* what;
  ConvGeometry g;
};

ConvGeometry geometry(int64_t batch, int64_t c_in, int64_t c_out, int64_t h, int64_t w,
                      int64_t kernel, int64_t stride, int64_t padding, int64_t dilation = 1,
                      int64_t groups = 1) {
  ConvGeometry g;
  g.batch = batch, g.in_channels = c_in, g.out_channels = c_out, g.in_h = h, g.in_w = w;
  g.kernel_h = g.kernel_w = kernel, g.stride = stride, g.padding = padding;
  g.dilation = dilation, g.groups = groups;
  g.out_h = (h + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
  g.out_w = (w + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
  return g;
}

std::vector<Case> cases() {
  return {
      {"implicit: 17-wide rows, 20 outputs, depth 27", geometry(2, 3, 20, 13, 17, 3, 1, 1)},
      {"implicit: 28x28, 1 input channel, 16 outputs", geometry(2, 1, 16, 28, 28, 3, 1, 1)},
      {"implicit: 8x8, two rows per vector", geometry(2, 9, 24, 8, 8, 3, 1, 1)},
      {"implicit: 7x7, runs starting mid-row", geometry(3, 4, 16, 7, 7, 3, 1, 1)},
      {"implicit: 5x5 kernel, padding 2, 33 outputs", geometry(1, 4, 33, 14, 20, 5, 1, 2)},
      {"implicit forward, im2col weight gradient: 8 outputs", geometry(2, 5, 8, 12, 14, 3, 1, 1)},
      {"im2col: padding 2 grows the 3x3 output", geometry(2, 2, 17, 12, 12, 3, 1, 2)},
      {"im2col: no padding", geometry(2, 2, 33, 12, 12, 3, 1, 0)},
      {"im2col: stride 2", geometry(2, 3, 16, 15, 15, 3, 2, 1)},
      {"im2col: dilation 2", geometry(2, 3, 16, 16, 16, 3, 1, 2, 2)},
      {"im2col: 2 groups", geometry(2, 4, 18, 14, 14, 3, 1, 1, 1, 2)},
      {"pointwise 1x1", geometry(2, 6, 20, 13, 13, 1, 1, 0)},
  };
}

std::vector<float> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Calls fn(n, co, ci, i, j, oy, ox, input index) for every product of the definition
// whose input pixel lies inside the image.
template <class Fn>
void for_each_product(const ConvGeometry& g, Fn&& fn) {
  const int64_t in_group = g.in_channels / g.groups, out_group = g.out_channels / g.groups;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t co = 0; co < g.out_channels; ++co)
      for (int64_t c = 0; c < in_group; ++c)
        for (int64_t i = 0; i < g.kernel_h; ++i)
          for (int64_t j = 0; j < g.kernel_w; ++j)
            for (int64_t oy = 0; oy < g.out_h; ++oy)
              for (int64_t ox = 0; ox < g.out_w; ++ox) {
                const int64_t y = oy * g.stride + i * g.dilation - g.padding;
                const int64_t x = ox * g.stride + j * g.dilation - g.padding;
                if (y < 0 || y >= g.in_h || x < 0 || x >= g.in_w) continue;
                const int64_t ci = co / out_group * in_group + c;
                fn(n, co, c, i, j, oy, ox, ((n * g.in_channels + ci) * g.in_h + y) * g.in_w + x);
              }
}

// max |actual - expected| / (1e-5 max|expected| + 1e-5 |expected|): float sums of hundreds
// of products carry rounding relative to the tensor's scale, not to each (maybe tiny) entry.
double worst_error(const std::vector<float>& actual, const std::vector<double>& expected) {
  double scale = 0, worst = 0;
  for (double e : expected) scale = std::max(scale, std::fabs(e));
  for (size_t i = 0; i < actual.size(); ++i)
    worst = std::max(worst, std::fabs(actual[i] - expected[i]) /
                                (1e-5 * scale + 1e-5 * std::fabs(expected[i])));
  return worst;
}

}  // namespace

TEST_SUITE("conv fast paths") {

TEST_CASE("conv2d kernels: forward, input and weight gradients match the definition") {
  std::mt19937 rng(5);
  for (const Case& c : cases()) {
    const ConvGeometry& g = c.g;
    const int64_t patch = g.in_channels / g.groups * g.kernel_h * g.kernel_w;
    const size_t x_size = g.batch * g.in_channels * g.in_h * g.in_w;
    const size_t y_size = g.batch * g.out_channels * g.out_h * g.out_w;
    std::vector<float> x = random_values(x_size, rng), grad_y = random_values(y_size, rng);
    std::vector<float> w = random_values(g.out_channels * patch, rng);
    std::vector<float> b = random_values(g.out_channels, rng);
    std::vector<float> b_in = random_values(g.in_channels, rng);
    std::vector<double> y_ref(y_size), gx_ref(x_size), gw_ref(w.size());
    for (size_t i = 0; i < y_size; ++i) y_ref[i] = b[i / (g.out_h * g.out_w) % g.out_channels];
    for (size_t i = 0; i < x_size; ++i) gx_ref[i] = b_in[i / (g.in_h * g.in_w) % g.in_channels];
    for_each_product(g, [&](int64_t n, int64_t co, int64_t c, int64_t i, int64_t j, int64_t oy,
                            int64_t ox, int64_t at) {
      const int64_t wi = (co * patch / (g.kernel_h * g.kernel_w) + c) * g.kernel_h * g.kernel_w +
                         i * g.kernel_w + j;
      const int64_t yi = ((n * g.out_channels + co) * g.out_h + oy) * g.out_w + ox;
      y_ref[yi] += double(w[wi]) * x[at];
      gx_ref[at] += double(w[wi]) * grad_y[yi];
      gw_ref[wi] += double(x[at]) * grad_y[yi];
    });
    std::vector<float> y(y_size), gx(x_size), gw(w.size());
    cpu::conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
    cpu::conv2d_backward_input(g, grad_y.data(), w.data(), b_in.data(), gx.data());
    cpu::conv2d_backward_weight(g, x.data(), grad_y.data(), gw.data());
    INFO(std::string(c.what));
    CHECK(worst_error(y, y_ref) <= 1.0);
    CHECK(worst_error(gx, gx_ref) <= 1.0);
    CHECK(worst_error(gw, gw_ref) <= 1.0);
  }
}

TEST_CASE("conv2d kernels: a batch of one gives the same result as within a batch") {
  // Threads split the batch; each image's result must not depend on its neighbours.
  std::mt19937 rng(6);
  ConvGeometry g = geometry(3, 4, 24, 16, 16, 3, 1, 1), one = g;
  one.batch = 1;
  const int64_t image = 4 * 256, out = 24 * 256;
  std::vector<float> x = random_values(3 * image, rng), w = random_values(24 * 36, rng);
  std::vector<float> y(3 * out), y_one(out);
  cpu::conv2d_forward(g, x.data(), w.data(), nullptr, y.data());
  cpu::conv2d_forward(one, x.data() + 2 * image, w.data(), nullptr, y_one.data());
  CHECK(std::equal(y_one.begin(), y_one.end(), y.begin() + 2 * out));
}

}  // TEST_SUITE

// conv2d's loops run their bodies through ParallelErrors: an exception thrown by one
// iteration (a stubbed im2col in a handout) must reach the caller, not abort the program.
TEST_CASE("an exception inside a guarded OpenMP loop reaches the caller after the loop") {
  cpu::ParallelErrors errors;
  std::vector<int> done(64, 0);
#pragma omp parallel for schedule(static)
  for (int n = 0; n < 64; ++n) errors.guard([&] {
      if (n == 37) throw std::runtime_error("iteration 37 failed");
      done[n] = 1;
    });
  CHECK_THROWS_WITH(errors.rethrow(), "iteration 37 failed");
  CHECK(std::count(done.begin(), done.end(), 1) == 63);  // the other iterations still ran
  cpu::ParallelErrors none;
  CHECK_NOTHROW(none.rethrow());
}
