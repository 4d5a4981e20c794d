#include "lessons/common/dataset.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "lessons/common/mnist.hpp"
#include "lessons/common/npy.hpp"
#include "tensor/rng.hpp"

namespace tinydiff {

namespace fs = std::filesystem;

namespace {

const char* kGetData =
    "Get MNIST with `make data`, or point to an existing copy of the data folder with "
    "--data DIR or TINYDIFF_DATA (e.g. TINYDIFF_DATA=../shared/data)";

bool exists(const std::string& path) { return fs::is_regular_file(path); }

// `base` or `base.gz`, whichever exists.
std::string find_idx(const std::string& base) {
  if (exists(base)) return base;
  if (exists(base + ".gz")) return base + ".gz";
  throw_error("mnist: cannot find ", base, " or ", base, ".gz. ", kGetData);
}

// The official MNIST part `prefix` ("train" or "t10k") as (N, 28, 28) bytes and N labels.
std::pair<IdxArray, IdxArray> read_mnist_part(const std::string& dir, const std::string& prefix) {
  std::string images_path = find_idx(dir + "/mnist/" + prefix + "-images-idx3-ubyte");
  std::string labels_path = find_idx(dir + "/mnist/" + prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(images_path, kIdxImagesMagic);
  IdxArray labels = read_idx(labels_path, kIdxLabelsMagic);
  TD_CHECK(images.shape.size() == 3 && labels.shape.size() == 1, "mnist: ", images_path,
           " has shape ", str(images.shape), " and ", labels_path, " has shape ", str(labels.shape),
           "; expected (N, rows, cols) and (N)");
  TD_CHECK(images.shape[0] == labels.shape[0], "mnist: ", images_path, " has ", images.shape[0],
           " images but ", labels_path, " has ", labels.shape[0], " labels");
  for (int64_t i = 0; i < labels.shape[0]; ++i)
    TD_CHECK(labels.data[i] < 10, "mnist: ", labels_path, ": label ", int(labels.data[i]),
             " of row ", i, " is not a digit 0..9");
  return {std::move(images), std::move(labels)};
}

// Pixel bytes p in [0, 255] -> p / 127.5 - 1 in [-1, 1], the course's
// Normalize((0.5,), (0.5,)) after ToTensor.
float to_unit_range(float p) { return p / 127.5f - 1.0f; }  // exact at 0 and 255

Dataset mnist_dataset(const IdxArray& images, const IdxArray& labels) {
  int64_t n = images.shape[0], pixels = images.shape[1] * images.shape[2];
  Dataset d;
  d.images = Tensor::empty({n, 1, images.shape[1], images.shape[2]});
  d.labels = Tensor::empty({n});
  float* img = d.images.cpu_data();
#pragma omp parallel for
  for (int64_t i = 0; i < n * pixels; ++i) img[i] = to_unit_range(images.data[i]);
  for (int64_t i = 0; i < n; ++i) d.labels.cpu_data()[i] = labels.data[i];
  d.num_classes = 10;
  d.name = "mnist";
  for (int k = 0; k < 10; ++k) d.class_names.push_back(std::to_string(k));
  return d;
}

// The sprite files found under `dir`: {images, labels, group ids or ""}.
struct SpriteFiles {
  std::string images, labels, groups, name;
};

SpriteFiles find_sprites(const std::string& dir) {
  SpriteFiles course{dir + "/sprites/sprites_1788_16x16.npy",
                     dir + "/sprites/sprite_labels_nc_1788_16x16.npy", "", "sprites"};
  SpriteFiles cc0{dir + "/sprites-cc0/sprites_16x16.npy",
                  dir + "/sprites-cc0/sprite_labels_16x16.npy", dir + "/sprites-cc0/group_ids.npy",
                  "sprites-cc0"};
  for (SpriteFiles* f : {&course, &cc0})
    if (exists(f->images)) {
      TD_CHECK(exists(f->labels), "sprites: found ", f->images, " but not its labels ", f->labels);
      if (!exists(f->groups)) f->groups = "";
      return *f;
    }
  if (exists(course.labels))
    throw_error("sprites: found ", course.labels, " but not the images ", course.images,
                "; the labels alone are not enough. The course's sprite images are not publicly "
                "available; use the CC0 stand-in ", cc0.images, " (a copy is in ../shared/data: "
                "TINYDIFF_DATA=../shared/data or --data ../shared/data)");
  throw_error("sprites: no sprite files in ", dir, ": looked for ", course.images, " and ",
              cc0.images, ". The CC0 stand-in is in ../shared/data (TINYDIFF_DATA=../shared/data)");
}

// One-hot rows (N, K) -> class indices; a row that is not one-hot is an error.
std::vector<float> one_hot_to_index(const NpyArray& labels, const std::string& path) {
  int64_t n = labels.shape[0], k = labels.shape[1];
  std::vector<float> index(n);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = &labels.values[i * k];
    int ones = 0;
    for (int64_t j = 0; j < k; ++j) {
      TD_CHECK(row[j] == 0.f || row[j] == 1.f, "sprites: ", path, ": row ", i, " is not one-hot (",
               row[j], " in column ", j, ")");
      if (row[j] == 1.f) ones++, index[i] = float(j);
    }
    TD_CHECK(ones == 1, "sprites: ", path, ": row ", i, " is not one-hot (", ones, " ones)");
  }
  return index;
}

// Whether each of the n rows is held out for testing.
std::vector<bool> sprite_test_rows(const SpriteFiles& files, int64_t n) {
  std::vector<bool> test(n);
  if (!files.groups.empty()) {
    NpyArray groups = load_npy(files.groups);
    TD_CHECK(groups.shape == Shape{n}, "sprites: ", files.groups, " has shape ", str(groups.shape),
             " but ", files.images, " has ", n, " rows");
    for (int64_t i = 0; i < n; ++i) test[i] = int64_t(groups.values[i]) % 10 == 0;
    return test;
  }
  // A fixed 10%: the first round(n / 10) rows of a permutation drawn from seed 1788.
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  Generator gen(1788);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.randint(0, i + 1)]);
  for (int64_t i = 0; i < (n + 5) / 10; ++i) test[order[i]] = true;
  return test;
}

