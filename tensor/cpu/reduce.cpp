// CPU reductions and softmax over the middle axis of an (outer, r, inner) view.
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/kernels/reduce.hpp"
#include "tensor/kernels/unary_math.hpp"

namespace tinydiff {
namespace cpu {

namespace {
constexpr int64_t kParallelGrain = 32768;

// Reduces one column (stride `inner`) of length r; double accumulation for sums.
float reduce_column(ReduceOp op, const float* p, int64_t r, int64_t inner) {
  switch (op) {
    case ReduceOp::Sum: {
      double s = 0;
      for (int64_t i = 0; i < r; ++i) s += p[i * inner];
      return float(s);
    }
    case ReduceOp::Max:
    case ReduceOp::ArgMax: {
      int64_t best = 0;
      for (int64_t i = 1; i < r; ++i)
        if (p[i * inner] > p[best * inner] || std::isnan(p[i * inner])) best = i;
      return op == ReduceOp::Max ? p[best * inner] : float(best);
    }
    case ReduceOp::Min:
    case ReduceOp::ArgMin: {
      int64_t best = 0;
      for (int64_t i = 1; i < r; ++i)
        if (p[i * inner] < p[best * inner] || std::isnan(p[i * inner])) best = i;
      return op == ReduceOp::Min ? p[best * inner] : float(best);
    }
  }
  return 0.f;
}
}  // namespace

void reduce(ReduceOp op, const float* in, float* out, int64_t outer, int64_t r, int64_t inner) {
  if (op == ReduceOp::Sum && inner > 1) {
    // Sum down columns row by row so the inner loop runs over contiguous memory.
#pragma omp parallel for if (outer * r * inner > kParallelGrain)
    for (int64_t o = 0; o < outer; ++o) {
      std::vector<double> acc(inner, 0.0);
      for (int64_t i = 0; i < r; ++i) {
        const float* row = in + (o * r + i) * inner;
        for (int64_t j = 0; j < inner; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < inner; ++j) out[o * inner + j] = float(acc[j]);
    }
    return;
  }
#pragma omp parallel for collapse(2) if (outer * r * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j)
      out[o * inner + j] = reduce_column(op, in + o * r * inner + j, r, inner);
}

namespace {

// softmax of each contiguous row of r (inner = 1, the usual case: attention weights): the
// max, the exponentials (exp_approx, not a libm call per element), their sum in double and the
// normalisation, each its own vectorised loop (with the exponential and the sum in one loop GCC
// ran it scalar, 3.5x slower). x and y may be one buffer unless `log`.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t r, bool log) {
#pragma omp parallel for if (rows * r > kParallelGrain)
  for (int64_t o = 0; o < rows; ++o) {
    const float* px = x + o * r;
    float* py = y + o * r;
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < r; ++i) m = std::max(m, px[i]);
#pragma omp simd
    for (int64_t i = 0; i < r; ++i) py[i] = math::exp_approx(px[i] - m);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < r; ++i) s += py[i];
    if (log) {
      const float log_s = float(std::log(s));
      for (int64_t i = 0; i < r; ++i) py[i] = px[i] - m - log_s;
    } else {
      const float inverse = float(1 / s);
      for (int64_t i = 0; i < r; ++i) py[i] *= inverse;
    }
  }
}

}  // namespace

// softmax_i = exp(x_i - max) / sum_j exp(x_j - max); subtracting the max avoids overflow.
void softmax(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (inner == 1) return softmax_rows(x, y, outer, r, log);
#pragma omp parallel for collapse(2) if (outer * r * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      const float* px = x + o * r * inner + j;
      float* py = y + o * r * inner + j;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < r; ++i) m = std::max(m, px[i * inner]);
      double s = 0;
      for (int64_t i = 0; i < r; ++i) s += std::exp(double(px[i * inner] - m));
      float log_s = float(std::log(s));
      for (int64_t i = 0; i < r; ++i)
        py[i * inner] = log ? px[i * inner] - m - log_s : std::exp(px[i * inner] - m - log_s);
    }
}

void softmax_backward(const float* y, const float* g, float* gx, int64_t outer, int64_t r,
                      int64_t inner, bool log) {
  // BEGIN EXERCISE 00.2 softmax's backward (#4-where-the-derivatives-live)
#pragma omp parallel for collapse(2) if (outer * r * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      int64_t base = o * r * inner + j;
      double s = 0;
      for (int64_t i = 0; i < r; ++i)
        s += log ? g[base + i * inner] : double(g[base + i * inner]) * y[base + i * inner];
      for (int64_t i = 0; i < r; ++i) {
        int64_t k = base + i * inner;
        gx[k] = log ? g[k] - std::exp(y[k]) * float(s) : y[k] * (g[k] - float(s));
      }
    }
  // END EXERCISE
}

}  // namespace cpu
}  // namespace tinydiff
