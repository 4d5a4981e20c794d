// Storage: one reference-counted buffer of float32 that tensors view into.
//
// Buffers come from a caching allocator: a freed block goes onto a free list keyed by its
// (rounded) size and the next request of that size reuses it. A training step asks for the
// same sizes every step, so after the first step no memory is returned to or taken from the
// OS (which is slow on our VMs: see DESIGN.md). The statistics count live tensor bytes only.
#pragma once
#include <cstdint>
#include <memory>

#include "tensor/device.hpp"

namespace tinydiff {

struct MemoryStats {
  int64_t current_bytes = 0;  // bytes held by live storages
  int64_t peak_bytes = 0;     // the maximum of current_bytes since the last reset
  int64_t cached_bytes = 0;   // freed blocks kept for reuse
  int64_t allocations = 0;    // requests served (from the cache or the OS)
};

MemoryStats memory_stats(Device device = Device::cpu());
void reset_peak_memory_stats(Device device = Device::cpu());
// Returns every cached block to the OS (or the driver).
void empty_cache(Device device = Device::cpu());

class Storage {
 public:
  // Uninitialised storage for `numel` floats on `device`.
  static std::shared_ptr<Storage> allocate(int64_t numel, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() const { return data_; }
  int64_t numel() const { return numel_; }
  Device device() const { return device_; }

 private:
  Storage(float* data, int64_t numel, int64_t bytes, Device device)
      : data_(data), numel_(numel), bytes_(bytes), device_(device) {}
  float* data_;
  int64_t numel_;
  int64_t bytes_;  // the rounded block size handed out by the allocator
  Device device_;
};

// The raw block interface each backend implements (CPU here, CUDA in tensor/cuda/).
struct BlockAllocator {
  virtual ~BlockAllocator() = default;
  virtual void* raw_alloc(int64_t bytes) = 0;
  virtual void raw_free(void* ptr) = 0;
};

}  // namespace tinydiff
