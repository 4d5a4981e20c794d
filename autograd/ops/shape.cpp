// Shape ops. Most are views: they share the input's storage and only change the shape,
// strides and offset; their backward puts the gradient back into the input's shape.
#include <numeric>

#include "autograd/ops.hpp"
#include "tensor/kernels/elementwise.hpp"

namespace tinydiff {

// contiguous: y = x laid out row-major; dy/dx = identity.
Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return clone(x);
}
Tensor Tensor::contiguous() const { return tinydiff::contiguous(*this); }

// clone: y = x in fresh storage; dy/dx = identity.
Tensor clone(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  TD_DISPATCH(x.device(), copy_strided, StridedInput{x.data(), x.strides()}, y.data(), x.shape());
  return record("clone", y, {x}, [](const Tensor& g) { return TensorList{g}; });
}
Tensor Tensor::clone() const { return tinydiff::clone(*this); }

// to_device: y = x on another device; the gradient goes back to x's device.
Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  require_device(device, "to");
  Tensor src = x.contiguous();
  std::vector<float> host = src.tolist();
  Tensor y = from_vector(host, x.shape(), device);
  Device back = x.device();
  return record("to_device", y, {x}, [back](const Tensor& g) {
    return TensorList{to_device(g, back)};
  });
}
Tensor Tensor::to(Device device) const { return to_device(*this, device); }

namespace {
Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from) {
  Shape shape = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TD_CHECK(infer_at < 0, "reshape: only one -1 allowed in ", str(requested));
      infer_at = int64_t(i);
    } else {
      TD_CHECK(shape[i] >= 0, "reshape: invalid size ", shape[i], " in ", str(requested));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    TD_CHECK(known > 0 && numel % known == 0, "reshape: cannot reshape ", str(from), " (",
             numel, " elements) into ", str(requested));
    shape[infer_at] = numel / known;
  }
  TD_CHECK(numel_of(shape) == numel, "reshape: cannot reshape ", str(from), " (", numel,
           " elements) into ", str(requested), " (", numel_of(shape), " elements)");
  return shape;
}
}  // namespace

// reshape: y = x with another shape; dy/dx reshapes the gradient back.
Tensor reshape(const Tensor& x, const Shape& requested) {
  Shape shape = infer_shape(requested, x.numel(), x.shape());
  Tensor src = x.is_contiguous() ? x : x.contiguous();
  Tensor y = Tensor::view_of(src.impl().storage, shape, contiguous_strides(shape), src.offset());
  Shape in_shape = x.shape();
  return record("reshape", y, {src}, [in_shape](const Tensor& g) {
    return TensorList{reshape(g, in_shape)};
  });
}
Tensor Tensor::reshape(const Shape& shape) const { return tinydiff::reshape(*this, shape); }

// permute: y axis i = x axis axes[i]; the gradient is permuted by the inverse permutation.
Tensor permute(const Tensor& x, const Shape& axes) {
  TD_CHECK(int64_t(axes.size()) == x.dim(), "permute: ", axes.size(), " axes given for a tensor "
           "of rank ", x.dim(), " ", str(x.shape()));
  Shape shape(axes.size()), strides(axes.size()), inverse(axes.size(), -1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = normalize_axis(axes[i], x.dim(), "permute");
    TD_CHECK(inverse[a] < 0, "permute: axis ", a, " repeated in ", str(axes));
    inverse[a] = int64_t(i);
    shape[i] = x.shape()[a];
    strides[i] = x.strides()[a];
  }
  Tensor y = Tensor::view_of(x.impl().storage, shape, strides, x.offset());
  return record("permute", y, {x}, [inverse](const Tensor& g) {
    return TensorList{permute(g, inverse)};
  });
}
Tensor Tensor::permute(const Shape& axes) const { return tinydiff::permute(*this, axes); }

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  Shape axes(x.dim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[normalize_axis(a, x.dim(), "transpose")], axes[normalize_axis(b, x.dim(), "transpose")]);
  return permute(x, axes);
}
Tensor Tensor::transpose(int64_t a, int64_t b) const { return tinydiff::transpose(*this, a, b); }

// Sums g over the axes that broadcasting added or stretched, giving `shape`.
Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - int64_t(shape.size());
  TD_CHECK(lead >= 0, "sum_to: cannot reduce ", str(g.shape()), " to ", str(shape));
  Shape axes;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  return reshape(sum(g, axes, true), shape);
}

