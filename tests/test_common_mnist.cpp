// lessons/common/mnist: IDX files, plain and gzipped; wrong magic, truncation, corruption.
#include <zlib.h>

#include "lessons/common/mnist.hpp"
#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;

namespace {

// An IDX file of unsigned bytes: magic, the sizes (4 bytes big-endian each), the data.
std::string idx_bytes(uint32_t magic, const std::vector<uint32_t>& sizes, const std::string& data) {
  std::string bytes;
  auto put32 = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes += char((v >> shift) & 0xFF);
  };
  put32(magic);
  for (uint32_t s : sizes) put32(s);
  return bytes + data;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

}  // namespace

TEST_CASE("read_idx reads plain and gzipped images and labels") {
  TempDir dir;
  std::string pixels = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, char(255)};
  test::write_bytes(dir.file("images"), idx_bytes(2051, {3, 2, 2}, pixels));
  IdxArray images = read_idx(dir.file("images"), kIdxImagesMagic);
  CHECK(images.shape == Shape{3, 2, 2});
  CHECK(images.data == std::vector<uint8_t>(pixels.begin(), pixels.end()));

  write_gz(dir.file("labels.gz"), idx_bytes(2049, {3}, {5, 0, 4}));
  IdxArray labels = read_idx(dir.file("labels.gz"), kIdxLabelsMagic);
  CHECK(labels.shape == Shape{3});
  CHECK(labels.data == std::vector<uint8_t>{5, 0, 4});

  write_gz(dir.file("images.gz"), idx_bytes(2051, {3, 2, 2}, pixels));
  CHECK(read_idx(dir.file("images.gz"), kIdxImagesMagic).data == images.data);
}

TEST_CASE("read_idx rejects wrong, truncated and corrupt files naming the file") {
  TempDir dir;
  std::string path = dir.file("f.gz");
  auto check = [&](const std::string& bytes, bool gzip, uint32_t magic,
                   const std::string& fragment) {
    if (gzip)
      write_gz(path, bytes);
    else
      test::write_bytes(path, bytes);
    try {
      read_idx(path, magic);
      FAIL("no error; expected '" << fragment << "'");
    } catch (const Error& e) {
      std::string message = e.what();
      CHECK_MESSAGE(message.find(path) != std::string::npos, message);
      CHECK_MESSAGE(message.find(fragment) != std::string::npos, message);
    }
  };
  std::string labels = idx_bytes(2049, {4}, {1, 2, 3, 4});
  check(labels, true, kIdxImagesMagic, "magic number 2049, expected 2051 (an images file)");
  check(idx_bytes(2051, {2, 2, 2}, "12345678"), false, kIdxLabelsMagic,
        "expected 2049 (a labels file)");
  check(labels.substr(0, 10), true, kIdxLabelsMagic, "needs 4 bytes of data but the file has 2");
  check(labels.substr(0, 6), false, kIdxLabelsMagic, "truncated header");
  check(std::string(2, '\0'), false, kIdxLabelsMagic, "too short");
  check(labels + "x", true, kIdxLabelsMagic, "has more than the 4 data bytes");
  check(idx_bytes(2051, {60000, 100000, 100000}, ""), false, kIdxImagesMagic, "impossibly large");
  const char gz_header[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";  // then no deflate data
  std::string gz_garbage = std::string(gz_header, 10) + "\xff\xff this is not deflate data";
  check(gz_garbage, false, kIdxLabelsMagic, "cannot decompress");
  CHECK_THROWS_WITH_AS(read_idx(dir.file("missing"), kIdxLabelsMagic),
                       doctest::Contains(("cannot open '" + dir.file("missing") + "'").c_str()),
                       Error);
}

TEST_CASE("read_idx reads the real MNIST training labels (when the data is present)") {
  std::string dir = test::data_dir();
  std::string path = dir + "/mnist/train-labels-idx1-ubyte.gz";
  if (dir.empty() || !std::ifstream(path)) return test::skip("no MNIST in the data folder");
  IdxArray labels = read_idx(path, kIdxLabelsMagic);
  REQUIRE(labels.shape == Shape{60000});
  CHECK(std::vector<uint8_t>(labels.data.begin(), labels.data.begin() + 8) ==
        std::vector<uint8_t>{5, 0, 4, 1, 9, 2, 1, 3});  // the data README's first 8
  std::vector<int> counts(10);
  for (uint8_t l : labels.data) counts[l]++;
  CHECK(counts == std::vector<int>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
}