// HWC bytes of the chosen rows -> (rows, C, H, W) in [-1, 1].
Tensor sprite_images(const NpyArray& images, const std::vector<int64_t>& rows) {
  int64_t h = images.shape[1], w = images.shape[2], c = images.shape[3];
  Tensor out = Tensor::empty({int64_t(rows.size()), c, h, w});
  float* dst = out.cpu_data();
#pragma omp parallel for
  for (int64_t r = 0; r < int64_t(rows.size()); ++r) {
    const float* src = &images.values[rows[r] * h * w * c];
    float* img = dst + r * c * h * w;
    for (int64_t p = 0; p < h * w; ++p)
      for (int64_t ch = 0; ch < c; ++ch) img[ch * h * w + p] = to_unit_range(src[p * c + ch]);
  }
  return out;
}

}  // namespace

std::string resolve_data_dir(const std::string& flag_value) {
  const char* env = std::getenv("TINYDIFF_DATA");
  std::string env_value = env ? env : "";
  if (!flag_value.empty()) {
    TD_CHECK(fs::is_directory(flag_value), "data: --data ", flag_value, " is not a folder. ",
             kGetData);
    return flag_value;
  }
  if (!env_value.empty()) {
    TD_CHECK(fs::is_directory(env_value), "data: TINYDIFF_DATA=", env_value, " is not a folder. ",
             kGetData);
    return env_value;
  }
  if (fs::is_directory("data")) return "data";
  throw_error("data: no data folder: looked for --data (not given), $TINYDIFF_DATA (not set) and ",
              (fs::current_path() / "data").string(), " (absent). ", kGetData);
}

