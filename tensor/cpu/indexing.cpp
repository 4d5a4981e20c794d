// CPU indexing kernels over (outer, n, inner) views. Reads (select, gather) are parallel over
// output rows. Scatters (index_add, scatter_add) may hit one destination row from several
// source rows, so they are parallel over (outer, block of inner columns) instead: each thread
// owns a disjoint set of destination columns and no two threads add into the same float.
#include "tensor/kernels/indexing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tinydiff {
namespace cpu {

namespace {
constexpr int64_t kParallelGrain = 32768;  // below this many elements, one thread is faster
constexpr int64_t kColumnBlock = 256;      // inner columns per task in the scatters

int64_t blocks_of(int64_t inner) {
  return (inner + kColumnBlock - 1) / kColumnBlock;
}
}  // namespace

void find_bad_index(const float* index, int64_t n, int64_t size, int64_t* position) {
  *position = -1;
  for (int64_t i = 0; i < n; ++i) {
    float v = index[i];
    if (!(v >= 0.f && v < float(size) && v == std::floor(v))) {  // NaN fails too
      *position = i;
      return;
    }
  }
}

void index_select(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
                  int64_t n_idx, int64_t inner) {
#pragma omp parallel for collapse(2) if (outer * n_idx * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n_idx; ++i) {
      const float* row = x + (o * n_in + int64_t(index[i])) * inner;
      std::memcpy(out + (o * n_idx + i) * inner, row, sizeof(float) * inner);
    }
}

void index_add(const float* g, const float* index, float* gx, int64_t outer, int64_t n_in,
               int64_t n_idx, int64_t inner) {
  int64_t blocks = blocks_of(inner);
#pragma omp parallel for collapse(2) if (outer * n_idx * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t begin = b * kColumnBlock, end = std::min(inner, begin + kColumnBlock);
      for (int64_t i = 0; i < n_idx; ++i) {
        const float* src = g + (o * n_idx + i) * inner;
        float* dst = gx + (o * n_in + int64_t(index[i])) * inner;
        for (int64_t j = begin; j < end; ++j) dst[j] += src[j];
      }
    }
}

void gather(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
            int64_t n_idx, int64_t inner) {
#pragma omp parallel for collapse(2) if (outer * n_idx * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n_idx; ++i) {
      const float* idx = index + (o * n_idx + i) * inner;
      float* y = out + (o * n_idx + i) * inner;
      const float* plane = x + o * n_in * inner;  // x[o, :, :]
      for (int64_t j = 0; j < inner; ++j) y[j] = plane[int64_t(idx[j]) * inner + j];
    }
}

void scatter_add(const float* src, const float* index, float* dst, int64_t outer, int64_t n_dst,
                 int64_t n_idx, int64_t inner) {
  int64_t blocks = blocks_of(inner);
#pragma omp parallel for collapse(2) if (outer * n_idx * inner > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t begin = b * kColumnBlock, end = std::min(inner, begin + kColumnBlock);
      float* plane = dst + o * n_dst * inner;  // dst[o, :, :]
      for (int64_t i = 0; i < n_idx; ++i) {
        const float* idx = index + (o * n_idx + i) * inner;
        const float* s = src + (o * n_idx + i) * inner;
        for (int64_t j = begin; j < end; ++j) plane[int64_t(idx[j]) * inner + j] += s[j];
      }
    }
}

void one_hot(const float* index, float* out, int64_t n, int64_t classes) {
  std::memset(out, 0, sizeof(float) * n * classes);
#pragma omp parallel for if (n * classes > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i * classes + int64_t(index[i])] = 1.f;
}

}  // namespace cpu
}  // namespace tinydiff
