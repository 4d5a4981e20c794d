// Per-thread scratch buffers that only grow, so that a kernel allocates nothing after its first
// calls (the second training step reuses the first step's buffers).
//
// Each kernel file names its buffers with an enum of its own, ending in kSlots:
//   enum Slot { kColumns, kProduct, kSlots };
//   float* columns = scratch(kColumns, numel);
// The enum's type selects the set of buffers, so two files never hand out the same one.
#pragma once
#include <cstdint>
#include <vector>

namespace tinydiff::cpu {

// At least `numel` floats of this thread's buffer `slot`; the contents are unspecified.
template <class Slot>
float* scratch(Slot slot, int64_t numel) {
  thread_local std::vector<float> buffers[Slot::kSlots];
  std::vector<float>& b = buffers[slot];
  if (int64_t(b.size()) < numel) b.resize(numel);
  return b.data();
}

}  // namespace tinydiff::cpu
