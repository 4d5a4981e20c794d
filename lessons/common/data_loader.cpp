// DataLoader (declared in lessons/common/dataset.hpp): seeded per-epoch shuffling, batches.
#include <cstring>

#include "lessons/common/dataset.hpp"
#include "tensor/rng.hpp"

namespace tinydiff {

DataLoader::DataLoader(Dataset data, uint64_t seed, bool shuffle, bool drop_last)
    : data_(std::move(data)), shuffle_(shuffle), drop_last_(drop_last) {
  TD_CHECK(data_.size() > 0, "data loader: the data set '", data_.name, "' is empty");
  data_.images = data_.images.contiguous();
  data_.labels = data_.labels.contiguous();
  position_.seed = seed;
  start_epoch(0);
}

// Epoch e's order: Fisher-Yates (for i = N-1..1 swap order[i] with order[j], j uniform in
// [0, i]) with draws from Philox stream (seed, offset e * 2^32); the identity without shuffle.
void DataLoader::start_epoch(int64_t epoch) {
  int64_t n = data_.size();
  order_.resize(n);
  for (int64_t i = 0; i < n; ++i) order_[i] = i;
  if (shuffle_) {
    Generator gen;
    gen.set_state({position_.seed, uint64_t(epoch) << 32});
    for (int64_t i = n - 1; i > 0; --i) std::swap(order_[i], order_[gen.randint(0, i + 1)]);
  }
  position_.epoch = epoch;
  position_.index = 0;
}

void DataLoader::set_position(const LoaderPosition& position) {
  TD_CHECK(position.epoch >= 0 && position.index >= 0 && position.index <= data_.size(),
           "data loader: position (epoch ", position.epoch, ", index ", position.index,
           ") does not fit the ", data_.size(), " rows of '", data_.name, "'");
  position_.seed = position.seed;
  start_epoch(position.epoch);
  position_.index = position.index;
}

int64_t DataLoader::batches_per_epoch(int64_t batch_size) const {
  TD_CHECK(batch_size > 0, "data loader: batch size must be positive, got ", batch_size);
  return data_.size() / batch_size;
}

// images (B, C, H, W), labels (B): row order_[index], order_[index + 1], ... of the epoch.
std::pair<Tensor, Tensor> DataLoader::next_batch(int64_t batch_size) {
  int64_t n = data_.size();
  TD_CHECK(batch_size > 0 && batch_size <= n, "data loader: batch size ", batch_size,
           " must be in [1, ", n, "], the size of '", data_.name, "'");
  Shape shape = data_.images.shape();
  int64_t row_size = numel_of(shape) / n;
  shape[0] = batch_size;
  Tensor images = Tensor::empty(shape), labels = Tensor::empty({batch_size});
  if (drop_last_ && position_.index + batch_size > n) start_epoch(position_.epoch + 1);
  const float *src = data_.images.cpu_data(), *src_labels = data_.labels.cpu_data();
  for (int64_t b = 0; b < batch_size; ++b) {
    if (position_.index == n) start_epoch(position_.epoch + 1);  // wrap into the next epoch
    int64_t row = order_[position_.index++];
    std::memcpy(images.cpu_data() + b * row_size, src + row * row_size, row_size * sizeof(float));
    labels.cpu_data()[b] = src_labels[row];
  }
  return {images, labels};
}

}  // namespace tinydiff
