// Embedding: a table lookup. Row j of the output is row indices[j] of the weight:
//   out[j, :] = weight[indices[j], :]
// Each output row depends on one weight row, so the gradient adds every output row's gradient
// into the row it was read from (a scatter-add; repeated indices accumulate):
//   dweight[i, :] = sum over j with indices[j] = i of dout[j, :]
// The lookup and the scatter-add are the indexing kernels index_select / index_add.
#include "nn/functional/embedding.hpp"
#include "tensor/kernels/indexing.hpp"

namespace tinydiff {

// indices (...) of whole numbers in [0, num), weight (num, dim) -> (..., dim)
Tensor embedding(const Tensor& indices, const Tensor& weight) {
  TD_CHECK(weight.dim() == 2, "embedding: weight must be (num, dim), got ", str(weight.shape()));
  TD_CHECK(indices.device() == weight.device(), "embedding: indices are on ",
           indices.device().str(), " but the weight is on ", weight.device().str());
  const int64_t num = weight.size(0), dim = weight.size(1), n = indices.numel();
  Tensor idx = indices.detach().contiguous();
  int64_t bad = -1;
  TD_DISPATCH(idx.device(), find_bad_index, idx.data(), n, num, &bad);
  TD_CHECK(bad < 0, "embedding: index ", idx.tolist()[bad], " at position ", bad,
           " is not a whole number in [0, ", num, ") for a table of ", num, " rows (indices ",
           str(indices.shape()), ", weight ", str(weight.shape()), ")");
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor w = weight.contiguous().detach();
  Tensor out = Tensor::empty(out_shape, weight.device());
  TD_DISPATCH(w.device(), index_select, w.data(), idx.data(), out.data(), 1, num, n, dim);
  return record("embedding", out, {indices, weight}, [idx, num, dim, n](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gw = zeros({num, dim}, gc.device());
    TD_DISPATCH(gc.device(), index_add, gc.data(), idx.data(), gw.data(), 1, num, n, dim);
    return TensorList{Tensor(), gw};
  });
}

}  // namespace tinydiff
