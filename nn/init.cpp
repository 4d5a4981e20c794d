#include "nn/init.hpp"

#include <cmath>

#include "tensor/kernels/elementwise.hpp"

namespace tinydiff::init {

namespace {

void require_fillable(const Tensor& w, const char* fn) {
  TD_CHECK(w.defined(), "init::", fn, ": the tensor is undefined");
  TD_CHECK(w.is_contiguous(), "init::", fn, ": tensor ", describe(w),
           " is not contiguous (fill its contiguous storage instead)");
}

// w = w * scale + shift, in place.
void affine_(const Tensor& w, float scale, float shift) {
  TD_DISPATCH(w.device(), unary, UnaryOp::MulScalar, w.data(), w.data(), w.numel(), scale, 0.f);
  TD_DISPATCH(w.device(), unary, UnaryOp::AddScalar, w.data(), w.data(), w.numel(), shift, 0.f);
}

}  // namespace

Fans calculate_fan_in_and_fan_out(const Tensor& w) {
  TD_CHECK(w.dim() >= 2, "init: fan in and fan out need a tensor of at least 2 dimensions, got ",
           str(w.shape()));
  int64_t receptive = 1;
  for (int64_t i = 2; i < w.dim(); ++i) receptive *= w.size(i);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

float calculate_gain(const std::string& nonlinearity, float param) {
  if (nonlinearity == "linear" || nonlinearity == "conv2d" || nonlinearity == "sigmoid") return 1.f;
  if (nonlinearity == "tanh") return 5.f / 3.f;
  if (nonlinearity == "relu") return std::sqrt(2.f);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.f / (1.f + param * param));
  if (nonlinearity == "selu") return 0.75f;
  throw_error("init::calculate_gain: unknown nonlinearity '", nonlinearity,
              "' (expected linear, conv2d, sigmoid, tanh, relu, leaky_relu or selu)");
}

// u ~ U(0, 1) from Philox, then low + (high - low) u.
Tensor uniform_(const Tensor& w, float low, float high, Generator* gen) {
  require_fillable(w, "uniform_");
  TD_CHECK(low <= high, "init::uniform_: low ", low, " is above high ", high);
  Generator& g = gen ? *gen : default_generator();
  TD_DISPATCH(w.device(), fill_uniform, w.data(), w.numel(), g.state().seed, g.advance(w.numel()));
  affine_(w, high - low, low);
  return w;
}

Tensor normal_(const Tensor& w, float mean, float std, Generator* gen) {
  require_fillable(w, "normal_");
  TD_CHECK(std >= 0.f, "init::normal_: std must be >= 0, got ", std);
  Generator& g = gen ? *gen : default_generator();
  TD_DISPATCH(w.device(), fill_normal, w.data(), w.numel(), g.state().seed, g.advance(w.numel()));
  affine_(w, std, mean);
  return w;
}

Tensor constant_(const Tensor& w, float value) {
  require_fillable(w, "constant_");
  TD_DISPATCH(w.device(), fill, w.data(), w.numel(), value);
  return w;
}
Tensor zeros_(const Tensor& w) { return constant_(w, 0.f); }
Tensor ones_(const Tensor& w) { return constant_(w, 1.f); }

Tensor kaiming_uniform_(const Tensor& w, float a, const std::string& mode,
                        const std::string& nonlinearity, Generator* gen) {
  TD_CHECK(mode == "fan_in" || mode == "fan_out", "init::kaiming_uniform_: unknown mode '", mode,
           "' (expected fan_in or fan_out)");
  Fans fans = calculate_fan_in_and_fan_out(w);
  int64_t fan = mode == "fan_in" ? fans.fan_in : fans.fan_out;
  TD_CHECK(fan > 0, "init::kaiming_uniform_: tensor ", str(w.shape()), " has ", mode, " 0");
  float bound = calculate_gain(nonlinearity, a) * std::sqrt(3.f / float(fan));
  return uniform_(w, -bound, bound, gen);
}

Tensor xavier_uniform_(const Tensor& w, float gain, Generator* gen) {
  Fans fans = calculate_fan_in_and_fan_out(w);
  TD_CHECK(fans.fan_in + fans.fan_out > 0, "init::xavier_uniform_: tensor ", str(w.shape()),
           " is empty");
  float bound = gain * std::sqrt(6.f / float(fans.fan_in + fans.fan_out));
  return uniform_(w, -bound, bound, gen);
}

}  // namespace tinydiff::init
