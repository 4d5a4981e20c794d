// Small layers, as their torch.nn namesakes: Embedding, Dropout, MaxPool2d, AvgPool2d,
// Upsample, ReLU, GELU, SiLU, Identity, Flatten. Only Embedding holds a parameter.
#pragma once
#include "nn/module.hpp"

namespace tinydiff {

// A table of num_embeddings rows of size embedding_dim ("weight", initialised N(0, 1)).
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  std::string type_name() const override { return "Embedding"; }
  // indices (...) of whole numbers in [0, num_embeddings) -> (..., embedding_dim)
  Tensor forward(const Tensor& indices) override;

  int64_t num_embeddings, embedding_dim;
  Tensor weight;
};

// Inverted dropout with probability p in training mode; the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);
  std::string type_name() const override { return "Dropout"; }
  // x (*) -> same shape
  Tensor forward(const Tensor& x) override;

  float p;
};

// stride 0 means stride = kernel_size (PyTorch's stride=None).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  std::string type_name() const override { return "MaxPool2d"; }
  // x (N, C, H, W) -> (N, C, (H + 2 padding - kernel_size) / stride + 1, ...)
  Tensor forward(const Tensor& x) override;

  int64_t kernel_size, stride, padding;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  std::string type_name() const override { return "AvgPool2d"; }
  // x (N, C, H, W) -> (N, C, (H + 2 padding - kernel_size) / stride + 1, ...)
  Tensor forward(const Tensor& x) override;

  int64_t kernel_size, stride, padding;
};

// Nearest-neighbour upsampling by a whole-number factor (the only mode the lessons need).
class Upsample : public Module {
 public:
  explicit Upsample(int64_t scale_factor = 2, const std::string& mode = "nearest");
  std::string type_name() const override { return "Upsample"; }
  // x (N, C, H, W) -> (N, C, H scale_factor, W scale_factor)
  Tensor forward(const Tensor& x) override;

  int64_t scale_factor;
};

// x (*) -> same shape, for each activation below.
class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override;
};

// approximate "none": x Phi(x) (erf form); "tanh": the tanh approximation.
class GELU : public Module {
 public:
  explicit GELU(const std::string& approximate = "none");
  std::string type_name() const override { return "GELU"; }
  Tensor forward(const Tensor& x) override;

  std::string approximate;
};

// x sigmoid(x), also called swish.
class SiLU : public Module {
 public:
  std::string type_name() const override { return "SiLU"; }
  Tensor forward(const Tensor& x) override;
};

class Identity : public Module {
 public:
  std::string type_name() const override { return "Identity"; }
  Tensor forward(const Tensor& x) override { return x; }
};

// Merges axes start_dim..end_dim into one: (N, C, H, W) -> (N, C H W) by default.
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  std::string type_name() const override { return "Flatten"; }
  Tensor forward(const Tensor& x) override;

  int64_t start_dim, end_dim;
};

}  // namespace tinydiff
