// The lessons' data sets (MNIST and the 16x16 sprites) and a seeded, resumable batch loader.
//
// Files are found under a data folder (see resolve_data_dir) with the layout of DESIGN.md:
//   mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//   sprites/sprites_1788_16x16.npy + sprites/sprite_labels_nc_1788_16x16.npy   (the course's)
//   sprites-cc0/sprites_16x16.npy + sprites-cc0/sprite_labels_16x16.npy        (a CC0 stand-in)
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.hpp"

namespace tinydiff {

struct Dataset {
  Tensor images;  // (N, C, H, W) float in [-1, 1], on the CPU
  Tensor labels;  // (N) class index, a whole number in [0, num_classes)
  int64_t num_classes = 0;
  std::string name;  // "mnist", "sprites" (the course's files) or "sprites-cc0" (the stand-in)
  std::vector<std::string> class_names;
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// train: the training rows; test: the held-out rows; all: both (the course trains on every row).
enum class Split { train, test, all };

// The data folder: `flag_value` (--data) when given, else $TINYDIFF_DATA, else ./data. When
// none exists the Error lists where it looked and how to get data.
std::string resolve_data_dir(const std::string& flag_value);

// MNIST: 1 x 28 x 28, classes 0..9. train is the official 60000, test the official 10000.
Dataset load_mnist(const std::string& dir, Split split);

// The sprites: 3 x 16 x 16 RGB, classes hero, non-hero, food, spell, side-facing. Reads the
// course's files when present, else the stand-in. The held-out rows are, for the stand-in with
// its group_ids.npy, the rows whose group % 10 == 0 (so no relative of a test sprite is
// trained on); otherwise a fixed random 10% of the rows.
Dataset load_sprites(const std::string& dir, Split split);

// load_mnist or load_sprites by name ("mnist" or "sprites", as --dataset gives it).
Dataset load_dataset(const std::string& name, const std::string& dir, Split split);

// The rows `rows` of `data`, in that order (a copy).
Dataset select_rows(const Dataset& data, const std::vector<int64_t>& rows);

// Where a DataLoader is: the epoch, the rows of it already served and the shuffling seed.
// Saved in a checkpoint and restored with set_position, it makes the resumed run see exactly
// the batches the uninterrupted run would have seen.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t index = 0;
  uint64_t seed = 0;
};

// Serves batches of a Dataset in an order shuffled afresh each epoch. Epoch e's order is a
// Fisher-Yates shuffle drawn from Philox stream (seed, offset e * 2^32), so it depends on
// (seed, epoch) only and is recomputed, not stored, on resume.
//
// drop_last (the default): a batch never spans two epochs; the rows left over at the end of
// an epoch (fewer than the batch size) are skipped. Otherwise (wrap): the batch takes those
// rows and is completed from the start of the next epoch, so no row is ever skipped.
class DataLoader {
 public:
  DataLoader(Dataset data, uint64_t seed, bool shuffle = true, bool drop_last = true);

  // images (B, C, H, W) and labels (B), fresh CPU tensors.
  std::pair<Tensor, Tensor> next_batch(int64_t batch_size);
  // Full batches per epoch (with drop_last; with wrap an epoch is N / B batches on average).
  int64_t batches_per_epoch(int64_t batch_size) const;

  LoaderPosition position() const { return position_; }
  void set_position(const LoaderPosition& position);
  const Dataset& dataset() const { return data_; }

 private:
  void start_epoch(int64_t epoch);

  Dataset data_;
  bool shuffle_, drop_last_;
  LoaderPosition position_;
  std::vector<int64_t> order_;  // the current epoch's row order
};

}  // namespace tinydiff
