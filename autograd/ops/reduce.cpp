// Reductions over any set of axes, and softmax / log_softmax along one axis.
#include <algorithm>
#include <cmath>

#include "autograd/ops.hpp"
#include "tensor/kernels/reduce.hpp"

namespace tinydiff {

namespace {

// Sorted, unique, non-negative axes; empty means all axes.
Shape normalize_axes(const Shape& axes, int64_t rank, const char* op) {
  Shape out;
  if (axes.empty())
    for (int64_t i = 0; i < rank; ++i) out.push_back(i);
  for (int64_t a : axes) out.push_back(normalize_axis(a, rank, op));
  std::sort(out.begin(), out.end());
  TD_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": repeated axis in ",
           str(axes));
  return out;
}

Shape drop_axes(const Shape& shape, const Shape& axes) {
  Shape out;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) out.push_back(shape[i]);
  return out;
}

// Reduces one axis of a contiguous tensor, keeping it as size 1: the (outer, r, inner) view.
Tensor reduce_one_axis(ReduceOp op, const Tensor& x, int64_t axis) {
  int64_t outer = 1, inner = 1, r = x.shape()[axis];
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (int64_t i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Shape out_shape = x.shape();
  out_shape[axis] = 1;
  Tensor out = Tensor::empty(out_shape, x.device());
  TD_DISPATCH(x.device(), reduce, op, x.data(), out.data(), outer, r, inner);
  return out;
}

// The forward of a reduction over `axes` (normalised), with keepdim; no graph node.
Tensor reduce_keepdim(ReduceOp op, const Tensor& x, const Shape& axes, const char* name) {
  Tensor y = x.contiguous();
  for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
    TD_CHECK(x.shape()[*it] > 0 || op == ReduceOp::Sum, name, ": cannot reduce the empty axis ",
             *it, " of ", str(x.shape()));
    y = reduce_one_axis(op, y, *it);
  }
  return y.detach();
}

Tensor finish(const Tensor& y_keep, const Tensor& x, const Shape& axes, bool keepdim) {
  return keepdim ? y_keep : reshape(y_keep, drop_axes(x.shape(), axes));
}

}  // namespace

// sum: y = sum_i x_i over the axes; dy/dx_i = 1, so the gradient is broadcast back.
Tensor sum(const Tensor& x, const Shape& axes_in, bool keepdim) {
  Shape axes = normalize_axes(axes_in, x.dim(), "sum");
  Tensor y = reduce_keepdim(ReduceOp::Sum, x, axes, "sum");
  Shape in_shape = x.shape(), keep = y.shape();
  y = record("sum", y, {x}, [in_shape, keep](const Tensor& g) {
    return TensorList{expand(reshape(g, keep), in_shape)};
  });
  return finish(y, x, axes, keepdim);
}
Tensor Tensor::sum(const Shape& axes, bool keepdim) const { return tinydiff::sum(*this, axes, keepdim); }

// mean: y = sum / n.
Tensor mean(const Tensor& x, const Shape& axes_in, bool keepdim) {
  Shape axes = normalize_axes(axes_in, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t a : axes) n *= x.shape()[a];
  TD_CHECK(n > 0, "mean: mean over zero elements of ", str(x.shape()));
  return mul(sum(x, axes, keepdim), 1.f / float(n));
}
Tensor Tensor::mean(const Shape& axes, bool keepdim) const { return tinydiff::mean(*this, axes, keepdim); }

// var: y = sum (x - mean)^2 / (n - correction). Composed, so autograd derives the gradient
// 2 (x - mean) / (n - correction).
Tensor var(const Tensor& x, const Shape& axes_in, int64_t correction, bool keepdim) {
  Shape axes = normalize_axes(axes_in, x.dim(), "var");
  int64_t n = 1;
  for (int64_t a : axes) n *= x.shape()[a];
  TD_CHECK(n - correction > 0, "var: ", n, " elements with correction ", correction,
           " leave no degrees of freedom");
  Tensor centered = sub(x, mean(x, axes, true));
  return mul(sum(square(centered), axes, keepdim), 1.f / float(n - correction));
}

