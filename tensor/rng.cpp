#include "tensor/rng.hpp"

#include "tensor/error.hpp"

namespace tinydiff {

void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
#pragma omp parallel for if (n > 65536)
  for (int64_t block = 0; block < (n + 3) / 4; ++block) {
    auto bits = philox4x32_10(offset + block, seed);
    for (int lane = 0; lane < 4 && block * 4 + lane < n; ++lane)
      out[block * 4 + lane] = uniform_from_bits(bits[lane]);
  }
}

void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t offset) {
#pragma omp parallel for if (n > 65536)
  for (int64_t block = 0; block < (n + 3) / 4; ++block) {
    auto bits = philox4x32_10(offset + block, seed);
    for (int pair = 0; pair < 2; ++pair) {
      float z0, z1;
      box_muller(uniform_from_bits(bits[2 * pair]), uniform_from_bits(bits[2 * pair + 1]), &z0, &z1);
      int64_t i = block * 4 + 2 * pair;
      if (i < n) out[i] = z0;
      if (i + 1 < n) out[i + 1] = z1;
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
