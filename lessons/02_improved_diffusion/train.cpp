// lesson02 train: improved-diffusion's training loop (Nichol & Dhariwal 2021): a timestep
// sampler draws t (uniform, or by the loss's second moment, Eq. 18), GaussianDiffusion's
// training_losses gives L_simple, L_vlb or L_hybrid (Eq. 16) per sample, weighted by the
// sampler's importance weights; AdamW, an EMA of the weights, checkpoints (periodic, final,
// on Ctrl-C) and an exact --resume (the loop itself is lessons/common/train_loop.hpp's).
#include <cstdio>

#include "diffusion/resample.hpp"
#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/02_improved_diffusion/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/train_flags.hpp"
#include "lessons/common/train_loop.hpp"
#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/optim.hpp"

namespace tinydiff::lesson02 {

namespace {

const char* kPreset = " (default: the preset's)";

Flags train_flags() {
  Flags f("lesson02", "train",
          "Trains improved-diffusion's UNet (learned variances, hybrid loss) on MNIST or sprites.");
  add_train_data_flags(f, "mnist", "runs/lesson02", {"quick", "paper"},
                       "quick: ~15 min (MNIST) or ~25 (sprites) on 2 cores; paper: the "
                       "paper's CIFAR-10 settings, scaled");
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
  add_train_loop_flags(f, 1000);
  f.add_string("sample-respace", "50",
               "respacing of the sample grids' sampler: 50, ddim25, ... or 'all' (T; also the "
               "default when T <= 50)");
  add_resume_flags(f);
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

// A grid of 8 samples per class (one row per class; 32 when unconditional) on the chain
// respaced by `respacing` (--sample-respace).
void save_sample_grid(UNetModel& model, EMA* ema, const Lesson02Settings& s,
                      const std::string& respacing, const std::string& path, Device device) {
  save_training_samples(path, model, ema, [&](Generator& gen) {
    DatasetShape d = dataset_shape(s.dataset);
    int64_t n = s.class_cond ? 8 * d.num_classes : 32;
    Tensor y = s.class_cond ? class_labels(n, -1, d.num_classes).first.to(device) : Tensor();
    DiffusionSampleOptions options;
    options.gen = &gen;
    options.device = device;
    return draw_samples(model, s, respacing, {n, d.channels, d.side, d.side}, y, options).x0;
  });
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
  TrainRun run = read_train_run(flags, "lesson02 train");
  Device device = run.device;

  std::string data_dir = resolve_data_dir(flags.get_string("data"));
  Dataset data = load_dataset(flags.get_string("dataset"), data_dir, Split::train);
  Lesson02Settings s = train_settings(run, flags, settings_from_flags(flags, data.size()),
                                      settings_from_map);
  // Checked here, not at the first sample grid minutes later.
  const std::string respacing = respacing_flag(flags, "sample-respace", s.diffusion_steps);

  manual_seed(run.seed);
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
  DataLoader loader(data, run.seed);

  TrainLoop loop(run, model, optimizer, ema.get(), loader);
  loop.step = [&](const Tensor& images, const Tensor& labels) {
    Tensor y = s.class_cond ? labels.to(device) : Tensor();
    return train_step(model, diffusion, *sampler, optimizer, images.to(device), y);
  };
  loop.sample_grid = [&](const std::string& path) {
    save_sample_grid(model, ema.get(), s, respacing, path, device);
  };
  if (second_moment) {  // the sampler's loss history is part of the resumed state
    loop.save_extra = [&](TrainLoop::Extra& extra) {
      extra["sampler"] = second_moment->save_state();
    };
    loop.load_extra = [&](const TrainLoop::Extra& extra) {
      second_moment->load_state(extra.at("sampler"));
    };
  }
  loop.start(settings_to_map(s), s.steps);
  std::printf("lesson02: %s (%lld images), UNet %lld channels x (%s), %lld parameters; T %lld %s, "
              "loss %s%s, batch %lld, lr %g (%s), EMA %g, %lld steps\n",
              s.dataset.c_str(), (long long)data.size(), (long long)s.model_channels,
              s.channel_mult.c_str(), (long long)model.num_parameters(),
              (long long)s.diffusion_steps, s.noise_schedule.c_str(), s.loss.c_str(),
              s.learn_sigma ? " (learned sigma)" : "", (long long)s.batch, s.lr,
              s.lr_schedule.c_str(), s.ema_decay, (long long)s.steps);
  std::fflush(stdout);
  return loop.run(s.batch, lr, "lesson02 " + s.dataset + ": " + s.loss + " loss");
}

}  // namespace tinydiff::lesson02
