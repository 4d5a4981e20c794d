#include "nn/basic.hpp"

#include "nn/functional/conv.hpp"
#include "nn/functional/dropout.hpp"
#include "nn/functional/embedding.hpp"
#include "nn/init.hpp"

namespace tinydiff {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim)
    : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  TD_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: num_embeddings (", num_embeddings,
           ") and embedding_dim (", embedding_dim, ") must be positive");
  register_parameter("weight", &weight, Tensor::empty({num_embeddings, embedding_dim}));
  init::normal_(weight);
}

// indices (...) -> (..., embedding_dim)
Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight); }

Dropout::Dropout(float p) : p(p) {
  TD_CHECK(p >= 0.f && p <= 1.f, "Dropout: probability p must be in [0, 1], got ", p);
}
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

namespace {
void check_pool_args(const char* layer, int64_t kernel, int64_t stride, int64_t padding) {
  TD_CHECK(kernel > 0 && stride >= 0, layer, ": kernel_size (", kernel, ") must be positive and ",
           "stride (", stride, ") >= 0");
  TD_CHECK(padding >= 0 && 2 * padding <= kernel, layer, ": padding (", padding,
           ") must be between 0 and half the kernel size (", kernel, ")");
}
}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : kernel_size(kernel_size), stride(stride ? stride : kernel_size), padding(padding) {
  check_pool_args("MaxPool2d", kernel_size, stride, padding);
}
Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_size, stride, padding); }

AvgPool2d::AvgPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : kernel_size(kernel_size), stride(stride ? stride : kernel_size), padding(padding) {
  check_pool_args("AvgPool2d", kernel_size, stride, padding);
}
Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel_size, stride, padding); }

Upsample::Upsample(int64_t scale_factor, const std::string& mode) : scale_factor(scale_factor) {
  TD_CHECK(mode == "nearest", "Upsample: mode '", mode, "' is not supported (only 'nearest')");
  TD_CHECK(scale_factor >= 1, "Upsample: scale_factor must be >= 1, got ", scale_factor);
}
Tensor Upsample::forward(const Tensor& x) { return upsample_nearest2d(x, scale_factor); }

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

GELU::GELU(const std::string& approximate) : approximate(approximate) {
  TD_CHECK(approximate == "none" || approximate == "tanh", "GELU: approximate must be 'none' or ",
           "'tanh', got '", approximate, "'");
}
Tensor GELU::forward(const Tensor& x) { return approximate == "tanh" ? gelu_tanh(x) : gelu(x); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Flatten::Flatten(int64_t start_dim, int64_t end_dim) : start_dim(start_dim), end_dim(end_dim) {}
Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim, end_dim); }

}  // namespace tinydiff
