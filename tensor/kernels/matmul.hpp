// Batched GEMM, row-major: for b in [0, batch)
//   C_b = alpha * op(A_b) @ op(B_b) + beta * C_b,   op(X) = X or X^T
// where op(A_b) is (m, k), op(B_b) is (k, n), C_b is (m, n); X_b = X + b * stride_x, and a
// stride of 0 broadcasts one matrix over the batch. ld* are the row strides (leading
// dimensions) of the matrices as stored (before op). The CPU version is our own blocked GEMM
// (tensor/cpu/gemm.cpp).
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  float alpha = 1.f, beta = 0.f;
  const float* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const float* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  float* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
};

namespace cpu {
void gemm(const GemmArgs& args);
}
namespace cuda {
void gemm(const GemmArgs& args);
}

}  // namespace tinydiff
