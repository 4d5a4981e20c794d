// The emulated cuBLAS: a reference SGEMM that checks its arguments as cuBLAS does. It is a
// stand-in to test the code that calls cuBLAS (the operand swap, transposes, leading
// dimensions, batch strides of tensor/cuda/matmul.cu), not cuBLAS itself: it accumulates in
// double, one product after another, where cuBLAS uses fp32 tiles in its own order.
#include "tests/cuda_emu/cublas_v2.h"

#include <algorithm>
#include <string>

#include "tests/cuda_emu/runtime.hpp"

struct cublasContext {
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH)
    return CUBLAS_STATUS_INVALID_VALUE;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

namespace {

bool is_operation(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

// A stored column-major (rows, cols) matrix of each batch entry must lie in one device block.
void require_matrices(const float* base, int rows, int cols, int ld, long long stride,
                      int batch, const char* name) {
  const size_t span = size_t(cols - 1) * ld + rows;  // elements from the first to the last
  for (int b = 0; b < batch; ++b)
    tinydiff_emu::require_device_range(base + b * stride, span * sizeof(float),
                                       "cublasSgemmStridedBatched: " + std::string(name) +
                                           " of batch entry " + std::to_string(b));
}

}  // namespace

// C_b = alpha op(A_b) op(B_b) + beta C_b, column-major, op(A) (m, k), op(B) (k, n), C (m, n).
// The argument checks are those documented for cublas<t>gemm (the reference BLAS's): no
// negative size or batch count, and each leading dimension at least the rows of the matrix
// as stored (at least 1). With beta = 0, C is not read (it may hold NaN).
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda,
                                         long long strideA, const float* B, int ldb,
                                         long long strideB, const float* beta, float* C, int ldc,
                                         long long strideC, int batchCount) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int a_rows = transa == CUBLAS_OP_N ? m : k, b_rows = transb == CUBLAS_OP_N ? k : n;
  if (!is_operation(transa) || !is_operation(transb) || m < 0 || n < 0 || k < 0 ||
      batchCount < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) ||
      ldc < std::max(1, m) || !alpha || !beta)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
  const bool reads_ab = k > 0 && *alpha != 0.f;
  if (reads_ab) {
    require_matrices(A, a_rows, transa == CUBLAS_OP_N ? k : m, lda, strideA, batchCount, "A");
    require_matrices(B, b_rows, transb == CUBLAS_OP_N ? n : k, ldb, strideB, batchCount, "B");
  }
  require_matrices(C, m, n, ldc, strideC, batchCount, "C");
  for (int b = 0; b < batchCount; ++b) {
    const float *a = A + b * strideA, *bm = B + b * strideB;
    float* c = C + b * strideC;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double sum = 0;
        for (int p = 0; reads_ab && p < k; ++p) {
          const float x = transa == CUBLAS_OP_N ? a[i + size_t(p) * lda] : a[p + size_t(i) * lda];
          const float y = transb == CUBLAS_OP_N ? bm[p + size_t(j) * ldb] : bm[j + size_t(p) * ldb];
          sum += double(x) * y;
        }
        float& out = c[i + size_t(j) * ldc];
        const double scaled = double(*alpha) * sum;
        out = float(*beta == 0.f ? scaled : scaled + double(*beta) * out);
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

// cuBLAS's own wording.
const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
  }
  return "unknown error";
}
