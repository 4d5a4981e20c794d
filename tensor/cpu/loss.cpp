// CPU kernels for the class-index losses (see tensor/kernels/loss.hpp for the layout).
#include <cmath>
#include <cstring>

#include "tensor/kernels/loss.hpp"

namespace tinydiff {
namespace cpu {

namespace {
constexpr int64_t kParallelGrain = 32768;  // elements below which one thread is faster
}

// logp and loss: (outer, c, inner) -> (outer, inner)
void nll_loss(const float* logp, const float* target, float* loss, int64_t outer, int64_t c,
              int64_t inner) {
#pragma omp parallel for if (outer * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      int64_t k = int64_t(target[o * inner + j]);
      loss[o * inner + j] = -logp[(o * c + k) * inner + j];
    }
}

// g: (outer, inner) -> glogp: (outer, c, inner), zero except at the target classes.
void nll_loss_backward(const float* target, const float* g, float* glogp, int64_t outer,
                       int64_t c, int64_t inner) {
#pragma omp parallel for if (outer * c * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    std::memset(glogp + o * c * inner, 0, sizeof(float) * c * inner);
    for (int64_t j = 0; j < inner; ++j) {
      int64_t k = int64_t(target[o * inner + j]);
      glogp[(o * c + k) * inner + j] = -g[o * inner + j];
    }
  }
}

// logp, gx: (outer, c, inner); target, g: (outer, inner)
void cross_entropy_backward(const float* logp, const float* target, const float* g, float* gx,
                            int64_t outer, int64_t c, int64_t inner) {
#pragma omp parallel for if (outer * c * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    const float* go = g + o * inner;
    for (int64_t k = 0; k < c; ++k) {
      const float* lp = logp + (o * c + k) * inner;
      float* out = gx + (o * c + k) * inner;
      for (int64_t j = 0; j < inner; ++j) out[j] = go[j] * std::exp(lp[j]);
    }
    for (int64_t j = 0; j < inner; ++j) {
      int64_t k = int64_t(target[o * inner + j]);
      gx[(o * c + k) * inner + j] -= go[j];
    }
  }
}

}  // namespace cpu
}  // namespace tinydiff
