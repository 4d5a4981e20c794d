#include "autograd/op_list.hpp"

#include <algorithm>

namespace tinydiff {

const std::vector<std::string>& registered_ops() {
  static const std::vector<std::string> ops = {
      // shape (autograd/ops/shape.cpp, indexing.cpp)
      "reshape", "permute", "transpose", "expand", "squeeze", "unsqueeze", "flatten", "narrow",
      "slice", "cat", "stack", "split", "chunk", "index_select", "gather", "scatter_add",
      "repeat", "contiguous", "clone", "to_device",
      // elementwise (autograd/ops/elementwise.cpp)
      "add", "sub", "mul", "div", "neg", "pow", "square", "sqrt", "rsqrt", "exp", "log", "log1p",
      "abs", "sin", "cos", "tanh", "sigmoid", "relu", "gelu", "gelu_tanh", "silu", "clamp",
      "maximum", "minimum", "where",
      // reductions (autograd/ops/reduce.cpp)
      "sum", "mean", "var", "max", "min", "logsumexp", "softmax", "log_softmax",
      // linear algebra (autograd/ops/matmul.cpp)
      "matmul",
      // nn functional (nn/functional/)
      "linear", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "upsample_nearest2d",
      "group_norm", "layer_norm", "batch_norm", "dropout", "embedding",
      "scaled_dot_product_attention", "mse_loss", "cross_entropy", "nll_loss", "normal_kl",
      "discretized_gaussian_log_likelihood", "multinomial_kl", "checkpoint"};
  return ops;
}

bool is_registered_op(const std::string& name) {
  const auto& ops = registered_ops();
  return std::find(ops.begin(), ops.end(), name) != ops.end();
}

}  // namespace tinydiff
