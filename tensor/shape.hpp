// Shapes and strides: plain vectors of int64, row-major (the last axis is contiguous).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tinydiff {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
// Row-major strides: strides[i] = product of shape[i+1:].
Shape contiguous_strides(const Shape& shape);
// "[100, 3, 16, 16]", the form every error message uses.
std::string str(const Shape& shape);
// NumPy broadcasting: align trailing axes; sizes must match or one of them be 1.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Turns a negative axis into a positive one; throws naming `op` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

}  // namespace tinydiff
