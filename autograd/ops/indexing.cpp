// Joining, splitting and indexing ops: cat, stack, split, chunk, index_select, gather,
// scatter_add, repeat, one_hot. Semantics follow PyTorch's functions of the same names.
//
// Index tensors are float tensors of whole numbers (tinydiff's one dtype); every op checks
// them before use and names the bad value and the size of the axis it indexes. Along one
// axis a contiguous tensor is an (outer, n, inner) view, which is what the kernels in
// tensor/kernels/indexing.hpp take.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/ops.hpp"
#include "tensor/kernels/elementwise.hpp"
#include "tensor/kernels/indexing.hpp"

namespace tinydiff {

namespace {

// `shape` seen around `axis` as (outer, n, inner).
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisView axis_view(const Shape& shape, int64_t axis) {
  AxisView v;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    if (i < axis) v.outer *= shape[i];
    if (i > axis) v.inner *= shape[i];
  }
  v.n = shape[axis];
  return v;
}

// A non-negative axis of x, which must have at least one axis.
int64_t checked_axis(const Tensor& x, int64_t axis, const char* op) {
  TD_CHECK(x.dim() > 0, op, ": needs a tensor with at least one axis, got a 0-d tensor");
  return normalize_axis(axis, x.dim(), op);
}

void check_index_device(const Tensor& x, const Tensor& index, const char* op) {
  TD_CHECK(index.device() == x.device(), op, ": index is on ", index.device().str(),
           " but the input is on ", x.device().str());
}

// Throws when an entry of `idx` (contiguous) is not a whole number in [0, size); `context`
// names the axis being indexed, e.g. "axis 1 of size 5 (input [2, 5], index [2, 3])".
void check_indices(const char* op, const Tensor& idx, int64_t size, const std::string& context) {
  int64_t bad = -1;
  TD_DISPATCH(idx.device(), find_bad_index, idx.data(), idx.numel(), size, &bad);
  if (bad < 0) return;
  float value = idx.tolist()[bad];
  if (std::isfinite(value) && value == std::floor(value))
    throw_error(op, ": index ", int64_t(value), " is out of range for ", context);
  throw_error(op, ": index ", value, " is not a whole number, for ", context);
}

std::string axis_context(int64_t axis, const Tensor& x, const Tensor& index) {
  return "axis " + std::to_string(axis) + " of size " + std::to_string(x.shape()[axis]) +
         " (input " + str(x.shape()) + ", index " + str(index.shape()) + ")";
}

// gather and scatter_add: index has t's rank and is no larger than t on every axis but `skip`
// (skip = -1 checks every axis). `name` is what t is called in the message.
void check_index_fits(const char* op, const Tensor& t, const char* name, const Tensor& index,
                      int64_t skip) {
  TD_CHECK(index.dim() == t.dim(), op, ": index has rank ", index.dim(), " but ", name,
           " has rank ", t.dim(), " (", name, " ", str(t.shape()), ", index ", str(index.shape()),
           ")");
  for (int64_t d = 0; d < t.dim(); ++d)
    TD_CHECK(d == skip || index.shape()[d] <= t.shape()[d], op, ": index is larger than ", name,
             " along axis ", d, " (", name, " ", str(t.shape()), ", index ", str(index.shape()),
             ")");
}

// t narrowed to shape[d] on every axis d but `skip` (a view; differentiable through narrow).
Tensor narrow_to(const Tensor& t, const Shape& shape, int64_t skip) {
  Tensor out = t;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (d != skip && shape[d] < t.shape()[d]) out = narrow(out, d, 0, shape[d]);
  return out;
}

// dst[o, idx[o, i, j], j] += src[o, i, j] along `axis`. dst is contiguous and has idx's shape
// except along `axis`; idx and src are contiguous with the same shape.
void scatter_add_into(const Tensor& dst, int64_t axis, const Tensor& idx, const Tensor& src) {
  AxisView v = axis_view(dst.shape(), axis);
  TD_DISPATCH(dst.device(), scatter_add, src.data(), idx.data(), dst.data(), v.outer, v.n,
              idx.shape()[axis], v.inner);
}

}  // namespace

