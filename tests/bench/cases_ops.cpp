// Op-level benchmark cases at the shapes the lesson models run: ContextUnet (n_feat 64,
// batch 100) on 16x16 sprites and 28x28 MNIST, and improved-diffusion's UNet (model_channels
// 32, batch 64) on MNIST. "_fwd" cases time the forward without a graph; "_bwd" cases build
// the graph untimed and time backward() from a fixed output gradient. A CUDA build adds GPU
// twins (named *_cuda) of the ops that dominate lesson 01's step, to show where it spends
// its time beside PyTorch's cuDNN.
#include <algorithm>

#include "autograd/ops.hpp"
#include "nn/functional.hpp"
#include "tests/bench/bench.hpp"

namespace tinydiff::bench {

namespace {

using Forward = std::function<Tensor(const TensorList&)>;

// Uniform in [-1, 1] on `device`; a leaf that requires grad when `grad`.
Tensor input(const Shape& shape, bool grad, Device device) {
  Tensor t = (rand(shape) * 2.f - 1.f).to(device);
  if (grad) t.requires_grad_();
  return t;
}

TensorList inputs(const std::vector<Shape>& shapes, bool grad, Device device) {
  TensorList xs;
  for (const Shape& s : shapes) xs.push_back(input(s, grad, device));
  return xs;
}

// Times f(inputs) without recording a graph.
BenchCase forward_case(const std::string& name, double images, double flops,
                       const std::vector<Shape>& shapes, Forward f, Device device) {
  return {name, images, flops,
          [=]() {
            TensorList xs = inputs(shapes, false, device);
            return Step{nullptr, [xs, f]() {
                          NoGradGuard no_grad;
                          f(xs);
                        }};
          },
          device};
}

// Builds out = f(inputs) untimed, then times out.backward(grad_out), every input needing a
// gradient. Gradients are cleared before each step, so none accumulates.
BenchCase backward_case(const std::string& name, double images, double flops,
                        const std::vector<Shape>& shapes, Forward f, Device device) {
  return {name, images, flops,
          [=]() {
            TensorList xs = inputs(shapes, true, device);
            Tensor grad_out = input(f(xs).shape(), false, device);
            auto out = std::make_shared<Tensor>();
            auto prepare = [xs, f, out]() {
              for (const Tensor& x : xs) x.set_grad(Tensor());
              *out = f(xs);
            };
            return Step{prepare, [out, grad_out]() { out->backward(grad_out); }};
          },
          device};
}

// A 3x3 'same' convolution (stride 1, padding 1) with bias, or a 1x1 one.
struct Conv {
  int64_t batch, c_in, c_out, side, kernel;
  std::string suffix() const {
    return std::to_string(c_in) + "x" + std::to_string(c_out) + "_" + std::to_string(side) + "x" +
           std::to_string(side) + "_b" + std::to_string(batch) + (kernel == 1 ? "_1x1" : "");
  }
};

void add_conv_cases(std::vector<BenchCase>& cases, const Conv& c, Device device) {
  std::vector<Shape> shapes = {{c.batch, c.c_in, c.side, c.side},
                               {c.c_out, c.c_in, c.kernel, c.kernel},
                               {c.c_out}};
  double flops = conv_flops(c.batch, c.c_in, c.c_out, c.side, c.side, c.kernel);
  int64_t padding = c.kernel / 2;
  Forward f = [padding](const TensorList& x) { return conv2d(x[0], x[1], x[2], 1, padding); };
  cases.push_back(forward_case("conv2d_fwd_" + c.suffix(), c.batch, flops, shapes, f, device));
  // The backward computes the input and the weight gradients: two products of that size.
  cases.push_back(
      backward_case("conv2d_bwd_" + c.suffix(), c.batch, 2 * flops, shapes, f, device));
}

// ContextUnet's UnetUp: ConvTranspose2d(4n, n, 2, 2) from side to 2 side.
void add_conv_transpose_cases(std::vector<BenchCase>& cases, int64_t batch, int64_t c_in,
                              int64_t c_out, int64_t side, Device device) {
  std::string suffix = std::to_string(c_in) + "x" + std::to_string(c_out) + "_" +
                       std::to_string(side) + "x" + std::to_string(side) + "_b" +
                       std::to_string(batch);
  std::vector<Shape> shapes = {{batch, c_in, side, side}, {c_in, c_out, 2, 2}, {c_out}};
  double flops = conv_flops(batch, c_out, c_in, side, side, 2);
  Forward f = [](const TensorList& x) { return conv_transpose2d(x[0], x[1], x[2], 2); };
  cases.push_back(forward_case("conv_transpose2d_fwd_" + suffix, batch, flops, shapes, f, device));
  cases.push_back(
      backward_case("conv_transpose2d_bwd_" + suffix, batch, 2 * flops, shapes, f, device));
}

// Normalisations and GELU on x (batch, channels, side, side).
void add_norm_cases(std::vector<BenchCase>& cases, Device device) {
  std::vector<Shape> gn8 = {{100, 64, 16, 16}, {64}, {64}};
  Forward group8 = [](const TensorList& x) { return group_norm(x[0], 8, x[1], x[2]); };
  cases.push_back(forward_case("group_norm_fwd_g8_64x16x16_b100", 100, 0, gn8, group8, device));
  cases.push_back(backward_case("group_norm_bwd_g8_64x16x16_b100", 100, 0, gn8, group8, device));
  std::vector<Shape> gn32 = {{64, 64, 14, 14}, {64}, {64}};
  Forward group32 = [](const TensorList& x) { return group_norm(x[0], 32, x[1], x[2]); };
  cases.push_back(backward_case("group_norm_bwd_g32_64x14x14_b64", 64, 0, gn32, group32, device));
  Forward batch = [](const TensorList& x) {
    return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true);
  };
  cases.push_back(forward_case("batch_norm_fwd_64x16x16_b100", 100, 0, gn8, batch, device));
  cases.push_back(backward_case("batch_norm_bwd_64x16x16_b100", 100, 0, gn8, batch, device));
  Forward act = [](const TensorList& x) { return gelu(x[0]); };
  cases.push_back(
      backward_case("gelu_bwd_64x16x16_b100", 100, 0, {{100, 64, 16, 16}}, act, device));
}

// improved-diffusion's attention: 64 channels, 4 heads of 16, over side x side positions.
void add_attention_cases(std::vector<BenchCase>& cases, Device device) {
  for (int64_t side : {7, 14}) {
    int64_t batch = 64, heads = 4, dim = 16, positions = side * side;
    Shape qkv = {batch, heads, positions, dim};
    // q k^T and (weights) v: 2 products of B H L L D multiply-adds
    double flops = 4.0 * batch * heads * positions * positions * dim;
    Forward f = [](const TensorList& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); };
    std::string suffix = "c64_" + std::to_string(side) + "x" + std::to_string(side) + "_b64";
    const std::vector<Shape> shapes = {qkv, qkv, qkv};
    if (side == 7)
      cases.push_back(forward_case("attention_fwd_" + suffix, batch, flops, shapes, f, device));
    cases.push_back(
        backward_case("attention_bwd_" + suffix, batch, 2 * flops, shapes, f, device));
  }
}

