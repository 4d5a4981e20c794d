// CPU GEMM through Eigen. Eigen multiplies with its own cache-blocked, vectorised kernel and
// parallelises with OpenMP; we only describe our row-major buffers to it as Eigen::Map's.
#include <Eigen/Core>

#include "tensor/kernels/matmul.hpp"

namespace tinydiff {
namespace cpu {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor, 0, Eigen::OuterStride<>>;
using Map = Eigen::Map<RowMajor, 0, Eigen::OuterStride<>>;

namespace {
// C = alpha op(A) op(B) + beta C for one matrix of the batch.
void gemm_one(const GemmArgs& g, const float* a, const float* b, float* c) {
  ConstMap A(a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, Eigen::OuterStride<>(g.lda));
  ConstMap B(b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, Eigen::OuterStride<>(g.ldb));
  Map C(c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
  if (g.beta == 0.f) C.setZero();
  else if (g.beta != 1.f) C *= g.beta;
  if (!g.trans_a && !g.trans_b) C.noalias() += g.alpha * A * B;
  else if (g.trans_a && !g.trans_b) C.noalias() += g.alpha * A.transpose() * B;
  else if (!g.trans_a && g.trans_b) C.noalias() += g.alpha * A * B.transpose();
  else C.noalias() += g.alpha * A.transpose() * B.transpose();
}
}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  for (int64_t i = 0; i < g.batch; ++i)
    gemm_one(g, g.a + i * g.stride_a, g.b + i * g.stride_b, g.c + i * g.stride_c);
}

}  // namespace cpu
}  // namespace tinydiff
