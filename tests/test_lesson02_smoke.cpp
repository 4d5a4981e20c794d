// Smoke runs of build/lesson02's subcommands on the real MNIST data (skipped when it is
// absent): train a tiny UNet a few steps, resume (bit-identical to an uninterrupted run),
// sample with DDIM over 5 steps, and evaluate bits/dim, accuracy and FD on a handful of images.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "lessons/00_autograd/classifier.hpp"
#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/common/npy.hpp"
#include "lessons/common/plot.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 ("tinydiff_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// A tiny model (8 channels, two levels, attention at 14x14), T = 20, the loss-second-moment
// sampler (its history is part of the resumed state), dropout on.
std::vector<std::string> train_args(const std::string& data, const std::string& out,
                                    int64_t steps) {
  return {"--data", data, "--out", out, "--steps", std::to_string(steps), "--batch", "4",
          "--model-channels", "8", "--channel-mult", "1,2", "--num-res-blocks", "1",
          "--attention-resolutions", "2", "--num-heads", "2", "--dropout", "0.1",
          "--diffusion-steps", "20", "--timestep-sampler", "loss-second-moment",
          "--save-every", "3", "--sample-every", "0", "--sample-respace", "ddim5"};
}

// An untrained lesson-00 classifier saved as lesson00 would save it: eval only needs its
// features and predictions to be defined.
std::string untrained_classifier(const std::string& dir) {
  manual_seed(0);
  Classifier classifier(ClassifierConfig{});
  TrainState state;
  state.config["dataset"] = "mnist";
  std::string path = dir + "/classifier.safetensors";
  save_train_state(path, classifier, nullptr, nullptr, state);
  return path;
}

// Runs fn with the process's stdout (eval prints with printf) sent to the file `path`, and
// returns what it printed.
std::string capture_stdout(const std::string& path, const std::function<void()>& fn) {
  struct Redirect {
    int saved;
    explicit Redirect(const std::string& path) : saved(::dup(1)) {
      std::fflush(stdout);
      int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(file, 1);
      ::close(file);
    }
    ~Redirect() {
      std::fflush(stdout);
      ::dup2(saved, 1);
      ::close(saved);
    }
  };
  {
    Redirect redirect(path);
    fn();
  }
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The JSON object on the last line of `text` -> the number after "key": (NaN when absent).
double json_value(const std::string& text, const std::string& key) {
  std::string last = text.substr(text.rfind('{'));
  size_t at = last.find("\"" + key + "\": ");
  return at == std::string::npos ? NAN : std::atof(last.c_str() + at + key.size() + 4);
}

}  // namespace

