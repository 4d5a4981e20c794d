// lesson01 on the GPU end to end, as a student runs it: `train --device cuda` stopped and
// resumed (the checkpoint holds CPU bytes and goes back onto the GPU), the same loss curve as
// `train --device cpu`, and the GPU-trained checkpoint sampled on both devices. Skipped without
// a GPU or without the data.
#include <algorithm>
#include <cmath>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/common/npy.hpp"
#include "lessons/common/plot.hpp"
#include "nn/safetensors.hpp"
#include "tests/cuda_parity.hpp"
#include "tests/temp_dir.hpp"

using namespace tinydiff;

namespace {

std::vector<std::string> train_args(const std::string& data, const std::string& out,
                                    const std::string& device) {
  return {"--data", data, "--dataset", "sprites", "--out", out, "--steps", "6", "--n-feat", "8",
          "--batch", "4", "--save-every", "3", "--sample-every", "0", "--timesteps", "8",
          "--device", device};
}

// The samples of `ckpt` on `device`: 4 images by DDIM over 4 steps, as uint8 values.
std::vector<float> sample_on(const std::string& ckpt, const std::string& device,
                             const std::string& dir) {
  const std::string npy = dir + "/samples_" + device + ".npy";
  REQUIRE(lesson01::sample({"--ckpt", ckpt, "--n", "4", "--class", "2", "--sampler", "ddim",
                            "--steps", "4", "--w", "1", "--device", device, "--png",
                            dir + "/samples_" + device + ".png", "--npy", npy}) == 0);
  NpyArray images = load_npy(npy);
  CHECK(images.shape == Shape{4, 16, 16, 3});
  return images.values;
}

}  // namespace

TEST_CASE("cuda lesson01: train --device cuda, resume, same losses as the CPU, sample on both") {
  if (!test::gpu_or_skip()) return;
  const std::string data = test::data_dir();
  if (data.empty()) return test::skip("no data folder: set TINYDIFF_DATA");
  test::TempDir gpu_run, cpu_run;
  const std::string gpu = gpu_run.path(), cpu = cpu_run.path();

  std::vector<std::string> first = train_args(data, gpu, "cuda");
  first.insert(first.end(), {"--stop-at", "3"});
  REQUIRE(lesson01::train(first) == 0);
  std::vector<std::string> rest = train_args(data, gpu, "cuda");
  rest.push_back("--resume");
  REQUIRE(lesson01::train(rest) == 0);
  REQUIRE(lesson01::train(train_args(data, cpu, "cpu")) == 0);

  // The bound for CPU and GPU loss curves: relative 1e-3.
  std::vector<double> gpu_loss = read_csv(gpu + "/loss.csv").column("loss");
  std::vector<double> cpu_loss = read_csv(cpu + "/loss.csv").column("loss");
  REQUIRE(gpu_loss.size() == 6);
  REQUIRE(cpu_loss.size() == 6);
  for (size_t i = 0; i < gpu_loss.size(); ++i)
    CHECK_MESSAGE(std::abs(gpu_loss[i] - cpu_loss[i]) <= 1e-3 * std::abs(cpu_loss[i]),
                  "step ", i + 1, ": cuda ", gpu_loss[i], ", cpu ", cpu_loss[i]);

  // The checkpoint's tensors are CPU bytes, whichever device trained.
  SafetensorsFile ckpt = load_safetensors(gpu + "/ckpt.safetensors");
  for (const auto& [name, tensor] : ckpt.tensors) CHECK_MESSAGE(tensor.device().is_cpu(), name);

  // The same noise (Philox draws the CPU's numbers) through nearly the same weights: pictures
  // that differ by float rounding, at most 2 of 255 levels per pixel.
  std::vector<float> on_gpu = sample_on(gpu + "/ckpt.safetensors", "cuda", gpu);
  std::vector<float> on_cpu = sample_on(gpu + "/ckpt.safetensors", "cpu", gpu);
  REQUIRE(on_gpu.size() == on_cpu.size());
  float worst = 0.f;
  for (size_t i = 0; i < on_gpu.size(); ++i)
    worst = std::max(worst, std::abs(on_gpu[i] - on_cpu[i]));
  CHECK_MESSAGE(worst <= 2.f, "the GPU's and the CPU's samples differ by ", worst, " levels");
  const auto [lo, hi] = std::minmax_element(on_gpu.begin(), on_gpu.end());
  CHECK(*hi > *lo);  // not a blank picture
}
