// GPU memory: the raw block allocator under the caching allocator of tensor/storage.cpp,
// the host <-> device copies, and the test for a usable GPU.
#include "tensor/cuda/common.cuh"
#include "tensor/device.hpp"
#include "tensor/kernels/elementwise.hpp"
#include "tensor/storage.hpp"

namespace tinydiff {

namespace {

// cudaMalloc / cudaFree. Storage's caching allocator keeps freed blocks for reuse, so these
// run only while a program's working set grows (the first training step) and on empty_cache.
struct CudaBlockAllocator : BlockAllocator {
  // Out of memory returns null: the caching allocator then frees its cache, retries once
  // and reports the failure with the sizes involved. Any other failure throws here.
  void* raw_alloc(int64_t bytes) override {
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size_t(bytes));
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear the error so that the next call does not report it
      return nullptr;
    }
    if (status != cudaSuccess) cuda::throw_cuda_error(status, "cudaMalloc", __FILE__, __LINE__);
    return ptr;
  }
  // While the process exits the runtime may already be unloading: nothing is left to free.
  void raw_free(void* ptr) override {
    cudaError_t status = cudaFree(ptr);
    if (status != cudaSuccess && status != cudaErrorCudartUnloading)
      cuda::throw_cuda_error(status, "cudaFree", __FILE__, __LINE__);
  }
};

}  // namespace

BlockAllocator& cuda_block_allocator() {
  static auto* allocator = new CudaBlockAllocator();  // leaked, as the caching allocators are
  return *allocator;
}

// Asked once: a driver and at least one GPU. Without them cudaGetDeviceCount fails (no
// driver, no device); the error is cleared so that it does not surface later.
bool cuda_available() {
  static const bool available = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return count > 0;
  }();
  return available;
}

void synchronize(Device device) {
  if (device.is_cuda()) TD_CUDA_CHECK(cudaDeviceSynchronize());
}

int64_t device_launches(Device device) {
  return device.is_cuda() ? cuda::launches_issued.load(std::memory_order_relaxed) : 0;
}

namespace cuda {

// cudaMemcpy waits for the kernels before it, so the host sees their results.
void copy_to_host(const float* src, float* host_dst, int64_t n) {
  if (n == 0) return;
  count_launch();
  TD_CUDA_CHECK(cudaMemcpy(host_dst, src, sizeof(float) * n, cudaMemcpyDeviceToHost));
}

void copy_from_host(const float* host_src, float* dst, int64_t n) {
  if (n == 0) return;
  count_launch();
  TD_CUDA_CHECK(cudaMemcpy(dst, host_src, sizeof(float) * n, cudaMemcpyHostToDevice));
}

}  // namespace cuda
}  // namespace tinydiff
