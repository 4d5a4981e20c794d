#include "tensor/tensor.hpp"

#include "autograd/graph.hpp"
#include "tensor/kernels/elementwise.hpp"

namespace tinydiff {

Tensor Tensor::empty(const Shape& shape, Device device) {
  for (int64_t s : shape) TD_CHECK(s >= 0, "empty: negative size in shape ", str(shape));
  return view_of(Storage::allocate(numel_of(shape), device), shape, contiguous_strides(shape), 0);
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                       int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t axis) const {
  return shape()[normalize_axis(axis, dim(), "size")];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] != 1 && strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

float* Tensor::cpu_data() const {
  TD_CHECK(device().is_cpu(), "cpu_data: tensor ", describe(*this),
           " lives on the GPU (hint: call .to(Device::cpu()) first)");
  return data();
}

std::vector<float> Tensor::tolist() const {
  Tensor c = detach().contiguous();
  std::vector<float> values(c.numel());
  TD_DISPATCH(c.device(), copy_to_host, c.data(), values.data(), c.numel());
  return values;
}

float Tensor::item() const {
  TD_CHECK(numel() == 1, "item: tensor ", describe(*this), " has ", numel(),
           " elements, item() needs exactly one");
  return tolist()[0];
}

Tensor& Tensor::requires_grad_(bool flag) {
  TD_CHECK(is_leaf() || flag, "requires_grad_: cannot turn off requires_grad on a non-leaf tensor "
           "(hint: use detach())");
  impl().requires_grad = flag;
  return *this;
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward(*this, grad_output, retain_graph);
}

Tensor Tensor::detach() const {
  return view_of(impl().storage, shape(), strides(), offset());
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "(undefined)";
  return str(t.shape()) + (t.device().is_cpu() ? "" : " cuda");
}

}  // namespace tinydiff
