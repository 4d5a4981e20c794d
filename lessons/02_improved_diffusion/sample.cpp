// lesson02 sample: draws images from a trained UNet along a respaced chain (Nichol & Dhariwal
// 2021, Sec. 4): ancestral sampling with the learned variances over e.g. 50 of the T steps,
// or DDIM ("ddim25"). A class-conditional model samples the classes asked for (no guidance).
// Writes a PNG grid (one row per class with --class all), .npy arrays, a denoising strip and
// an animated GIF.
#include <cstdio>

#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/02_improved_diffusion/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/gif.hpp"
#include "lessons/common/image.hpp"
#include "lessons/common/npy.hpp"
#include "lessons/common/progress.hpp"

namespace tinydiff::lesson02 {

namespace {

Flags sample_flags() {
  Flags f("lesson02", "sample", "Samples images from a trained improved-diffusion UNet.");
  f.add_string("ckpt", "runs/lesson02/ckpt.safetensors", "checkpoint written by train");
  f.add_int("n", 40, "number of samples");
  f.add_string("class", "all", "class index, or 'all' for n / num_classes of each class in order");
  f.add_string("respace", "50",
               "steps to sample: N (ancestral, N of the T steps), ddimN (DDIM), or 'all' (T)");
  f.add_float("eta", 0, "DDIM eta: 0 deterministic, 1 like ancestral sampling");
  f.add_int("seed", 0, "seed of the starting noise and of the sampling noise");
  f.add_choice("device", "cpu", {"cpu", "cuda"}, "where to sample");
  f.add_string("png", "", "output PNG grid (required)");
  f.add_string("npy", "", "also write the samples as uint8 (N, H, W, C)");
  f.add_string("labels-npy", "", "also write the requested class of each sample as int64 (N,)");
  f.add_string("progress-png", "", "also write the denoising trajectory as a strip");
  f.add_string("gif", "", "also write the denoising trajectory as an animated GIF");
  return f;
}

int64_t parse_class(const std::string& text) {
  if (text == "all") return -1;
  try {
    size_t used = 0;
    int64_t k = std::stoll(text, &used);
    if (used == text.size() && k >= 0) return k;
  } catch (const std::exception&) {
  }
  throw_error("lesson02 sample: --class expects a class index or 'all', got '", text, "'");
}

}  // namespace

int sample(const std::vector<std::string>& args) {
  Flags f = sample_flags();
  if (!f.parse(args)) return 0;
  TD_CHECK(!f.get_string("png").empty(), "lesson02 sample: --png FILE is required (see --help)");
  Device device = Device::parse(f.get_string("device"));
  require_device(device, "lesson02 sample");
  TrainedModel m = load_trained_model(f.get_string("ckpt"), device);
  DatasetShape d = dataset_shape(m.settings.dataset);
  int64_t n = f.get_int("n"), k = parse_class(f.get_string("class"));
  TD_CHECK(n > 0, "lesson02 sample: --n must be positive, got ", n);
  Tensor y;
  std::vector<int64_t> classes;
  if (m.settings.class_cond) {
    auto labels = class_labels(n, k, d.num_classes);
    y = labels.first.to(device), classes = labels.second;
  } else {
    TD_CHECK(k < 0 && f.get_string("labels-npy").empty(), "lesson02 sample: ",
             f.get_string("ckpt"), " is an unconditional model: --class and --labels-npy ",
             "do not apply");
  }
  std::string respacing = f.get_string("respace") == "all" ? "" : f.get_string("respace");

  Generator gen(uint64_t(f.get_int("seed")));
  DiffusionSampleOptions options;
  options.eta = f.get_float("eta");
  options.gen = &gen;
  options.device = device;
  bool want_frames = !f.get_string("progress-png").empty() || !f.get_string("gif").empty();
  int64_t steps = int64_t(make_diffusion(m.settings, respacing).num_timesteps);
  options.keep_every = want_frames ? std::max<int64_t>(1, steps / 16) : 0;
  ProgressBar progress(steps, 0, ProgressOptions("sample"));
  options.on_step = [&](int64_t done, int64_t) { progress.update(done); };
  std::printf("sampling %lld images (%lld steps, respacing '%s') from %s (step %lld)\n",
              (long long)n, (long long)steps, f.get_string("respace").c_str(),
              f.get_string("ckpt").c_str(), (long long)m.step);
  std::fflush(stdout);
  Samples s = draw_samples(*m.model, m.settings, respacing, {n, d.channels, d.side, d.side}, y,
                           options);
  progress.finish();
  Tensor x0 = s.x0.to(Device::cpu());

  int64_t per_row = m.settings.class_cond && k < 0 ? n / d.num_classes : std::min<int64_t>(n, 8);
  save_image_grid(f.get_string("png"), x0, per_row, 2, 2);
  std::printf("wrote %s\n", f.get_string("png").c_str());
  if (!f.get_string("npy").empty())
    save_npy(f.get_string("npy"), to_uint8_nhwc(x0), {n, d.side, d.side, d.channels});
  if (!f.get_string("labels-npy").empty()) save_npy(f.get_string("labels-npy"), classes, {n});
  std::vector<Tensor> frames;
  for (const Tensor& frame : s.frames) frames.push_back(frame.to(Device::cpu()));
  if (!f.get_string("progress-png").empty())
    save_trajectory(f.get_string("progress-png"), frames, 2, 2);
  if (!f.get_string("gif").empty())
    save_trajectory_gif(f.get_string("gif"), frames, per_row, 2, 2);
  return 0;
}

}  // namespace tinydiff::lesson02