// expand: y = x broadcast to `shape` (stride 0 on stretched axes); dy/dx sums them back.
Tensor expand(const Tensor& x, const Shape& shape) {
  TD_CHECK(int64_t(shape.size()) >= x.dim(), "expand: cannot expand ", str(x.shape()), " to ",
           str(shape), " (fewer axes)");
  int64_t lead = int64_t(shape.size()) - x.dim();
  Shape out_shape = shape, strides(shape.size(), 0);
  for (int64_t i = 0; i < x.dim(); ++i) {
    int64_t want = shape[lead + i] == -1 ? x.shape()[i] : shape[lead + i];
    TD_CHECK(x.shape()[i] == want || x.shape()[i] == 1, "expand: cannot expand ", str(x.shape()),
             " to ", str(shape), " (axis ", lead + i, ": ", x.shape()[i], " vs ", want, ")");
    out_shape[lead + i] = want;
    strides[lead + i] = x.shape()[i] == 1 && want != 1 ? 0 : x.strides()[i];
  }
  Tensor y = Tensor::view_of(x.impl().storage, out_shape, strides, x.offset());
  Shape in_shape = x.shape();
  return record("expand", y, {x}, [in_shape](const Tensor& g) {
    return TensorList{sum_to(g, in_shape)};
  });
}
Tensor Tensor::expand(const Shape& shape) const { return tinydiff::expand(*this, shape); }

Tensor squeeze(const Tensor& x, int64_t axis) {
  axis = normalize_axis(axis, x.dim(), "squeeze");
  TD_CHECK(x.shape()[axis] == 1, "squeeze: axis ", axis, " of ", str(x.shape()), " has size ",
           x.shape()[axis], ", not 1");
  Shape shape = x.shape();
  shape.erase(shape.begin() + axis);
  return reshape(x, shape);
}
Tensor Tensor::squeeze(int64_t axis) const { return tinydiff::squeeze(*this, axis); }

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  axis = normalize_axis(axis, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + axis, 1);
  return reshape(x, shape);
}
Tensor Tensor::unsqueeze(int64_t axis) const { return tinydiff::unsqueeze(*this, axis); }

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  if (x.dim() == 0) return reshape(x, {1});
  start = normalize_axis(start, x.dim(), "flatten");
  end = normalize_axis(end, x.dim(), "flatten");
  TD_CHECK(start <= end, "flatten: start axis ", start, " is after end axis ", end);
  Shape shape(x.shape().begin(), x.shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= x.shape()[i];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + end + 1, x.shape().end());
  return reshape(x, shape);
}
Tensor Tensor::flatten(int64_t start, int64_t end) const { return tinydiff::flatten(*this, start, end); }

// slice: y = x[start:end:step] along `axis`, a view; dy/dx writes g into those positions of
// a zero tensor shaped like x.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  axis = normalize_axis(axis, x.dim(), "slice");
  TD_CHECK(step > 0, "slice: step must be positive, got ", step);
  int64_t n = x.shape()[axis];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  end = std::min(std::max<int64_t>(end, start), n);
  Shape shape = x.shape(), strides = x.strides();
  shape[axis] = (end - start + step - 1) / step;
  strides[axis] *= step;
  Tensor y = Tensor::view_of(x.impl().storage, shape, strides, x.offset() + start * x.strides()[axis]);
  Shape in_shape = x.shape();
  return record("slice", y, {x}, [in_shape, axis, start, step](const Tensor& g) {
    Tensor gx = zeros(in_shape, g.device());
    Shape strides = gx.strides();
    int64_t offset = start * strides[axis];
    strides[axis] *= step;
    Tensor gc = g.contiguous();
    TD_DISPATCH(g.device(), copy_into_strided, gc.data(), gx.data() + offset, strides, g.shape());
    return TensorList{gx};
  });
}

// narrow: x[start:start+length] along `axis`; checked strictly (no clipping), as in PyTorch.
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  int64_t a = normalize_axis(axis, x.dim(), "narrow");
  TD_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[a], "narrow: range [", start,
           ", ", start + length, ") is outside axis ", a, " of size ", x.shape()[a], " in ",
           str(x.shape()));
  return slice(x, a, start, start + length, 1);
}
Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  return tinydiff::narrow(*this, axis, start, length);
}

}  // namespace tinydiff
