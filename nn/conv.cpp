#include "nn/conv.hpp"

#include <cmath>

#include "nn/functional/conv.hpp"
#include "nn/init.hpp"

namespace tinydiff {

namespace {

void check_conv_args(const char* layer, int64_t in, int64_t out, int64_t k, int64_t stride,
                     int64_t padding, int64_t dilation, int64_t groups) {
  TD_CHECK(in > 0 && out > 0 && k > 0, layer, ": in_channels (", in, "), out_channels (", out,
           ") and kernel_size (", k, ") must be positive");
  TD_CHECK(stride > 0 && dilation > 0 && padding >= 0, layer, ": stride (", stride,
           ") and dilation (", dilation, ") must be positive and padding (", padding, ") >= 0");
  TD_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, layer, ": groups (", groups,
           ") must divide in_channels (", in, ") and out_channels (", out, ")");
}

// The default initialisation of both layers (PyTorch's _ConvNd.reset_parameters):
// kaiming_uniform(a = sqrt(5)) for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
void reset_conv(const Tensor& weight, const Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.f));
  if (!bias.defined()) return;
  float bound = 1.f / std::sqrt(float(init::calculate_fan_in_and_fan_out(weight).fan_in));
  init::uniform_(bias, -bound, bound);
}

void check_input(const Module& m, const Tensor& x, int64_t in_channels, const Tensor& weight) {
  TD_CHECK(x.dim() == 4, m.label(), ": input must be (N, C, H, W), got ", str(x.shape()));
  TD_CHECK(x.size(1) == in_channels, m.label(), ": input has ", x.size(1),
           " channels but the layer expects ", in_channels, " (input ", str(x.shape()),
           ", weight ", str(weight.shape()), ")");
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, int64_t dilation, int64_t groups, bool use_bias)
    : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size),
      stride(stride), padding(padding), dilation(dilation), groups(groups) {
  check_conv_args("Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation,
                  groups);
  register_parameter("weight", &weight,
                     Tensor::empty({out_channels, in_channels / groups, kernel_size, kernel_size}));
  if (use_bias) register_parameter("bias", &bias, Tensor::empty({out_channels}));
  reset_conv(weight, bias);
}

// x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out)
Tensor Conv2d::forward(const Tensor& x) {
  check_input(*this, x, in_channels, weight);
  return conv2d(x, weight, bias, stride, padding, dilation, groups);
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                 int64_t stride, int64_t padding, int64_t output_padding,
                                 int64_t groups, bool use_bias, int64_t dilation)
    : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size),
      stride(stride), padding(padding), output_padding(output_padding), groups(groups),
      dilation(dilation) {
  check_conv_args("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding,
                  dilation, groups);
  TD_CHECK(output_padding >= 0 && (output_padding < stride || output_padding < dilation),
           "ConvTranspose2d: output_padding (", output_padding,
           ") must be smaller than either stride (", stride, ") or dilation (", dilation, ")");
  register_parameter("weight", &weight,
                     Tensor::empty({in_channels, out_channels / groups, kernel_size, kernel_size}));
  if (use_bias) register_parameter("bias", &bias, Tensor::empty({out_channels}));
  reset_conv(weight, bias);
}

// x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out)
Tensor ConvTranspose2d::forward(const Tensor& x) {
  check_input(*this, x, in_channels, weight);
  return conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation);
}

}  // namespace tinydiff
