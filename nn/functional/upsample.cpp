// upsample_nearest2d: each pixel becomes a scale x scale block (kernels in
// tensor/kernels/pool.hpp).
#include "nn/functional/conv.hpp"
#include "tensor/kernels/pool.hpp"

namespace tinydiff {

// y[oy][ox] = x[oy / scale][ox / scale]; dy/dx sums the gradient over each pixel's block.
// x (N, C, H, W) -> (N, C, H scale, W scale)
Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  TD_CHECK(x.dim() == 4, "upsample_nearest2d: expects a 4-d input (N, C, H, W), got ",
           str(x.shape()));
  TD_CHECK(scale >= 1, "upsample_nearest2d: scale must be at least 1, got ", scale, " (input ",
           str(x.shape()), ")");
  int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), h * scale, w * scale}, x.device());
  TD_DISPATCH(x.device(), upsample_nearest2d, xc.data(), y.data(), planes, h, w, scale);
  Shape in_shape = x.shape();
  return record("upsample_nearest2d", y, {x}, [in_shape, planes, h, w, scale](const Tensor& grad) {
    Tensor gc = grad.contiguous();
    Tensor gx = Tensor::empty(in_shape, gc.device());
    TD_DISPATCH(gc.device(), upsample_nearest2d_backward, gc.data(), gx.data(), planes, h, w,
                scale);
    return TensorList{gx};
  });
}

}  // namespace tinydiff
