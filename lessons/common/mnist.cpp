#include "lessons/common/mnist.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "tensor/error.hpp"

namespace tinydiff {

namespace {

using GzFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;

// Reads up to `n` bytes; returns how many were read. A zlib error (a corrupt .gz) throws.
int64_t read_some(gzFile f, const std::string& path, uint8_t* out, int64_t n) {
  int64_t total = 0;
  while (total < n) {
    unsigned chunk = unsigned(std::min<int64_t>(n - total, 1 << 30));
    int got = gzread(f, out + total, chunk);
    if (got < 0) {
      int code;
      const char* message = gzerror(f, &code);
      throw_error("mnist: ", path, ": cannot decompress (", message, ")");
    }
    if (got == 0) break;
    total += got;
  }
  return total;
}

uint32_t big_endian(const uint8_t* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
}

}  // namespace

IdxArray read_idx(const std::string& path, uint32_t expected_magic) {
  GzFile f(gzopen(path.c_str(), "rb"), gzclose);
  TD_CHECK(f, "mnist: cannot open '", path, "': ", std::strerror(errno));
  gzbuffer(f.get(), 1 << 20);
  uint8_t head[4];
  TD_CHECK(read_some(f.get(), path, head, 4) == 4, "mnist: ", path,
           ": too short for an IDX header");
  uint32_t magic = big_endian(head);
  TD_CHECK(magic == expected_magic, "mnist: ", path, ": magic number ", magic, ", expected ",
           expected_magic,
           expected_magic == kIdxImagesMagic ? " (an images file)" : " (a labels file)");
  int axes = head[3];
  IdxArray array;
  for (int i = 0; i < axes; ++i) {
    TD_CHECK(read_some(f.get(), path, head, 4) == 4, "mnist: ", path, ": truncated header");
    array.shape.push_back(big_endian(head));
  }
  double claimed = 1;  // in double so that a corrupt header cannot overflow
  for (int64_t d : array.shape) claimed *= double(d);
  TD_CHECK(claimed <= double(int64_t(1) << 36), "mnist: ", path, ": header shape ",
           str(array.shape), " is impossibly large (corrupt file?)");
  // Grow the buffer as the data arrives, so a lying header cannot make us allocate gigabytes.
  int64_t n = numel_of(array.shape), got = 0;
  array.data.reserve(std::min<int64_t>(n, int64_t(1) << 26));
  while (got < n) {
    int64_t want = std::min<int64_t>(n - got, int64_t(1) << 24);
    array.data.resize(got + want);
    int64_t read = read_some(f.get(), path, array.data.data() + got, want);
    got += read;
    if (read < want) break;
  }
  TD_CHECK(got == n, "mnist: ", path, ": truncated: shape ", str(array.shape), " needs ", n,
           " bytes of data but the file has ", got);
  uint8_t extra;
  TD_CHECK(read_some(f.get(), path, &extra, 1) == 0, "mnist: ", path, ": has more than the ", n,
           " data bytes that shape ", str(array.shape), " needs");
  return array;
}

}  // namespace tinydiff
