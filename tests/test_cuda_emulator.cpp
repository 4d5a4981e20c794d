// The CUDA emulator itself (tests/cuda_emu/, built by make CUDA=emu): barriers and shuffles
// give CUDA's results, and what would hang or fault on a GPU is a clear error. The kernels
// here are launched through the emulator's call that rewrite_launches.py writes for
// kernel<<<grid, block>>>. Compiled to nothing in the other builds.
#ifdef TINYDIFF_CUDA_EMULATED
#include <limits>
#include <vector>

#include "tests/cuda_emu/cublas_v2.h"
#include "tests/cuda_emu/cuda_runtime.h"
#include "tests/testing.hpp"

#define LAUNCH(kernel, grid, block) \
  ::tinydiff_emu::launch({#kernel, __FILE__, __LINE__}, kernel, grid, block)

namespace {

// n floats of device memory, filled from / read into host vectors.
struct DeviceFloats {
  float* data = nullptr;
  size_t n;
  explicit DeviceFloats(const std::vector<float>& host) : n(host.size()) {
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&data), n * sizeof(float)) == cudaSuccess);
    REQUIRE(cudaMemcpy(data, host.data(), n * sizeof(float), cudaMemcpyHostToDevice) ==
            cudaSuccess);
  }
  ~DeviceFloats() { cudaFree(data); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  std::vector<float> host() const {
    std::vector<float> out(n);
    REQUIRE(cudaMemcpy(out.data(), data, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    return out;
  }
};

std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(i);
  return v;
}

// Reverses each block's slice through shared memory: every thread must see the others' writes.
__global__ void reverse_kernel(float* x) {
  __shared__ float slice[256];
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  slice[threadIdx.x] = x[i];
  __syncthreads();
  x[i] = slice[blockDim.x - 1 - threadIdx.x];
}

// Lane 0 of each width-lane segment ends with the segment's sum.
__global__ void segment_sum_kernel(float* x, int width) {
  float v = x[threadIdx.x];
  for (int offset = width / 2; offset > 0; offset /= 2)
    v += __shfl_down_sync(0xffffffffu, v, offset, width);
  x[threadIdx.x] = v;
}

// Threads that return early do not hold up the barrier of the others.
__global__ void early_return_kernel(float* x) {
  if (threadIdx.x >= 16) return;
  __shared__ float first;
  if (threadIdx.x == 0) first = x[0];
  __syncthreads();
  x[threadIdx.x] = first;
}

// Lane 0 waits in a shuffle that needs the whole warp, which waits at the barrier.
__global__ void deadlock_kernel(float* x) {
  if (threadIdx.x == 0) x[0] = __shfl_down_sync(0xffffffffu, x[0], 1);
  else __syncthreads();
}

__global__ void split_barrier_kernel(float* x) {
  if (threadIdx.x < 8) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  x[threadIdx.x] = 1.f;
}

__global__ void shuffle_kernel(float* x, unsigned mask, unsigned delta) {
  if (mask >> threadIdx.x & 1u) x[threadIdx.x] = __shfl_down_sync(mask, x[threadIdx.x], delta);
}

__global__ void empty_kernel(float*) {}

}  // namespace

// Without it the whole device suite would skip and pass without testing anything.
TEST_CASE("cuda emulator: the emulated build sees one GPU") {
  int count = 0;
  CHECK(cudaGetDeviceCount(&count) == cudaSuccess);
  CHECK(count == 1);
  CHECK(tinydiff::cuda_available());
}

TEST_CASE("cuda emulator: a barrier makes shared memory writes visible to the whole block") {
  DeviceFloats x(iota(512));
  LAUNCH(reverse_kernel, 2, 256)(x.data);
  std::vector<float> out = x.host();
  for (int i = 0; i < 512; ++i) REQUIRE(out[i] == float(i / 256 * 256 + 255 - i % 256));
}

TEST_CASE("cuda emulator: __shfl_down_sync sums a warp, segment by segment") {
  for (int width : {32, 8}) {
    CAPTURE(width);
    DeviceFloats x(iota(64));
    LAUNCH(segment_sum_kernel, 1, 64)(x.data, width);
    std::vector<float> out = x.host();
    for (int lane = 0; lane < 64; lane += width) {
      const int first = lane, last = lane + width - 1;
      CHECK(out[lane] == float((first + last) * width / 2));
    }
  }
}

TEST_CASE("cuda emulator: threads that returned do not block a barrier") {
  DeviceFloats x(iota(64));
  LAUNCH(early_return_kernel, 1, 64)(x.data);
  std::vector<float> out = x.host();
  CHECK(out[15] == 0.f);
  CHECK(out[16] == 16.f);
}

TEST_CASE("cuda emulator: a deadlock or a divergent barrier is an error naming the waits") {
  DeviceFloats x(iota(64));
  CHECK_THROWS_WITH_AS(LAUNCH(deadlock_kernel, 1, 64)(x.data),
                       doctest::Contains("threads 0..0 wait in __shfl_down_sync (mask 0xffffffff); "
                                         "threads 1..63 wait in __syncthreads() at"),
                       tinydiff::Error);
  CHECK_THROWS_WITH_AS(LAUNCH(split_barrier_kernel, 1, 64)(x.data),
                       doctest::Contains("wait at different __syncthreads() calls"),
                       tinydiff::Error);
  LAUNCH(reverse_kernel, 2, 32)(x.data);  // the emulator recovers from the errors
  CHECK(x.host()[0] == 31.f);
}

TEST_CASE("cuda emulator: a lane whose partner is past the warp keeps its own value") {
  DeviceFloats x(iota(32));
  LAUNCH(shuffle_kernel, 1, 32)(x.data, 0xffffffffu, 4u);
  std::vector<float> out = x.host();
  CHECK(out[27] == 31.f);
  CHECK(out[28] == 28.f);
}

TEST_CASE("cuda emulator: a shuffle with the wrong participants is an error") {
  DeviceFloats x(iota(64));
  CHECK_THROWS_WITH_AS(LAUNCH(shuffle_kernel, 1, 16)(x.data, 0xffffffffu, 1u),
                       doctest::Contains("names lanes past the 16 threads of this warp"),
                       tinydiff::Error);
  CHECK_THROWS_WITH_AS(LAUNCH(shuffle_kernel, 1, 32)(x.data, 0x0000ffffu, 1u),
                       doctest::Contains("lane 15 of warp 0 reads lane 16, which is not in"),
                       tinydiff::Error);
  LAUNCH(shuffle_kernel, 1, 32)(x.data, 0x0000ffffu, 0u);  // delta 0 reads itself: fine
}

TEST_CASE("cuda emulator: launch shapes a GPU rejects, and host pointers, are errors") {
  DeviceFloats x(iota(4));
  CHECK_THROWS_WITH_AS(LAUNCH(empty_kernel, 1, 2048)(x.data),
                       doctest::Contains("block (2048, 1, 1) has 2048 threads"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(LAUNCH(empty_kernel, 1, dim3(32, 32, 2))(x.data),
                       doctest::Contains("CUDA allows at most 1024"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(LAUNCH(empty_kernel, dim3(1, 70000), 32)(x.data),
                       doctest::Contains("exceeds CUDA's (2^31 - 1, 65535, 65535) blocks"),
                       tinydiff::Error);
  CHECK_THROWS_WITH_AS(LAUNCH(empty_kernel, 0, 32)(x.data), doctest::Contains("empty dimension"),
                       tinydiff::Error);
  std::vector<float> host(4);
  CHECK_THROWS_WITH_AS(LAUNCH(empty_kernel, 1, 32)(host.data()),
                       doctest::Contains("argument 0 ("),
                       tinydiff::Error);
}

TEST_CASE("cuda emulator: copies that leave a device block fault; bad frees are reported") {
  DeviceFloats x(iota(4));
  std::vector<float> host(8);
  CHECK_THROWS_WITH_AS(cudaMemcpy(host.data(), x.data, 8 * sizeof(float), cudaMemcpyDeviceToHost),
                       doctest::Contains("run past the end of the device block of 16 bytes"),
                       tinydiff::Error);
  CHECK_THROWS_WITH_AS(cudaMemcpy(host.data(), x.data, 4, cudaMemcpyHostToDevice),
                       doctest::Contains("is device memory, but the copy's kind says host"),
                       tinydiff::Error);
  CHECK(cudaFree(host.data()) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("cuda emulator: cuBLAS's GEMM, its argument checks and its reads") {
  // Column-major A (2 x 3, lda 2), B (3 x 2, ldb 3): C = A B (2 x 2).
  DeviceFloats a({1, 2, 3, 4, 5, 6}), b({1, 0, 1, 0, 1, 0});
  DeviceFloats c(std::vector<float>(4, std::numeric_limits<float>::quiet_NaN()));
  cublasHandle_t handle;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  const float one = 1.f, zero = 0.f;
  auto gemm = [&](int lda, int ldb, int ldc, int n) {
    return cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, n, 3, &one, a.data, lda,
                                     0, b.data, ldb, 0, &zero, c.data, ldc, 0, 1);
  };
  REQUIRE(gemm(2, 3, 2, 2) == CUBLAS_STATUS_SUCCESS);
  CHECK(c.host() == std::vector<float>({6, 8, 3, 4}));  // beta = 0 does not read C's NaNs
  CHECK(gemm(1, 3, 2, 2) == CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  CHECK(gemm(2, 2, 2, 2) == CUBLAS_STATUS_INVALID_VALUE);  // ldb < k
  CHECK(gemm(2, 3, 1, 2) == CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
  CHECK(gemm(2, 3, 2, -1) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK_THROWS_WITH_AS(gemm(2, 3, 2, 3), doctest::Contains("B of batch entry 0"), tinydiff::Error);
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) ==
        "CUBLAS_STATUS_INVALID_VALUE");
  CHECK(cublasDestroy(handle) == CUBLAS_STATUS_SUCCESS);
}
#endif
