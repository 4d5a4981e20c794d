// lesson01 sample: draws images from a trained ContextUnet with DDPM (Ho et al. 2020,
// Algorithm 2) or DDIM (Song et al. 2021), optionally guided (Ho & Salimans 2022), and writes
// them as a PNG grid (one row per class with --class all), .npy arrays, a denoising strip
// and an animated GIF.
#include <cstdio>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/sample_cli.hpp"

namespace tinydiff::lesson01 {

namespace {

Flags sample_flags() {
  Flags f("lesson01", "sample", "Samples images from a trained ContextUnet.");
  add_sample_request_flags(f, "runs/lesson01/ckpt.safetensors");
  f.add_choice("sampler", "ddpm", {"ddpm", "ddim"}, "DDPM: T steps; DDIM: --steps steps");
  f.add_int("steps", 25, "DDIM steps (the course uses 20 or 25)");
  f.add_float("eta", 0, "DDIM eta: 0 deterministic, 1 like DDPM");
  f.add_float("w", 0, "classifier-free guidance weight: eps = (1 + w) eps_c - w eps_u");
  f.add_int("seed", 0, "seed of the starting noise");
  add_sample_output_flags(f);
  return f;
}

}  // namespace

int sample(const std::vector<std::string>& args) {
  Flags f = sample_flags();
  if (!f.parse(args)) return 0;
  Device device = sample_device(f, "lesson01 sample");
  TrainedModel m = load_trained_model(f.get_string("ckpt"), device);
  const ContextUnetConfig& c = m.model->config;
  int64_t n = f.get_int("n");
  TD_CHECK(n > 0, "lesson01 sample: --n must be positive, got ", n);
  int64_t k = parse_class_flag(f.get_string("class"), "lesson01 sample");
  auto [context, classes] = class_contexts(n, k, c.n_cfeat);

  bool ddim = f.get_string("sampler") == "ddim";
  int64_t steps = ddim ? f.get_int("steps") : m.schedule.T;
  Generator gen(uint64_t(f.get_int("seed")));
  SampleOptions options;
  options.guidance_w = f.get_float("w");
  options.ddim_steps = steps;
  options.eta = f.get_float("eta");
  options.keep_every = trajectory_keep_every(f, steps);
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

  int64_t per_row = f.get_string("class") == "all" ? n / c.n_cfeat : std::min<int64_t>(n, 8);
  write_sample_files(f, s, classes, per_row);
  return 0;
}

}  // namespace tinydiff::lesson01
