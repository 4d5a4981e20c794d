// A small CNN image classifier, trained in lesson 00 and reused by lesson 01's `eval` to score
// generated images (does a sample show the class that was asked for?) and to embed them for a
// Fréchet distance (the `features` output plays the role Inception features play in FID).
#pragma once
#include <memory>

#include "nn/basic.hpp"
#include "nn/conv.hpp"
#include "nn/linear.hpp"
#include "nn/sequential.hpp"

namespace tinydiff {

struct ClassifierConfig {
  int64_t in_channels = 1;   // 1 for MNIST, 3 for sprites
  int64_t image_size = 28;   // must be divisible by 4 (two 2x2 max-pools)
  int64_t num_classes = 10;
  int64_t width = 32;        // channels of the first conv; the second has 2 * width
  int64_t hidden = 128;      // size of the feature vector
};

// features: [conv3x3 -> ReLU -> maxpool2] x 2 -> flatten -> Linear -> ReLU; head: Linear.
class Classifier : public Module {
 public:
  explicit Classifier(const ClassifierConfig& config);
  std::string type_name() const override { return "Classifier"; }
  // x (N, C, H, W) in [-1, 1] -> logits (N, num_classes)
  Tensor forward(const Tensor& x) override;
  // x (N, C, H, W) -> (N, hidden): the penultimate activations
  Tensor embed(const Tensor& x);

  ClassifierConfig config;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<Linear> head;
};

}  // namespace tinydiff
