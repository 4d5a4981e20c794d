// The Philox 4x32-10 block function and the maps from its bits to floats, written once
// for both devices (TD_HD = __host__ __device__ under nvcc). tensor/rng.cpp fills CPU tensors
// with them and tensor/cuda/random.cu fills GPU tensors, so equal (seed, offset) give equal
// uniforms bit for bit, and normals equal up to the last bits of logf/cosf/sinf.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

// Ten rounds of Philox 4x32 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3",
// Fig. 2) on the 128-bit counter (counter, 0) under the 64-bit key. Constants: Table 2
// (multipliers M0, M1) and the Weyl sequence that bumps the key each round (W0, W1).
TD_HD std::array<uint32_t, 4> philox4x32_10(uint64_t counter, uint64_t key) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += W0, k1 += W1;
  }
  return {c0, c1, c2, c3};
}

// A uniform float in the open interval (0, 1) from 32 random bits (24-bit mantissa). Every
// step is exact in float32, so both devices give the same number.
TD_HD float uniform_from_bits(uint32_t bits) { return ((bits >> 8) + 0.5f) * (1.0f / 16777216.0f); }

// Box-Muller (Box & Muller 1958): two uniforms u1, u2 in (0, 1) -> two independent standard
// normals z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), with r = sqrt(-2 ln u1).
TD_HD void box_muller(float u1, float u2, float* z0, float* z1) {
  const float two_pi = 6.283185307179586f;
  float r = sqrtf(-2.0f * logf(u1));
  *z0 = r * cosf(two_pi * u2);
  *z1 = r * sinf(two_pi * u2);
}

}  // namespace tinydiff