// cat: y = [x_0; x_1; ...] along `axis`; dy/dx_i is the slice of g where x_i sits.
// x_i (..., n_i, ...) -> (..., n_0 + n_1 + ..., ...)
Tensor cat(const TensorList& xs, int64_t axis) {
  TD_CHECK(!xs.empty(), "cat: needs at least one tensor, got an empty list");
  const Tensor& first = xs[0];
  axis = checked_axis(first, axis, "cat");
  Shape shape = first.shape();
  shape[axis] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    Shape expected = first.shape();
    expected[axis] = xs[i].dim() == first.dim() ? xs[i].shape()[axis] : expected[axis];
    TD_CHECK(xs[i].shape() == expected, "cat: tensor ", i, " has shape ", str(xs[i].shape()),
             " but tensor 0 has ", str(first.shape()), "; shapes must match except along axis ",
             axis);
    TD_CHECK(xs[i].device() == first.device(), "cat: tensor ", i, " is on ", xs[i].device().str(),
             " but tensor 0 is on ", first.device().str());
    shape[axis] += xs[i].shape()[axis];
  }
  Tensor out = Tensor::empty(shape, first.device());
  AxisView v = axis_view(shape, axis);
  int64_t start = 0;
  Shape sizes;
  for (const Tensor& x : xs) {
    // x is an (outer, n_i * inner) block of out's (outer, n * inner) rows, at column start.
    int64_t n = x.shape()[axis];
    Tensor xc = x.detach().contiguous();
    TD_DISPATCH(out.device(), copy_into_strided, xc.data(), out.data() + start * v.inner,
                Shape{v.n * v.inner, 1}, Shape{v.outer, n * v.inner});
    sizes.push_back(n);
    start += n;
  }
  return record("cat", out, xs, [axis, sizes](const Tensor& g) {
    TensorList grads;
    int64_t at = 0;
    for (int64_t n : sizes) {
      grads.push_back(narrow(g, axis, at, n));
      at += n;
    }
    return grads;
  });
}

// stack: y[..., i, ...] = x_i along a new axis; dy/dx_i = g[..., i, ...].
// k tensors (d_0, ..., d_r) -> (d_0, ..., k, ..., d_r) with k at `axis`
Tensor stack(const TensorList& xs, int64_t axis) {
  TD_CHECK(!xs.empty(), "stack: needs at least one tensor, got an empty list");
  axis = normalize_axis(axis, xs[0].dim() + 1, "stack");
  TensorList parts;
  for (size_t i = 0; i < xs.size(); ++i) {
    TD_CHECK(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ", str(xs[i].shape()),
             " but tensor 0 has ", str(xs[0].shape()), "; all shapes must be equal");
    parts.push_back(unsqueeze(xs[i].detach(), axis));
  }
  Tensor out = cat(parts, axis);
  int64_t count = int64_t(xs.size());
  return record("stack", out, xs, [axis, count](const Tensor& g) {
    TensorList grads;
    for (int64_t i = 0; i < count; ++i) grads.push_back(squeeze(narrow(g, axis, i, 1), axis));
    return grads;
  });
}

// split: consecutive pieces of `split_size` along `axis`, the last one shorter when n does not
// divide evenly. The pieces are narrow views of x, so their gradients flow back through narrow.
// x (..., n, ...) -> ceil(n / split_size) tensors (..., <= split_size, ...)
TensorList split(const Tensor& x, int64_t split_size, int64_t axis) {
  axis = checked_axis(x, axis, "split");
  int64_t n = x.shape()[axis];
  TD_CHECK(split_size > 0 || (split_size == 0 && n == 0),
           "split: split_size must be positive, got ", split_size, " for axis ", axis, " of ",
           str(x.shape()));
  if (n == 0) return {narrow(x, axis, 0, 0)};
  TensorList pieces;
  for (int64_t start = 0; start < n; start += split_size)
    pieces.push_back(narrow(x, axis, start, std::min(split_size, n - start)));
  return pieces;
}

