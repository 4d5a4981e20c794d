// PyTorch parity for the tensor-level ops: forward values and input gradients against
// tests/ref/fixtures/tensor_ops.safetensors, written by tests/ref/tensor_ops.py (case names and
// input names match that script). Tolerance: the default rtol 1e-4, atol 1e-5.
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_parity;

namespace {

const char* kFile = "tensor_ops";

// cat(piece_i * (i + 1)) along `axis`, as the script joins split and chunk results.
Tensor joined(const TensorList& pieces, int64_t axis) {
  TensorList scaled;
  for (size_t i = 0; i < pieces.size(); ++i) scaled.push_back(mul(pieces[i], float(i + 1)));
  return cat(scaled, axis);
}

// A case with one input "x".
void unary_parity(const std::string& name, const std::function<Tensor(const Tensor&)>& fn) {
  check_parity(kFile, name, {"x"}, [&](const TensorList& in) { return fn(in[0]); });
}

// A case with inputs "a" and "b".
void binary_parity(const std::string& name,
                   const std::function<Tensor(const Tensor&, const Tensor&)>& fn) {
  check_parity(kFile, name, {"a", "b"}, [&](const TensorList& in) { return fn(in[0], in[1]); });
}

}  // namespace

// ---- shape ----

PARITY_CASE("reshape", "contiguous input with -1, and a transposed input (copy)") {
  unary_parity("reshape_contiguous", [](const Tensor& x) { return reshape(x, {4, -1}); });
  unary_parity("reshape_transposed", [](const Tensor& x) {
    return reshape(transpose(x, 0, 2), {6, 4});
  });
}
PARITY_CASE("permute", "(2, 3, 4) -> axes (2, 0, 1)") {
  unary_parity("permute", [](const Tensor& x) { return permute(x, {2, 0, 1}); });
}
PARITY_CASE("transpose", "axes 0 and 2") {
  unary_parity("transpose", [](const Tensor& x) { return transpose(x, 0, 2); });
}
PARITY_CASE("expand", "(3, 1) -> (2, 3, 4)") {
  unary_parity("expand", [](const Tensor& x) { return expand(x, {2, 3, 4}); });
}
PARITY_CASE("squeeze", "middle axis") {
  unary_parity("squeeze", [](const Tensor& x) { return squeeze(x, 1); });
}
PARITY_CASE("unsqueeze", "axis -1") {
  unary_parity("unsqueeze", [](const Tensor& x) { return unsqueeze(x, -1); });
}
PARITY_CASE("flatten", "axes 1..2") {
  unary_parity("flatten", [](const Tensor& x) { return flatten(x, 1, 2); });
}
PARITY_CASE("narrow", "axis 1, start 1, length 3") {
  unary_parity("narrow", [](const Tensor& x) { return narrow(x, 1, 1, 3); });
}
PARITY_CASE("slice", "step 2, and a negative start with an end past the axis") {
  unary_parity("slice_step", [](const Tensor& x) { return slice(x, 1, 1, 6, 2); });
  unary_parity("slice_negative_start", [](const Tensor& x) { return slice(x, 0, -4, 100, 3); });
}
PARITY_CASE("cat", "three tensors along axis 1; 3-d along axis 0") {
  check_parity(kFile, "cat_axis1", {"a", "b", "c"},
               [](const TensorList& in) { return cat(in, 1); });
  check_parity(kFile, "cat_axis0_3d", {"a", "b"}, [](const TensorList& in) { return cat(in, 0); });
}
PARITY_CASE("stack", "three tensors along a new middle axis") {
  check_parity(kFile, "stack_axis1", {"a", "b", "c"},
               [](const TensorList& in) { return stack(in, 1); });
}
PARITY_CASE("split", "7 rows in pieces of 3 (3, 3, 1)") {
  unary_parity("split_uneven", [](const Tensor& x) { return joined(split(x, 3, 0), 0); });
}
PARITY_CASE("chunk", "7 columns in 3 chunks (3, 3, 1)") {
  unary_parity("chunk_axis1", [](const Tensor& x) { return joined(chunk(x, 3, 1), 1); });
}
PARITY_CASE("contiguous", "of a transposed view") {
  unary_parity("contiguous", [](const Tensor& x) { return contiguous(transpose(x, 0, 1)); });
}
PARITY_CASE("clone", "plain copy") {
  unary_parity("clone", [](const Tensor& x) { return clone(x); });
}
PARITY_CASE("to_device", "cpu to cpu") {
  unary_parity("to_device", [](const Tensor& x) { return to_device(mul(x, 2.f), Device::cpu()); });
}
PARITY_CASE("repeat", "(2, 3) repeated (2, 1, 2): a new leading axis") {
  unary_parity("repeat", [](const Tensor& x) { return repeat(x, {2, 1, 2}); });
}

