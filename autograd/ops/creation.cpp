// Tensor creation. Nothing here records a graph node: new tensors are leaves.
#include <cmath>

#include "autograd/ops.hpp"
#include "tensor/kernels/elementwise.hpp"

namespace tinydiff {

Tensor full(const Shape& shape, float value, Device device) {
  Tensor t = Tensor::empty(shape, device);
  TD_DISPATCH(device, fill, t.data(), t.numel(), value);
  return t;
}
Tensor zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }
Tensor ones(const Shape& shape, Device device) { return full(shape, 1.f, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.device()); }
Tensor scalar_tensor(float value, Device device) { return full({}, value, device); }

Tensor arange(float start, float end, float step, Device device) {
  TD_CHECK(step != 0.f, "arange: step must not be 0");
  double count = std::ceil((double(end) - start) / step);
  Tensor t = Tensor::empty({std::max<int64_t>(0, int64_t(count))}, device);
  TD_DISPATCH(device, arange, t.data(), t.numel(), start, step);
  return t;
}

Tensor linspace(float start, float end, int64_t steps, Device device) {
  TD_CHECK(steps >= 0, "linspace: steps must be >= 0, got ", steps);
  Tensor t = Tensor::empty({steps}, device);
  float step = steps > 1 ? (end - start) / float(steps - 1) : 0.f;
  TD_DISPATCH(device, arange, t.data(), steps, start, step);
  return t;
}

Tensor rand(const Shape& shape, Generator* gen, Device device) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, device);
  TD_DISPATCH(device, fill_uniform, t.data(), t.numel(), g.state().seed, g.advance(t.numel()));
  return t;
}

Tensor randn(const Shape& shape, Generator* gen, Device device) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, device);
  TD_DISPATCH(device, fill_normal, t.data(), t.numel(), g.state().seed, g.advance(t.numel()));
  return t;
}

Tensor randn_like(const Tensor& t, Generator* gen) { return randn(t.shape(), gen, t.device()); }

// floor(low + u (high - low)) for u uniform in (0, 1): whole numbers in [low, high).
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen, Device device) {
  TD_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  NoGradGuard no_grad;
  Tensor u = rand(shape, gen, device);
  Tensor scaled = add(mul(u, float(high - low)), float(low));
  // floor via x - (x mod 1) is not available; clamp(trunc) is: values are positive here.
  std::vector<float> v = scaled.tolist();
  for (float& x : v) x = std::min(float(high - 1), std::floor(x));
  return from_vector(v, shape, device);
}

Tensor from_buffer(const float* values, const Shape& shape, Device device) {
  Tensor t = Tensor::empty(shape, device);
  TD_DISPATCH(device, copy_from_host, values, t.data(), t.numel());
  return t;
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  TD_CHECK(int64_t(values.size()) == numel_of(shape), "from_vector: ", values.size(),
           " values cannot fill shape ", str(shape), " (", numel_of(shape), " elements)");
  return from_buffer(values.data(), shape, device);
}

}  // namespace tinydiff
