// lesson01 sample: draws images from a trained ContextUnet with DDPM (Ho et al. 2020,
// Algorithm 2) or DDIM (Song et al. 2021), optionally guided (Ho & Salimans 2022), and writes
// them as a PNG grid (one row per class with --class all), .npy arrays, a denoising strip
// and an animated GIF.
#include <cstdio>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/gif.hpp"
#include "lessons/common/image.hpp"
#include "lessons/common/npy.hpp"

namespace tinydiff::lesson01 {

namespace {

Flags sample_flags() {
  Flags f("lesson01", "sample", "Samples images from a trained ContextUnet.");
  f.add_string("ckpt", "runs/lesson01/ckpt.safetensors", "checkpoint written by train");
  f.add_int("n", 40, "number of samples");
  f.add_string("class", "all", "class index, or 'all' for n / num_classes of each class in order");
  f.add_choice("sampler", "ddpm", {"ddpm", "ddim"}, "DDPM: T steps; DDIM: --steps steps");
  f.add_int("steps", 25, "DDIM steps (the course uses 20 or 25)");
  f.add_float("eta", 0, "DDIM eta: 0 deterministic, 1 like DDPM");
  f.add_float("w", 0, "classifier-free guidance weight: eps = (1 + w) eps_c - w eps_u");
  f.add_int("seed", 0, "seed of the starting noise");
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
  throw_error("lesson01 sample: --class expects a class index or 'all', got '", text, "'");
}

}  // namespace

int sample(const std::vector<std::string>& args) {
  Flags f = sample_flags();
  if (!f.parse(args)) return 0;
  TD_CHECK(!f.get_string("png").empty(), "lesson01 sample: --png FILE is required (see --help)");
  Device device = Device::parse(f.get_string("device"));
  require_device(device, "lesson01 sample");
  TrainedModel m = load_trained_model(f.get_string("ckpt"), device);
  const ContextUnetConfig& c = m.model->config;
  int64_t n = f.get_int("n");
  TD_CHECK(n > 0, "lesson01 sample: --n must be positive, got ", n);
  auto [context, classes] = class_contexts(n, parse_class(f.get_string("class")), c.n_cfeat);

  bool ddim = f.get_string("sampler") == "ddim";
  int64_t steps = ddim ? f.get_int("steps") : m.schedule.T;
  bool want_frames = !f.get_string("progress-png").empty() || !f.get_string("gif").empty();
  Generator gen(uint64_t(f.get_int("seed")));
  SampleOptions options;
  options.guidance_w = f.get_float("w");
  options.ddim_steps = steps;
  options.eta = f.get_float("eta");
  options.keep_every = want_frames ? std::max<int64_t>(1, steps / 16) : 0;
  options.gen = &gen;
  options.device = device;
  std::printf("sampling %lld images (%s, %lld steps, w %g) from %s (step %lld)\n", (long long)n,
              ddim ? "DDIM" : "DDPM", (long long)steps, options.guidance_w,
              f.get_string("ckpt").c_str(), (long long)m.step);
  std::fflush(stdout);
  Shape shape = {n, c.in_channels, c.height, c.height};
  Tensor ctx = context.to(device);
  Samples s = ddim ? sample_ddim(eps_model(*m.model), shape, ctx, m.schedule, options)
                   : sample_ddpm(eps_model(*m.model), shape, ctx, m.schedule, options);
  Tensor x0 = s.x0.to(Device::cpu());

  int64_t per_row = f.get_string("class") == "all" ? n / c.n_cfeat : std::min<int64_t>(n, 8);
  save_image_grid(f.get_string("png"), x0, per_row, 2, 2);
  std::printf("wrote %s\n", f.get_string("png").c_str());
  if (!f.get_string("npy").empty())
    save_npy(f.get_string("npy"), to_uint8_nhwc(x0), {n, c.height, c.height, c.in_channels});
  if (!f.get_string("labels-npy").empty())
    save_npy(f.get_string("labels-npy"), classes, {n});
  std::vector<Tensor> frames;
  for (const Tensor& frame : s.frames) frames.push_back(frame.to(Device::cpu()));
  if (!f.get_string("progress-png").empty()) save_trajectory(f.get_string("progress-png"), frames, 2, 2);
  if (!f.get_string("gif").empty()) save_trajectory_gif(f.get_string("gif"), frames, per_row, 2, 2);
  return 0;
}

}  // namespace tinydiff::lesson01