// ---- indexing ----

PARITY_CASE("index_select", "middle axis, repeated indices") {
  check_parity(kFile, "index_select_repeated", {"x", "idx_i"},
               [](const TensorList& in) { return index_select(in[0], 1, in[1]); });
}
PARITY_CASE("gather", "axis 1 with repeats; axis 0 with an index smaller than x") {
  check_parity(kFile, "gather_axis1", {"x", "idx_i"},
               [](const TensorList& in) { return gather(in[0], 1, in[1]); });
  check_parity(kFile, "gather_axis0_smaller_index", {"x", "idx_i"},
               [](const TensorList& in) { return gather(in[0], 0, in[1]); });
}
PARITY_CASE("scatter_add", "axis 1 with collisions; axis 0 with an index smaller than x") {
  check_parity(kFile, "scatter_add_axis1", {"x", "idx_i", "src"},
               [](const TensorList& in) { return scatter_add(in[0], 1, in[1], in[2]); });
  check_parity(kFile, "scatter_add_smaller_index", {"x", "idx_i", "src"},
               [](const TensorList& in) { return scatter_add(in[0], 0, in[1], in[2]); });
}

// ---- elementwise ----

PARITY_CASE("add", "broadcast b; broadcast both; scalar") {
  binary_parity("add_broadcast_b", [](const Tensor& a, const Tensor& b) { return add(a, b); });
  binary_parity("add_broadcast_both", [](const Tensor& a, const Tensor& b) { return add(a, b); });
  unary_parity("add_scalar", [](const Tensor& x) { return add(x, 1.5f); });
}
PARITY_CASE("sub", "broadcast b; broadcast both; scalar minus tensor") {
  binary_parity("sub_broadcast_b", [](const Tensor& a, const Tensor& b) { return sub(a, b); });
  binary_parity("sub_broadcast_both", [](const Tensor& a, const Tensor& b) { return sub(a, b); });
  unary_parity("rsub_scalar", [](const Tensor& x) { return rsub(x, 3.f); });
}
PARITY_CASE("mul", "broadcast b; broadcast both; scalar") {
  binary_parity("mul_broadcast_b", [](const Tensor& a, const Tensor& b) { return mul(a, b); });
  binary_parity("mul_broadcast_both", [](const Tensor& a, const Tensor& b) { return mul(a, b); });
  unary_parity("mul_scalar", [](const Tensor& x) { return mul(x, -2.5f); });
}
PARITY_CASE("div", "broadcast b; broadcast both") {
  binary_parity("div_broadcast_b", [](const Tensor& a, const Tensor& b) { return div(a, b); });
  binary_parity("div_broadcast_both", [](const Tensor& a, const Tensor& b) { return div(a, b); });
}
PARITY_CASE("pow", "tensor exponent (broadcast); scalar 2.5; scalar 3 on negative bases") {
  check_parity(kFile, "pow_tensor", {"input", "exponent"},
               [](const TensorList& in) { return pow(in[0], in[1]); });
  unary_parity("pow_scalar", [](const Tensor& x) { return pow(x, 2.5f); });
  unary_parity("pow_scalar_negative_base", [](const Tensor& x) { return pow(x, 3.f); });
}
PARITY_CASE("maximum", "broadcast") {
  check_parity(kFile, "maximum_broadcast", {"input", "other"},
               [](const TensorList& in) { return maximum(in[0], in[1]); });
}
PARITY_CASE("minimum", "broadcast") {
  check_parity(kFile, "minimum_broadcast", {"input", "other"},
               [](const TensorList& in) { return minimum(in[0], in[1]); });
}
PARITY_CASE("where", "condition and b broadcast") {
  check_parity(kFile, "where_broadcast", {"idx_cond", "x", "y"},
               [](const TensorList& in) { return where(in[0], in[1], in[2]); });
}