TEST_SUITE("lesson02") {

TEST_CASE("lesson02 smoke: train, resume, sample with ddim5 and eval on MNIST") {
  std::string data = tinydiff::test::data_dir();
  if (data.empty()) return tinydiff::test::skip("no data folder: set TINYDIFF_DATA");
  std::string out = fresh_dir("lesson02"), straight = fresh_dir("lesson02_straight");
  std::vector<std::string> args = train_args(data, out, 6);
  args.insert(args.end(), {"--stop-at", "3"});  // as if Ctrl-C came after step 3
  REQUIRE(lesson02::train(args) == 0);
  args = train_args(data, out, 6);
  args.push_back("--resume");
  REQUIRE(lesson02::train(args) == 0);
  for (const char* f : {"ckpt.safetensors", "loss.csv", "loss.svg", "samples_step000006.png"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CsvTable log = read_csv(out + "/loss.csv");
  REQUIRE(log.rows.size() == 6);  // steps 1..6, none twice after the resume
  for (const auto& row : log.rows) CHECK((std::isfinite(row[1]) && row[1] > 0));

  // --resume is bit-identical to a run that was never interrupted.
  REQUIRE(lesson02::train(train_args(data, straight, 6)) == 0);
  SafetensorsFile a = load_safetensors(straight + "/ckpt.safetensors");
  SafetensorsFile b = load_safetensors(out + "/ckpt.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [key, value] : a.tensors) {
    REQUIRE_MESSAGE(b.tensors.count(key), key);
    CHECK_MESSAGE(value.tolist() == b.tensors.at(key).tolist(), key);
  }
  CHECK(a.metadata.at("rng") == b.metadata.at("rng"));
  CHECK(a.metadata.at("extra.sampler") == b.metadata.at("extra.sampler"));

  std::string ckpt = out + "/ckpt.safetensors", png = out + "/s.png", npy = out + "/s.npy";
  std::string labels = out + "/l.npy";
  REQUIRE(lesson02::sample({"--ckpt", ckpt, "--n", "10", "--class", "all", "--respace", "ddim5",
                            "--png", png, "--npy", npy, "--labels-npy", labels, "--progress-png",
                            out + "/p.png", "--gif", out + "/p.gif"}) == 0);
  for (const std::string& f : {png, npy, labels, out + "/p.png", out + "/p.gif"})
    CHECK_MESSAGE(fs::exists(f), f);
  NpyArray images = load_npy(npy), classes = load_npy(labels);
  CHECK(images.shape == Shape{10, 28, 28, 1});
  CHECK(classes.shape == Shape{10});
  for (int64_t i = 0; i < 10; ++i) CHECK(classes.values[i] == float(i));  // --class all: 0..9
  float lo = *std::min_element(images.values.begin(), images.values.end());
  float hi = *std::max_element(images.values.begin(), images.values.end());
  CHECK((lo >= 0.f && hi <= 255.f && hi > lo));

  int rc = -1;
  std::string text = capture_stdout(out + "/eval.txt", [&] {
    rc = lesson02::eval({"--ckpt", ckpt, "--data", data, "--classifier",
                         untrained_classifier(out), "--bpd-images", "4", "--bpd-batch", "2",
                         "--n", "10", "--respace", "ddim5"});
  });
  REQUIRE(rc == 0);
  MESSAGE(text);
  double bpd = json_value(text, "bpd"), prior = json_value(text, "prior_bpd");
  double accuracy = json_value(text, "accuracy"), fd = json_value(text, "fd");
  CHECK((bpd > 0.5 && bpd < 20));  // a barely trained model: well above a good model's ~1
  CHECK((prior >= 0 && prior < bpd));
  CHECK((accuracy >= 0 && accuracy <= 1));
  CHECK((std::isfinite(fd) && fd >= 0));
  fs::remove_all(out);
  fs::remove_all(straight);
}

// A run with T = 8: the default respacing (50) keeps all 8 steps in train, sample and eval;
// asking for 50 is an error naming the flag before any work. (T 8 and unconditional, so that
// the grid at the end of training is 32 images over 8 steps: the sanitizers are slow.)
TEST_CASE("lesson02: the default respacing fits a short chain; one longer than T fails first") {
  std::string data = tinydiff::test::data_dir();
  if (data.empty()) return tinydiff::test::skip("no data folder: set TINYDIFF_DATA");
  std::string out = fresh_dir("lesson02_respace"), ckpt = out + "/ckpt.safetensors";
  std::vector<std::string> args = train_args(data, out, 1);
  args.resize(args.size() - 2);  // drops --sample-respace ddim5
  *(std::find(args.begin(), args.end(), "--diffusion-steps") + 1) = "8";
  args.push_back("--class-cond=false");
  REQUIRE(lesson02::train(args) == 0);
  CHECK(fs::exists(fs::path(out) / "samples_step000001.png"));
  REQUIRE(lesson02::sample({"--ckpt", ckpt, "--n", "2", "--png", out + "/s.png"}) == 0);
  const auto too_long = doctest::Contains("respace 50 does not fit the run's T = 8");
  CHECK_THROWS_WITH_AS(
      lesson02::sample({"--ckpt", ckpt, "--respace", "50", "--png", out + "/x.png"}), too_long,
      Error);
  CHECK_FALSE(fs::exists(fs::path(out) / "x.png"));
  CHECK_THROWS_WITH_AS(lesson02::eval({"--ckpt", ckpt, "--respace", "50"}), too_long, Error);
  fs::remove_all(out);
  args.insert(args.end(), {"--sample-respace", "50"});
  CHECK_THROWS_WITH_AS(lesson02::train(args), too_long, Error);
  CHECK_FALSE(fs::exists(ckpt));
  fs::remove_all(out);
}

TEST_CASE("lesson02 reports bad flags and missing files clearly") {
  CHECK_THROWS_WITH_AS(lesson02::train({"--steps", "ten"}), doctest::Contains("--steps"), Error);
  CHECK_THROWS_WITH_AS(lesson02::train({"--loss", "l1"}),
                       doctest::Contains("--loss expects one of hybrid, mse, kl"), Error);
  CHECK_THROWS_WITH_AS(
      lesson02::sample({"--ckpt", "/nonexistent/ckpt.safetensors", "--png", "x.png"}),
      doctest::Contains("/nonexistent/ckpt.safetensors"), Error);
  CHECK_THROWS_WITH_AS(lesson02::sample({"--n", "4"}), doctest::Contains("--png"), Error);
  CHECK_THROWS_WITH_AS(lesson02::summary({"--channel-mult", "1,two"}),
                       doctest::Contains("--channel-mult: expected whole numbers"), Error);
  CHECK(lesson02::summary({"--help"}) == 0);
}

}  // TEST_SUITE
