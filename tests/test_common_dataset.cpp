// lessons/common/dataset: finding the data folder, MNIST and sprite loading and splits, and
// the seeded, resumable DataLoader.
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "lessons/common/dataset.hpp"
#include "lessons/common/npy.hpp"
#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

// Sets (or unsets, with nullptr) $TINYDIFF_DATA and the working folder; restores both after.
class Environment {
 public:
  Environment(const char* data_env, const std::string& cwd) : old_cwd_(fs::current_path()) {
    const char* old = std::getenv("TINYDIFF_DATA");
    had_env_ = old != nullptr;
    if (old) old_env_ = old;
    if (data_env)
      setenv("TINYDIFF_DATA", data_env, 1);
    else
      unsetenv("TINYDIFF_DATA");
    fs::current_path(cwd);
  }
  ~Environment() {
    fs::current_path(old_cwd_);
    if (had_env_)
      setenv("TINYDIFF_DATA", old_env_.c_str(), 1);
    else
      unsetenv("TINYDIFF_DATA");
  }

 private:
  fs::path old_cwd_;
  bool had_env_;
  std::string old_env_;
};

// An IDX file: the magic and the sizes as 4-byte big-endian numbers, then the bytes.
std::string idx_bytes(uint32_t magic, std::vector<uint32_t> sizes,
                      const std::vector<uint8_t>& data) {
  std::string bytes;
  sizes.insert(sizes.begin(), magic);
  for (uint32_t v : sizes)
    bytes += std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  return bytes + std::string(data.begin(), data.end());
}

// A tiny MNIST folder: n_train / n_test images of 2 x 3 pixels; pixel p of image i is 10 i + p,
// label i % 10. The train images are gzipped, the rest plain (both names must be found).
void write_mnist(const std::string& dir, int n_train, int n_test, int n_train_labels = -1) {
  fs::create_directories(dir + "/mnist");
  auto images = [](int n, int first) {
    std::vector<uint8_t> px;
    for (int i = 0; i < n; ++i)
      for (int p = 0; p < 6; ++p) px.push_back(uint8_t(10 * (first + i) + p));
    return px;
  };
  auto labels = [](int n, int first) {
    std::vector<uint8_t> l;
    for (int i = 0; i < n; ++i) l.push_back(uint8_t((first + i) % 10));
    return l;
  };
  if (n_train_labels < 0) n_train_labels = n_train;
  std::string train_images = idx_bytes(2051, {uint32_t(n_train), 2, 3}, images(n_train, 0));
  gzFile f = gzopen((dir + "/mnist/train-images-idx3-ubyte.gz").c_str(), "wb");
  gzwrite(f, train_images.data(), unsigned(train_images.size()));
  gzclose(f);
  test::write_bytes(dir + "/mnist/train-labels-idx1-ubyte",
                    idx_bytes(2049, {uint32_t(n_train_labels)}, labels(n_train_labels, 0)));
  test::write_bytes(dir + "/mnist/t10k-images-idx3-ubyte",
                    idx_bytes(2051, {uint32_t(n_test), 2, 3}, images(n_test, n_train)));
  test::write_bytes(dir + "/mnist/t10k-labels-idx1-ubyte",
                    idx_bytes(2049, {uint32_t(n_test)}, labels(n_test, n_train)));
}

// n sprites of 2 x 2 RGB: byte (h, w, c) of sprite i is 12 i + 6 h + 3 w + c; class i % 5.
void write_sprites(const std::string& folder, const std::string& images, const std::string& labels,
                   int n, int n_labels = -1) {
  fs::create_directories(folder);
  std::vector<uint8_t> px;
  for (int i = 0; i < n * 12; ++i) px.push_back(uint8_t(i));
  save_npy(folder + "/" + images, px, {n, 2, 2, 3});
  if (n_labels < 0) n_labels = n;
  std::vector<float> one_hot(n_labels * 5, 0.f);
  for (int i = 0; i < n_labels; ++i) one_hot[i * 5 + i % 5] = 1.f;
  save_npy(folder + "/" + labels, one_hot, {n_labels, 5});
}

