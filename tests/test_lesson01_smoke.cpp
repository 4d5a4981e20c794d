// Smoke runs of build/lesson01's subcommands on the real data (skipped when it is absent):
// train a few steps, resume, sample with DDIM, and check the files and their values. Also the
// DESIGN.md promise that --resume is bit-identical to an uninterrupted run.
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/common/npy.hpp"
#include "lessons/common/plot.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("tinydiff_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<std::string> train_args(const std::string& data, const std::string& dataset,
                                    const std::string& out, int64_t steps) {
  return {"--data", data, "--dataset", dataset, "--out", out, "--steps", std::to_string(steps),
          "--n-feat", "8", "--batch", "4", "--save-every", "5", "--sample-every", "0",
          "--timesteps", "20"};  // T below the grid's 25 DDIM steps
}

void smoke(const std::string& dataset, int64_t channels, int64_t side) {
  std::string data = tinydiff::test::data_dir();
  if (data.empty()) return tinydiff::test::skip("no data folder: set TINYDIFF_DATA");
  std::string out = fresh_dir("lesson01_" + dataset);
  // Stopped at step 12 as Ctrl-C would: no sample grid there (the one at step 20 is checked),
  // which halves the test's time under the sanitizers.
  std::vector<std::string> args = train_args(data, dataset, out, 20);
  args.insert(args.end(), {"--stop-at", "12"});
  REQUIRE(lesson01::train(args) == 0);
  CHECK(read_csv((fs::path(out) / "loss.csv").string()).rows.size() == 12);
  args = train_args(data, dataset, out, 20);
  args.push_back("--resume");
  REQUIRE(lesson01::train(args) == 0);
  for (const char* f : {"ckpt.safetensors", "loss.csv", "loss.svg", "samples_step000020.png"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CsvTable log = read_csv((fs::path(out) / "loss.csv").string());
  REQUIRE(log.rows.size() == 20);  // steps 1..20, none twice after the resume
  CHECK(log.rows.back()[0] == 20);

  std::string png = out + "/s.png", npy = out + "/s.npy", labels = out + "/l.npy";
  REQUIRE(lesson01::sample({"--ckpt", out + "/ckpt.safetensors", "--n", "8", "--class", "1",
                            "--sampler", "ddim", "--steps", "5", "--png", png, "--npy", npy,
                            "--labels-npy", labels, "--progress-png", out + "/p.png", "--gif",
                            out + "/p.gif"}) == 0);
  for (const std::string& f : {png, npy, labels, out + "/p.png", out + "/p.gif"}) CHECK_MESSAGE(fs::exists(f), f);
  NpyArray images = load_npy(npy), classes = load_npy(labels);
  CHECK(images.shape == Shape{8, side, side, channels});
  CHECK(images.dtype == "|u1");
  CHECK(classes.shape == Shape{8});
  for (float c : classes.values) CHECK(c == 1.f);
  float lo = *std::min_element(images.values.begin(), images.values.end());
  float hi = *std::max_element(images.values.begin(), images.values.end());
  CHECK(lo >= 0.f);
  CHECK(hi <= 255.f);
  CHECK(hi > lo);  // not a blank picture
  fs::remove_all(out);
}

}  // namespace

TEST_SUITE("lesson01") {

TEST_CASE("lesson01 smoke: train, resume and sample on MNIST") { smoke("mnist", 1, 28); }

TEST_CASE("lesson01 smoke: train, resume and sample on the sprites") { smoke("sprites", 3, 16); }

TEST_CASE("lesson01 train --resume is bit-identical to an uninterrupted run") {
  std::string data = tinydiff::test::data_dir();
  if (data.empty()) return tinydiff::test::skip("no data folder: set TINYDIFF_DATA");
  std::string straight = fresh_dir("straight"), resumed = fresh_dir("resumed");
  REQUIRE(lesson01::train(train_args(data, "sprites", straight, 10)) == 0);
  std::vector<std::string> first = train_args(data, "sprites", resumed, 10);
  first.insert(first.end(), {"--stop-at", "5"});  // as if Ctrl-C came after step 5
  REQUIRE(lesson01::train(first) == 0);
  std::vector<std::string> args = train_args(data, "sprites", resumed, 10);
  args.push_back("--resume");
  REQUIRE(lesson01::train(args) == 0);
  SafetensorsFile a = load_safetensors(straight + "/ckpt.safetensors");
  SafetensorsFile b = load_safetensors(resumed + "/ckpt.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [key, value] : a.tensors) {
    REQUIRE_MESSAGE(b.tensors.count(key), key);
    CHECK_MESSAGE(value.tolist() == b.tensors.at(key).tolist(), key);
  }
  CHECK(a.metadata.at("rng") == b.metadata.at("rng"));
  fs::remove_all(straight);
  fs::remove_all(resumed);
}

TEST_CASE("lesson01 reports bad flags and missing files clearly") {
  CHECK_THROWS_WITH_AS(lesson01::train({"--steps", "ten"}), doctest::Contains("--steps"), Error);
  CHECK_THROWS_WITH_AS(lesson01::sample({"--ckpt", "/nonexistent/ckpt.safetensors", "--png", "x.png"}),
                       doctest::Contains("/nonexistent/ckpt.safetensors"), Error);
  CHECK_THROWS_WITH_AS(lesson01::sample({"--n", "4"}), doctest::Contains("--png"), Error);
}

}  // TEST_SUITE
