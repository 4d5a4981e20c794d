// Convolution layers, as torch.nn.Conv2d and torch.nn.ConvTranspose2d (square kernels,
// one stride/padding/dilation for both spatial axes). Parameters "weight" and "bias".
#pragma once
#include "nn/module.hpp"

namespace tinydiff {

class Conv2d : public Module {
 public:
  // weight (out_channels, in_channels / groups, k, k), bias (out_channels). PyTorch's default
  // initialisation: both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups k^2.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1, bool bias = true);
  std::string type_name() const override { return "Conv2d"; }
  // x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out),
  // H_out = (H + 2 padding - dilation (k - 1) - 1) / stride + 1
  Tensor forward(const Tensor& x) override;

  int64_t in_channels, out_channels, kernel_size, stride, padding, dilation, groups;
  Tensor weight, bias;  // bias undefined when built with bias = false
};

class ConvTranspose2d : public Module {
 public:
  // weight (in_channels, out_channels / groups, k, k), bias (out_channels). The default
  // initialisation is Conv2d's with fan_in computed from the weight as PyTorch does:
  // weight.size(1) k^2 = out_channels/groups k^2.
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                  int64_t stride = 1, int64_t padding = 0, int64_t output_padding = 0,
                  int64_t groups = 1, bool bias = true, int64_t dilation = 1);
  std::string type_name() const override { return "ConvTranspose2d"; }
  // x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out),
  // H_out = (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1
  Tensor forward(const Tensor& x) override;

  int64_t in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
      dilation;
  Tensor weight, bias;
};

}  // namespace tinydiff
