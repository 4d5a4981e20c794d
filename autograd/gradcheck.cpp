#include "autograd/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "autograd/ops.hpp"

namespace tinydiff {

namespace {
// L = sum(out * R) accumulated in double.
double weighted_sum(const Tensor& out, const std::vector<float>& r) {
  std::vector<float> v = out.tolist();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * r[i];
  return s;
}
}  // namespace

GradcheckResult gradcheck(const TensorFn& fn, const TensorList& inputs,
                          const GradcheckOptions& options) {
  for (const Tensor& x : inputs) {
    TD_CHECK(x.is_leaf() && x.is_contiguous() && x.device().is_cpu(),
             "gradcheck: inputs must be contiguous CPU leaf tensors, got ", describe(x));
    if (x.requires_grad()) x.set_grad(Tensor());
  }
  Tensor out = fn(inputs);
  Generator gen(options.seed);
  Tensor r = randn(out.shape(), &gen);
  std::vector<float> r_values = r.tolist();
  out.backward(r);

  GradcheckResult result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    // BEGIN EXERCISE 00.6 gradcheck's central difference (#5-checking-a-derivative-gradcheck)
    std::vector<float> analytic = x.grad().defined() ? x.grad().tolist()
                                                     : std::vector<float>(x.numel(), 0.f);
    float* data = x.cpu_data();
    for (int64_t j = 0; j < x.numel(); ++j) {
      float saved = data[j];
      NoGradGuard no_grad;
      data[j] = saved + options.eps;
      double plus = weighted_sum(fn(inputs), r_values);
      data[j] = saved - options.eps;
      double minus = weighted_sum(fn(inputs), r_values);
      data[j] = saved;
      double numeric = (plus - minus) / (2.0 * options.eps);
      double error = std::fabs(analytic[j] - numeric);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (result.passed && error > options.atol + options.rtol * std::fabs(numeric)) {
        std::ostringstream m;
        m << "input " << i << " " << str(x.shape()) << " element " << j << ": analytic "
          << analytic[j] << " vs numeric " << numeric << " (|diff| " << error << ")";
        result.passed = false;
        result.message = m.str();
      }
    }
    // END EXERCISE
  }
  return result;
}

}  // namespace tinydiff
