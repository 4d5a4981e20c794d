// Device parity of every differentiable op (autograd/op_list.cpp): the op's output and its
// inputs' gradients on the GPU against the CPU, on random inputs (tests/cuda_parity.hpp).
// Tolerances: 1e-5 relative for elementwise maps, reductions, norms and losses; 1e-4 for ops
// that run a GEMM (matmul, linear, convolutions, attention). Skipped without a GPU.
#include "nn/functional.hpp"
#include "autograd/checkpoint.hpp"
#include "autograd/op_list.hpp"
#include "tests/cuda_parity.hpp"

using namespace tinydiff;
using test::check_devices;
using test::constant;
using test::indices;
using test::kGemmRtol;
using test::values;

namespace {
Tensor weighted_sum(const TensorList& parts) {  // parts[i] * (i + 1), summed: order matters
  Tensor total = mul(parts[0], 1.f);
  for (size_t i = 1; i < parts.size(); ++i) total = add(total, mul(parts[i], float(i + 1)));
  return total;
}
}  // namespace

TEST_CASE("cuda parity: every registered op has a case") {
  for (const std::string& op : registered_ops())
    CHECK_MESSAGE(test::cuda_covered_ops().count(op), op << " has no CUDA_PARITY_CASE");
}

// ---- shape ops: views, copies and the strided-copy kernels behind them ----

CUDA_PARITY_CASE("reshape", "3-d to 2-d") {
  check_devices({values({3, 4, 5})}, [](const TensorList& in) { return reshape(in[0], {5, -1}); });
}
CUDA_PARITY_CASE("permute", "strided copy of a permuted view") {
  check_devices({values({3, 4, 5})}, [](const TensorList& in) { return permute(in[0], {2, 0, 1}); });
}
CUDA_PARITY_CASE("transpose", "first and last axes") {
  check_devices({values({3, 4, 5})}, [](const TensorList& in) { return transpose(in[0], 0, 2); });
}
CUDA_PARITY_CASE("expand", "new and stretched axes (backward sums them)") {
  check_devices({values({3, 1, 5})}, [](const TensorList& in) { return expand(in[0], {2, 3, 4, 5}); });
}
CUDA_PARITY_CASE("squeeze", "middle axis") {
  check_devices({values({3, 1, 5})}, [](const TensorList& in) { return squeeze(in[0], 1); });
}
CUDA_PARITY_CASE("unsqueeze", "last axis") {
  check_devices({values({3, 5})}, [](const TensorList& in) { return unsqueeze(in[0], -1); });
}
CUDA_PARITY_CASE("flatten", "axes 1..2") {
  check_devices({values({2, 3, 4, 5})}, [](const TensorList& in) { return flatten(in[0], 1, 2); });
}
CUDA_PARITY_CASE("narrow", "axis 1") {
  check_devices({values({3, 6, 4})}, [](const TensorList& in) { return narrow(in[0], 1, 2, 3); });
}
CUDA_PARITY_CASE("slice", "step 2 along the last axis") {
  check_devices({values({3, 9})}, [](const TensorList& in) { return slice(in[0], 1, 1, 8, 2); });
}
CUDA_PARITY_CASE("cat", "three tensors along axis 1") {
  check_devices({values({2, 3, 4}), values({2, 1, 4}), values({2, 5, 4})},
                [](const TensorList& in) { return cat(in, 1); });
}
CUDA_PARITY_CASE("stack", "new last axis") {
  check_devices({values({3, 4}), values({3, 4})}, [](const TensorList& in) { return stack(in, 2); });
}
CUDA_PARITY_CASE("split", "uneven parts, recombined with weights") {
  check_devices({values({3, 7})}, [](const TensorList& in) {
    TensorList parts = split(in[0], 3, 1);
    return cat({mul(parts[2], 3.f), parts[0], mul(parts[1], 2.f)}, 1);
  });
}
CUDA_PARITY_CASE("chunk", "three chunks along axis 0") {
  check_devices({values({6, 4})}, [](const TensorList& in) { return weighted_sum(chunk(in[0], 3, 0)); });
}
CUDA_PARITY_CASE("index_select", "repeated indices (the backward adds atomically)") {
  check_devices({values({4, 6, 3}), indices({9}, 6)},
                [](const TensorList& in) { return index_select(in[0], 1, in[1]); });
}
CUDA_PARITY_CASE("gather", "axis 1") {
  check_devices({values({3, 5, 4}), indices({3, 2, 4}, 5)},
                [](const TensorList& in) { return gather(in[0], 1, in[1]); });
}
CUDA_PARITY_CASE("scatter_add", "axis 1, colliding indices") {
  check_devices({values({3, 5, 4}), indices({3, 6, 4}, 5), values({3, 6, 4})},
                [](const TensorList& in) { return scatter_add(in[0], 1, in[1], in[2]); });
}
CUDA_PARITY_CASE("repeat", "with a new leading axis") {
  check_devices({values({2, 3})}, [](const TensorList& in) { return repeat(in[0], {2, 1, 3}); });
}
CUDA_PARITY_CASE("contiguous", "of a transposed view") {
  check_devices({values({4, 5})}, [](const TensorList& in) { return contiguous(transpose(in[0], 0, 1)); });
}
CUDA_PARITY_CASE("clone", "plain") {
  check_devices({values({4, 5})}, [](const TensorList& in) { return mul(clone(in[0]), 2.f); });
}
CUDA_PARITY_CASE("to_device", "GPU -> CPU; the gradient goes back to the GPU") {
  check_devices({values({4, 5})}, [](const TensorList& in) {
    return mul(to_device(in[0], Device::cpu()), 3.f);
  });
}

