// CPU optimizer kernels: one fused loop per tensor of the list, parallel over elements with
// OpenMP once a tensor is large enough to pay for waking the threads. The formulas are in
// tensor/kernels/optim.hpp; the order of operations follows torch.optim's single-tensor code.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/kernels/optim.hpp"

namespace tinydiff {
namespace cpu {

namespace {
constexpr int64_t kParallelGrain = 32768;  // below this many elements, one thread is faster
constexpr int64_t kSumChunk = 16384;       // sum_squares adds fixed chunks, then the chunk sums
}  // namespace

// Two loops, so that the momentum-free one never touches `buf` (which may then be null).
void sgd_update(const std::vector<SgdTensor>& list, const SgdScalars& s) {
  for (const auto& [p, g, buf, n] : list) {
    if (s.momentum == 0.f) {
#pragma omp parallel for simd if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) {
        float d = s.weight_decay != 0.f ? g[i] + s.weight_decay * p[i] : g[i];
        p[i] -= s.lr * d;
      }
      continue;
    }
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      float d = s.weight_decay != 0.f ? g[i] + s.weight_decay * p[i] : g[i];
      float b = s.first_step ? d : s.momentum * buf[i] + s.one_minus_dampening * d;
      buf[i] = b;
      p[i] -= s.lr * (s.nesterov ? d + s.momentum * b : b);
    }
  }
}

void adam_update(const std::vector<AdamTensor>& list, const AdamScalars& s) {
  for (const auto& [p, g, m, v, n] : list) {
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      float param = p[i] * s.decay;
      float grad = s.l2 != 0.f ? g[i] + s.l2 * param : g[i];
      float mi = s.beta1 * m[i] + s.one_minus_beta1 * grad;
      float vi = s.beta2 * v[i] + (s.one_minus_beta2 * grad) * grad;
      float denom = std::sqrt(vi) / s.bc2_sqrt + s.eps;
      m[i] = mi;
      v[i] = vi;
      p[i] = param - (s.step_size * mi) / denom;
    }
  }
}

void ema_update(const std::vector<EmaTensor>& list, float one_minus_decay) {
  for (const auto& [shadow, p, n] : list) {
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) shadow[i] -= one_minus_decay * (shadow[i] - p[i]);
  }
}

// Each entry in chunks of kSumChunk (the chunk sums computed in parallel), the chunk sums
// added in order.
void sum_squares(const std::vector<FloatSpan>& list, float* out) {
  double total = 0;
  for (const auto& [x, n] : list) {
    int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
    std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t end = std::min(n, (c + 1) * kSumChunk);
      double s = 0;
      for (int64_t i = c * kSumChunk; i < end; ++i) s += double(x[i]) * x[i];
      partial[c] = s;
    }
    for (double s : partial) total += s;
  }
  *out = float(total);
}

void scale(const std::vector<FloatSpan>& list, float factor) {
  for (const auto& [x, n] : list) {
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) x[i] *= factor;
  }
}

}  // namespace cpu
}  // namespace tinydiff
