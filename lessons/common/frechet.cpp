#include "lessons/common/frechet.hpp"

#include <Eigen/Dense>

namespace tinydiff {

namespace {
using Matrix = Eigen::MatrixXd;

// Rows of x (N, D) -> their mean (D) and covariance (D, D) with the 1/(N-1) normalisation.
void mean_and_covariance(const Tensor& x, Eigen::VectorXd* mu, Matrix* sigma) {
  std::vector<float> v = x.tolist();
  int64_t n = x.size(0), d = x.size(1);
  Matrix m(n, d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) m(i, j) = v[i * d + j];
  *mu = m.colwise().mean();
  Matrix centered = m.rowwise() - mu->transpose();
  *sigma = centered.transpose() * centered / double(n - 1);
}

// The symmetric square root of a symmetric positive semi-definite matrix, by eigendecomposition
// (negative eigenvalues from rounding are clipped to 0).
Matrix sqrt_psd(const Matrix& a) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(a);
  Eigen::VectorXd root = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * root.asDiagonal() * eig.eigenvectors().transpose();
}
}  // namespace

double frechet_distance(const Tensor& a, const Tensor& b) {
  TD_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && a.size(0) >= 2 && b.size(0) >= 2,
           "frechet_distance: needs two (N, D) feature sets with N >= 2 and the same D, got ",
           str(a.shape()), " and ", str(b.shape()));
  Eigen::VectorXd mu1, mu2;
  Matrix s1, s2;
  mean_and_covariance(a, &mu1, &s1);
  mean_and_covariance(b, &mu2, &s2);
  // tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the latter is symmetric PSD, so a
  // symmetric eigendecomposition suffices.
  Matrix r1 = sqrt_psd(s1);
  double trace_sqrt = sqrt_psd(r1 * s2 * r1).trace();
  return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * trace_sqrt;
}

}  // namespace tinydiff