// ---- elementwise ----

CUDA_PARITY_CASE("add", "broadcast") {
  check_devices({values({4, 1, 5}), values({3, 5})}, [](const TensorList& in) { return add(in[0], in[1]); });
}
CUDA_PARITY_CASE("sub", "broadcast") {
  check_devices({values({4, 1, 5}), values({3, 5})}, [](const TensorList& in) { return sub(in[0], in[1]); });
}
CUDA_PARITY_CASE("mul", "same shape (dense kernel)") {
  check_devices({values({7, 9}), values({7, 9})}, [](const TensorList& in) { return mul(in[0], in[1]); });
}
CUDA_PARITY_CASE("mul", "strided operand") {
  check_devices({values({5, 7}), values({7, 5})},
                [](const TensorList& in) { return mul(in[0], transpose(in[1], 0, 1)); });
}
CUDA_PARITY_CASE("div", "broadcast, divisor away from 0") {
  check_devices({values({4, 6}), values({6}, 0.5f, 2.f)}, [](const TensorList& in) { return div(in[0], in[1]); });
}
CUDA_PARITY_CASE("neg", "plain") {
  check_devices({values({5, 6})}, [](const TensorList& in) { return neg(in[0]); });
}
CUDA_PARITY_CASE("pow", "tensor exponent") {
  check_devices({values({5, 6}, 0.5f, 2.f), values({5, 6})}, [](const TensorList& in) { return pow(in[0], in[1]); });
}
CUDA_PARITY_CASE("pow", "scalar exponent") {
  check_devices({values({5, 6}, 0.5f, 2.f)}, [](const TensorList& in) { return pow(in[0], 2.5f); });
}
CUDA_PARITY_CASE("square", "plain") {
  check_devices({values({5, 6})}, [](const TensorList& in) { return square(in[0]); });
}
CUDA_PARITY_CASE("sqrt", "positive inputs") {
  check_devices({values({5, 6}, 0.1f, 2.f)}, [](const TensorList& in) { return sqrt(in[0]); });
}
CUDA_PARITY_CASE("rsqrt", "positive inputs") {
  check_devices({values({5, 6}, 0.1f, 2.f)}, [](const TensorList& in) { return rsqrt(in[0]); });
}
CUDA_PARITY_CASE("exp", "plain") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return exp(in[0]); });
}
CUDA_PARITY_CASE("log", "positive inputs") {
  check_devices({values({5, 6}, 0.1f, 3.f)}, [](const TensorList& in) { return log(in[0]); });
}
CUDA_PARITY_CASE("log1p", "inputs above -1") {
  check_devices({values({5, 6}, -0.5f, 2.f)}, [](const TensorList& in) { return log1p(in[0]); });
}
CUDA_PARITY_CASE("abs", "plain") {
  check_devices({values({5, 6})}, [](const TensorList& in) { return abs(in[0]); });
}
CUDA_PARITY_CASE("sin", "plain") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return sin(in[0]); });
}
CUDA_PARITY_CASE("cos", "plain") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return cos(in[0]); });
}
CUDA_PARITY_CASE("tanh", "plain") {
  check_devices({values({5, 6}, -2.f, 2.f)}, [](const TensorList& in) { return tanh(in[0]); });
}
CUDA_PARITY_CASE("sigmoid", "plain") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return sigmoid(in[0]); });
}
CUDA_PARITY_CASE("relu", "17.8M elements: more than one pass of the grid-stride loop") {
  check_devices({values({17, 1 << 20})}, [](const TensorList& in) { return relu(in[0]); });
}
CUDA_PARITY_CASE("gelu", "erf form") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return gelu(in[0]); });
}
CUDA_PARITY_CASE("gelu_tanh", "tanh form") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return gelu_tanh(in[0]); });
}
CUDA_PARITY_CASE("silu", "plain") {
  check_devices({values({5, 6}, -3.f, 3.f)}, [](const TensorList& in) { return silu(in[0]); });
}
CUDA_PARITY_CASE("clamp", "both bounds active") {
  check_devices({values({5, 6})}, [](const TensorList& in) { return clamp(in[0], -0.5f, 0.5f); });
}
CUDA_PARITY_CASE("maximum", "broadcast") {
  check_devices({values({4, 5}), values({5})}, [](const TensorList& in) { return maximum(in[0], in[1]); });
}
CUDA_PARITY_CASE("minimum", "broadcast") {
  check_devices({values({4, 5}), values({5})}, [](const TensorList& in) { return minimum(in[0], in[1]); });
}
CUDA_PARITY_CASE("where", "broadcast condition") {
  check_devices({constant({4, 1}, -1.f, 1.f), values({4, 5}), values({5})}, [](const TensorList& in) {
    return where(gt(in[0], zeros({}, in[0].device())), in[1], in[2]);
  });
}

