// Reductions and softmax along one axis. Any axis of a contiguous tensor can be seen as the
// middle axis of a 3-d view (outer, r, inner): outer = product of the sizes before it,
// inner = product of the sizes after it. So one kernel serves every axis without copies.
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

enum class ReduceOp { Sum, Max, Min, ArgMax, ArgMin };

namespace cpu {
// in is (outer, r, inner), out is (outer, inner). Arg* write the index (as a float).
void reduce(ReduceOp op, const float* in, float* out, int64_t outer, int64_t r, int64_t inner);
// y = softmax(x) (or log_softmax when `log`) along the middle axis of (outer, r, inner).
void softmax(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, bool log);
// softmax:     gx = y * (g - sum(g * y))
// log_softmax: gx = g - exp(y) * sum(g)
void softmax_backward(const float* y, const float* g, float* gx, int64_t outer, int64_t r,
                      int64_t inner, bool log);
}  // namespace cpu

namespace cuda {
void reduce(ReduceOp op, const float* in, float* out, int64_t outer, int64_t r, int64_t inner);
void softmax(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, bool log);
void softmax_backward(const float* y, const float* g, float* gx, int64_t outer, int64_t r,
                      int64_t inner, bool log);
}  // namespace cuda

}  // namespace tinydiff
