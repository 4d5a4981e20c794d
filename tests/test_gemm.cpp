// The CPU GEMM (tensor/cpu/gemm.cpp, tensor/cpu/matmul.cpp) against a double-precision
// reference: every transpose, alpha and beta, batch strides (0 broadcasts), and sizes that
// cross its blocking (8 x 32 tiles, 384-deep and 128-row blocks) and its thread split. Also
// the packed-operand entry points conv2d uses (its fast paths: tests/test_conv_fast_paths.cpp).
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/cpu/gemm.hpp"
#include "tensor/kernels/matmul.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

namespace {

std::vector<float> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(std::max<int64_t>(n, 1));
  for (float& x : v) x = u(rng);
  return v;
}

// op(X)(i, j) of a stored matrix with row stride ld.
double element(const std::vector<float>& x, int64_t offset, bool trans, int64_t ld, int64_t i,
               int64_t j) {
  return x[offset + (trans ? j * ld + i : i * ld + j)];
}

// Runs cpu::gemm on random operands and compares every entry of C (and the padding between
// rows, which must stay untouched) with the product computed in double.
void check_gemm(GemmArgs g, std::mt19937& rng, bool broadcast_a) {
  const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  g.lda = a_cols + 3, g.ldb = b_cols + 1, g.ldc = g.n + 2;
  g.stride_a = broadcast_a ? 0 : a_rows * g.lda;
  g.stride_b = b_rows * g.ldb, g.stride_c = g.m * g.ldc;
  std::vector<float> a = random_values((broadcast_a ? 1 : g.batch) * a_rows * g.lda, rng);
  std::vector<float> b = random_values(g.batch * b_rows * g.ldb, rng);
  std::vector<float> c = random_values(g.batch * g.m * g.ldc, rng), c0 = c;
  if (g.beta == 0.f)  // beta = 0 must not read C: NaN there would leak into the result
    for (int64_t i = 0; i < g.batch * g.m * g.ldc; ++i)
      if (i % g.ldc < g.n) c[i] = NAN;
  g.a = a.data(), g.b = b.data(), g.c = c.data();
  cpu::gemm(g);
  double worst = 0;
  for (int64_t p = 0; p < g.batch; ++p)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.ldc; ++j) {
        const int64_t at = p * g.stride_c + i * g.ldc + j;
        double expected = c0[at];  // the padding columns j >= n keep their values
        if (j < g.n) {
          double sum = 0;
          for (int64_t k = 0; k < g.k; ++k)
            sum += element(a, p * g.stride_a, g.trans_a, g.lda, i, k) *
                   element(b, p * g.stride_b, g.trans_b, g.ldb, k, j);
          expected = g.alpha * sum + (g.beta == 0.f ? 0.0 : g.beta * c0[at]);
        }
        double error = std::fabs(c[at] - expected) / (1e-5 + 1e-5 * std::sqrt(double(g.k) + 1));
        worst = std::isnan(c[at]) ? INFINITY : std::max(worst, error);
      }
  INFO("trans_a ", g.trans_a, " trans_b ", g.trans_b, " batch ", g.batch, " m ", g.m, " n ", g.n,
       " k ", g.k, " alpha ", g.alpha, " beta ", g.beta, " broadcast_a ", broadcast_a);
  CHECK(worst <= 1.0);
}

GemmArgs shape(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k,
               float alpha = 1.f, float beta = 0.f) {
  GemmArgs g;
  g.trans_a = trans_a, g.trans_b = trans_b;
  g.batch = batch, g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
  return g;
}

}  // namespace

TEST_SUITE("gemm") {

TEST_CASE("cpu gemm: every transpose, alpha and beta, on sizes crossing the tiles and blocks") {
  std::mt19937 rng(7);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm(shape(ta, tb, 1, 1, 1, 1), rng, false);
      check_gemm(shape(ta, tb, 1, 7, 31, 5, 0.5f, 1.f), rng, false);         // one partial tile
      check_gemm(shape(ta, tb, 1, 9, 33, 17, -2.f, 0.25f), rng, false);      // tiles + remainders
      check_gemm(shape(ta, tb, 1, 130, 70, 400), rng, false);                // > 1 m and k block
      check_gemm(shape(ta, tb, 1, 64, 256, 576, 1.f, 1.f), rng, false);      // a conv2d product
      check_gemm(shape(ta, tb, 3, 20, 40, 50, 1.f, -1.f), rng, ta && !tb);   // batch, broadcast A
    }
}

TEST_CASE("cpu gemm: large products split across threads give the serial result") {
  std::mt19937 rng(8);
  check_gemm(shape(false, false, 1, 200, 300, 100), rng, false);  // split along columns
  check_gemm(shape(true, false, 1, 300, 40, 200), rng, false);    // split along rows
  check_gemm(shape(false, true, 2, 150, 150, 150), rng, false);   // batch of 2 on 2 threads
}

TEST_CASE("cpu gemm: inside a parallel region each call runs on its own thread") {
  std::mt19937 rng(9);
  std::vector<float> a = random_values(64 * 96, rng), b = random_values(96 * 80, rng);
  std::vector<float> serial(64 * 80), inside(4 * 64 * 80);
  GemmArgs g = shape(false, false, 1, 64, 80, 96);
  g.a = a.data(), g.lda = 96, g.b = b.data(), g.ldb = 80, g.ldc = 80, g.c = serial.data();
  cpu::gemm(g);
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 4; ++i) {
    GemmArgs mine = g;
    mine.c = inside.data() + i * 64 * 80;
    cpu::gemm(mine);
  }
  for (int i = 0; i < 4; ++i)
    CHECK(std::equal(serial.begin(), serial.end(), inside.begin() + i * 64 * 80));
}

TEST_CASE("cpu gemm: an empty inner dimension gives beta C") {
  std::vector<float> c = {1.f, 2.f, 3.f, 4.f};
  GemmArgs g = shape(false, false, 1, 2, 2, 0, 1.f, 0.5f);
  g.c = c.data(), g.ldc = 2;
  cpu::gemm(g);
  CHECK(c == std::vector<float>{0.5f, 1.f, 1.5f, 2.f});
  g.beta = 0.f;
  cpu::gemm(g);
  CHECK(c == std::vector<float>{0.f, 0.f, 0.f, 0.f});
}

TEST_CASE("cpu gemm_packed_a: a packed A times B read in place or transposed") {
  std::mt19937 rng(10);
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true})
      for (int64_t n : {32, 45, 256}) {
        const int64_t m = 19, k = 37, lda = trans_a ? m : k, ldb = trans_b ? k + 2 : n + 2;
        std::vector<float> a = random_values(m * k, rng);
        std::vector<float> b = random_values((trans_b ? n : k) * ldb, rng);
        std::vector<float> packed(cpu::packed_a_size(m, k)), c(m * n, 1.f);
        cpu::pack_a_panels(trans_a, m, k, a.data(), lda, packed.data());
        cpu::gemm_packed_a(packed.data(), m, n, k, trans_b, b.data(), ldb, c.data(), n, 2.f, 1.f);
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = 0;
            for (int64_t p = 0; p < k; ++p)
              sum += element(a, 0, trans_a, lda, i, p) * element(b, 0, trans_b, ldb, p, j);
            worst = std::max(worst, std::fabs(c[i * n + j] - (2 * sum + 1)));
          }
        INFO("trans_a ", trans_a, " trans_b ", trans_b, " n ", n);
        CHECK(worst < 1e-4);
      }
}

}  // TEST_SUITE
