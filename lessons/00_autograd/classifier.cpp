#include "lessons/00_autograd/classifier.hpp"

namespace tinydiff {

Classifier::Classifier(const ClassifierConfig& c) : config(c) {
  TD_CHECK(c.image_size % 4 == 0, "Classifier: image size ", c.image_size,
           " must be divisible by 4 (two 2x2 max-pools)");
  int64_t side = c.image_size / 4;
  features = register_module("features", sequential({
      std::make_shared<Conv2d>(c.in_channels, c.width, 3, 1, 1),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(c.width, 2 * c.width, 3, 1, 1),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),
      std::make_shared<Flatten>(),
      std::make_shared<Linear>(2 * c.width * side * side, c.hidden),
      std::make_shared<ReLU>(),
  }));
  head = register_module("head", std::make_shared<Linear>(c.hidden, c.num_classes));
}

Tensor Classifier::embed(const Tensor& x) {
  TD_CHECK(x.dim() == 4 && x.size(1) == config.in_channels && x.size(2) == config.image_size &&
               x.size(3) == config.image_size,
           "Classifier: expects images (N, ", config.in_channels, ", ", config.image_size, ", ",
           config.image_size, "), got ", str(x.shape()));
  return (*features)(x);
}

Tensor Classifier::forward(const Tensor& x) { return (*head)(embed(x)); }

}  // namespace tinydiff
