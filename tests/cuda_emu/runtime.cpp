// The emulated CUDA runtime API: one device whose memory is host memory. cudaMalloc is
// posix_memalign, so AddressSanitizer (make SANITIZE=1) sees each device block with its exact
// size and reports a kernel that reads past it. The emulator also keeps a map of the blocks:
// a copy or a GEMM that leaves its block, or a host pointer handed to a kernel, would fault
// on a GPU, and here throws tinydiff::Error naming it.
#include "tests/cuda_emu/runtime.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "tensor/error.hpp"

namespace tinydiff_emu {

namespace {

// The live device blocks: start -> bytes. Leaked, as the caching allocators above it are.
struct Blocks {
  std::mutex mutex;
  std::map<const char*, size_t> sizes;
};
Blocks& blocks() {
  static auto* all = new Blocks();
  return *all;
}

thread_local cudaError_t last_error = cudaSuccess;

// Remembers a failure for cudaGetLastError, as the CUDA runtime does (per host thread).
cudaError_t fail(cudaError_t error) {
  last_error = error;
  return error;
}

// The block holding `pointer`, or none.
bool find_block(const void* pointer, const char** start, size_t* size) {
  Blocks& all = blocks();
  std::lock_guard<std::mutex> lock(all.mutex);
  const char* p = static_cast<const char*>(pointer);
  auto after = all.sizes.upper_bound(p);
  if (after == all.sizes.begin()) return false;
  auto block = std::prev(after);
  if (p >= block->first + block->second) return false;
  *start = block->first;
  *size = block->second;
  return true;
}

std::string address(const void* pointer) {
  std::ostringstream out;
  out << pointer;
  return out.str();
}

}  // namespace

bool is_device_pointer(const void* pointer) {
  const char* start;
  size_t size;
  return find_block(pointer, &start, &size);
}

void require_device_range(const void* pointer, size_t bytes, const std::string& what) {
  const char* start = nullptr;
  size_t size = 0;
  TD_CHECK(find_block(pointer, &start, &size), "cuda emulator: ", what, ": ", address(pointer),
           " is not device memory (a GPU would fault)");
  const char* p = static_cast<const char*>(pointer);
  TD_CHECK(size_t(p - start) + bytes <= size, "cuda emulator: ", what, ": ", bytes, " bytes at ",
           address(pointer), " run past the end of the device block of ", size, " bytes at ",
           address(start), " by ", size_t(p - start) + bytes - size,
           " bytes (a GPU would fault or read garbage)");
}

// A pointer just past the end of a block is a valid argument too (an empty range).
void require_device_argument(const LaunchSite& site, size_t index, const void* pointer) {
  const char* p = static_cast<const char*>(pointer);
  TD_CHECK(is_device_pointer(p) || is_device_pointer(p - 1), "cuda emulator: ", site.kernel, " launched at ", site.file,
           ":", site.line, ": argument ", index, " (", address(pointer),
           ") is not device memory (a GPU would fault)");
}

}  // namespace tinydiff_emu

using namespace tinydiff_emu;

namespace {

// One end of a cudaMemcpy: device memory where the kind says so, host memory otherwise.
void check_side(const void* pointer, size_t bytes, bool device, const char* what) {
  if (device) return require_device_range(pointer, bytes, what);
  TD_CHECK(!is_device_pointer(pointer), "cuda emulator: ", what, " is device memory, but the "
           "copy's kind says host memory");
}

}  // namespace

// 256-byte aligned, as cudaMalloc's blocks are. Zero bytes give a null pointer.
cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (!pointer) return fail(cudaErrorInvalidValue);
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (posix_memalign(pointer, 256, bytes) != 0) {
    *pointer = nullptr;
    return fail(cudaErrorMemoryAllocation);
  }
  Blocks& all = blocks();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.sizes[static_cast<const char*>(*pointer)] = bytes;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  Blocks& all = blocks();
  std::lock_guard<std::mutex> lock(all.mutex);
  auto block = all.sizes.find(static_cast<const char*>(pointer));
  if (block == all.sizes.end()) return fail(cudaErrorInvalidValue);
  all.sizes.erase(block);
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return fail(cudaErrorInvalidMemcpyDirection);
  if (bytes == 0) return cudaSuccess;
  const bool from_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool to_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if (kind != cudaMemcpyDefault) {
    check_side(src, bytes, from_device, "cudaMemcpy source");
    check_side(dst, bytes, to_device, "cudaMemcpy destination");
  }
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  TD_CHECK(stream == nullptr,
           "cuda emulator: cudaMemsetAsync: only the default stream is emulated");
  require_device_range(pointer, bytes, "cudaMemsetAsync");
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}

// Every kernel and copy has finished when its call returns.
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = last_error;
  last_error = cudaSuccess;
  return error;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorCudartUnloading: return "cudaErrorCudartUnloading";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
  }
  return "cudaErrorUnknown";
}

// CUDA's own wording.
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorCudartUnloading: return "driver shutting down";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
  }
  return "unknown error";
}
