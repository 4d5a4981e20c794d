// Helpers shared by the doctest suites.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "tinydiff.hpp"

namespace tinydiff::test {

// Marks the running test case as skipped (it still returns normally); the summary line
// counts it under "skipped". Print why, so a reader knows what did not run.
void skip(const std::string& reason);

// Records, at static-initialisation time, that `op` has a gradcheck / a PyTorch parity case.
bool register_gradcheck(const char* op);
bool register_parity(const char* op);
bool has_gradcheck(const std::string& op);
bool has_parity(const std::string& op);

// max |a - b| / (atol + rtol |b|) <= 1 elementwise, with a message naming the worst element.
void require_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-4,
                   double atol = 1e-5, const std::string& what = "");

// A CPU leaf tensor of `shape` with uniform values in [lo, hi), from a fixed seed.
Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed, bool requires_grad = true);

// Runs gradcheck and fails the test case with its message when it does not pass.
void check_gradients(const TensorFn& fn, const TensorList& inputs,
                     const GradcheckOptions& options = {});

// A fixture file tests/ref/fixtures/<file>.safetensors written by a tests/ref/ script
// (loaded once, then cached). Tests run from the repository root.
const SafetensorsFile& fixture(const std::string& file);
// fixture(file).tensors[key], with an error naming the file and key when it is missing.
Tensor fixture_tensor(const std::string& file, const std::string& key);

// PyTorch parity for one case written by tests/ref/common.py's case(): loads the inputs
// "<case>.<name>" (names starting with "idx_" are indices and get no gradient), runs `fn`,
// compares the output with "<case>.out", back-propagates "<case>.grad_out" and compares each
// input's gradient with "<case>.grad.<name>" where the fixture has one.
void check_parity(const std::string& file, const std::string& case_name,
                  const std::vector<std::string>& input_names, const TensorFn& fn,
                  double rtol = 1e-4, double atol = 1e-5);

// A conv bias followed by BatchNorm (ContextUnet's "...conv1.0.bias" and "...conv2.0.bias")
// has a true gradient of exactly 0: the norm subtracts each channel's own mean. Two
// implementations return different rounding noise there, which no relative tolerance can
// compare, so the check is that both are negligible (below 1e-5 x) next to the gradient of
// the same conv's weight.
bool is_bias_before_batch_norm(const std::string& key);
void check_negligible_bias_grad(const Tensor& grad, const Tensor& other_grad,
                                const Tensor& weight_grad, const std::string& key);

// The data directory ($TINYDIFF_DATA, else ./data, else ../shared/data), or "" when absent.
std::string data_dir();

}  // namespace tinydiff::test

#define TD_CONCAT_INNER(a, b) a##b
#define TD_CONCAT(a, b) TD_CONCAT_INNER(a, b)
// GRADCHECK_CASE("conv2d", "stride 2, padding 1") { ... } registers the coverage and opens
// a doctest case named "gradcheck conv2d: stride 2, padding 1".
#define GRADCHECK_CASE(op, description)                                                     \
  static const bool TD_CONCAT(td_gradcheck_registered_, __LINE__) =                          \
      ::tinydiff::test::register_gradcheck(op);                                              \
  TEST_CASE("gradcheck " op ": " description)
#define PARITY_CASE(op, description)                                                        \
  static const bool TD_CONCAT(td_parity_registered_, __LINE__) =                             \
      ::tinydiff::test::register_parity(op);                                                 \
  TEST_CASE("parity " op ": " description)