// chunk: `chunks` pieces of ceil(n / chunks) along `axis` (fewer when n is small), as
// torch.chunk. x (..., n, ...) -> up to `chunks` tensors
TensorList chunk(const Tensor& x, int64_t chunks, int64_t axis) {
  TD_CHECK(chunks > 0, "chunk: the number of chunks must be positive, got ", chunks);
  axis = checked_axis(x, axis, "chunk");
  int64_t n = x.shape()[axis];
  if (n > 0) return split(x, (n + chunks - 1) / chunks, axis);
  TensorList pieces;  // an empty axis gives `chunks` empty pieces, as in PyTorch
  for (int64_t i = 0; i < chunks; ++i) pieces.push_back(narrow(x, axis, 0, 0));
  return pieces;
}

// index_select: y[o, i, :] = x[o, index[i], :] along the middle axis of (outer, n, inner);
// dy/dx sends each row of g back where it came from: gx[o, index[i], :] += g[o, i, :].
// x (..., n, ...), index (k,) -> (..., k, ...)
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  axis = checked_axis(x, axis, "index_select");
  TD_CHECK(index.dim() <= 1, "index_select: index must be 1-d, got ", str(index.shape()));
  check_index_device(x, index, "index_select");
  Tensor idx = index.detach().contiguous();
  check_indices("index_select", idx, x.shape()[axis], axis_context(axis, x, index));
  Shape shape = x.shape();
  shape[axis] = idx.numel();
  AxisView v = axis_view(x.shape(), axis);
  Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(shape, x.device());
  TD_DISPATCH(x.device(), index_select, xc.data(), idx.data(), out.data(), v.outer, v.n,
              idx.numel(), v.inner);
  Shape in_shape = x.shape();
  return record("index_select", out, {x}, [idx, v, in_shape](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = zeros(in_shape, g.device());
    TD_DISPATCH(g.device(), index_add, gc.data(), idx.data(), gx.data(), v.outer, v.n, idx.numel(),
                v.inner);
    return TensorList{gx};
  });
}

// gather: y[o, i, j] = x[o, index[o, i, j], j] along the middle axis of (outer, n, inner);
// dy/dx scatters g back: gx[o, index[o, i, j], j] += g[o, i, j].
// x (..., n, ...), index (..., k, ...) no larger than x off `axis` -> index's shape
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  axis = checked_axis(x, axis, "gather");
  check_index_fits("gather", x, "input", index, axis);
  check_index_device(x, index, "gather");
  Tensor idx = index.detach().contiguous();
  check_indices("gather", idx, x.shape()[axis], axis_context(axis, x, index));
  Tensor src = narrow_to(x, idx.shape(), axis);  // PyTorch reads only x's leading corner
  AxisView v = axis_view(src.shape(), axis);
  Tensor xc = src.detach().contiguous();
  Tensor out = Tensor::empty(idx.shape(), x.device());
  TD_DISPATCH(x.device(), gather, xc.data(), idx.data(), out.data(), v.outer, v.n,
              idx.shape()[axis], v.inner);
  Shape src_shape = src.shape();
  return record("gather", out, {src}, [idx, src_shape, axis](const Tensor& g) {
    Tensor gx = zeros(src_shape, g.device());
    scatter_add_into(gx, axis, idx, g.contiguous());
    return TensorList{gx};
  });
}

