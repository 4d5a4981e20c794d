// The register tile at the heart of the CPU matrix products (tensor/cpu/gemm.cpp) and of the
// implicit-GEMM convolution (tensor/cpu/conv_implicit.cpp): a kMR x kNR block of C held in
// vector registers while k runs, each step doing 2 kMR fused multiply-adds: one broadcast
// element of A times two vectors of B. The block is as large as the target's registers allow,
// leaving room for the two B vectors and the broadcast:
//   AVX-512 (32 registers of 16 floats): 8 x 32, 16 accumulators;
//   AVX2 or SSE (16 registers of 8 or 4 floats): 6 x 16 or 6 x 8, 12 accumulators.
// (An 8 x 32 block under AVX2 is 32 accumulators, and GCC spilled them to the stack:
// tests/bench/README.md, "On a CPU without AVX-512". BLIS's Haswell kernel is 6 x 16 too.)
//
// A comes packed: a panel of kMR rows stored k-major, ap[k * kMR + r] = A(r, k). Where a row
// of B comes from is the caller's choice (a packed panel, a matrix read in place, an image),
// given as a function that loads row k's vectors.
#pragma once
#include <cstdint>
#include <cstring>

namespace tinydiff {
namespace cpu {

// A vector of kLanes floats, with GCC/Clang's vector extension: `a * v` broadcasts the float
// a, and the compiler emits the target's FMA instructions (AVX-512, AVX2 or plain SSE).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kMR = 8;  // rows of a C tile
#elif defined(__AVX__)
constexpr int kLanes = 8;
constexpr int kMR = 6;
#else  // SSE (a build without -march=native, e.g. the sanitizer build)
constexpr int kLanes = 4;
constexpr int kMR = 6;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

constexpr int kVecs = 2;             // vectors in a row of a C tile
constexpr int kNR = kVecs * kLanes;  // columns of a C tile

using Tile = Vec[kMR][kVecs];

// Unaligned vector load and store. (Going through a local keeps the accumulators out of
// memory: taking their address would make GCC spill them to the stack at every k.)
inline Vec load(const float* p) {
  Vec x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
inline void store(float* p, Vec x) { std::memcpy(p, &x, sizeof x); }

// acc += Ap (kMR x kc) @ B (kc x kNR), row k of B loaded by load_b(k, b) into b[kVecs].
template <class LoadB>
inline void accumulate_tile(int64_t kc, const float* __restrict ap, LoadB&& load_b, Tile& acc) {
  for (int64_t k = 0; k < kc; ++k) {
    Vec b[kVecs];
    load_b(k, b);
    for (int r = 0; r < kMR; ++r)
      for (int v = 0; v < kVecs; ++v) acc[r][v] += ap[k * kMR + r] * b[v];
  }
}

// out[j] = alpha row[j] + beta out[j] for the first `cols` of the `count` floats of a tile
// row starting at vector `first`; beta = 0 never reads out (it may hold garbage).
inline void store_row(const Vec* row, int first, int count, float* out, int64_t cols,
                      float alpha, float beta) {
  float values[kNR];
  for (int v = 0; v < kVecs; ++v) store(values + v * kLanes, row[v]);
  const float* part = values + first * kLanes;
  if (cols > count) cols = count;
  if (beta == 0.f)
    for (int64_t j = 0; j < cols; ++j) out[j] = alpha * part[j];
  else
    for (int64_t j = 0; j < cols; ++j) out[j] = alpha * part[j] + beta * out[j];
}

}  // namespace cpu
}  // namespace tinydiff
