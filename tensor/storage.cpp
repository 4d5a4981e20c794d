#include "tensor/storage.hpp"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/error.hpp"

namespace tinydiff {

BlockAllocator& cuda_block_allocator();  // tensor/cuda/ in a CUDA build

namespace {

struct CpuBlockAllocator : BlockAllocator {
  void* raw_alloc(int64_t bytes) override { return std::aligned_alloc(64, bytes); }
  void raw_free(void* ptr) override { std::free(ptr); }
};

// Sizes are rounded so that near sizes share a free list: to 512 bytes below 1 MiB, and to
// an eighth of the next power of two above (at most 12.5% slack).
int64_t round_block_size(int64_t bytes) {
  if (bytes <= 0) return 512;
  if (bytes < (1 << 20)) return (bytes + 511) / 512 * 512;
  int64_t pow2 = 1;
  while (pow2 < bytes) pow2 <<= 1;
  int64_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

class CachingAllocator {
 public:
  explicit CachingAllocator(BlockAllocator* raw) : raw_(raw) {}

  void* allocate(int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.allocations;
    stats_.current_bytes += bytes;
    if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
    auto& list = free_[bytes];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      stats_.cached_bytes -= bytes;
      return p;
    }
    void* p = raw_->raw_alloc(bytes);
    if (!p) {  // give the cache back and try once more before reporting failure
      release_all();
      p = raw_->raw_alloc(bytes);
    }
    TD_CHECK(p, "allocator: out of memory allocating ", bytes, " bytes (",
             stats_.current_bytes - bytes, " bytes live)");
    return p;
  }

  void release(void* p, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.current_bytes -= bytes;
    stats_.cached_bytes += bytes;
    free_[bytes].push_back(p);
  }

  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_all();
  }
  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes = stats_.current_bytes;
  }

 private:
  void release_all() {
    for (auto& [bytes, list] : free_)
      for (void* p : list) raw_->raw_free(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }
  BlockAllocator* raw_;
  std::mutex mutex_;
  std::unordered_map<int64_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

CachingAllocator& allocator_for(Device device) {
  // Leaked on purpose: storages may be destroyed during static destruction.
  static auto* cpu = new CachingAllocator(new CpuBlockAllocator());
  if (device.is_cpu()) return *cpu;
#ifdef TINYDIFF_CUDA
  static auto* cuda = new CachingAllocator(&cuda_block_allocator());
  return *cuda;
#else
  require_device(device, "allocator");
  return *cpu;
#endif
}

}  // namespace

std::shared_ptr<Storage> Storage::allocate(int64_t numel, Device device) {
  require_device(device, "allocate");
  TD_CHECK(numel >= 0, "allocate: negative element count ", numel);
  int64_t bytes = round_block_size(numel * int64_t(sizeof(float)));
  auto* data = static_cast<float*>(allocator_for(device).allocate(bytes));
  return std::shared_ptr<Storage>(new Storage(data, numel, bytes, device));
}

Storage::~Storage() { allocator_for(device_).release(data_, bytes_); }

MemoryStats memory_stats(Device device) { return allocator_for(device).stats(); }
void reset_peak_memory_stats(Device device) { allocator_for(device).reset_peak(); }
void empty_cache(Device device) { allocator_for(device).empty(); }

}  // namespace tinydiff
