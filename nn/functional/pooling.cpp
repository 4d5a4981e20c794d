// max_pool2d and avg_pool2d over kernel x kernel windows (kernels in tensor/kernels/pool.hpp).
#include "nn/functional/conv.hpp"
#include "tensor/kernels/pool.hpp"

namespace tinydiff {

namespace {

// Checks a pooling's arguments and returns its geometry; stride <= 0 means stride = kernel.
// x (N, C, H, W) -> geometry with planes = N C
PoolGeometry pool_geometry(const char* op, const Tensor& x, int64_t kernel, int64_t stride,
                           int64_t padding) {
  TD_CHECK(x.dim() == 4, op, ": expects a 4-d input (N, C, H, W), got ", str(x.shape()));
  TD_CHECK(kernel >= 1, op, ": kernel must be at least 1, got ", kernel);
  TD_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding ", padding,
           " must be between 0 and half the kernel ", kernel);
  PoolGeometry g;
  g.planes = x.size(0) * x.size(1), g.in_h = x.size(2), g.in_w = x.size(3);
  g.kernel = kernel, g.stride = stride > 0 ? stride : kernel, g.padding = padding;
  int64_t padded_h = g.in_h + 2 * padding, padded_w = g.in_w + 2 * padding;
  TD_CHECK(kernel <= padded_h && kernel <= padded_w, op, ": kernel ", kernel,
           " is larger than the padded input ", padded_h, "x", padded_w, " (input ", str(x.shape()),
           ", padding ", padding, ")");
  g.out_h = (padded_h - kernel) / g.stride + 1;
  g.out_w = (padded_w - kernel) / g.stride + 1;
  return g;
}

}  // namespace

// max_pool2d: y = max_{i in window} x_i; dy/dx_i = 1 for the argmax i (the first maximum in
// row-major window order on ties, as PyTorch), 0 elsewhere.
// x (N, C, H, W) -> (N, C, H_out, W_out)
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry("max_pool2d", x, kernel, stride, padding);
  TD_CHECK(g.in_h * g.in_w <= (int64_t(1) << 24), "max_pool2d: a ", g.in_h, "x", g.in_w,
           " plane is too large to index in float32 (input ", str(x.shape()), ")");
  Tensor xc = x.contiguous();
  Shape out_shape = {x.size(0), x.size(1), g.out_h, g.out_w};
  Tensor y = Tensor::empty(out_shape, x.device());
  Tensor argmax = Tensor::empty(out_shape, x.device());
  TD_DISPATCH(x.device(), max_pool2d, g, xc.data(), y.data(), argmax.data());
  Shape in_shape = x.shape();
  return record("max_pool2d", y, {x}, [g, argmax, in_shape](const Tensor& grad) {
    Tensor gc = grad.contiguous();
    Tensor gx = Tensor::empty(in_shape, gc.device());
    TD_DISPATCH(gc.device(), max_pool2d_backward, g, gc.data(), argmax.data(), gx.data());
    return TensorList{gx};
  });
}

// avg_pool2d: y = (1 / kernel^2) sum_{i in window} x_i, padding counted as zeros
// (count_include_pad=True); dy/dx_i = 1 / kernel^2 for every i in the window.
// x (N, C, H, W) -> (N, C, H_out, W_out)
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry("avg_pool2d", x, kernel, stride, padding);
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), g.out_h, g.out_w}, x.device());
  TD_DISPATCH(x.device(), avg_pool2d, g, xc.data(), y.data());
  Shape in_shape = x.shape();
  return record("avg_pool2d", y, {x}, [g, in_shape](const Tensor& grad) {
    Tensor gc = grad.contiguous();
    Tensor gx = Tensor::empty(in_shape, gc.device());
    TD_DISPATCH(gc.device(), avg_pool2d_backward, g, gc.data(), gx.data());
    return TensorList{gx};
  });
}

}  // namespace tinydiff