// max: y = max_i x_i; dy/dx_i = [x_i = y] / (number of maxima): ties share the gradient,
// as torch.amax does.
static Tensor extremum(const char* name, ReduceOp op, const Tensor& x, const Shape& axes_in,
                       bool keepdim) {
  Shape axes = normalize_axes(axes_in, x.dim(), name);
  Tensor y = reduce_keepdim(op, x, axes, name);
  Tensor x_saved = x.detach(), y_saved = y.detach();
  Shape axes_saved = axes;
  y = record(name, y, {x}, [x_saved, y_saved, axes_saved](const Tensor& g) {
    Tensor mask = eq(x_saved, y_saved);
    Tensor count = sum(mask, axes_saved, true);
    return TensorList{mul(mask, div(reshape(g, y_saved.shape()), count))};
  });
  return finish(y, x, axes, keepdim);
}
Tensor max(const Tensor& x, const Shape& axes, bool keepdim) {
  return extremum("max", ReduceOp::Max, x, axes, keepdim);
}
Tensor min(const Tensor& x, const Shape& axes, bool keepdim) {
  return extremum("min", ReduceOp::Min, x, axes, keepdim);
}

static Tensor arg_extremum(const char* name, ReduceOp op, const Tensor& x, int64_t axis,
                           bool keepdim) {
  Shape axes = {normalize_axis(axis, x.dim(), name)};
  return finish(reduce_keepdim(op, x, axes, name), x, axes, keepdim);
}
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  return arg_extremum("argmax", ReduceOp::ArgMax, x, axis, keepdim);
}
Tensor argmin(const Tensor& x, int64_t axis, bool keepdim) {
  return arg_extremum("argmin", ReduceOp::ArgMin, x, axis, keepdim);
}

// logsumexp: y = m + log sum exp(x - m), m = max x (held constant: it cancels in the
// derivative, dy/dx_i = softmax(x)_i).
Tensor logsumexp(const Tensor& x, const Shape& axes_in, bool keepdim) {
  Shape axes = normalize_axes(axes_in, x.dim(), "logsumexp");
  Tensor m = reduce_keepdim(ReduceOp::Max, x, axes, "logsumexp");
  m = where(eq(abs(m), full({}, INFINITY, m.device())), zeros_like(m), m);  // all -inf rows
  Tensor y = add(log(sum(exp(sub(x, m)), axes, true)), m);
  return finish(y, x, axes, keepdim);
}

namespace {
Tensor softmax_impl(const char* name, const Tensor& x, int64_t axis, bool log) {
  axis = normalize_axis(axis, x.dim(), name);
  Tensor xc = x.contiguous();
  int64_t outer = 1, inner = 1, r = x.dim() ? x.shape()[axis] : 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (int64_t i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Tensor y = Tensor::empty(x.shape(), x.device());
  TD_DISPATCH(x.device(), softmax, xc.data(), y.data(), outer, r, inner, log);
  Tensor y_saved = y.detach();
  return record(name, y, {x}, [y_saved, outer, r, inner, log](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(gc.shape(), gc.device());
    TD_DISPATCH(gc.device(), softmax_backward, y_saved.data(), gc.data(), gx.data(), outer, r,
                inner, log);
    return TensorList{gx};
  });
}
}  // namespace

// softmax: y_i = e^(x_i) / sum_j e^(x_j); dy/dx gives gx = y (g - sum_j g_j y_j)
Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl("softmax", x, axis, false); }
// log_softmax: y_i = x_i - logsumexp(x); gx = g - softmax(x) sum_j g_j
Tensor log_softmax(const Tensor& x, int64_t axis) {
  return softmax_impl("log_softmax", x, axis, true);
}

}  // namespace tinydiff
