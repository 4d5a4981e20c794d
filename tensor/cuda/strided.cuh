// Strided and broadcast reads on the GPU. A kernel cannot take std::vector, so the output's
// shape and each operand's strides are copied into a fixed-size struct that is passed by
// value (it travels in the kernel's parameter memory, readable by every thread).
#pragma once
#include <cstdint>

#include "tensor/error.hpp"
#include "tensor/shape.hpp"

namespace tinydiff::cuda {

constexpr int kMaxRank = 8;  // the highest rank a strided kernel accepts

// The output shape and the strides of N operands in the output's index space (stride 0 on
// broadcast axes, as made by broadcast_strides).
template <int N>
struct StridedLayout {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t strides[N][kMaxRank] = {};

  // Element i of the (contiguous) output: its coordinates, last axis fastest, dotted with
  // each operand's strides give that operand's offsets.
  __device__ void offsets(int64_t i, int64_t (&out)[N]) const {
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int axis = rank - 1; axis >= 0; --axis) {
      int64_t index = i % shape[axis];
      i /= shape[axis];
      for (int k = 0; k < N; ++k) out[k] += index * strides[k][axis];
    }
  }
};

// Packs `shape` and the operands' strides; throws naming `op` above kMaxRank axes.
template <int N>
StridedLayout<N> make_layout(const char* op, const Shape& shape, const Shape* const (&strides)[N]) {
  TD_CHECK(shape.size() <= size_t(kMaxRank), op, ": the CUDA backend handles up to ", kMaxRank,
           " axes, got shape ", str(shape));
  StridedLayout<N> layout;
  layout.rank = int(shape.size());
  for (int axis = 0; axis < layout.rank; ++axis) {
    layout.shape[axis] = shape[axis];
    for (int k = 0; k < N; ++k) layout.strides[k][axis] = (*strides[k])[axis];
  }
  return layout;
}

// True when `strides` are the row-major strides of `shape` (the data is one dense block).
inline bool is_dense(const Shape& strides, const Shape& shape) {
  return strides == contiguous_strides(shape);
}

}  // namespace tinydiff::cuda
