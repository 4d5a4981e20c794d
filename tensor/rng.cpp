#include "tensor/rng.hpp"

#include <cmath>

#include "tensor/error.hpp"

namespace tinydiff {

std::array<uint32_t, 4> philox4x32_10(uint64_t counter, uint64_t key) {
  // Constants from Salmon et al. 2011, Table 2 (multipliers) and the Weyl key schedule.
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

void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
#pragma omp parallel for if (n > 65536)
  for (int64_t block = 0; block < (n + 3) / 4; ++block) {
    auto bits = philox4x32_10(offset + block, seed);
    for (int lane = 0; lane < 4 && block * 4 + lane < n; ++lane)
      out[block * 4 + lane] = uniform_from_bits(bits[lane]);
  }
}

void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  const float two_pi = 6.283185307179586f;
#pragma omp parallel for if (n > 65536)
  for (int64_t block = 0; block < (n + 3) / 4; ++block) {
    auto bits = philox4x32_10(offset + block, seed);
    for (int pair = 0; pair < 2; ++pair) {
      // Box-Muller: r = sqrt(-2 ln u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2).
      float u1 = uniform_from_bits(bits[2 * pair]), u2 = uniform_from_bits(bits[2 * pair + 1]);
      float r = std::sqrt(-2.0f * std::log(u1));
      int64_t i = block * 4 + 2 * pair;
      if (i < n) out[i] = r * std::cos(two_pi * u2);
      if (i + 1 < n) out[i + 1] = r * std::sin(two_pi * u2);
    }
  }
}

float Generator::uniform() {
  float u;
  philox_uniform(&u, 1, state_.seed, advance(1));
  return u;
}

uint64_t Generator::next_u64() {
  auto bits = philox4x32_10(advance(4), state_.seed);
  return (uint64_t(bits[0]) << 32) | bits[1];
}

int64_t Generator::randint(int64_t low, int64_t high) {
  TD_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  return low + int64_t(next_u64() % uint64_t(high - low));
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tinydiff
