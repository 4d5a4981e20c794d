// The CPU matrix product's building blocks (tensor/cpu/gemm.cpp). cpu::gemm (matmul.cpp)
// splits batched products across threads and calls gemm_blocked; kernels that multiply one
// matrix with many others (conv2d: its weights with every image's columns) pack that matrix
// once with pack_a_panels and call gemm_packed_a per product.
//
// All functions run on the calling thread. Matrices are row-major float32.
#pragma once
#include <cstdint>

namespace tinydiff {
namespace cpu {

// One product C = alpha op(A) op(B) + beta C with op() resolved into strides:
// op(A)(i, k) = a[i rs_a + k cs_a], op(B)(k, j) = b[k rs_b + j cs_b], C[i][j] = c[i ldc + j].
// C (m, n), op(A) (m, k), op(B) (k, n). beta = 0 never reads C (it may hold garbage).
struct GemmOperands {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t rs_a = 0, cs_a = 0;
  const float* b = nullptr;
  int64_t rs_b = 0, cs_b = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.f, beta = 0.f;
};

// C = alpha op(A) op(B) + beta C, cache-blocked, packing both operands.
void gemm_blocked(const GemmOperands& p);

// The number of floats pack_a_panels writes for op(A) (m, k).
int64_t packed_a_size(int64_t m, int64_t k);
// op(A) (m, k), A stored (m, k) or, with trans_a, (k, m), row stride lda -> the micro-kernel's
// layout: panels of 8 rows (the last zero-padded), each k columns of 8 contiguous floats.
void pack_a_panels(bool trans_a, int64_t m, int64_t k, const float* a, int64_t lda, float* packed);
// C (m, n) = alpha A op(B) + beta C with A (m, k) packed by pack_a_panels. Without trans_b,
// B (k, n) with row stride ldb is read in place; with trans_b, B is stored (n, k) and is
// transposed into panels as it is read.
void gemm_packed_a(const float* packed_a, int64_t m, int64_t n, int64_t k, bool trans_b,
                   const float* b, int64_t ldb, float* c, int64_t ldc, float alpha, float beta);

}  // namespace cpu
}  // namespace tinydiff