// A data set whose row i is filled with the value i (images (n, 1, 2, 2), label i).
Dataset numbered(int n) {
  Dataset d;
  std::vector<float> images, labels;
  for (int i = 0; i < n; ++i) {
    images.insert(images.end(), 4, float(i));
    labels.push_back(float(i));
  }
  d.images = from_vector(images, {n, 1, 2, 2});
  d.labels = from_vector(labels, {n});
  d.num_classes = n;
  d.name = "numbered";
  return d;
}

std::vector<float> rows_of(const std::pair<Tensor, Tensor>& batch) {
  std::vector<float> images = batch.first.tolist(), labels = batch.second.tolist();
  for (size_t b = 0; b < labels.size(); ++b)
    for (int p = 0; p < 4; ++p) REQUIRE(images[b * 4 + p] == labels[b]);  // images follow labels
  return labels;
}

}  // namespace

TEST_CASE("resolve_data_dir: --data, then $TINYDIFF_DATA, then ./data, else a helpful error") {
  TempDir dir;
  fs::create_directories(dir.file("mine"));
  fs::create_directories(dir.file("cwd_with_data/data"));
  fs::create_directories(dir.file("empty_cwd"));
  {
    Environment env(dir.file("mine").c_str(), dir.file("cwd_with_data"));
    CHECK(resolve_data_dir(dir.file("mine")) == dir.file("mine"));
    CHECK(resolve_data_dir("") == dir.file("mine"));
    CHECK_THROWS_WITH_AS(
        resolve_data_dir(dir.file("nope")),
        doctest::Contains(("--data " + dir.file("nope") + " is not a folder").c_str()), Error);
  }
  {
    Environment env(nullptr, dir.file("cwd_with_data"));
    CHECK(resolve_data_dir("") == "data");
  }
  {
    Environment env(dir.file("nope").c_str(), dir.file("empty_cwd"));
    CHECK_THROWS_WITH_AS(
        resolve_data_dir(""),
        doctest::Contains(("TINYDIFF_DATA=" + dir.file("nope") + " is not a folder").c_str()),
        Error);
  }
  {
    Environment env(nullptr, dir.file("empty_cwd"));
    try {
      resolve_data_dir("");
      FAIL("no error");
    } catch (const Error& e) {
      std::string m = e.what();
      CHECK_MESSAGE(m.find("--data (not given)") != std::string::npos, m);
      CHECK_MESSAGE(m.find("$TINYDIFF_DATA (not set)") != std::string::npos, m);
      CHECK_MESSAGE(m.find(dir.file("empty_cwd") + "/data (absent)") != std::string::npos, m);
      CHECK_MESSAGE(m.find("make data") != std::string::npos, m);
      CHECK_MESSAGE(m.find("TINYDIFF_DATA=../shared/data") != std::string::npos, m);
    }
  }
}

