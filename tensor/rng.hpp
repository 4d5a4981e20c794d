// Counter-based random numbers: Philox 4x32-10 (Salmon et al. 2011, "Parallel random numbers:
// as easy as 1, 2, 3"), the generator cuRAND and PyTorch's CUDA backend use.
//
// A Philox draw is a pure function of (key, counter): element i of a tensor filled at
// generator offset o uses block o + i/4. So every element can be computed independently, in
// any order, on any device and thread count, and gives the same number. The generator state
// is just (seed, offset): saving it in a checkpoint makes resumed training exact.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/philox.hpp"  // philox4x32_10, uniform_from_bits, box_muller (host and device)

namespace tinydiff {

struct RngState {
  uint64_t seed = 0;
  uint64_t offset = 0;  // Philox blocks consumed so far
};

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : state_{seed, 0} {}
  void manual_seed(uint64_t seed) { state_ = {seed, 0}; }
  RngState state() const { return state_; }
  void set_state(RngState s) { state_ = s; }
  // Reserves the blocks for `n` elements (ceil(n/4)) and returns the first block's offset.
  uint64_t advance(int64_t n) {
    uint64_t start = state_.offset;
    state_.offset += (uint64_t(n) + 3) / 4;
    return start;
  }
  // One number at a time, for host-side work (shuffles, timestep draws).
  float uniform();
  uint64_t next_u64();
  int64_t randint(int64_t low, int64_t high);  // uniform in [low, high)

 private:
  RngState state_;
};

// The process-wide generator behind manual_seed/randn/rand/randint.
Generator& default_generator();
void manual_seed(uint64_t seed);

// Fills out[0..n) with element i drawn at block `offset + i/4` under key `seed`.
// The same formulas run in tensor/cuda/ so both devices give equal numbers.
void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset);
// Standard normals by Box-Muller on the uniform pairs (2k, 2k+1) of the same stream.
void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t offset);

}  // namespace tinydiff
