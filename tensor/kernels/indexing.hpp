// Indexing primitives: select, gather and scatter along one axis, and one-hot encoding.
// As in reduce.hpp, the axis of a contiguous tensor is the middle axis of an (outer, n, inner)
// view, so one kernel serves every axis. Indices are floats holding whole numbers; the ops
// validate them with `find_bad_index` before calling the other kernels.
#pragma once
#include <cstdint>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

namespace cpu {
// index is (n,). Sets *position (a host variable) to the position of the first entry that is
// not a whole number in [0, size), or to -1 when all are valid.
void find_bad_index(const float* index, int64_t n, int64_t size, int64_t* position);
// x is (outer, n_in, inner), index is (n_idx,), out is (outer, n_idx, inner):
//   out[o, i, :] = x[o, index[i], :]
void index_select(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
                  int64_t n_idx, int64_t inner);
// The adjoint of index_select. g is (outer, n_idx, inner), gx is (outer, n_in, inner):
//   gx[o, index[i], :] += g[o, i, :]        (gx is accumulated into, not cleared)
void index_add(const float* g, const float* index, float* gx, int64_t outer, int64_t n_in,
               int64_t n_idx, int64_t inner);
// x is (outer, n_in, inner), index and out are (outer, n_idx, inner):
//   out[o, i, j] = x[o, index[o, i, j], j]
void gather(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
            int64_t n_idx, int64_t inner);
// The adjoint of gather. index and src are (outer, n_idx, inner), dst is (outer, n_dst, inner):
//   dst[o, index[o, i, j], j] += src[o, i, j]   (dst is accumulated into, not cleared)
void scatter_add(const float* src, const float* index, float* dst, int64_t outer, int64_t n_dst,
                 int64_t n_idx, int64_t inner);
// index is (n,), out is (n, classes): out[i, c] = 1 if c == index[i] else 0
void one_hot(const float* index, float* out, int64_t n, int64_t classes);
}  // namespace cpu

namespace cuda {
void find_bad_index(const float* index, int64_t n, int64_t size, int64_t* position);
void index_select(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
                  int64_t n_idx, int64_t inner);
void index_add(const float* g, const float* index, float* gx, int64_t outer, int64_t n_in,
               int64_t n_idx, int64_t inner);
void gather(const float* x, const float* index, float* out, int64_t outer, int64_t n_in,
            int64_t n_idx, int64_t inner);
void scatter_add(const float* src, const float* index, float* dst, int64_t outer, int64_t n_dst,
                 int64_t n_idx, int64_t inner);
void one_hot(const float* index, float* out, int64_t n, int64_t classes);
}  // namespace cuda

}  // namespace tinydiff
