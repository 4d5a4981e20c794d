#include "nn/sequential.hpp"

namespace tinydiff {

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& layers) {
  for (const auto& layer : layers) push_back(layer);
}

void Sequential::push_back(std::shared_ptr<Module> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  TD_CHECK(i < layers_.size(), label(), ": index ", i, " is out of range (", layers_.size(),
           " layers)");
  return layers_[i];
}

// x -> layers[n-1](... layers[0](x))
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& layer : layers_) h = (*layer)(h);
  return h;
}

}  // namespace tinydiff
