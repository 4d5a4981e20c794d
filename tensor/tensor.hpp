// Tensor: an n-dimensional float32 array that views into a Storage (shape, strides, offset),
// plus the autograd fields (requires_grad, grad, grad_fn).
//
// A Tensor is a cheap handle (a shared_ptr); copying it shares the data, as in PyTorch.
// Views (reshape of contiguous data, permute, narrow, expand) share storage; every other op
// returns fresh, contiguous storage. Kernels read contiguous memory, so ops call
// `contiguous()` on inputs that may be strided.
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.hpp"
#include "tensor/error.hpp"
#include "tensor/shape.hpp"
#include "tensor/storage.hpp"

namespace tinydiff {

struct Node;  // autograd/graph.hpp

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;       // the op that made this tensor (null for leaves)
  std::shared_ptr<TensorImpl> grad;    // accumulated gradient of a leaf
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // Fresh, uninitialised, contiguous storage.
  static Tensor empty(const Shape& shape, Device device = Device::cpu());
  // A view of `storage` with the given layout.
  static Tensor view_of(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                        int64_t offset);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t axis) const;
  int64_t numel() const { return numel_of(impl().shape); }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  bool same_storage(const Tensor& other) const { return impl().storage == other.impl().storage; }

  // Pointer to the first element. CPU tensors only for `cpu_data`; kernels use `data`.
  float* data() const { return impl().storage->data() + impl().offset; }
  float* cpu_data() const;
  // The values as a flat vector (row-major order), copied to the host.
  std::vector<float> tolist() const;
  float item() const;

  // autograd
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool flag = true);
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& grad) const { impl().grad = grad.impl_; }
  Node* grad_fn() const { return impl().grad_fn.get(); }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // Reverse-mode autodiff from this tensor: a scalar by default, else pass d(loss)/d(this).
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  // Same data, cut from the graph.
  Tensor detach() const;

  // Copies
  Tensor contiguous() const;  // differentiable; returns *this when already contiguous
  Tensor clone() const;       // differentiable fresh copy
  Tensor to(Device device) const;

  // Method forms of common ops (defined with the ops in autograd/ops/).
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor permute(const Shape& axes) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor narrow(int64_t axis, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor sum(const Shape& axes = {}, bool keepdim = false) const;
  Tensor mean(const Shape& axes = {}, bool keepdim = false) const;

  TensorImpl& impl() const {
    TD_CHECK(impl_, "tensor: use of an undefined (default-constructed) tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A short description for messages: "[2, 3] cpu".
std::string describe(const Tensor& t);

}  // namespace tinydiff
