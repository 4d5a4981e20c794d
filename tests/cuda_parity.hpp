// Helpers of the device-parity suites (tests/test_cuda_parity.cpp, tests/test_cuda_backend.cpp):
// run the same computation on the CPU and on the GPU and compare. They compile in every
// build; without a CUDA build or a visible GPU, `gpu_or_skip` marks the case skipped.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "tests/testing.hpp"

namespace tinydiff::test {

// True when a GPU can run the case; otherwise marks the case skipped and returns false.
inline bool gpu_or_skip() {
  if (cuda_available()) return true;
  skip("no CUDA GPU visible");
  return false;
}

// Tolerances of the device parity (relative to each tensor's largest magnitude, see below).
constexpr double kElementwiseRtol = 1e-5;  // elementwise maps, reductions, norms, losses
constexpr double kGemmRtol = 1e-4;         // anything that goes through a GEMM

// Fails unless `actual` (any device) matches the CPU result `expected` elementwise:
//   |actual - expected| <= rtol (|expected| + max |expected|).
// The second term makes the error relative to the tensor's scale where an element is near
// zero (a sum of terms that cancel). A NaN or inf in either tensor never passes.
inline void require_device_close(const Tensor& actual, const Tensor& expected, double rtol,
                                 const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what << ": shape " << str(actual.shape())
                                                           << " vs " << str(expected.shape()));
  std::vector<float> a = actual.tolist(), e = expected.tolist();
  double scale = 0;
  for (float v : e) {
    REQUIRE_MESSAGE(std::isfinite(v), what << ": the CPU result holds " << v);
    scale = std::max(scale, double(std::fabs(v)));
  }
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double error = std::isfinite(a[i]) ? std::fabs(double(a[i]) - e[i]) : INFINITY;
    double ratio = error / (rtol * (std::fabs(e[i]) + scale) + 1e-30);
    if (ratio > worst) worst = ratio, worst_i = i;
  }
  REQUIRE_MESSAGE(worst <= 1.0, what << ": element " << worst_i << " is " << a[worst_i]
                                     << " on the GPU, " << e[worst_i] << " on the CPU (rtol "
                                     << rtol << ")");
}

// Bit-for-bit equality (Philox draws, indices).
inline void require_device_equal(const Tensor& actual, const Tensor& expected,
                                 const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what << ": shape " << str(actual.shape())
                                                           << " vs " << str(expected.shape()));
  std::vector<float> a = actual.tolist(), e = expected.tolist();
  for (size_t i = 0; i < a.size(); ++i)
    REQUIRE_MESSAGE(a[i] == e[i], what << ": element " << i << " is " << a[i] << " on the GPU, "
                                       << e[i] << " on the CPU");
}

// How an input of an op case is made. Values: uniform in [lo, hi) with a gradient; indices:
// whole numbers in [0, classes), no gradient; constants: uniform, no gradient.
struct InputSpec {
  enum Kind { Values, Indices, Constant };
  Shape shape;
  float lo = -1.f, hi = 1.f;
  Kind kind = Values;
  int64_t classes = 0;
};
inline InputSpec values(Shape shape, float lo = -1.f, float hi = 1.f) {
  return {std::move(shape), lo, hi, InputSpec::Values, 0};
}
inline InputSpec indices(Shape shape, int64_t classes) {
  return {std::move(shape), 0.f, 0.f, InputSpec::Indices, classes};
}
inline InputSpec constant(Shape shape, float lo, float hi) {
  return {std::move(shape), lo, hi, InputSpec::Constant, 0};
}

inline Tensor make_input(const InputSpec& spec, uint64_t seed) {
  if (spec.kind == InputSpec::Indices) {
    Generator gen(seed);
    return randint(0, spec.classes, spec.shape, &gen);
  }
  return uniform(spec.shape, spec.lo, spec.hi, seed, spec.kind == InputSpec::Values);
}

// Runs fn on CPU inputs and on copies of them on the GPU, then back-propagates the same
// random grad_out through both and compares the outputs and every input's gradient.
inline void check_devices(const std::vector<InputSpec>& specs, const TensorFn& fn,
                          double rtol = kElementwiseRtol) {
  TensorList cpu_inputs, gpu_inputs;
  for (size_t i = 0; i < specs.size(); ++i) {
    Tensor t = make_input(specs[i], 1000 + i);
    Tensor g = t.detach().to(Device::cuda());
    if (t.requires_grad()) g.requires_grad_();
    cpu_inputs.push_back(t);
    gpu_inputs.push_back(g);
  }
  Tensor cpu_out = fn(cpu_inputs), gpu_out = fn(gpu_inputs);
  require_device_close(gpu_out, cpu_out, rtol, "output");
  if (!cpu_out.requires_grad()) return;
  Tensor grad_out = uniform(cpu_out.shape(), -1.f, 1.f, 77, false);
  cpu_out.backward(grad_out);
  gpu_out.backward(grad_out.to(gpu_out.device()));
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    std::string what = "gradient of input " + std::to_string(i);
    REQUIRE_MESSAGE(gpu_inputs[i].grad().defined(), what << ": missing on the GPU");
    CHECK_MESSAGE(gpu_inputs[i].grad().device().is_cuda(), what << ": not on the GPU");
    require_device_close(gpu_inputs[i].grad(), cpu_inputs[i].grad(), rtol, what);
  }
}

// Sets an environment variable for one scope (TINYDIFF_GEMM=tiled, ...), then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// The ops of autograd/op_list.cpp that have a CUDA_PARITY_CASE.
inline std::set<std::string>& cuda_covered_ops() {
  static std::set<std::string> ops;
  return ops;
}
inline bool register_cuda_parity(const char* op) {
  cuda_covered_ops().insert(op);
  return true;
}

}  // namespace tinydiff::test

// CUDA_PARITY_CASE("conv2d", "stride 2") opens the doctest case "cuda parity conv2d: stride 2",
// records that `op` has one, and skips the case's body when no GPU is visible.
#define CUDA_PARITY_CASE(op, description)                                        \
  static const bool TD_CONCAT(td_cuda_registered_, __LINE__) =                    \
      ::tinydiff::test::register_cuda_parity(op);                                 \
  static void TD_CONCAT(td_cuda_body_, __LINE__)();                               \
  TEST_CASE("cuda parity " op ": " description) {                                 \
    if (::tinydiff::test::gpu_or_skip()) TD_CONCAT(td_cuda_body_, __LINE__)();    \
  }                                                                               \
  static void TD_CONCAT(td_cuda_body_, __LINE__)()
