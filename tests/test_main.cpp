// The test runner: doctest, plus a listener that counts test cases so that the last line of
// `make test` reads "N passed, N failed[, N skipped]" (DESIGN.md's contract).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "tests/testing.hpp"

namespace tinydiff::test {

namespace {
int g_passed = 0, g_failed = 0, g_skipped = 0;
bool g_current_skipped = false;

std::set<std::string>& gradchecked() {
  static std::set<std::string> ops;
  return ops;
}
std::set<std::string>& parity_tested() {
  static std::set<std::string> ops;
  return ops;
}
}  // namespace

void skip(const std::string& reason) {
  g_current_skipped = true;
  MESSAGE("skipped: " << reason);
  std::printf("[skipped] %s\n", reason.c_str());
}

bool register_gradcheck(const char* op) {
  gradchecked().insert(op);
  return true;
}
bool register_parity(const char* op) {
  parity_tested().insert(op);
  return true;
}
bool has_gradcheck(const std::string& op) { return gradchecked().count(op) > 0; }
bool has_parity(const std::string& op) { return parity_tested().count(op) > 0; }

void require_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                   const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what << ": shape " << str(actual.shape())
                                                           << " vs expected " << str(expected.shape()));
  std::vector<float> a = actual.tolist(), e = expected.tolist();
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double ratio = std::isfinite(a[i]) ? std::fabs(double(a[i]) - e[i]) / (atol + rtol * std::fabs(e[i]))
                                       : INFINITY;  // NaN and inf never pass
    if (ratio > worst) worst = ratio, worst_i = i;
  }
  REQUIRE_MESSAGE(worst <= 1.0, what << ": element " << worst_i << " is " << a[worst_i]
                                     << ", expected " << e[worst_i] << " (rtol " << rtol
                                     << ", atol " << atol << ")");
}

Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed, bool requires_grad) {
  Generator gen(seed);
  Tensor t = add(mul(rand(shape, &gen), hi - lo), lo);
  t = t.detach();
  t.requires_grad_(requires_grad);
  return t;
}

void check_gradients(const TensorFn& fn, const TensorList& inputs,
                     const GradcheckOptions& options) {
  GradcheckResult r = gradcheck(fn, inputs, options);
  CHECK_MESSAGE(r.passed, r.message);
}

const SafetensorsFile& fixture(const std::string& file) {
  static std::map<std::string, SafetensorsFile> cache;
  auto it = cache.find(file);
  if (it == cache.end())
    it = cache.emplace(file, load_safetensors("tests/ref/fixtures/" + file + ".safetensors")).first;
  return it->second;
}

Tensor fixture_tensor(const std::string& file, const std::string& key) {
  const auto& tensors = fixture(file).tensors;
  auto it = tensors.find(key);
  if (it == tensors.end())
    throw_error("fixture ", file, ": no tensor '", key,
                "' (hint: re-run the tests/ref/ script that writes it)");
  return it->second;
}

void check_parity(const std::string& file, const std::string& case_name,
                  const std::vector<std::string>& input_names, const TensorFn& fn, double rtol,
                  double atol) {
  TensorList inputs;
  for (const std::string& name : input_names) {
    Tensor t = fixture_tensor(file, case_name + "." + name).detach().clone();
    if (name.rfind("idx_", 0) != 0) t.requires_grad_();
    inputs.push_back(t);
  }
  Tensor out = fn(inputs);
  require_close(out, fixture_tensor(file, case_name + ".out"), rtol, atol, case_name + " output");
  out.backward(fixture_tensor(file, case_name + ".grad_out"));
  const auto& tensors = fixture(file).tensors;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string key = case_name + ".grad." + input_names[i];
    if (!tensors.count(key)) continue;
    REQUIRE_MESSAGE(inputs[i].grad().defined(), case_name << ": no gradient for " << input_names[i]);
    require_close(inputs[i].grad(), tensors.at(key), rtol, atol, key);
  }
}

bool is_bias_before_batch_norm(const std::string& key) {
  for (std::string end : {"conv1.0.bias", "conv2.0.bias"})
    if (key.size() >= end.size() && key.compare(key.size() - end.size(), end.size(), end) == 0)
      return true;
  return false;
}

void check_negligible_bias_grad(const Tensor& grad, const Tensor& other_grad,
                                const Tensor& weight_grad, const std::string& key) {
  float weight_scale = max(abs(weight_grad.to(Device::cpu()))).item();
  CAPTURE(key);
  CHECK(weight_scale > 0);
  CHECK(max(abs(grad.to(Device::cpu()))).item() < 1e-5f * weight_scale);
  CHECK(max(abs(other_grad.to(Device::cpu()))).item() < 1e-5f * weight_scale);
}

std::string data_dir() {
  namespace fs = std::filesystem;
  const char* env = std::getenv("TINYDIFF_DATA");
  for (std::string dir : {env ? std::string(env) : std::string(), std::string("data"),
                          std::string("../shared/data")})
    if (!dir.empty() && fs::is_directory(dir)) return dir;
  return "";
}

namespace {
struct SummaryListener : doctest::IReporter {
  explicit SummaryListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { g_current_skipped = false; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& stats) override {
    if (!stats.testCaseSuccess) ++g_failed;
    else if (g_current_skipped) ++g_skipped;
    else ++g_passed;
  }
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("tinydiff-summary", 1, SummaryListener);
}  // namespace

}  // namespace tinydiff::test

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (context.shouldExit()) return rc;
  using namespace tinydiff::test;
  std::printf("%d passed, %d failed", g_passed, g_failed);
  if (g_skipped) std::printf(", %d skipped", g_skipped);
  std::printf("\n");
  return rc;
}
