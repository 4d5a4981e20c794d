// lessons/common/npy: reading .npy v1/v2/v3 in six dtypes, writing uint8/int64/float32.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "lessons/common/npy.hpp"
#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;

namespace {

// A .npy file: magic, version (major.0), header length (2 bytes for v1, 4 for v2/v3), the
// header dict padded with spaces to a multiple of 64 and ending in '\n', then `data`.
std::string npy_bytes(int major, const std::string& dict, const std::string& data) {
  int length_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((6 + 2 + length_bytes + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += char(major);
  bytes += '\0';
  for (int i = 0; i < length_bytes; ++i) bytes += char((header.size() >> (8 * i)) & 0xFF);
  return bytes + header + data;
}

template <class T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

NpyArray load_bytes(const TempDir& dir, const std::string& bytes) {
  test::write_bytes(dir.file("a.npy"), bytes);
  return load_npy(dir.file("a.npy"));
}

}  // namespace

TEST_CASE("npy reads v1, v2 and v3 files in |u1, <f4, <f8, <i4, <i8 and |b1") {
  TempDir dir;
  NpyArray u8 =
      load_bytes(dir, npy_bytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }",
                                raw<uint8_t>({0, 1, 2, 127, 128, 255})));
  CHECK(u8.dtype == "|u1");
  CHECK(u8.shape == Shape{2, 3});
  CHECK(u8.values == std::vector<float>{0, 1, 2, 127, 128, 255});

  NpyArray f4 = load_bytes(dir, npy_bytes(2, "{'descr':'<f4','fortran_order':False,'shape':(2,)}",
                                          raw<float>({-1.5f, 3.25f})));
  CHECK(f4.shape == Shape{2});
  CHECK(f4.values == std::vector<float>{-1.5f, 3.25f});

  NpyArray f8 =
      load_bytes(dir, npy_bytes(3, "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f8\"}",
                                raw<double>({0.1})));
  CHECK(f8.shape.empty());
  CHECK(f8.values == std::vector<float>{0.1f});

  NpyArray i4 =
      load_bytes(dir, npy_bytes(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                                raw<int32_t>({-7, 0, 2000000})));
  CHECK(i4.values == std::vector<float>{-7, 0, 2000000});

  NpyArray i8 =
      load_bytes(dir, npy_bytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }",
                                raw<int64_t>({-(int64_t(1) << 40), 9})));
  CHECK(i8.values == std::vector<float>{-1099511627776.f, 9});

  NpyArray b1 =
      load_bytes(dir, npy_bytes(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                                raw<uint8_t>({1, 0, 1})));
  CHECK(b1.values == std::vector<float>{1, 0, 1});

  NpyArray empty = load_bytes(
      dir, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", ""));
  CHECK(empty.shape == Shape{0, 4});
  CHECK(empty.values.empty());
}

TEST_CASE("npy rejects what it cannot read with a message naming the file") {
  TempDir dir;
  std::string path = dir.file("a.npy");
  auto error_of = [&](const std::string& bytes) -> std::string {
    test::write_bytes(path, bytes);
    try {
      load_npy(path);
    } catch (const Error& e) {
      std::string message = e.what();
      CHECK_MESSAGE(message.find(path) != std::string::npos, message);
      return message;
    }
    return "no error";
  };
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  const std::string data16(16, '\0');
  auto check = [&](const std::string& bytes, const std::string& fragment) {
    std::string message = error_of(bytes);
    CHECK_MESSAGE(message.find(fragment) != std::string::npos, message);
  };
  check(npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data16),
        "Fortran-order arrays are not supported");
  check(npy_bytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", data16),
        "unsupported dtype '>f4'");
  check(npy_bytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", data16),
        "unsupported dtype '<c8'");
  check(npy_bytes(1, f4, data16.substr(0, 12)),
        "needs 16 data bytes but the file has 12 (truncated)");
  check(npy_bytes(1, f4, data16 + "xx"), "(extra bytes)");
  check("PK\x03\x04 a zip file", "not a .npy file");
  check(npy_bytes(4, f4, data16), "unsupported format version 4");
  check(npy_bytes(2, f4, data16).substr(0, 11), "truncated header");
  std::string long_header = npy_bytes(1, f4, data16);
  long_header[8] = '\xFF', long_header[9] = '\x7F';
  check(long_header, "runs past the end");
  check(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False}", data16),
        "needs 'descr', 'fortran_order' and 'shape'");
  check(npy_bytes(1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,)}", data16),
        "expected True or False");
  check(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}", data16),
        "bad size in the shape");
  check(
      npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999)}",
                data16),
      "impossibly large");
  check(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}", data16),
        "unknown key 'extra'");
  CHECK_THROWS_WITH_AS(load_npy(dir.file("missing.npy")), doctest::Contains("cannot open"), Error);
}