Dataset load_mnist(const std::string& dir, Split split) {
  auto [images, labels] = read_mnist_part(dir, split == Split::test ? "t10k" : "train");
  if (split != Split::all) return mnist_dataset(images, labels);
  auto [test_images, test_labels] = read_mnist_part(dir, "t10k");
  TD_CHECK(test_images.shape[1] == images.shape[1] && test_images.shape[2] == images.shape[2],
           "mnist: train images are ", str(images.shape), " but test images are ",
           str(test_images.shape));
  images.data.insert(images.data.end(), test_images.data.begin(), test_images.data.end());
  labels.data.insert(labels.data.end(), test_labels.data.begin(), test_labels.data.end());
  images.shape[0] += test_images.shape[0];
  labels.shape[0] += test_labels.shape[0];
  return mnist_dataset(images, labels);
}

Dataset load_sprites(const std::string& dir, Split split) {
  SpriteFiles files = find_sprites(dir);
  NpyArray images = load_npy(files.images);
  NpyArray labels = load_npy(files.labels);
  TD_CHECK(images.dtype == "|u1" && images.shape.size() == 4 &&
               (images.shape[3] == 1 || images.shape[3] == 3),
           "sprites: ", files.images, " holds ", images.dtype, " ", str(images.shape),
           "; expected uint8 (N, H, W, 3) or (N, H, W, 1)");
  TD_CHECK(labels.shape.size() == 2, "sprites: ", files.labels, " has shape ", str(labels.shape),
           "; expected one-hot rows (N, classes)");
  int64_t n = images.shape[0];
  TD_CHECK(labels.shape[0] == n, "sprites: ", files.images, " has ", n, " images but ",
           files.labels, " has ", labels.shape[0], " labels");
  std::vector<float> index = one_hot_to_index(labels, files.labels);
  std::vector<bool> test = sprite_test_rows(files, n);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n; ++i)
    if (split == Split::all || test[i] == (split == Split::test)) rows.push_back(i);

  Dataset d;
  d.images = sprite_images(images, rows);
  d.labels = Tensor::empty({int64_t(rows.size())});
  for (size_t r = 0; r < rows.size(); ++r) d.labels.cpu_data()[r] = index[rows[r]];
  d.num_classes = labels.shape[1];
  d.name = files.name;
  d.class_names = {"hero", "non-hero", "food", "spell", "side-facing"};  // the course's columns
  if (d.num_classes != 5) {
    d.class_names.clear();
    for (int64_t k = 0; k < d.num_classes; ++k)
      d.class_names.push_back("class " + std::to_string(k));
  }
  return d;
}

Dataset load_dataset(const std::string& name, const std::string& dir, Split split) {
  if (name == "mnist") return load_mnist(dir, split);
  if (name == "sprites") return load_sprites(dir, split);
  throw_error("data: unknown data set '", name, "' (expected mnist or sprites)");
}

Dataset select_rows(const Dataset& data, const std::vector<int64_t>& rows) {
  Shape shape = data.images.shape();
  int64_t row_size = numel_of(shape) / std::max<int64_t>(shape[0], 1);
  shape[0] = int64_t(rows.size());
  Dataset out = data;
  out.images = Tensor::empty(shape);
  out.labels = Tensor::empty({shape[0]});
  Tensor images = data.images.contiguous(), labels = data.labels.contiguous();
  const float *src = images.cpu_data(), *label = labels.cpu_data();
  for (size_t r = 0; r < rows.size(); ++r) {
    TD_CHECK(rows[r] >= 0 && rows[r] < data.size(), "select_rows: row ", rows[r],
             " is outside the ", data.size(), " rows of ", data.name);
    std::memcpy(out.images.cpu_data() + r * row_size, src + rows[r] * row_size,
                row_size * sizeof(float));
    out.labels.cpu_data()[r] = label[rows[r]];
  }
  return out;
}

}  // namespace tinydiff
