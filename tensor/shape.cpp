#include "tensor/shape.hpp"

#include "tensor/error.hpp"

namespace tinydiff {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

std::string str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    TD_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", str(a), " and ", str(b),
             " cannot be broadcast (axis ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  int64_t r = rank == 0 ? 1 : rank;
  TD_CHECK(axis >= -r && axis < r, op, ": axis ", axis, " is out of range for a tensor of rank ",
           rank, " (valid: ", -r, "..", r - 1, ")");
  return axis < 0 ? axis + r : axis;
}

}  // namespace tinydiff