TEST_CASE("npy writes uint8, int64 and float32 arrays that read back, atomically") {
  TempDir dir;
  std::vector<uint8_t> bytes = {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255};
  save_npy(dir.file("u8.npy"), bytes, {2, 2, 3});
  NpyArray u8 = load_npy(dir.file("u8.npy"));
  CHECK(u8.dtype == "|u1");
  CHECK(u8.shape == Shape{2, 2, 3});
  CHECK(u8.values == std::vector<float>(bytes.begin(), bytes.end()));

  save_npy(dir.file("i8.npy"), std::vector<int64_t>{4, -3, 0, 7}, {4});
  NpyArray i8 = load_npy(dir.file("i8.npy"));
  CHECK(i8.dtype == "<i8");
  CHECK(i8.values == std::vector<float>{4, -3, 0, 7});

  save_npy(dir.file("f4.npy"), std::vector<float>{0.25f}, {});
  NpyArray f4 = load_npy(dir.file("f4.npy"));
  CHECK(f4.dtype == "<f4");
  CHECK(f4.shape.empty());
  CHECK(f4.values == std::vector<float>{0.25f});

  std::string file = test::read_bytes(dir.file("i8.npy"));
  size_t header_end = file.find('\n') + 1;
  CHECK(header_end % 64 == 0);  // the data starts 64-byte aligned, as NumPy writes it
  CHECK(file.find("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }") == 10);
  CHECK(file.size() == header_end + 4 * 8);
  CHECK(dir.listing() == "f4.npy i8.npy u8.npy ");

  CHECK_THROWS_WITH_AS(save_npy(dir.file("bad.npy"), bytes, {5}),
                       doctest::Contains("12 values cannot fill shape [5]"), Error);
  CHECK_THROWS_WITH_AS(save_npy(dir.file("no/dir/x.npy"), bytes, {12}),
                       doctest::Contains("cannot write"), Error);
  CHECK(dir.listing() == "f4.npy i8.npy u8.npy ");
}

TEST_CASE("npy files written here load in NumPy (when /usr/bin/python3 has numpy)") {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    return test::skip("no /usr/bin/python3 with numpy");
  TempDir dir;
  save_npy(dir.file("u8.npy"), std::vector<uint8_t>{1, 2, 3, 4, 5, 6}, {1, 2, 3});
  save_npy(dir.file("i8.npy"), std::vector<int64_t>{-5, 5}, {2});
  std::string script =
      "import numpy as np, sys; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]);"
      "assert a.dtype == np.uint8 and a.shape == (1, 2, 3) and a[0, 1, 2] == 6, a;"
      "assert b.dtype == np.int64 and b.tolist() == [-5, 5], b";
  std::string command =
      "/usr/bin/python3 -c '" + script + "' " + dir.file("u8.npy") + " " + dir.file("i8.npy");
  CHECK(std::system(command.c_str()) == 0);
}

TEST_CASE("npy reads the data folder's group ids (when the data is present)") {
  std::string dir = test::data_dir();
  if (dir.empty() || !std::ifstream(dir + "/sprites-cc0/group_ids.npy"))
    return test::skip("no sprites-cc0/group_ids.npy in the data folder");
  NpyArray groups = load_npy(dir + "/sprites-cc0/group_ids.npy");
  CHECK(groups.dtype == "<i4");
  CHECK(groups.shape == Shape{84348});
  CHECK(*std::max_element(groups.values.begin(), groups.values.end()) == 1816);
}
