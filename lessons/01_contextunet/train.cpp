// lesson01 train: DDPM training of the ContextUnet (Ho et al. 2020, Algorithm 1) with context
// dropout for classifier-free guidance, Adam with the course's linear learning-rate decay, an
// optional EMA of the weights, checkpoints (periodic, final, on Ctrl-C) and exact --resume
// (the loop itself is lessons/common/train_loop.hpp's).
#include <algorithm>
#include <cstdio>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/train_flags.hpp"
#include "lessons/common/train_loop.hpp"
#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/optim.hpp"

namespace tinydiff::lesson01 {

namespace {

Flags train_flags() {
  Flags f("lesson01", "train", "Trains the ContextUnet to predict noise (DDPM) on MNIST or sprites.");
  add_train_data_flags(f, "sprites", "runs/lesson01", {"quick", "course"},
                       "quick: ~15 min on 2 cores; course: the course's settings (32 epochs)");
  f.add_float("lr", 0, "Adam learning rate at step 0, decayed linearly to 0 (default: preset)");
  f.add_int("n-feat", 0, "ContextUnet width n_feat (default: the preset's)");
  f.add_int("timesteps", 500, "diffusion steps T");
  f.add_float("ema", -1, "EMA decay of the weights, 0 for none (default: the preset's)");
  f.add_float("p-uncond", 0.1, "probability of dropping the context (for guidance)");
  f.add_bool("course-compat", "reproduce the course's three defects (see the README)");
  add_train_loop_flags(f, 500);
  add_resume_flags(f);
  return f;
}

// The preset's settings with every flag given on the command line applied on top.
Lesson01Settings settings_from_flags(const Flags& f, int64_t train_rows) {
  Lesson01Settings s = preset_settings(f.get_string("preset"), f.get_string("dataset"), train_rows);
  if (f.get_int("batch") > 0) s.batch = f.get_int("batch");
  if (f.get_int("epochs") > 0) s.steps = f.get_int("epochs") * (train_rows / s.batch);
  if (f.get_int("steps") > 0) s.steps = f.get_int("steps");
  if (f.get_float("lr") > 0) s.lr = f.get_float("lr");
  if (f.get_int("n-feat") > 0) s.n_feat = f.get_int("n-feat");
  if (f.get_float("ema") >= 0) s.ema_decay = f.get_float("ema");
  s.timesteps = f.get_int("timesteps");
  s.p_uncond = f.get_float("p-uncond");
  s.course_compat = f.get_bool("course-compat");
  return s;
}

// A grid of 8 samples per class (one row per class) by DDIM over 25 steps (or T, when
// --timesteps is smaller) with guidance w 1.
void save_sample_grid(ContextUnet& model, EMA* ema, const NoiseSchedule& schedule,
                      const std::string& path, Device device) {
  int64_t k = model.config.n_cfeat, c = model.config.in_channels, h = model.config.height;
  save_training_samples(path, model, ema, [&](Generator& gen) {
    SampleOptions options;
    options.ddim_steps = std::min<int64_t>(25, schedule.T);
    options.guidance_w = 1.0;
    options.gen = &gen;
    options.device = device;
    Tensor context = class_contexts(8 * k, -1, k).first.to(device);
    return sample_ddim(eps_model(model), {8 * k, c, h, h}, context, schedule, options).x0;
  });
}

}  // namespace

int train(const std::vector<std::string>& args) {
  Flags flags = train_flags();
  if (!flags.parse(args)) return 0;
  TrainRun run = read_train_run(flags, "lesson01 train");
  Device device = run.device;

  std::string data_dir = resolve_data_dir(flags.get_string("data"));
  Dataset data = load_dataset(flags.get_string("dataset"), data_dir, Split::all);
  Lesson01Settings s = train_settings(run, flags, settings_from_flags(flags, data.size()),
                                      settings_from_map);

  manual_seed(run.seed);
  ContextUnet model(model_config(s.dataset, s.n_feat, s.course_compat));
  model.to(device);
  Adam optimizer(model.named_parameters(), AdamOptions{s.lr});
  std::unique_ptr<EMA> ema = s.ema_decay > 0 ? std::make_unique<EMA>(model, s.ema_decay) : nullptr;
  NoiseSchedule schedule = linear_schedule_course(s.timesteps);
  DataLoader loader(data, run.seed);

  TrainLoop loop(run, model, optimizer, ema.get(), loader);
  loop.step = [&](const Tensor& images, const Tensor& labels) {
    Tensor context = one_hot(labels, data.num_classes).to(device);
    Tensor loss = diffusion_loss(model, images.to(device), context, schedule, s.p_uncond,
                                 s.course_compat);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss.item();
  };
  loop.sample_grid = [&](const std::string& path) {
    save_sample_grid(model, ema.get(), schedule, path, device);
  };
  loop.start(settings_to_map(s), s.steps);
  std::printf("lesson01: %s (%lld images), ContextUnet n_feat %lld (%lld parameters), T %lld, "
              "batch %lld, lr %g, EMA %g, %lld steps%s\n",
              s.dataset.c_str(), (long long)data.size(), (long long)s.n_feat,
              (long long)model.num_parameters(), (long long)s.timesteps, (long long)s.batch, s.lr,
              s.ema_decay, (long long)s.steps, s.course_compat ? ", course-compat" : "");
  std::fflush(stdout);
  return loop.run(s.batch, linear_decay_lr(s.lr, s.steps),
                  "lesson01 " + s.dataset + ": noise-prediction MSE");
}

}  // namespace tinydiff::lesson01
