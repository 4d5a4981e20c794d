// nn/safetensors: round trips, atomic writes, malformed files, and a fixture in every dtype
// written by PyTorch (tests/ref/safetensors_dtypes.py).
#include <cmath>
#include <cstring>
#include <filesystem>

#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;

namespace {

// Bitwise equal values (NaN matches NaN), same shape.
void check_same_values(const Tensor& actual, const Tensor& expected, const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(),
                  what << ": shape " << str(actual.shape()) << " vs " << str(expected.shape()));
  std::vector<float> a = actual.tolist(), e = expected.tolist();
  for (size_t i = 0; i < a.size(); ++i) {
    bool same = std::memcmp(&a[i], &e[i], 4) == 0 || (std::isnan(a[i]) && std::isnan(e[i]));
    REQUIRE_MESSAGE(same, what << ": element " << i << " is " << a[i] << ", expected " << e[i]);
  }
}

// A safetensors file from a header text and data bytes.
std::string st_bytes(const std::string& header, const std::string& data = "") {
  uint64_t n = header.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  return bytes + header + data;
}

// Loading `bytes` throws an Error that names the file and contains `fragment`.
void check_load_error(const std::string& bytes, const std::string& fragment) {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  test::write_bytes(path, bytes);
  try {
    load_safetensors(path);
    FAIL("no error; expected one containing '" << fragment << "'");
  } catch (const Error& e) {
    std::string message = e.what();
    CHECK_MESSAGE(message.find(path) != std::string::npos, message);
    CHECK_MESSAGE(message.find(fragment) != std::string::npos, message);
  }
}

}  // namespace

TEST_CASE("safetensors round trip keeps shapes (0-d, empty, 4-d), values and metadata") {
  TempDir dir;
  std::map<std::string, Tensor> tensors = {
      {"matrix", test::uniform({2, 3}, -5, 5, 1, false)},
      {"scalar", scalar_tensor(-1.5f)},
      {"empty", zeros({0})},
      {"empty_middle", zeros({2, 0, 3})},
      {"four_d", test::uniform({1, 2, 1, 5}, -1, 1, 2, false)},
      {"model.layers.0.weight", test::uniform({3}, 0, 1, 3, false)},
  };
  std::map<std::string, std::string> metadata = {
      {"quotes", "say \"hi\""},
      {"newlines", "line 1\nline 2\r\n\ttabbed \\ backslash \x01 control"},
      {"utf8", "caf\xC3\xA9"},
      {"empty", ""},
  };
  std::string path = dir.file("a.safetensors");
  save_safetensors(path, tensors, metadata);
  SafetensorsFile file = load_safetensors(path);
  CHECK(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    check_same_values(file.tensors.at(name), t, name);
    CHECK(file.dtypes.at(name) == "F32");
  }
  CHECK(file.tensors.at("scalar").dim() == 0);
  CHECK(file.tensors.at("empty_middle").shape() == Shape{2, 0, 3});
}

TEST_CASE("safetensors saves a non-contiguous view in its logical order") {
  TempDir dir;
  Tensor x = arange(0, 6).reshape({2, 3});
  save_safetensors(dir.file("t.safetensors"), {{"xt", x.transpose(0, 1)}});
  Tensor back = load_safetensors(dir.file("t.safetensors")).tensors.at("xt");
  check_same_values(back, from_vector({0, 3, 1, 4, 2, 5}, {3, 2}), "transposed");
}

TEST_CASE("safetensors writes atomically and leaves no temporary file") {
  TempDir dir;
  std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"w", ones({4})}});
  save_safetensors(path, {{"w", full({2}, 7.f)}});  // replaces the old file
  check_same_values(load_safetensors(path).tensors.at("w"), full({2}, 7.f), "w");
  CHECK(dir.listing() == "ckpt.safetensors ");

  SUBCASE("a missing folder is an error and writes nothing") {
    CHECK_THROWS_WITH_AS(
        save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"w", ones({1})}}),
        doctest::Contains("cannot write"), Error);
    CHECK(dir.listing() == "ckpt.safetensors ");
  }
  SUBCASE("a rename that fails (the target is a folder) removes the temporary file") {
    std::filesystem::create_directory(dir.file("folder"));
    CHECK_THROWS_WITH_AS(save_safetensors(dir.file("folder"), {{"w", ones({1})}}),
                         doctest::Contains("cannot rename"), Error);
    CHECK(dir.listing() == "ckpt.safetensors folder ");
  }
  SUBCASE("an undefined tensor is an error and the old file stays") {
    CHECK_THROWS_WITH_AS(save_safetensors(path, {{"bad", Tensor()}}),
                         doctest::Contains("tensor 'bad' is undefined"), Error);
    check_same_values(load_safetensors(path).tensors.at("w"), full({2}, 7.f), "w");
    CHECK(dir.listing() == "ckpt.safetensors ");
  }
}