#define UNARY_PARITY(op, fn)                              \
  PARITY_CASE(op, "elementwise") {                        \
    unary_parity(op, [](const Tensor& x) { return fn; }); \
  }
UNARY_PARITY("neg", neg(x))
UNARY_PARITY("square", square(x))
UNARY_PARITY("sqrt", sqrt(x))
UNARY_PARITY("rsqrt", rsqrt(x))
UNARY_PARITY("exp", exp(x))
UNARY_PARITY("log", log(x))
UNARY_PARITY("log1p", log1p(x))
UNARY_PARITY("abs", abs(x))
UNARY_PARITY("sin", sin(x))
UNARY_PARITY("cos", cos(x))
UNARY_PARITY("tanh", tanh(x))
UNARY_PARITY("sigmoid", sigmoid(x))
UNARY_PARITY("relu", relu(x))
UNARY_PARITY("gelu", gelu(x))
UNARY_PARITY("gelu_tanh", gelu_tanh(x))
UNARY_PARITY("silu", silu(x))
UNARY_PARITY("clamp", clamp(x, -0.5f, 0.5f))
#undef UNARY_PARITY

// ---- reductions ----

PARITY_CASE("sum", "one axis; non-adjacent axes with keepdim; all axes") {
  unary_parity("sum_axis1", [](const Tensor& x) { return sum(x, {1}); });
  unary_parity("sum_axes02_keepdim", [](const Tensor& x) { return sum(x, {0, 2}, true); });
  unary_parity("sum_all", [](const Tensor& x) { return sum(x); });
}
PARITY_CASE("mean", "non-adjacent axes; all axes") {
  unary_parity("mean_axes02", [](const Tensor& x) { return mean(x, {0, 2}); });
  unary_parity("mean_all", [](const Tensor& x) { return mean(x); });
}
PARITY_CASE("var", "unbiased over non-adjacent axes; biased over one axis with keepdim") {
  unary_parity("var_axes02", [](const Tensor& x) { return var(x, {0, 2}); });
  unary_parity("var_axis2_biased_keepdim", [](const Tensor& x) { return var(x, {2}, 0, true); });
}
PARITY_CASE("max", "one axis; non-adjacent axes with keepdim; all axes (torch.amax)") {
  unary_parity("max_axis1", [](const Tensor& x) { return max(x, {1}); });
  unary_parity("max_axes02_keepdim", [](const Tensor& x) { return max(x, {0, 2}, true); });
  unary_parity("max_all", [](const Tensor& x) { return max(x); });
}
PARITY_CASE("min", "last axis; all axes (torch.amin)") {
  unary_parity("min_axis2", [](const Tensor& x) { return min(x, {2}); });
  unary_parity("min_all", [](const Tensor& x) { return min(x); });
}
PARITY_CASE("logsumexp", "last axis; two axes with keepdim") {
  unary_parity("logsumexp_axis2", [](const Tensor& x) { return logsumexp(mul(x, 4.f), {2}); });
  unary_parity("logsumexp_axes01_keepdim", [](const Tensor& x) {
    return logsumexp(mul(x, 4.f), {0, 1}, true);
  });
}
PARITY_CASE("softmax", "middle axis; last axis") {
  unary_parity("softmax_middle", [](const Tensor& x) { return softmax(mul(x, 3.f), 1); });
  unary_parity("softmax_last", [](const Tensor& x) { return softmax(mul(x, 3.f), -1); });
}
PARITY_CASE("log_softmax", "middle axis") {
  unary_parity("log_softmax_middle", [](const Tensor& x) { return log_softmax(mul(x, 3.f), 1); });
}

// ---- linear algebra ----

PARITY_CASE("matmul", "2-d, batched, broadcast batch, 1-d operands, transposed operands") {
  for (const char* name : {"matmul_2d", "matmul_batched", "matmul_broadcast_batch",
                           "matmul_vector_matrix", "matmul_matrix_vector", "matmul_vector_vector"})
    binary_parity(name, [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  binary_parity("matmul_transposed", [](const Tensor& a, const Tensor& b) {
    return matmul(transpose(a, -1, -2), transpose(b, -1, -2));
  });
}
