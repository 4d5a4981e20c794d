// Stand-in for the CUDA toolkit's cuda_runtime.h in the emulated build (make CUDA=emu): it
// declares exactly what tensor/cuda/ uses, so that the kernels compile with g++ and run on
// the CPU (tests/cuda_emu/README.md). Kernels, device functions and the runtime API keep
// CUDA's names and types (threadIdx.x is an unsigned int, as on the GPU), so the kernel
// source is compiled as written: only its launches are rewritten (rewrite_launches.py).
#pragma once
#include <math.h>  // isnan, expf, floorf, ... in the global namespace, as device code sees them

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

// ---- qualifiers: everything runs on the host; a block's __shared__ memory can be one static
// variable because the blocks of a grid run one after another on one host thread ----
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline __attribute__((always_inline))

// ---- launch shapes and the built-in variables of a kernel ----
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
// Set by the emulator before it runs (or resumes) a CUDA thread (scheduler.cpp).
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

// ---- device functions ----
namespace tinydiff_emu {
// The barrier and the shuffle (scheduler.cpp); the shuffle moves the bits of a `size`-byte value.
void syncthreads(const char* file, int line);
uint64_t shuffle_down(unsigned mask, uint64_t bits, size_t size, unsigned delta, int width);
}  // namespace tinydiff_emu

// Waits until every thread of the block that has not returned reaches this same call (the
// call's file and line tell the emulator which barrier a thread waits at).
#define __syncthreads() ::tinydiff_emu::syncthreads(__FILE__, __LINE__)

// The value of `var` held by lane (this lane + delta) of the warp, or this lane's own value
// when that lane lies past the end of its `width`-lane segment. Every lane named in `mask`
// must call it.
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  static_assert(std::is_arithmetic_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                "__shfl_down_sync takes a 4- or 8-byte number");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = tinydiff_emu::shuffle_down(mask, bits, sizeof(T), delta, width);
  std::memcpy(&var, &bits, sizeof(T));
  return var;
}

// The blocks run one at a time and a block's threads take turns on one host thread, so a
// plain read-modify-write is atomic. Each returns the old value, as CUDA's do.
inline float atomicAdd(float* address, float value) {
  const float old = *address;
  *address = old + value;
  return old;
}
inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
  const unsigned long long old = *address;
  if (value < old) *address = value;
  return old;
}

// CUDA's global min and max for two numbers of the same type (device code calls them
// unqualified).
template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
T min(T a, T b) {
  return b < a ? b : a;
}
template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
T max(T a, T b) {
  return a < b ? b : a;
}

// ---- the runtime API: memory, errors, devices (runtime.cpp) ----
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorCudartUnloading = 4,
  cudaErrorInvalidMemcpyDirection = 21,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
using cudaStream_t = struct CUstream_st*;  // only the default stream (null) exists

cudaError_t cudaMalloc(void** pointer, size_t bytes);
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);

// The launch machinery that the rewritten `kernel<<<grid, block>>>(args)` calls.
#include "emulator.hpp"
