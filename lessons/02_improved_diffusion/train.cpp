// lesson02 train: improved-diffusion's training loop (Nichol & Dhariwal 2021): a timestep
// sampler draws t (uniform, or by the loss's second moment, Eq. 18), GaussianDiffusion's
// training_losses gives L_simple, L_vlb or L_hybrid (Eq. 16) per sample, weighted by the
// sampler's importance weights; AdamW, an EMA of the weights, checkpoints (periodic, final,
// on Ctrl-C) and an exact --resume.
#include <cstdio>

#include "diffusion/resample.hpp"
#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/02_improved_diffusion/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/image.hpp"
#include "lessons/common/progress.hpp"
#include "lessons/common/training.hpp"
#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/optim.hpp"
#include "nn/train_state.hpp"

namespace tinydiff::lesson02 {

namespace {

const char* kPreset = " (default: the preset's)";

Flags train_flags() {
  Flags f("lesson02", "train",
          "Trains improved-diffusion's UNet (learned variances, hybrid loss) on MNIST or sprites.");
  f.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  f.add_choice("dataset", "mnist", {"mnist", "sprites"}, "which data set");
  f.add_string("out", "runs/lesson02", "run folder: ckpt.safetensors, loss.csv, loss.svg, samples");
  f.add_choice("preset", "quick", {"quick", "paper"},
               "quick: ~20 min on 2 cores; paper: the paper's CIFAR-10 settings, scaled");
  f.add_int("steps", 0, std::string("total training steps") + kPreset);
  f.add_int("epochs", 0, "total epochs, converted to steps (overrides the preset)");
  f.add_int("batch", 0, std::string("batch size") + kPreset);
  f.add_float("lr", 0, std::string("AdamW learning rate") + kPreset);
  f.add_choice("lr-schedule", "constant", {"constant", "linear"},
               std::string("constant, or linear decay to 0 at the last step") + kPreset);
  f.add_float("weight-decay", 0, std::string("AdamW weight decay") + kPreset);
  f.add_float("ema", 0, std::string("EMA decay of the weights, 0 for none") + kPreset);
  add_model_flags(f);
  f.add_int("diffusion-steps", 0, std::string("diffusion steps T") + kPreset);
  f.add_choice("schedule", "cosine", {"linear", "cosine"}, std::string("noise schedule") + kPreset);
  f.add_choice("loss", "hybrid", {"hybrid", "mse", "kl"},
               std::string("hybrid: L_simple + lambda L_vlb; mse: L_simple; kl: L_vlb") + kPreset);
  f.add_choice("timestep-sampler", "uniform", {"uniform", "loss-second-moment"},
               std::string("how t is drawn (loss-second-moment: Eq. 18)") + kPreset);
  f.add_int("seed", 0, "seed for initialisation, shuffling and noise");
  f.add_choice("device", "cpu", {"cpu", "cuda"}, "where to train");
  f.add_int("save-every", 500, "steps between checkpoints");
  f.add_int("sample-every", 1000, "steps between sample grids (0: only at the end)");
  f.add_string("sample-respace", "50", "respacing of the sample grids' sampler (50, ddim25, ...)");
  f.add_bool("resume", "continue RUN_DIR/ckpt.safetensors up to --steps");
  f.add_int("stop-at", 0, "save and stop after this step, as Ctrl-C would (0: run to the end)");
  return f;
}

// The preset's settings with every flag given on the command line applied on top.
Lesson02Settings settings_from_flags(const Flags& f, int64_t train_rows) {
  Lesson02Settings s = preset_settings(f.get_string("preset"), f.get_string("dataset"));
  if (f.was_set("batch")) s.batch = f.get_int("batch");
  if (f.get_int("epochs") > 0) s.steps = f.get_int("epochs") * (train_rows / s.batch);
  if (f.was_set("steps")) s.steps = f.get_int("steps");
  if (f.was_set("lr")) s.lr = f.get_float("lr");
  if (f.was_set("lr-schedule")) s.lr_schedule = f.get_string("lr-schedule");
  if (f.was_set("weight-decay")) s.weight_decay = f.get_float("weight-decay");
  if (f.was_set("ema")) s.ema_decay = f.get_float("ema");
  apply_model_flags(f, s);
  if (f.was_set("diffusion-steps")) s.diffusion_steps = f.get_int("diffusion-steps");
  if (f.was_set("schedule")) s.noise_schedule = f.get_string("schedule");
  if (f.was_set("loss")) s.loss = f.get_string("loss");
  if (f.was_set("timestep-sampler")) s.timestep_sampler = f.get_string("timestep-sampler");
  return s;
}

// A grid of 8 samples per class (one row per class; 32 when unconditional) from the current
// (EMA) weights, drawn from a generator of its own so that sampling never shifts the
// training's random stream.
void save_sample_grid(UNetModel& model, EMA* ema, const Lesson02Settings& s,
                      const std::string& respacing, const std::string& path, Device device) {
  std::unique_ptr<EMAWeights> use_ema = ema ? std::make_unique<EMAWeights>(*ema, model) : nullptr;
  model.eval();
  DatasetShape d = dataset_shape(s.dataset);
  int64_t n = s.class_cond ? 8 * d.num_classes : 32;
  Tensor y = s.class_cond ? class_labels(n, -1, d.num_classes).first.to(device) : Tensor();
  Generator gen(1234);
  DiffusionSampleOptions options;
  options.gen = &gen;
  options.device = device;
  Samples samples = draw_samples(model, s, respacing, {n, d.channels, d.side, d.side}, y, options);
  save_image_grid(path, samples.x0.to(Device::cpu()), 8, 2, 2);
  model.train();
}

// One optimisation step on a batch; returns the weighted loss. The diffusion draws x_t's noise
// and the sampler draws t from the default generator (saved in the checkpoint).
double train_step(UNetModel& model, const SpacedDiffusion& diffusion, ScheduleSampler& sampler,
                  Optimizer& optimizer, const Tensor& x0, const Tensor& y) {
  TimestepSample ts = sampler.sample(x0.size(0), nullptr, x0.device());
  TrainingLosses terms = diffusion.training_losses(diffusion_model(model, y), x0, ts.t);
  sampler.update_with_local_losses(ts.t, terms.loss.detach());
  Tensor loss = mean(terms.loss * ts.weights);  // importance-weighted (Eq. 18's 1 / (T p_t))
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
  return loss.item();
}

}  // namespace

int train(const std::vector<std::string>& args) {
  Flags flags = train_flags();
  if (!flags.parse(args)) return 0;
  std::string out = flags.get_string("out"), ckpt = run_file(out, "ckpt.safetensors");
  bool resume = flags.get_bool("resume");
  Device device = Device::parse(flags.get_string("device"));
  require_device(device, "lesson02 train");

  std::string data_dir = resolve_data_dir(flags.get_string("data"));
  Dataset data = load_dataset(flags.get_string("dataset"), data_dir, Split::train);
  Lesson02Settings s = settings_from_flags(flags, data.size());
  if (resume) {  // the run's own settings, with only the total step count taken from --steps
    s = settings_from_map(read_train_state_info(ckpt).config);
    if (flags.get_int("steps") > 0) s.steps = flags.get_int("steps");
    TD_CHECK(s.dataset == flags.get_string("dataset"), "lesson02 train --resume: ", ckpt,
             " was trained on ", s.dataset, ", not ", flags.get_string("dataset"));
  }
  TD_CHECK(s.steps > 0 && s.batch > 0, "lesson02 train: --steps and --batch must be positive");

  manual_seed(uint64_t(flags.get_int("seed")));
  UNetModel model(unet_config(s));
  model.to(device);
  AdamWOptions adamw;
  adamw.lr = s.lr, adamw.weight_decay = s.weight_decay;
  AdamW optimizer(model.named_parameters(), adamw);
  std::unique_ptr<EMA> ema = s.ema_decay > 0 ? std::make_unique<EMA>(model, s.ema_decay) : nullptr;
  SpacedDiffusion diffusion = make_diffusion(s);
  std::unique_ptr<ScheduleSampler> sampler = create_named_schedule_sampler(s.timestep_sampler,
                                                                           s.diffusion_steps);
  auto* second_moment = dynamic_cast<LossSecondMomentResampler*>(sampler.get());
  LRSchedule lr = make_lr_schedule(s.lr_schedule, s.lr, s.steps);
  DataLoader loader(data, uint64_t(flags.get_int("seed")));
  make_run_dir(out);

  TrainState state;
  state.config = settings_to_map(s);
  if (resume) {
    int64_t total = s.steps;
    state = load_train_state(ckpt, model, ema.get(), &optimizer);
    loader.set_position(parse_loader_position(state.extra.at("loader")));
    if (second_moment) second_moment->load_state(state.extra.at("sampler"));
    state.config["steps"] = std::to_string(total);
    std::printf("resuming %s at step %lld of %lld\n", ckpt.c_str(), (long long)state.step,
                (long long)total);
  }
  LossLog log(out, resume, state.step);
  std::printf("lesson02: %s (%lld images), UNet %lld channels x (%s), %lld parameters; T %lld %s, "
              "loss %s%s, batch %lld, lr %g (%s), EMA %g, %lld steps\n",
              s.dataset.c_str(), (long long)data.size(), (long long)s.model_channels,
              s.channel_mult.c_str(), (long long)model.num_parameters(),
              (long long)s.diffusion_steps, s.noise_schedule.c_str(), s.loss.c_str(),
              s.learn_sigma ? " (learned sigma)" : "", (long long)s.batch, s.lr,
              s.lr_schedule.c_str(), s.ema_decay, (long long)s.steps);
  std::fflush(stdout);

  std::string title = "lesson02 " + s.dataset + ": " + s.loss + " loss";
  auto save = [&]() {
    state.extra["loader"] = format_loader_position(loader.position());
    if (second_moment) state.extra["sampler"] = second_moment->save_state();
    save_train_state(ckpt, model, ema.get(), &optimizer, state);
    log.save_svg(title);
  };
  auto grid = [&]() {
    char name[64];
    std::snprintf(name, sizeof name, "samples_step%06lld.png", (long long)state.step);
    save_sample_grid(model, ema.get(), s, flags.get_string("sample-respace"), run_file(out, name),
                     device);
  };
  install_interrupt_handler();
  int64_t sample_every = flags.get_int("sample-every"), save_every = flags.get_int("save-every");
  int64_t stop_at = flags.get_int("stop-at") > 0 ? flags.get_int("stop-at") : s.steps;
  ProgressBar progress(s.steps, state.step, ProgressOptions{"train", s.batch});
  while (state.step < std::min(stop_at, s.steps) && !interrupt_requested()) {
    auto [images, labels] = loader.next_batch(s.batch);
    Tensor y = s.class_cond ? labels.to(device) : Tensor();
    optimizer.lr = lr(state.step);
    double value = train_step(model, diffusion, *sampler, optimizer, images.to(device), y);
    if (ema) ema->update(model);
    ++state.step;
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

}  // namespace tinydiff::lesson02
