// lesson02 sample: draws images from a trained UNet along a respaced chain (Nichol & Dhariwal
// 2021, Sec. 4): ancestral sampling with the learned variances over e.g. 50 of the T steps,
// or DDIM ("ddim25"). A class-conditional model samples the classes asked for (no guidance).
// Writes a PNG grid (one row per class with --class all), .npy arrays, a denoising strip and
// an animated GIF.
#include <cstdio>

#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/02_improved_diffusion/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/progress.hpp"
#include "lessons/common/sample_cli.hpp"

namespace tinydiff::lesson02 {

namespace {

Flags sample_flags() {
  Flags f("lesson02", "sample", "Samples images from a trained improved-diffusion UNet.");
  add_sample_request_flags(f, "runs/lesson02/ckpt.safetensors");
  f.add_string("respace", "50",
               "steps to sample: N (ancestral, N of the T steps), ddimN (DDIM), or 'all' (T; "
               "also the default when T <= 50)");
  f.add_float("eta", 0, "DDIM eta: 0 deterministic, 1 like ancestral sampling");
  f.add_int("seed", 0, "seed of the starting noise and of the sampling noise");
  add_sample_output_flags(f);
  return f;
}

}  // namespace

int sample(const std::vector<std::string>& args) {
  Flags f = sample_flags();
  if (!f.parse(args)) return 0;
  Device device = sample_device(f, "lesson02 sample");
  TrainedModel m = load_trained_model(f.get_string("ckpt"), device);
  DatasetShape d = dataset_shape(m.settings.dataset);
  int64_t n = f.get_int("n"), k = parse_class_flag(f.get_string("class"), "lesson02 sample");
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
  std::string respacing = respacing_flag(f, "respace", m.settings.diffusion_steps);

  Generator gen(uint64_t(f.get_int("seed")));
  DiffusionSampleOptions options;
  options.eta = f.get_float("eta");
  options.gen = &gen;
  options.device = device;
  int64_t steps = int64_t(make_diffusion(m.settings, respacing).num_timesteps);
  options.keep_every = trajectory_keep_every(f, steps);
  ProgressBar progress(steps, 0, ProgressOptions("sample"));
  options.on_step = [&](int64_t done, int64_t) { progress.update(done); };
  std::printf("sampling %lld images (%lld steps, respacing '%s') from %s (step %lld)\n",
              (long long)n, (long long)steps, respacing_name(respacing).c_str(),
              f.get_string("ckpt").c_str(), (long long)m.step);
  std::fflush(stdout);
  Samples s = draw_samples(*m.model, m.settings, respacing, {n, d.channels, d.side, d.side}, y,
                           options);
  progress.finish();

  int64_t per_row = m.settings.class_cond && k < 0 ? n / d.num_classes : std::min<int64_t>(n, 8);
  write_sample_files(f, s, classes, per_row);
  return 0;
}

}  // namespace tinydiff::lesson02