// ---- reductions: long rows (r >= 256, one block per row) and columns (one thread each) ----

CUDA_PARITY_CASE("sum", "all 8000 elements (one block)") {
  check_devices({values({8, 1000})}, [](const TensorList& in) { return sum(in[0]); });
}
CUDA_PARITY_CASE("sum", "axis 0 (columns)") {
  check_devices({values({6, 7, 5})}, [](const TensorList& in) { return sum(in[0], {0}); });
}
CUDA_PARITY_CASE("mean", "last axis, rows of 300, keepdim") {
  check_devices({values({5, 300})}, [](const TensorList& in) { return mean(in[0], {1}, true); });
}
CUDA_PARITY_CASE("var", "unbiased, two axes") {
  check_devices({values({4, 5, 6})}, [](const TensorList& in) { return var(in[0], {0, 2}); });
}
CUDA_PARITY_CASE("max", "rows of 1000") {
  check_devices({values({3, 1000})}, [](const TensorList& in) { return max(in[0], {1}); });
}
CUDA_PARITY_CASE("max", "middle axis (columns)") {
  check_devices({values({3, 7, 4})}, [](const TensorList& in) { return max(in[0], {1}); });
}
CUDA_PARITY_CASE("min", "rows of 500 and columns") {
  check_devices({values({4, 500})}, [](const TensorList& in) {
    return add(sum(min(in[0], {1})), sum(min(in[0], {0})));
  });
}
CUDA_PARITY_CASE("logsumexp", "last axis") {
  check_devices({values({4, 300}, -3.f, 3.f)}, [](const TensorList& in) { return logsumexp(in[0], {1}); });
}
CUDA_PARITY_CASE("softmax", "rows of 300") {
  check_devices({values({4, 300}, -3.f, 3.f)}, [](const TensorList& in) { return softmax(in[0], -1); });
}
CUDA_PARITY_CASE("softmax", "middle axis") {
  check_devices({values({3, 7, 5}, -3.f, 3.f)}, [](const TensorList& in) { return softmax(in[0], 1); });
}
CUDA_PARITY_CASE("log_softmax", "rows of 300 and a middle axis") {
  check_devices({values({4, 300}, -3.f, 3.f), values({3, 7, 5}, -3.f, 3.f)}, [](const TensorList& in) {
    return add(sum(log_softmax(in[0], -1)), sum(log_softmax(in[1], 1)));
  });
}

