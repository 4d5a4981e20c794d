// Parameter initialisation, as torch.nn.init: each fills a tensor in place (no graph node)
// from the default generator (tensor/rng.hpp) unless a generator is given, and returns it.
// The layers use these to reproduce PyTorch's default initialisation.
#pragma once
#include <string>

#include "autograd/ops.hpp"

namespace tinydiff::init {

// For a weight (out, in, k...) of a linear or convolution layer:
//   fan_in = in * prod(k), fan_out = out * prod(k)   (the receptive field is prod(k))
struct Fans {
  int64_t fan_in, fan_out;
};
Fans calculate_fan_in_and_fan_out(const Tensor& w);

// The gain that keeps activations' variance through `nonlinearity`: linear, conv2d, sigmoid
// 1; tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + param^2)); selu 3/4.
float calculate_gain(const std::string& nonlinearity, float param = 0.01f);

Tensor uniform_(const Tensor& w, float low = 0.f, float high = 1.f, Generator* gen = nullptr);
Tensor normal_(const Tensor& w, float mean = 0.f, float std = 1.f, Generator* gen = nullptr);
Tensor constant_(const Tensor& w, float value);
Tensor zeros_(const Tensor& w);
Tensor ones_(const Tensor& w);

// He et al. 2015, Sec. 2.2: w ~ U(-bound, bound), bound = gain * sqrt(3 / fan) with fan the
// fan_in (mode "fan_in") or fan_out ("fan_out") and gain = calculate_gain(nonlinearity, a).
// PyTorch's Linear and Conv layers use a = sqrt(5), which gives bound = 1 / sqrt(fan_in).
Tensor kaiming_uniform_(const Tensor& w, float a = 0.f, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

// Glorot & Bengio 2010, Eq. 16: w ~ U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(const Tensor& w, float gain = 1.f, Generator* gen = nullptr);

}  // namespace tinydiff::init
