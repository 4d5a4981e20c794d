// CUDA random fills with the CPU's Philox stream (tensor/philox.hpp): element i of a fill at
// generator offset `offset` comes from Philox block offset + i/4 under key `seed`, on either
// device. So rand() gives the same bits on both, and randn() the same numbers up to the last
// bits of the device's logf/cosf/sinf.
#include "tensor/cuda/common.cuh"
#include "tensor/kernels/elementwise.hpp"
#include "tensor/philox.hpp"

namespace tinydiff::cuda {

namespace {

// Each thread draws whole Philox blocks b, b + T, ...; block b gives elements 4b .. 4b + 3.
__global__ void uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = thread_index(); b < blocks; b += thread_count()) {
    auto bits = philox4x32_10(offset + b, seed);
    for (int lane = 0; lane < 4 && b * 4 + lane < n; ++lane)
      out[b * 4 + lane] = uniform_from_bits(bits[lane]);
  }
}

// As uniform_kernel; each block's uniforms (0, 1) and (2, 3) become two normals by Box-Muller.
__global__ void normal_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = thread_index(); b < blocks; b += thread_count()) {
    auto bits = philox4x32_10(offset + b, seed);
    for (int pair = 0; pair < 2; ++pair) {
      float z0, z1;
      box_muller(uniform_from_bits(bits[2 * pair]), uniform_from_bits(bits[2 * pair + 1]), &z0, &z1);
      const int64_t i = b * 4 + 2 * pair;
      if (i < n) out[i] = z0;
      if (i + 1 < n) out[i + 1] = z1;
    }
  }
}

// One thread per Philox block of four elements.
unsigned blocks_for_philox(int64_t n) { return blocks_for((n + 3) / 4); }

}  // namespace

void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  uniform_kernel<<<blocks_for_philox(n), kThreads>>>(out, n, seed, offset);
  TD_CUDA_LAUNCH_CHECK();
}

void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  normal_kernel<<<blocks_for_philox(n), kThreads>>>(out, n, seed, offset);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