// ---- GEMM ops (cuBLAS by default; tests/test_cuda_backend.cpp repeats them with the tiled kernel) ----

CUDA_PARITY_CASE("matmul", "broadcast batch, k = 512 (TF32 would miss 1e-4)") {
  check_devices({values({2, 3, 17, 512}), values({512, 9})},
                [](const TensorList& in) { return matmul(in[0], in[1]); }, kGemmRtol);
}
CUDA_PARITY_CASE("matmul", "transposed operand and a vector") {
  check_devices({values({6, 5}), values({7, 5}), values({7})}, [](const TensorList& in) {
    return matmul(matmul(in[0], transpose(in[1], 0, 1)), in[2]);
  }, kGemmRtol);
}
CUDA_PARITY_CASE("linear", "3-d input with bias") {
  check_devices({values({2, 5, 7}), values({4, 7}), values({4})},
                [](const TensorList& in) { return linear(in[0], in[1], in[2]); }, kGemmRtol);
}
CUDA_PARITY_CASE("conv2d", "3x3, padding 1, bias") {
  check_devices({values({2, 3, 9, 9}), values({4, 3, 3, 3}), values({4})},
                [](const TensorList& in) { return conv2d(in[0], in[1], in[2], 1, 1); }, kGemmRtol);
}
CUDA_PARITY_CASE("conv2d", "stride 2, dilation 2, no bias") {
  check_devices({values({2, 3, 11, 10}), values({5, 3, 3, 2})},
                [](const TensorList& in) { return conv2d(in[0], in[1], Tensor(), 2, 1, 2); }, kGemmRtol);
}
CUDA_PARITY_CASE("conv2d", "two groups") {
  check_devices({values({2, 4, 6, 6}), values({6, 2, 3, 3}), values({6})},
                [](const TensorList& in) { return conv2d(in[0], in[1], in[2], 1, 1, 1, 2); }, kGemmRtol);
}
CUDA_PARITY_CASE("conv2d", "1x1 (no im2col), with and without bias") {
  check_devices({values({3, 5, 4, 4}), values({6, 5, 1, 1}), values({6})}, [](const TensorList& in) {
    return add(conv2d(in[0], in[1], in[2]), conv2d(in[0], in[1]));
  }, kGemmRtol);
}
CUDA_PARITY_CASE("conv_transpose2d", "kernel 2, stride 2 (ContextUnet's up0/up1/up2)") {
  check_devices({values({2, 4, 5, 5}), values({4, 3, 2, 2}), values({3})},
                [](const TensorList& in) { return conv_transpose2d(in[0], in[1], in[2], 2); }, kGemmRtol);
}
CUDA_PARITY_CASE("conv_transpose2d", "3x3, stride 2, padding 1, output_padding 1") {
  check_devices({values({2, 4, 5, 5}), values({4, 3, 3, 3})},
                [](const TensorList& in) { return conv_transpose2d(in[0], in[1], Tensor(), 2, 1, 1); },
                kGemmRtol);
}
CUDA_PARITY_CASE("scaled_dot_product_attention", "cross-attention with a mask") {
  check_devices({values({2, 2, 5, 8}), values({2, 2, 7, 8}), values({2, 2, 7, 4}), indices({1, 1, 5, 7}, 2)},
                [](const TensorList& in) { return scaled_dot_product_attention(in[0], in[1], in[2], in[3]); },
                kGemmRtol);
}
// Without a graph and a mask, attention is the fused forward (tensor/cuda/attention.cu), here
// against the CPU's GEMMs. 70 and 130 positions take two and three 64-row blocks and 64-key
// tiles; heads of 8, 40 and 24 run the 16- and 64-wide kernels with padding columns; a head of
// 72 takes matmul + softmax.
TEST_CASE("cuda attention: the fused forward (no graph, no mask) matches the CPU") {
  if (!test::gpu_or_skip()) return;
  NoGradGuard no_grad;
  const std::vector<std::vector<Shape>> cases = {
      {{2, 3, 70, 8}, {2, 3, 70, 8}, {2, 3, 70, 8}},
      {{1, 2, 5, 40}, {1, 2, 130, 40}, {1, 2, 130, 24}},
      {{1, 1, 6, 72}, {1, 1, 9, 72}, {1, 1, 9, 72}}};
  for (const auto& shapes : cases) {
    CAPTURE(str(shapes[0]));
    Tensor q = test::uniform(shapes[0], -1.f, 1.f, 1, false);
    Tensor k = test::uniform(shapes[1], -1.f, 1.f, 2, false);
    Tensor v = test::uniform(shapes[2], -1.f, 1.f, 3, false);
    Tensor gpu = scaled_dot_product_attention(q.to(Device::cuda()), k.to(Device::cuda()),
                                              v.to(Device::cuda()));
    test::require_device_close(gpu, scaled_dot_product_attention(q, k, v), kGemmRtol, "output");
  }
}
CUDA_PARITY_CASE("checkpoint", "a linear + silu block recomputed in the backward") {
  check_devices({values({4, 6}), values({5, 6})}, [](const TensorList& in) {
    auto block = [w = in[1]](const TensorList& xs) { return silu(linear(xs[0], w)); };
    return checkpoint(block, {in[0]}, {in[1]});
  }, kGemmRtol);
}

