// Dropout (Srivastava et al. 2014), "inverted" as in PyTorch: the 1/(1-p) rescaling happens in
// training, so that the expected output equals the input and inference is the identity.
//   y = x m / (1 - p),  m_i ~ Bernoulli(1 - p) drawn independently;   dy/dx = m / (1 - p)
#include "nn/functional/dropout.hpp"

namespace tinydiff {

namespace {

// m / (1 - p) for a fresh Bernoulli(1 - p) mask m of `shape`. Element i keeps when its uniform
// draw u_i in (0, 1) is >= p, which happens with probability 1 - p; p = 1 keeps nothing.
// The draws come from `gen` (the default generator when null), so restoring its state redraws
// the same mask.
Tensor scaled_keep_mask(const Shape& shape, float p, Generator* gen, Device device) {
  NoGradGuard no_grad;
  Tensor keep = ge(rand(shape, gen, device), full({}, p, device));
  return mul(keep, p < 1.f ? 1.f / (1.f - p) : 0.f);
}

}  // namespace

// x (any shape) -> same shape
Tensor dropout(const Tensor& x, float p, bool training, Generator* gen) {
  TD_CHECK(p >= 0.f && p <= 1.f, "dropout: probability p must be in [0, 1], got ", p);
  if (!training || p == 0.f) return x;
  Tensor mask = scaled_keep_mask(x.shape(), p, gen, x.device());
  Tensor y;
  {
    NoGradGuard no_grad;
    y = mul(x, mask);
  }
  return record("dropout", y, {x}, [mask](const Tensor& g) { return TensorList{mul(g, mask)}; });
}

}  // namespace tinydiff
