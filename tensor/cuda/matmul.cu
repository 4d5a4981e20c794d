// cuda::gemm, which runs the GEMM named by $TINYDIFF_GEMM, and the cuBLAS GEMM itself.
//
// cuBLAS is column-major, tinydiff row-major. A row-major (m, n) matrix with row stride ld
// is, read column-major, its transpose: an (n, m) matrix with leading dimension ld. So
// instead of C = op(A) op(B) we ask cuBLAS for C^T = op(B)^T op(A)^T, handing it B before A
// and swapping m and n; it then writes C^T column-major, which is C row-major. No copies.
//
// TF32: on Ampere and later GPUs cuBLAS may round fp32 GEMM inputs to TF32 (10-bit mantissa)
// for tensor-core speed. That breaks parity with the CPU at 1e-4, so it stays off
// (CUBLAS_DEFAULT_MATH) unless $TINYDIFF_TF32=1 asks for it.
#include <climits>
#include <cstdlib>
#include <cstring>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/gemm.cuh"

namespace tinydiff::cuda {

namespace {

bool env_is(const char* name, const char* value) {
  const char* set = std::getenv(name);
  return set && std::strcmp(set, value) == 0;
}

// $TINYDIFF_GEMM unset, empty or "cublas": cuBLAS; "tiled": ours; anything else is an error.
// Read at every call, so that a test can switch between the two.
bool use_tiled() {
  const char* choice = std::getenv("TINYDIFF_GEMM");
  if (!choice || !*choice || std::strcmp(choice, "cublas") == 0) return false;
  TD_CHECK(std::strcmp(choice, "tiled") == 0, "gemm: TINYDIFF_GEMM is '", choice,
           "' (expected cublas or tiled)");
  return true;
}

// One cuBLAS handle for the process, made at the first GEMM (it binds to the current GPU).
cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h;
    TD_CUBLAS_CHECK(cublasCreate(&h));
    return h;
  }();
  return handle;
}

int checked_int(int64_t v, const char* what) {
  TD_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v, " does not fit cuBLAS's int");
  return int(v);
}

// cuBLAS requires ld >= the stored matrix's rows (column-major). A matrix of a single column
// never steps by ld, so any value will do there: tinydiff's views may hand it a smaller one.
int leading_dimension(int64_t ld, int64_t rows, int64_t cols, const char* what) {
  if (cols == 1 && ld < rows) ld = rows;
  if (ld < 1) ld = 1;
  TD_CHECK(ld >= rows, "gemm: ", what, " = ", ld, " is smaller than the ", rows,
           " elements of a stored row");
  return checked_int(ld, what);
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  // With k = 0 the product is empty and C = beta C; the tiled kernel does exactly that.
  if (g.k == 0 || use_tiled()) return gemm_tiled(g);
  gemm_cublas(g);
}

// C^T (n, m) = op(B)^T (n, k) op(A)^T (k, m), column-major, for each matrix of the batch.
// Stored row-major, B is (k, n) or, transposed, (n, k): column-major it is (n, k) resp.
// (k, n), so op(B)^T is B as stored when !trans_b (CUBLAS_OP_N), its transpose otherwise.
void gemm_cublas(const GemmArgs& g) {
  cublasHandle_t handle = cublas_handle();
  TD_CUBLAS_CHECK(cublasSetMathMode(
      handle, env_is("TINYDIFF_TF32", "1") ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  const int m = checked_int(g.m, "m"), n = checked_int(g.n, "n"), k = checked_int(g.k, "k");
  // Column-major shapes of the stored operands: B is (n, k) or (k, n), A (k, m) or (m, k).
  const int ldb = leading_dimension(g.ldb, g.trans_b ? g.k : g.n, g.trans_b ? g.n : g.k, "ldb");
  const int lda = leading_dimension(g.lda, g.trans_a ? g.m : g.k, g.trans_a ? g.k : g.m, "lda");
  const int ldc = leading_dimension(g.ldc, g.n, g.m, "ldc");
  count_launch();
  TD_CUBLAS_CHECK(cublasSgemmStridedBatched(
      handle, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
      &g.alpha, g.b, ldb, g.stride_b, g.a, lda, g.stride_a, &g.beta, g.c, ldc, g.stride_c,
      checked_int(g.batch, "batch")));
}

}  // namespace tinydiff::cuda
