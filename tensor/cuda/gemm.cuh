// The two GPU GEMMs behind cuda::gemm (tensor/kernels/matmul.hpp), chosen at run time:
//   TINYDIFF_GEMM=cublas (the default)  cuBLAS, NVIDIA's tuned library      (matmul.cu)
//   TINYDIFF_GEMM=tiled                 our shared-memory tiled kernel       (gemm_tiled.cu)
// Both compute, for b in [0, batch): C_b = alpha op(A_b) op(B_b) + beta C_b, row-major.
#pragma once
#include "tensor/kernels/matmul.hpp"

namespace tinydiff::cuda {

void gemm_cublas(const GemmArgs& args);
void gemm_tiled(const GemmArgs& args);

}  // namespace tinydiff::cuda