// ---- pooling, upsampling, normalisation ----

CUDA_PARITY_CASE("max_pool2d", "2x2 and overlapping 3x3 / stride 2 / padding 1") {
  check_devices({values({2, 3, 8, 8})}, [](const TensorList& in) {
    return add(sum(max_pool2d(in[0], 2)), sum(max_pool2d(in[0], 3, 2, 1)));
  });
}
CUDA_PARITY_CASE("avg_pool2d", "4x4 (ContextUnet's to_vec) and overlapping 3x3 / stride 2 / padding 1") {
  check_devices({values({2, 3, 8, 8})}, [](const TensorList& in) {
    return add(sum(avg_pool2d(in[0], 4)), sum(avg_pool2d(in[0], 3, 2, 1)));
  });
}
CUDA_PARITY_CASE("upsample_nearest2d", "scale 2 and 3") {
  check_devices({values({2, 3, 4, 5})}, [](const TensorList& in) {
    return add(sum(upsample_nearest2d(in[0], 2)), sum(upsample_nearest2d(in[0], 3)));
  });
}
CUDA_PARITY_CASE("group_norm", "4 groups, affine") {
  check_devices({values({2, 8, 4, 4}, -2.f, 3.f), values({8}), values({8})},
                [](const TensorList& in) { return group_norm(in[0], 4, in[1], in[2]); });
}
CUDA_PARITY_CASE("group_norm", "one group, no affine, 1024 numbers per group") {
  check_devices({values({3, 4, 16, 16})}, [](const TensorList& in) { return group_norm(in[0], 1); });
}
CUDA_PARITY_CASE("layer_norm", "last axis and last two axes") {
  check_devices({values({3, 5, 16}), values({16}), values({16}), values({5, 16})}, [](const TensorList& in) {
    return add(layer_norm(in[0], {16}, in[1], in[2]), layer_norm(in[0], {5, 16}, in[3]));
  });
}
// y itself (plus the running statistics' sum), not sum(y * y): with batch statistics sum(y^2)
// hardly depends on x (only through eps), so its x-gradient would be float rounding noise.
CUDA_PARITY_CASE("batch_norm", "training (batch statistics), running stats updated") {
  check_devices({values({4, 3, 5, 5}, -1.f, 2.f), values({3}), values({3})}, [](const TensorList& in) {
    Tensor running_mean = zeros({3}, in[0].device()), running_var = ones({3}, in[0].device());
    Tensor y = batch_norm(in[0], running_mean, running_var, in[1], in[2], true);
    return add(y, sum(running_mean + running_var));
  });
}
CUDA_PARITY_CASE("batch_norm", "inference with running statistics") {
  check_devices({values({4, 3, 5}), constant({3}, -0.5f, 0.5f), constant({3}, 0.5f, 2.f), values({3}),
                 values({3})},
                [](const TensorList& in) { return batch_norm(in[0], in[1], in[2], in[3], in[4], false); });
}
CUDA_PARITY_CASE("dropout", "p = 0.3: the same Philox mask on both devices") {
  check_devices({values({6, 50})}, [](const TensorList& in) {
    Generator gen(5);
    return dropout(in[0], 0.3f, true, &gen);
  });
}
CUDA_PARITY_CASE("embedding", "repeated rows") {
  check_devices({indices({4, 5}, 10), values({10, 6})},
                [](const TensorList& in) { return embedding(in[0], in[1]); });
}

