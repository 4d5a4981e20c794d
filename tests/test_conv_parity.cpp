// PyTorch parity for linear, conv2d, conv_transpose2d, pooling and upsampling: outputs and
// gradients against tests/ref/fixtures/conv.safetensors (written by tests/ref/conv.py, whose
// tables list the same settings as the cases below).
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::check_parity;

namespace {

const char* kFile = "conv";

std::vector<std::string> input_names(bool bias) {
  std::vector<std::string> names = {"x", "weight"};
  if (bias) names.push_back("bias");
  return names;
}

void linear_parity(const std::string& name, bool bias) {
  check_parity(kFile, name, input_names(bias), [](const TensorList& in) {
    return linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor());
  });
}

void conv2d_parity(const std::string& name, bool bias, int64_t stride, int64_t padding,
                   int64_t dilation, int64_t groups) {
  check_parity(kFile, name, input_names(bias), [=](const TensorList& in) {
    return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding, dilation,
                  groups);
  });
}

void conv_transpose2d_parity(const std::string& name, bool bias, int64_t stride, int64_t padding,
                             int64_t output_padding, int64_t groups, int64_t dilation) {
  check_parity(kFile, name, input_names(bias), [=](const TensorList& in) {
    return conv_transpose2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding,
                            output_padding, groups, dilation);
  });
}

void unary_parity(const std::string& name, const std::function<Tensor(const Tensor&)>& fn) {
  check_parity(kFile, name, {"x"}, [fn](const TensorList& in) { return fn(in[0]); });
}

}  // namespace

PARITY_CASE("linear", "with bias") { linear_parity("linear_bias", true); }
PARITY_CASE("linear", "without bias") { linear_parity("linear_nobias", false); }
PARITY_CASE("linear", "3-d input") { linear_parity("linear_3d", true); }

PARITY_CASE("conv2d", "stride 1, padding 1") {
  conv2d_parity("conv2d_stride1_pad1", true, 1, 1, 1, 1);
}
PARITY_CASE("conv2d", "stride 2, padding 1") {
  conv2d_parity("conv2d_stride2_pad1", true, 2, 1, 1, 1);
}
PARITY_CASE("conv2d", "padding 0") { conv2d_parity("conv2d_pad0", true, 1, 0, 1, 1); }
PARITY_CASE("conv2d", "padding 2, stride 2") {
  conv2d_parity("conv2d_pad2_stride2", true, 2, 2, 1, 1);
}
PARITY_CASE("conv2d", "dilation 2") { conv2d_parity("conv2d_dilation2", true, 1, 2, 2, 1); }
PARITY_CASE("conv2d", "groups 2") { conv2d_parity("conv2d_groups2", true, 1, 1, 1, 2); }
PARITY_CASE("conv2d", "depthwise") { conv2d_parity("conv2d_depthwise", true, 1, 1, 1, 4); }
PARITY_CASE("conv2d", "no bias") { conv2d_parity("conv2d_nobias", false, 1, 1, 1, 1); }
PARITY_CASE("conv2d", "1x1") { conv2d_parity("conv2d_1x1", true, 1, 0, 1, 1); }
PARITY_CASE("conv2d", "1x1, stride 2") { conv2d_parity("conv2d_1x1_stride2", true, 2, 0, 1, 1); }
PARITY_CASE("conv2d", "non-square input and kernel") {
  conv2d_parity("conv2d_nonsquare", true, 2, 1, 1, 1);
}
PARITY_CASE("conv2d", "16 channels, batch 3") { conv2d_parity("conv2d_wide", true, 1, 1, 1, 1); }

PARITY_CASE("conv_transpose2d", "kernel 2, stride 2") {
  conv_transpose2d_parity("conv_transpose2d_k2s2", true, 2, 0, 0, 1, 1);
}
PARITY_CASE("conv_transpose2d", "kernel 4, stride 4") {
  conv_transpose2d_parity("conv_transpose2d_k4s4", true, 4, 0, 0, 1, 1);
}
PARITY_CASE("conv_transpose2d", "stride 2, padding 1, output_padding 1") {
  conv_transpose2d_parity("conv_transpose2d_s2p1op1", true, 2, 1, 1, 1, 1);
}
PARITY_CASE("conv_transpose2d", "groups 2") {
  conv_transpose2d_parity("conv_transpose2d_groups2", true, 1, 1, 0, 2, 1);
}
PARITY_CASE("conv_transpose2d", "dilation 2, no bias") {
  conv_transpose2d_parity("conv_transpose2d_dilation2", false, 1, 1, 0, 1, 2);
}
PARITY_CASE("conv_transpose2d", "1x1") {
  conv_transpose2d_parity("conv_transpose2d_1x1", true, 1, 0, 0, 1, 1);
}

PARITY_CASE("max_pool2d", "kernel 2") {
  unary_parity("max_pool2d_k2", [](const Tensor& x) { return max_pool2d(x, 2); });
}
PARITY_CASE("max_pool2d", "kernel 3, stride 2, padding 1") {
  unary_parity("max_pool2d_k3s2p1", [](const Tensor& x) { return max_pool2d(x, 3, 2, 1); });
}
PARITY_CASE("max_pool2d", "ties go to the first maximum") {
  unary_parity("max_pool2d_ties", [](const Tensor& x) { return max_pool2d(x, 3, 2, 1); });
}

PARITY_CASE("avg_pool2d", "kernel 2") {
  unary_parity("avg_pool2d_k2", [](const Tensor& x) { return avg_pool2d(x, 2); });
}
PARITY_CASE("avg_pool2d", "kernel 4") {
  unary_parity("avg_pool2d_k4", [](const Tensor& x) { return avg_pool2d(x, 4); });
}
PARITY_CASE("avg_pool2d", "kernel 3, stride 2, padding 1") {
  unary_parity("avg_pool2d_k3s2p1", [](const Tensor& x) { return avg_pool2d(x, 3, 2, 1); });
}

PARITY_CASE("upsample_nearest2d", "scale 2") {
  unary_parity("upsample_nearest2d_x2", [](const Tensor& x) { return upsample_nearest2d(x, 2); });
}
PARITY_CASE("upsample_nearest2d", "scale 3") {
  unary_parity("upsample_nearest2d_x3", [](const Tensor& x) { return upsample_nearest2d(x, 3); });
}
