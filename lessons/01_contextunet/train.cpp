// lesson01 train: DDPM training of the ContextUnet (Ho et al. 2020, Algorithm 1) with context
// dropout for classifier-free guidance, Adam with the course's linear learning-rate decay, an
// optional EMA of the weights, checkpoints (periodic, final, on Ctrl-C) and exact --resume.
#include <cstdio>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/image.hpp"
#include "lessons/common/progress.hpp"
#include "lessons/common/training.hpp"
#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/optim.hpp"
#include "nn/train_state.hpp"

namespace tinydiff::lesson01 {

namespace {

Flags train_flags() {
  Flags f("lesson01", "train", "Trains the ContextUnet to predict noise (DDPM) on MNIST or sprites.");
  f.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  f.add_choice("dataset", "sprites", {"mnist", "sprites"}, "which data set");
  f.add_string("out", "runs/lesson01", "run folder: ckpt.safetensors, loss.csv, loss.svg, samples");
  f.add_choice("preset", "quick", {"quick", "course"},
               "quick: ~15 min on 2 cores; course: the course's settings (32 epochs)");
  f.add_int("steps", 0, "total training steps (default: the preset's)");
  f.add_int("epochs", 0, "total epochs, converted to steps (overrides the preset)");
  f.add_int("batch", 0, "batch size (default: the preset's)");
  f.add_float("lr", 0, "Adam learning rate at step 0, decayed linearly to 0 (default: preset)");
  f.add_int("n-feat", 0, "ContextUnet width n_feat (default: the preset's)");
  f.add_int("timesteps", 500, "diffusion steps T");
  f.add_float("ema", -1, "EMA decay of the weights, 0 for none (default: the preset's)");
  f.add_float("p-uncond", 0.1, "probability of dropping the context (for guidance)");
  f.add_bool("course-compat", "reproduce the course's three defects (see the README)");
  f.add_int("seed", 0, "seed for initialisation, shuffling and noise");
  f.add_choice("device", "cpu", {"cpu", "cuda"}, "where to train");
  f.add_int("save-every", 500, "steps between checkpoints");
  f.add_int("sample-every", 500, "steps between sample grids (0: only at the end)");
  f.add_bool("resume", "continue RUN_DIR/ckpt.safetensors up to --steps");
  f.add_int("stop-at", 0, "save and stop after this step, as Ctrl-C would (0: run to the end)");
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

// A grid of 8 samples per class (one row per class) from the current (EMA) weights, drawn
// from a generator of its own so that sampling never shifts the training's random stream.
void save_sample_grid(ContextUnet& model, EMA* ema, const NoiseSchedule& schedule,
                      const std::string& path, Device device) {
  int64_t k = model.config.n_cfeat, c = model.config.in_channels, h = model.config.height;
  std::unique_ptr<EMAWeights> use_ema = ema ? std::make_unique<EMAWeights>(*ema, model) : nullptr;
  model.eval();
  Generator gen(1234);
  SampleOptions options;
  options.ddim_steps = 25;
  options.guidance_w = 1.0;
  options.gen = &gen;
  options.device = device;
  Tensor context = class_contexts(8 * k, -1, k).first.to(device);
  Samples samples = sample_ddim(eps_model(model), {8 * k, c, h, h}, context, schedule, options);
  save_image_grid(path, samples.x0, 8, 2, 2);
  model.train();
}

}  // namespace

int train(const std::vector<std::string>& args) {
  Flags flags = train_flags();
  if (!flags.parse(args)) return 0;
  std::string out = flags.get_string("out"), ckpt = run_file(out, "ckpt.safetensors");
  bool resume = flags.get_bool("resume");
  Device device = Device::parse(flags.get_string("device"));
  require_device(device, "lesson01 train");

  std::string data_dir = resolve_data_dir(flags.get_string("data"));
  Dataset data = load_dataset(flags.get_string("dataset"), data_dir, Split::all);
  Lesson01Settings s = settings_from_flags(flags, data.size());
  if (resume) {  // the run's own settings, with only the total step count taken from --steps
    s = settings_from_map(read_train_state_info(ckpt).config);
    if (flags.get_int("steps") > 0) s.steps = flags.get_int("steps");
    TD_CHECK(s.dataset == flags.get_string("dataset"), "lesson01 train --resume: ", ckpt,
             " was trained on ", s.dataset, ", not ", flags.get_string("dataset"));
  }
  TD_CHECK(s.steps > 0 && s.batch > 0, "lesson01 train: --steps and --batch must be positive");

  manual_seed(uint64_t(flags.get_int("seed")));
  ContextUnet model(model_config(s.dataset, s.n_feat, s.course_compat));
  model.to(device);
  Adam optimizer(model.named_parameters(), AdamOptions{s.lr});
  std::unique_ptr<EMA> ema = s.ema_decay > 0 ? std::make_unique<EMA>(model, s.ema_decay) : nullptr;
  NoiseSchedule schedule = linear_schedule_course(s.timesteps);
  LRSchedule lr = linear_decay_lr(s.lr, s.steps);
  DataLoader loader(data, uint64_t(flags.get_int("seed")));
  make_run_dir(out);

  TrainState state;
  state.config = settings_to_map(s);
  if (resume) {
    int64_t total = s.steps;
    state = load_train_state(ckpt, model, ema.get(), &optimizer);
    loader.set_position(parse_loader_position(state.extra.at("loader")));
    state.config["steps"] = std::to_string(total);
    std::printf("resuming %s at step %lld of %lld\n", ckpt.c_str(), (long long)state.step, (long long)total);
  }
  LossLog log(out, resume, state.step);
  std::printf("lesson01: %s (%lld images), ContextUnet n_feat %lld (%lld parameters), T %lld, "
              "batch %lld, lr %g, EMA %g, %lld steps%s\n",
              s.dataset.c_str(), (long long)data.size(), (long long)s.n_feat,
              (long long)model.num_parameters(), (long long)s.timesteps, (long long)s.batch, s.lr,
              s.ema_decay, (long long)s.steps, s.course_compat ? ", course-compat" : "");
  std::fflush(stdout);

  std::string title = "lesson01 " + s.dataset + ": noise-prediction MSE";
  auto save = [&]() {
    state.extra["loader"] = format_loader_position(loader.position());
    save_train_state(ckpt, model, ema.get(), &optimizer, state);
    log.save_svg(title);
  };
  auto grid = [&]() {
    char name[64];
    std::snprintf(name, sizeof name, "samples_step%06lld.png", (long long)state.step);
    save_sample_grid(model, ema.get(), schedule, run_file(out, name), device);
  };
  install_interrupt_handler();
  int64_t sample_every = flags.get_int("sample-every"), save_every = flags.get_int("save-every");
  int64_t stop_at = flags.get_int("stop-at") > 0 ? flags.get_int("stop-at") : s.steps;
  ProgressBar progress(s.steps, state.step, ProgressOptions{"train", s.batch});
  while (state.step < std::min(stop_at, s.steps) && !interrupt_requested()) {
    auto [images, labels] = loader.next_batch(s.batch);
    Tensor context = one_hot(labels, data.num_classes).to(device);
    optimizer.lr = lr(state.step);
    Tensor loss = diffusion_loss(model, images.to(device), context, schedule, s.p_uncond,
                                 s.course_compat);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (ema) ema->update(model);
    ++state.step;
    double value = loss.item();
    log.append(state.step, value, optimizer.lr);
    progress.update(state.step, value);
    if (state.step % save_every == 0) save();
    if (sample_every > 0 && state.step % sample_every == 0 && state.step < s.steps) grid();
  }
  progress.finish();
  save();
  if (interrupt_requested() || state.step < s.steps) {
    std::printf("stopped: saved %s at step %lld of %lld (continue with --resume)\n", ckpt.c_str(),
                (long long)state.step, (long long)s.steps);
    return interrupt_requested() ? 130 : 0;
  }
  grid();
  std::printf("done: %s, loss.csv, loss.svg and samples_step%06lld.png in %s\n", ckpt.c_str(),
              (long long)state.step, out.c_str());
  return 0;
}

}  // namespace tinydiff::lesson01
