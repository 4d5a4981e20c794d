// NumPy's .npy files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//
//   "\x93NUMPY", major, minor,                      6 + 2 bytes
//   header length: uint16 (v1) or uint32 (v2, v3),  little-endian
//   header: a Python dict literal padded with spaces and '\n', e.g.
//     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//   then the raw array bytes in C (row-major) order.
//
// The course's sprite files are .npy: images uint8 (N, 16, 16, 3), labels float64 (N, 5).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/shape.hpp"

namespace tinydiff {

struct NpyArray {
  std::string dtype;          // the file's descr: "|u1", "<f4", "<f8", "<i4", "<i8" or "|b1"
  Shape shape;                // () for a 0-d array
  std::vector<float> values;  // numel(shape) values, row-major, converted to float
};

// Reads a v1, v2 or v3 .npy file of one of the dtypes above, in C order. Fortran order,
// big-endian data, other dtypes and truncated or oversized files throw an Error naming the file.
NpyArray load_npy(const std::string& path);

// Writes an array (C order, .npy v1.0) atomically; `values` must hold numel(shape) elements.
void save_npy(const std::string& path, const std::vector<uint8_t>& values, const Shape& shape);
void save_npy(const std::string& path, const std::vector<int64_t>& values, const Shape& shape);
void save_npy(const std::string& path, const std::vector<float>& values, const Shape& shape);

}  // namespace tinydiff