// ---- losses and likelihoods ----

CUDA_PARITY_CASE("mse_loss", "mean, sum and none") {
  check_devices({values({4, 6}), values({4, 6})}, [](const TensorList& in) {
    return add(add(mse_loss(in[0], in[1]), mse_loss(in[0], in[1], Reduction::Sum)),
               sum(mse_loss(in[0], in[1], Reduction::None)));
  });
}
CUDA_PARITY_CASE("cross_entropy", "(N, C) and (N, C, H, W)") {
  check_devices({values({6, 5}, -2.f, 2.f), indices({6}, 5), values({2, 4, 3, 3}, -2.f, 2.f),
                 indices({2, 3, 3}, 4)},
                [](const TensorList& in) { return add(cross_entropy(in[0], in[1]), cross_entropy(in[2], in[3])); });
}
CUDA_PARITY_CASE("nll_loss", "sum reduction") {
  check_devices({values({6, 5}, -3.f, 0.f), indices({6}, 5)},
                [](const TensorList& in) { return nll_loss(in[0], in[1], Reduction::Sum); });
}
CUDA_PARITY_CASE("normal_kl", "elementwise") {
  check_devices({values({4, 5}), values({4, 5}), values({4, 5}), values({4, 5})},
                [](const TensorList& in) { return normal_kl(in[0], in[1], in[2], in[3]); });
}
// The bins are 2/255 wide: the log of a difference of two nearby CDF values loses about
// log10(255) digits to cancellation, so the two devices' last-bit differences in tanh grow
// to ~1e-5 relative.
CUDA_PARITY_CASE("discretized_gaussian_log_likelihood", "images in [-1, 1]") {
  check_devices({constant({2, 3, 4}, -1.f, 1.f), values({2, 3, 4}), values({2, 3, 4}, -3.f, -1.f)},
                [](const TensorList& in) { return discretized_gaussian_log_likelihood(in[0], in[1], in[2]); },
                1e-4);
}
CUDA_PARITY_CASE("multinomial_kl", "over the class axis") {
  check_devices({values({3, 6, 4}, -2.f, 2.f), values({3, 6, 4}, -2.f, 2.f)}, [](const TensorList& in) {
    return multinomial_kl(log_softmax(in[0], 1), log_softmax(in[1], 1));
  });
}