TEST_CASE("safetensors rejects malformed files with a message naming the file") {
  const std::string f32_2x3 = R"("x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
  const std::string data24(24, '\0');
  check_load_error("abc", "too short");
  check_load_error(std::string(8, '\0').replace(0, 2, "\xE8\x03") + "{}", "exceeds the file size");
  check_load_error(std::string(8, '\xFF') + "{}", "exceeds the file size");
  check_load_error(st_bytes(R"({"x":{"dtype":"F32",)"), "malformed header");
  check_load_error(st_bytes("{} x"), "trailing characters");
  check_load_error(st_bytes("[1, 2]"), "not a JSON object");
  check_load_error(st_bytes(R"({"__metadata__":{"k":"\uZZZZ"}})"), "bad \\u escape");
  check_load_error(st_bytes(R"({"__metadata__":{"k":"\ud83d"}})"), "unpaired UTF-16 surrogate");
  check_load_error(st_bytes(std::string(1000000, '[')), "nested too deeply");
  check_load_error(st_bytes(R"({"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "a"),
                   "unsupported dtype F8");
  check_load_error(st_bytes(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", "abcd"),
                   "needs \"dtype\", \"shape\"");
  check_load_error(
      st_bytes(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,400]}})", data24),
      "outside the 24 data bytes");
  check_load_error(st_bytes(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", data24),
                   "needs 24 bytes but its offsets span 16");
  check_load_error(st_bytes(R"({"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", data24),
                   "bad shape entry");
  check_load_error(st_bytes(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data24),
                   "bad shape entry");
  check_load_error(
      st_bytes(R"({"x":{"dtype":"F32","shape":[1e300,1e300],"data_offsets":[0,4]}})", data24),
      "bad shape entry");
  check_load_error(
      st_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})", data24),
      "not whole numbers");
  check_load_error(st_bytes(R"({"__metadata__":{"k":1},)" + f32_2x3 + "}", data24),
                   "metadata 'k' is not a string");
  check_load_error(st_bytes(R"({"__metadata__":"text",)" + f32_2x3 + "}", data24),
                   "__metadata__ is not an object");
  CHECK_THROWS_WITH_AS(load_safetensors("/nonexistent/file.safetensors"),
                       doctest::Contains("cannot open '/nonexistent/file.safetensors'"), Error);
}

TEST_CASE("safetensors never crashes on a truncated or corrupted file") {
  TempDir dir;
  std::string path = dir.file("good.safetensors");
  save_safetensors(path, {{"a", arange(0, 6).reshape({2, 3})}, {"b", scalar_tensor(2.f)}},
                   {{"k", "v"}});
  const std::string good = test::read_bytes(path);
  int errors = 0, loads = 0;
  auto attempt = [&](const std::string& bytes) {
    test::write_bytes(path, bytes);
    try {
      load_safetensors(path);
      ++loads;
    } catch (const Error&) {
      ++errors;
    }
  };
  for (size_t n = 0; n < good.size(); ++n) attempt(good.substr(0, n));
  for (size_t i = 0; i < good.size(); ++i)
    for (char c : {'\0', '"', '{', '[', '-', '9', '\xFF'}) {
      std::string bad = good;
      bad[i] = c;
      attempt(bad);
    }
  CHECK(errors > int(good.size()));  // every truncation at least
  CHECK(loads > 0);                  // changing padding or data bytes still loads
}

TEST_CASE("safetensors reads F64, I64, I32, U8, F16 and BF16 tensors written by PyTorch") {
  const SafetensorsFile& file = test::fixture("safetensors_dtypes");
  const std::map<std::string, std::string> dtypes = {
      {"f64", "F64"},       {"f64_scalar", "F64"}, {"i64", "I64"},        {"i32", "I32"},
      {"i32_empty", "I32"}, {"u8", "U8"},          {"f16", "F16"},        {"f16_randn", "F16"},
      {"f16_nan", "F16"},   {"bf16", "BF16"},      {"bf16_randn", "BF16"}};
  for (const auto& [name, dtype] : dtypes) {
    CHECK_MESSAGE(file.dtypes.at(name) == dtype, name);
    CHECK(file.dtypes.at(name + ".expected") == "F32");
    check_same_values(file.tensors.at(name), file.tensors.at(name + ".expected"), name);
  }
  CHECK(file.tensors.at("f64_scalar").dim() == 0);
  CHECK(file.tensors.at("i32_empty").shape() == Shape{0, 3});
  CHECK(file.tensors.at("f16").tolist()[5] == std::ldexp(1.0f, -24));  // the smallest subnormal
  CHECK(file.tensors.at("f16").tolist()[4] == 65504.f);
  CHECK(std::isinf(file.tensors.at("bf16").tolist()[4]));
  CHECK(std::isnan(file.tensors.at("f16_nan").item()));
  CHECK(file.metadata.at("note") == "a \"quoted\" word, a back\\slash,\na newline and\ta tab");
  CHECK(file.metadata.at("unicode") == "caf\xC3\xA9 \xF0\x9F\x98\x80");  // é and an emoji in UTF-8
}