// Every op case, its inputs on `device`.
std::vector<BenchCase> cases_on(Device device) {
  std::vector<BenchCase> cases;
  // sprites, ContextUnet n_feat 64: init_conv, most blocks, down2, its 8x8 blocks, out.0
  for (Conv c : {Conv{100, 3, 64, 16, 3}, Conv{100, 64, 64, 16, 3}, Conv{100, 64, 128, 8, 3},
                 Conv{100, 128, 128, 8, 3}, Conv{100, 128, 64, 16, 3}, Conv{100, 3, 64, 16, 1}})
    add_conv_cases(cases, c, device);
  // MNIST, ContextUnet n_feat 64; then improved-diffusion's UNet (model_channels 32)
  for (Conv c : {Conv{100, 1, 64, 28, 3}, Conv{100, 64, 64, 28, 3}, Conv{100, 128, 128, 14, 3},
                 Conv{64, 32, 32, 28, 3}, Conv{64, 64, 64, 14, 3}})
    add_conv_cases(cases, c, device);
  add_conv_transpose_cases(cases, 100, 256, 64, 4, device);
  add_norm_cases(cases, device);
  add_attention_cases(cases, device);
  cases.push_back(forward_case("gemm_1024", 0, 2.0 * 1024 * 1024 * 1024,
                               {{1024, 1024}, {1024, 1024}},
                               [](const TensorList& x) { return matmul(x[0], x[1]); }, device));
  return cases;
}

}  // namespace

std::vector<BenchCase> op_cases() {
  std::vector<BenchCase> cases = cases_on(Device::cpu());
#if defined(TINYDIFF_CUDA) && !defined(TINYDIFF_CUDA_EMULATED)
  // The GPU twins: lesson 01's sprite-step ops (bench_torch.py's GPU_OP_CASES, the same list).
  // Not in the emulated build (make CUDA=emu): its kernels run on the CPU, one thread at a time.
  const std::vector<std::string> on_gpu = {
      "conv2d_fwd_64x64_16x16_b100", "conv2d_bwd_64x64_16x16_b100", "conv2d_bwd_3x64_16x16_b100",
      "conv2d_bwd_128x128_8x8_b100", "conv_transpose2d_bwd_256x64_4x4_b100",
      "batch_norm_bwd_64x16x16_b100", "gelu_bwd_64x16x16_b100", "attention_bwd_c64_14x14_b64",
      "gemm_1024"};
  for (BenchCase& c : cases_on(Device::cuda()))
    if (std::find(on_gpu.begin(), on_gpu.end(), c.name) != on_gpu.end()) {
      c.name += "_cuda";
      cases.push_back(c);
    }
#endif
  return cases;
}

}  // namespace tinydiff::bench