// scatter_add: y = x, then y[o, index[o, i, j], j] += src[o, i, j] along `axis`;
// dy/dx = identity, dy/dsrc gathers g: gsrc[o, i, j] = g[o, index[o, i, j], j].
// x (..., n, ...), index (..., k, ...), src at least index's shape -> x's shape
Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src) {
  axis = checked_axis(x, axis, "scatter_add");
  check_index_fits("scatter_add", x, "input", index, axis);
  check_index_fits("scatter_add", src, "src", index, -1);
  check_index_device(x, index, "scatter_add");
  check_index_device(x, src, "scatter_add");
  Tensor idx = index.detach().contiguous();
  check_indices("scatter_add", idx, x.shape()[axis], axis_context(axis, x, index));
  Tensor s = narrow_to(src, idx.shape(), -1);  // only src's leading corner is added
  Tensor out = clone(x.detach());
  // The part of out that index reaches; when it is not contiguous, scatter into a copy.
  Tensor region = narrow_to(out, idx.shape(), axis);
  Tensor target = region.contiguous();
  scatter_add_into(target, axis, idx, s.detach().contiguous());
  if (!target.same_storage(region))
    TD_DISPATCH(out.device(), copy_into_strided, target.data(), region.data(), region.strides(),
                region.shape());
  return record("scatter_add", out, {x, s}, [idx, axis](const Tensor& g) {
    return TensorList{g, gather(g, axis, idx)};
  });
}

// repeat: tiles x reps[i] times along axis i (x gets leading size-1 axes when reps is longer).
// It is a copy of x viewed as (1, s_0, 1, s_1, ...) and expanded to (r_0, s_0, r_1, s_1, ...);
// dy/dx sums g over the copies: g seen as (r_0, s_0, r_1, s_1, ...) summed over the r axes.
// x (s_0, ..., s_{R-1}) -> (r_0 s_0, ..., r_{R-1} s_{R-1}), R = len(reps)
Tensor repeat(const Tensor& x, const Shape& reps) {
  TD_CHECK(int64_t(reps.size()) >= x.dim(), "repeat: ", reps.size(), " repeat counts given for ",
           "a tensor of rank ", x.dim(), " ", str(x.shape()), " (needs at least ", x.dim(), ")");
  Shape padded(reps.size() - x.dim(), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  Shape pairs, tiled, out_shape, copy_axes;
  for (size_t i = 0; i < reps.size(); ++i) {
    TD_CHECK(reps[i] >= 0, "repeat: negative repeat count ", reps[i], " in ", str(reps));
    pairs.insert(pairs.end(), {1, padded[i]});
    tiled.insert(tiled.end(), {reps[i], padded[i]});
    out_shape.push_back(reps[i] * padded[i]);
    copy_axes.push_back(int64_t(2 * i));
  }
  Tensor out = reshape(clone(expand(reshape(x.detach(), pairs), tiled)), out_shape);
  Shape in_shape = x.shape();
  return record("repeat", out, {x}, [tiled, copy_axes, in_shape](const Tensor& g) {
    if (copy_axes.empty()) return TensorList{g};  // a 0-d x with no counts: a plain copy
    return TensorList{reshape(sum(reshape(g, tiled), copy_axes), in_shape)};
  });
}

// one_hot: indices (...) -> (..., num_classes) with y[..., c] = [c == index]; num_classes -1
// means max(index) + 1, as F.one_hot. Indices are data: no gradient.
Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  Tensor idx = indices.detach().contiguous();
  if (num_classes == -1) {
    TD_CHECK(idx.numel() > 0, "one_hot: cannot infer num_classes from an empty index tensor");
    float top = max(idx).item();
    num_classes = std::isfinite(top) && top >= 0 ? int64_t(top) + 1 : 1;
  }
  TD_CHECK(num_classes > 0, "one_hot: num_classes must be positive (or -1 to infer it), got ",
           num_classes);
  check_indices(
      "one_hot", idx, num_classes,
      "num_classes " + std::to_string(num_classes) + " (indices " + str(idx.shape()) + ")");
  Shape shape = idx.shape();
  shape.push_back(num_classes);
  Tensor out = Tensor::empty(shape, idx.device());
  TD_DISPATCH(idx.device(), one_hot, idx.data(), out.data(), idx.numel(), num_classes);
  return out;
}

}  // namespace tinydiff
