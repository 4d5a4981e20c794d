// The differentiable tensor ops: creation, shape, elementwise, reductions, matmul.
// Each is implemented in autograd/ops/<family>.cpp with its forward, its backward and the
// derivative in a comment, side by side. Neural-network ops (conv2d, group_norm, attention,
// losses) are in nn/functional.hpp.
//
// Index arguments (gather, index_select, embedding, class labels) are float tensors holding
// whole numbers: tinydiff has one dtype, float32, which represents integers exactly below 2^24.
#pragma once
#include <vector>

#include "autograd/graph.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

// ---- creation (autograd/ops/creation.cpp); none of these records a graph node ----
Tensor zeros(const Shape& shape, Device device = Device::cpu());
Tensor ones(const Shape& shape, Device device = Device::cpu());
Tensor full(const Shape& shape, float value, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor scalar_tensor(float value, Device device = Device::cpu());  // shape []
Tensor arange(float start, float end, float step = 1.f, Device device = Device::cpu());
Tensor linspace(float start, float end, int64_t steps, Device device = Device::cpu());
// Random tensors draw from `gen` (the default generator when null); see tensor/rng.hpp.
Tensor randn(const Shape& shape, Generator* gen = nullptr, Device device = Device::cpu());
Tensor rand(const Shape& shape, Generator* gen = nullptr, Device device = Device::cpu());
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen = nullptr,
               Device device = Device::cpu());
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
// Copies `values` (row-major) into a new tensor of `shape`.
Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_buffer(const float* values, const Shape& shape, Device device = Device::cpu());
// indices (...) of whole numbers in [0, num_classes) -> (..., num_classes) of 0/1
// (autograd/ops/indexing.cpp).
Tensor one_hot(const Tensor& indices, int64_t num_classes);

// ---- shape (autograd/ops/shape.cpp, autograd/ops/indexing.cpp) ----
// reshape accepts one -1 (inferred). A view when the input is contiguous, else a copy.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const Shape& axes);
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
// Broadcasts size-1 axes (and new leading axes) to `shape` without copying (stride 0).
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int64_t axis);
Tensor unsqueeze(const Tensor& x, int64_t axis);
Tensor flatten(const Tensor& x, int64_t start = 0, int64_t end = -1);
// x[..., start:start+length, ...] along `axis`: a view.
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length);
// x[..., start:end:step, ...] along `axis` (Python's rules for negative start/end): a view.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
Tensor cat(const TensorList& xs, int64_t axis);
Tensor stack(const TensorList& xs, int64_t axis);
TensorList split(const Tensor& x, int64_t split_size, int64_t axis);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t axis);
// out = x.index_select(axis, index), index is 1-d.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
// out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (torch.gather).
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// out = x, then out[i][index[i][j][k]][k] += src[i][j][k] for axis 1 (torch.scatter_add).
Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src);
// torch.Tensor.repeat: tiles x reps[i] times along axis i.
Tensor repeat(const Tensor& x, const Shape& reps);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to_device(const Tensor& x, Device device);
// Sums `g` over broadcast axes so that it has `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- elementwise (autograd/ops/elementwise.cpp); binary ops broadcast ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, float exponent);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);
Tensor rsub(const Tensor& a, float b);  // b - a
Tensor neg(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);       // erf form (PyTorch's default)
Tensor gelu_tanh(const Tensor& x);  // tanh approximation (approximate="tanh")
Tensor silu(const Tensor& x);
Tensor clamp(const Tensor& x, float lo, float hi);
Tensor sign(const Tensor& x);  // not differentiable
// cond != 0 ? a : b, broadcast; differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Comparisons give 0/1 tensors and no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(const Tensor& a, float b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(const Tensor& a, float b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(const Tensor& a, float b);
Tensor operator/(float a, const Tensor& b);

// ---- reductions (autograd/ops/reduce.cpp); `axes` empty means all axes ----
Tensor sum(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
// Variance with Bessel's correction `correction` (1: unbiased as torch.var; 0: biased).
Tensor var(const Tensor& x, const Shape& axes = {}, int64_t correction = 1, bool keepdim = false);
Tensor max(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);  // not differentiable
Tensor argmin(const Tensor& x, int64_t axis, bool keepdim = false);  // not differentiable
Tensor logsumexp(const Tensor& x, const Shape& axes, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);

// ---- linear algebra (autograd/ops/matmul.cpp) ----
// (..., m, k) @ (..., k, n) -> (..., m, n), batch axes broadcast; 1-d operands as in NumPy.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace tinydiff