TEST_CASE("load_mnist maps pixels to [-1, 1] and reads the train, test and both parts") {
  TempDir dir;
  write_mnist(dir.path(), 4, 2);
  Dataset train = load_mnist(dir.path(), Split::train);
  REQUIRE(train.images.shape() == Shape{4, 1, 2, 3});
  CHECK(train.images.tolist()[7] == doctest::Approx(11 / 127.5 - 1));  // image 1, pixel 1
  CHECK(train.labels.tolist() == std::vector<float>{0, 1, 2, 3});
  CHECK(train.num_classes == 10);
  CHECK(train.class_names.size() == 10);
  CHECK(train.name == "mnist");
  Dataset test_set = load_mnist(dir.path(), Split::test);
  CHECK(test_set.labels.tolist() == std::vector<float>{4, 5});
  CHECK(test_set.images.tolist()[0] == doctest::Approx(40 / 127.5 - 1));
  Dataset all = load_mnist(dir.path(), Split::all);
  CHECK(all.labels.tolist() == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(all.images.tolist()[6 * 5] == doctest::Approx(50 / 127.5 - 1));
}

TEST_CASE("load_mnist errors: missing files, mismatched counts, bad labels") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(load_mnist(dir.path(), Split::train),
                       doctest::Contains("train-images-idx3-ubyte.gz. Get MNIST with `make data`"),
                       Error);
  write_mnist(dir.path(), 4, 2, 3);
  try {
    load_mnist(dir.path(), Split::train);
    FAIL("no error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK_MESSAGE(m.find("train-images-idx3-ubyte.gz has 4 images but") != std::string::npos, m);
    CHECK_MESSAGE(m.find("train-labels-idx1-ubyte has 3 labels") != std::string::npos, m);
  }
  test::write_bytes(dir.file("mnist/t10k-labels-idx1-ubyte"), idx_bytes(2049, {2}, {1, 12}));
  CHECK_THROWS_WITH_AS(load_mnist(dir.path(), Split::test),
                       doctest::Contains("label 12 of row 1 is not a digit"), Error);
}

TEST_CASE("load_sprites reads the stand-in, turns HWC into CHW and splits by group") {
  TempDir dir;
  std::string cc0 = dir.file("sprites-cc0");
  write_sprites(cc0, "sprites_16x16.npy", "sprite_labels_16x16.npy", 20);
  std::vector<int64_t> groups;
  for (int i = 0; i < 20; ++i)
    groups.push_back(i / 2);  // groups 0..9; only group 0 (rows 0, 1) is held out
  save_npy(cc0 + "/group_ids.npy", std::vector<float>(groups.begin(), groups.end()), {20});

  Dataset all = load_sprites(dir.path(), Split::all);
  CHECK(all.name == "sprites-cc0");
  REQUIRE(all.images.shape() == Shape{20, 3, 2, 2});
  // images[i][c][h][w] = byte (12 i + 6 h + 3 w + c) / 127.5 - 1: check sprite 1, c 2, h 1, w 0.
  CHECK(all.images.tolist()[1 * 12 + 2 * 4 + 1 * 2 + 0] ==
        doctest::Approx((12 + 6 + 2) / 127.5 - 1));
  CHECK(all.num_classes == 5);
  CHECK(all.class_names ==
        std::vector<std::string>{"hero", "non-hero", "food", "spell", "side-facing"});

  Dataset test_set = load_sprites(dir.path(), Split::test);
  CHECK(test_set.labels.tolist() == std::vector<float>{0, 1});
  Dataset train = load_sprites(dir.path(), Split::train);
  CHECK(train.size() == 18);
  CHECK(train.labels.tolist()[0] == 2.f);
}

TEST_CASE("load_sprites prefers the course files and splits them 10% at random") {
  TempDir dir;
  write_sprites(dir.file("sprites-cc0"), "sprites_16x16.npy", "sprite_labels_16x16.npy", 5);
  write_sprites(dir.file("sprites"), "sprites_1788_16x16.npy", "sprite_labels_nc_1788_16x16.npy",
                30);
  Dataset all = load_sprites(dir.path(), Split::all);
  CHECK(all.name == "sprites");
  CHECK(all.size() == 30);
  Dataset train = load_sprites(dir.path(), Split::train),
          test_set = load_sprites(dir.path(), Split::test);
  CHECK(test_set.size() == 3);
  CHECK(train.size() == 27);
  std::set<float> seen;
  for (float v : train.images.narrow(1, 0, 1).narrow(2, 0, 1).narrow(3, 0, 1).contiguous().tolist())
    seen.insert(v);
  for (float v :
       test_set.images.narrow(1, 0, 1).narrow(2, 0, 1).narrow(3, 0, 1).contiguous().tolist())
    seen.insert(v);
  CHECK(seen.size() == 30);  // disjoint, and together every row
  CHECK(load_sprites(dir.path(), Split::test).images.tolist() ==
        test_set.images.tolist());  // fixed
}

TEST_CASE("load_sprites errors name the files and what is wrong") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(load_sprites(dir.path(), Split::all),
                       doctest::Contains("no sprite files in"), Error);
  write_sprites(dir.file("sprites"), "unused.npy", "sprite_labels_nc_1788_16x16.npy", 5);
  CHECK_THROWS_WITH_AS(load_sprites(dir.path(), Split::all),
                       doctest::Contains("the labels alone are not enough"), Error);
  write_sprites(dir.file("sprites-cc0"), "sprites_16x16.npy", "unused.npy", 5);
  CHECK_THROWS_WITH_AS(load_sprites(dir.path(), Split::all),
                       doctest::Contains("sprites-cc0/sprites_16x16.npy but not its labels"),
                       Error);
  write_sprites(dir.file("sprites-cc0"), "sprites_16x16.npy", "sprite_labels_16x16.npy", 5, 4);
  try {
    load_sprites(dir.path(), Split::all);
    FAIL("no error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK_MESSAGE(m.find("sprites_16x16.npy has 5 images but") != std::string::npos, m);
    CHECK_MESSAGE(m.find("sprite_labels_16x16.npy has 4 labels") != std::string::npos, m);
  }
  save_npy(dir.file("sprites-cc0/sprite_labels_16x16.npy"), std::vector<float>(25, 0.2f), {5, 5});
  CHECK_THROWS_WITH_AS(load_sprites(dir.path(), Split::all),
                       doctest::Contains("row 0 is not one-hot"), Error);
  save_npy(dir.file("sprites-cc0/sprites_16x16.npy"), std::vector<float>(5 * 12), {5, 2, 2, 3});
  CHECK_THROWS_WITH_AS(load_sprites(dir.path(), Split::all),
                       doctest::Contains("holds <f4 [5, 2, 2, 3]"), Error);
  CHECK_THROWS_WITH_AS(load_dataset("cifar", dir.path(), Split::all),
                       doctest::Contains("unknown data set 'cifar'"), Error);
}

TEST_CASE("select_rows copies the chosen rows in order") {
  Dataset d = select_rows(numbered(6), {4, 1, 4});
  CHECK(d.labels.tolist() == std::vector<float>{4, 1, 4});
  CHECK(d.images.shape() == Shape{3, 1, 2, 2});
  CHECK(d.images.tolist()[4] == 1.f);
  CHECK_THROWS_WITH_AS(select_rows(numbered(6), {6}),
                       doctest::Contains("row 6 is outside the 6 rows"), Error);
}

TEST_CASE("DataLoader: each epoch is a seeded permutation; drop_last skips the remainder") {
  DataLoader loader(numbered(10), 42);
  CHECK(loader.batches_per_epoch(4) == 2);
  std::vector<float> a = rows_of(loader.next_batch(4)), b = rows_of(loader.next_batch(4));
  std::set<float> epoch0(a.begin(), a.end());
  epoch0.insert(b.begin(), b.end());
  CHECK(epoch0.size() == 8);  // 8 distinct rows; 2 are skipped
  CHECK(loader.position().epoch == 0);
  std::vector<float> c = rows_of(loader.next_batch(4));
  CHECK(loader.position().epoch == 1);
  CHECK(loader.position().index == 4);
  CHECK(std::set<float>(c.begin(), c.end()).size() == 4);

  DataLoader same(numbered(10), 42), other(numbered(10), 43);
  CHECK(rows_of(same.next_batch(4)) == a);
  CHECK(rows_of(other.next_batch(10)) != rows_of(DataLoader(numbered(10), 42).next_batch(10)));
}

TEST_CASE("DataLoader: wrap mode never skips a row; no shuffle keeps the order") {
  DataLoader loader(numbered(10), 7, true, false);
  std::vector<float> rows;
  for (int i = 0; i < 5; ++i) {
    std::vector<float> batch = rows_of(loader.next_batch(4));
    rows.insert(rows.end(), batch.begin(), batch.end());
  }
  CHECK(std::set<float>(rows.begin(), rows.begin() + 10).size() == 10);  // epoch 0: every row once
  CHECK(std::set<float>(rows.begin() + 10, rows.end()).size() == 10);    // epoch 1: every row once
  CHECK(std::vector<float>(rows.begin(), rows.begin() + 10) !=
        std::vector<float>(rows.begin() + 10, rows.end()));

  DataLoader ordered(numbered(5), 7, false, false);
  CHECK(rows_of(ordered.next_batch(3)) == std::vector<float>{0, 1, 2});
  CHECK(rows_of(ordered.next_batch(3)) == std::vector<float>{3, 4, 0});
}

TEST_CASE("DataLoader: a restored position gives exactly the batches of an uninterrupted run") {
  for (bool drop_last : {true, false}) {
    DataLoader run(numbered(11), 5, true, drop_last);
    std::vector<std::vector<float>> batches;
    LoaderPosition saved;
    for (int i = 0; i < 9; ++i) {
      if (i == 4) saved = run.position();
      batches.push_back(rows_of(run.next_batch(3)));
    }
    DataLoader resumed(numbered(11), 999, true, drop_last);  // the seed comes from the position
    resumed.set_position(saved);
    for (int i = 4; i < 9; ++i) CHECK(rows_of(resumed.next_batch(3)) == batches[i]);
  }
}

TEST_CASE("DataLoader: bad batch sizes and positions are errors") {
  DataLoader loader(numbered(4), 1);
  CHECK_THROWS_WITH_AS(loader.next_batch(5), doctest::Contains("batch size 5 must be in [1, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(loader.next_batch(0), doctest::Contains("batch size 0"), Error);
  CHECK_THROWS_WITH_AS(loader.set_position({0, 5, 1}),
                       doctest::Contains("index 5) does not fit the 4 rows"), Error);
  Dataset empty = select_rows(numbered(4), {});
  CHECK_THROWS_WITH_AS(DataLoader(empty, 1), doctest::Contains("is empty"), Error);
}

TEST_CASE("the real MNIST and sprites load quickly (when the data is present)") {
  std::string dir = test::data_dir();
  if (dir.empty() || !fs::exists(dir + "/mnist")) return test::skip("no data folder with MNIST");
  auto start = std::chrono::steady_clock::now();
  Dataset train = load_mnist(dir, Split::train);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("loading 60000 MNIST images took " << seconds << " s");
  CHECK(seconds < 5.0);  // typically ~0.3 s; generous for a busy shared machine
  REQUIRE(train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(train.labels.narrow(0, 0, 8).contiguous().tolist() ==
        std::vector<float>{5, 0, 4, 1, 9, 2, 1, 3});
  std::vector<float> pixels = train.images.tolist();
  CHECK(*std::min_element(pixels.begin(), pixels.end()) == -1.f);
  CHECK(*std::max_element(pixels.begin(), pixels.end()) == 1.f);
  CHECK(load_mnist(dir, Split::test).size() == 10000);

  if (!fs::exists(dir + "/sprites-cc0/sprites_16x16.npy")) return;
  Dataset sprites_train = load_sprites(dir, Split::train),
          sprites_test = load_sprites(dir, Split::test);
  CHECK(sprites_train.name == "sprites-cc0");
  CHECK(sprites_train.images.shape()[1] == 3);
  CHECK(sprites_train.size() + sprites_test.size() == 84348);
  CHECK(sprites_test.size() > 84348 / 20);
  CHECK(sprites_test.size() < 84348 / 5);
}
