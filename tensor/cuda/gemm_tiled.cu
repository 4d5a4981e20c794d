// The teaching GEMM: C_b = alpha op(A_b) op(B_b) + beta C_b with shared-memory tiles, the
// first optimisation of every CUDA course. Select it with TINYDIFF_GEMM=tiled (matmul.cu).
//
// A naive kernel gives each thread one C element and reads a row of A and a column of B from
// global memory: every A element is then read n times and every B element m times. Here a
// block of kTile x kTile threads owns a kTile x kTile tile of C and walks the k axis in steps
// of kTile. At each step the block copies one tile of op(A) and one of op(B) into shared
// memory (each thread copies one element of each), waits for all copies, and each thread
// adds its row of the A tile times its column of the B tile. Global reads drop kTile-fold.
// cuBLAS adds register tiles, vector loads, double buffering and tensor cores on top.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/gemm.cuh"

namespace tinydiff::cuda {

namespace {

constexpr int kTile = 16;  // a 16 x 16 tile of C per block, 256 threads

// op(A)[i][p]: A is stored (m, k) row-major, or (k, m) when trans_a; 0 outside the matrix,
// so that the ragged last tiles add nothing.
__device__ float load_a(const GemmArgs& g, const float* a, int64_t i, int64_t p) {
  if (i >= g.m || p >= g.k) return 0.f;
  return g.trans_a ? a[p * g.lda + i] : a[i * g.lda + p];
}
// op(B)[p][j]: B is stored (k, n) row-major, or (n, k) when trans_b.
__device__ float load_b(const GemmArgs& g, const float* b, int64_t p, int64_t j) {
  if (p >= g.k || j >= g.n) return 0.f;
  return g.trans_b ? b[j * g.ldb + p] : b[p * g.ldb + j];
}

// Block (x, y, z) computes the C tile at rows y kTile.., columns x kTile.. of matrices
// z, z + gridDim.z, ... of the batch; thread (tx, ty) computes C[row][col] of that tile.
__global__ void gemm_tiled_kernel(GemmArgs g) {
  __shared__ float a_tile[kTile][kTile];  // a_tile[ty][p] = op(A)[row][p0 + p]
  __shared__ float b_tile[kTile][kTile];  // b_tile[p][tx] = op(B)[p0 + p][col]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row = int64_t(blockIdx.y) * kTile + ty, col = int64_t(blockIdx.x) * kTile + tx;
  for (int64_t batch = blockIdx.z; batch < g.batch; batch += gridDim.z) {
    const float* a = g.a + batch * g.stride_a;
    const float* b = g.b + batch * g.stride_b;
    float acc = 0.f;
    for (int64_t p0 = 0; p0 < g.k; p0 += kTile) {
      a_tile[ty][tx] = load_a(g, a, row, p0 + tx);
      b_tile[ty][tx] = load_b(g, b, p0 + ty, col);
      __syncthreads();  // the tiles are complete
      for (int p = 0; p < kTile; ++p) acc += a_tile[ty][p] * b_tile[p][tx];
      __syncthreads();  // everyone is done with them before the next step overwrites them
    }
    if (row < g.m && col < g.n) {
      float* c = g.c + batch * g.stride_c + row * g.ldc + col;
      // beta = 0 must not read C: it may hold garbage (even NaN) that 0 * NaN would keep.
      *c = g.beta == 0.f ? g.alpha * acc : g.alpha * acc + g.beta * *c;
    }
  }
}

}  // namespace

void gemm_tiled(const GemmArgs& g) {
  const int64_t tiles_x = (g.n + kTile - 1) / kTile, tiles_y = (g.m + kTile - 1) / kTile;
  TD_CHECK(tiles_y <= 65535, "gemm: m = ", g.m, " needs ", tiles_y,
           " tile rows, more than the grid's 65535 (use TINYDIFF_GEMM=cublas)");
  const dim3 grid(unsigned(tiles_x), unsigned(tiles_y), unsigned(std::min<int64_t>(g.batch, 65535)));
  gemm_tiled_kernel<<<grid, dim3(kTile, kTile)>>>(g);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
