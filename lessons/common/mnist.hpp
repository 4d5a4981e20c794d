// The IDX files of MNIST (http://yann.lecun.com/exdb/mnist/), gzipped or plain:
//
//   magic: 4 bytes big-endian, 0x00000803 = 2051 for images, 0x00000801 = 2049 for labels
//          (byte 3 is the type, 0x08 = unsigned byte; byte 4 is the number of axes)
//   the size of each axis: 4 bytes big-endian each (images N, 28, 28; labels N)
//   then the N * rows * cols (or N) bytes, row-major.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/shape.hpp"

namespace tinydiff {

constexpr uint32_t kIdxImagesMagic = 2051;  // unsigned bytes, 3 axes
constexpr uint32_t kIdxLabelsMagic = 2049;  // unsigned bytes, 1 axis

struct IdxArray {
  Shape shape;                // (N, rows, cols) or (N)
  std::vector<uint8_t> data;  // numel(shape) bytes, row-major
};

// Reads an IDX file (gzip-compressed or not: zlib reads both) whose magic must be
// `expected_magic`. A wrong magic, a truncated file or trailing bytes throw an Error naming
// the file and what is wrong.
IdxArray read_idx(const std::string& path, uint32_t expected_magic);

}  // namespace tinydiff
