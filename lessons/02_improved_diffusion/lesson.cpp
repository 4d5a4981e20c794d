#include "lessons/02_improved_diffusion/lesson.hpp"

#include <cstdio>
#include <numeric>

#include "lessons/common/run_checkpoint.hpp"
#include "lessons/common/sample_cli.hpp"
#include "nn/train_state.hpp"

namespace tinydiff::lesson02 {

Lesson02Settings preset_settings(const std::string& preset, const std::string& dataset) {
  dataset_shape(dataset);  // checks the name
  Lesson02Settings s;
  s.dataset = dataset;
  if (preset == "paper") {
    // Nichol & Dhariwal's CIFAR-10 runs (Sec. 3, Appendix A): 128 channels, 3 res blocks,
    // attention at 16x16 and 8x8 (here 14/7 or 8/4), 4 heads, dropout 0.3, T = 4000 with the
    // cosine schedule, L_hybrid, batch 128, lr 1e-4, EMA 0.9999, 500K steps.
    s.channel_mult = dataset == "mnist" ? "1,2,2" : "1,2,2,2";
    s.num_res_blocks = 3;
    s.dropout = 0.3;
    s.diffusion_steps = 4000;
    s.steps = 500000;
    return s;
  }
  TD_CHECK(preset == "quick", "lesson02: unknown preset '", preset, "' (expected quick or paper)");
  // A narrow, shallow UNet, a larger (annealed) learning rate and a short EMA, to see digits
  // within ~15 minutes on 2 cores and sprites within ~25 (see the README's "Results" for the
  // measured runs). A 16x16 sprite step costs about a third of a 28x28 MNIST step, so sprites
  // get twice the steps and twice the batch (batch 64 over batch 32 on sprites: 48% of the
  // samples recognised against 40%, and outlines instead of blobs).
  s.model_channels = 32;
  s.num_res_blocks = 1;
  s.attention_resolutions = "4";  // 7x7 on MNIST, 4x4 on the sprites
  s.batch = dataset == "mnist" ? 32 : 64;
  s.lr = 1e-3;
  s.lr_schedule = "linear";
  s.ema_decay = 0.995;
  s.steps = dataset == "mnist" ? 4000 : 8000;
  return s;
}

void add_model_flags(Flags& f) {
  const std::string preset = " (default: the preset's)";
  f.add_int("model-channels", 0, "UNet width" + preset);
  f.add_string("channel-mult", "", "width multiplier per level, e.g. 1,2,2" + preset);
  f.add_int("num-res-blocks", 0, "ResBlocks per level" + preset);
  f.add_string("attention-resolutions", "",
               "downsampling rates with attention, e.g. 2,4 ('' for none)" + preset);
  f.add_int("num-heads", 0, "attention heads" + preset);
  f.add_float("dropout", 0, "dropout in the ResBlocks" + preset);
  f.add_bool("scale-shift-norm", "ResBlocks scale and shift GN(h) by the embedding (default on)");
  f.add_bool("class-cond", "condition on the class label (default on; --class-cond=false: off)");
  f.add_bool("learn-sigma", "learn the variances (Eq. 15; default on; --learn-sigma=false: fixed)");
  f.add_bool("use-checkpoint", "gradient checkpointing: less memory, more time");
}

void apply_model_flags(const Flags& f, Lesson02Settings& s) {
  if (f.was_set("model-channels")) s.model_channels = f.get_int("model-channels");
  if (f.was_set("channel-mult")) s.channel_mult = f.get_string("channel-mult");
  if (f.was_set("num-res-blocks")) s.num_res_blocks = f.get_int("num-res-blocks");
  if (f.was_set("attention-resolutions"))
    s.attention_resolutions = f.get_string("attention-resolutions");
  if (f.was_set("num-heads")) s.num_heads = f.get_int("num-heads");
  if (f.was_set("dropout")) s.dropout = f.get_float("dropout");
  if (f.was_set("scale-shift-norm")) s.use_scale_shift_norm = f.get_bool("scale-shift-norm");
  if (f.was_set("class-cond")) s.class_cond = f.get_bool("class-cond");
  if (f.was_set("learn-sigma")) s.learn_sigma = f.get_bool("learn-sigma");
  if (f.was_set("use-checkpoint")) s.use_checkpoint = f.get_bool("use-checkpoint");
}

DatasetShape dataset_shape(const std::string& dataset) {
  if (dataset == "mnist") return {1, 28, 10};
  TD_CHECK(dataset == "sprites", "lesson02: unknown data set '", dataset,
           "' (expected mnist or sprites)");
  return {3, 16, 5};
}

UNetConfig unet_config(const Lesson02Settings& s) {
  DatasetShape d = dataset_shape(s.dataset);
  UNetConfig c;
  c.in_channels = d.channels;
  c.out_channels = s.learn_sigma ? 2 * d.channels : d.channels;
  c.model_channels = s.model_channels;
  c.channel_mult = parse_int_list(s.channel_mult, "lesson02: --channel-mult");
  c.num_res_blocks = s.num_res_blocks;
  c.attention_resolutions = parse_int_list(s.attention_resolutions,
                                           "lesson02: --attention-resolutions");
  c.num_heads = s.num_heads;
  c.dropout = float(s.dropout);
  c.num_classes = s.class_cond ? d.num_classes : 0;
  c.use_checkpoint = s.use_checkpoint;
  c.use_scale_shift_norm = s.use_scale_shift_norm;
  c.num_groups = std::gcd<int64_t>(32, s.model_channels);
  return c;
}

SpacedDiffusion make_diffusion(const Lesson02Settings& s, const std::string& respacing) {
  TD_CHECK(s.loss == "hybrid" || s.loss == "mse" || s.loss == "kl", "lesson02: unknown loss '",
           s.loss, "' (expected hybrid, mse or kl)");
  DiffusionFlags f;
  f.steps = s.diffusion_steps;
  f.learn_sigma = s.learn_sigma;
  f.noise_schedule = s.noise_schedule;
  f.use_kl = s.loss == "kl";                   // RescaledKL: T L_t, the whole bound
  f.rescale_learned_sigmas = s.loss == "hybrid";  // RescaledMSE: L_simple + (T/1000) L_t
  f.timestep_respacing = respacing;
  return create_gaussian_diffusion(f);
}

std::string respacing_flag(const Flags& f, const std::string& flag, int64_t T) {
  const std::string value = f.get_string(flag);
  if (value == "all") return "";
  try {
    space_timesteps(T, value);
  } catch (const Error& e) {
    if (!f.was_set(flag)) return "";  // the default asks for more steps than the run has
    throw_error("--", flag, " ", value, " does not fit the run's T = ", T, ": ", e.what());
  }
  return value;
}

namespace {
// A number as text that reads back to (nearly) the same double: "0.0001", "0.3".
std::string text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", v);
  return buffer;
}
}  // namespace

std::map<std::string, std::string> settings_to_map(const Lesson02Settings& s) {
  return {{"dataset", s.dataset},
          {"model-channels", std::to_string(s.model_channels)},
          {"channel-mult", s.channel_mult},
          {"num-res-blocks", std::to_string(s.num_res_blocks)},
          {"attention-resolutions", s.attention_resolutions},
          {"num-heads", std::to_string(s.num_heads)},
          {"dropout", text(s.dropout)},
          {"scale-shift-norm", config_flag(s.use_scale_shift_norm)},
          {"class-cond", config_flag(s.class_cond)},
          {"use-checkpoint", config_flag(s.use_checkpoint)},
          {"diffusion-steps", std::to_string(s.diffusion_steps)},
          {"schedule", s.noise_schedule},
          {"learn-sigma", config_flag(s.learn_sigma)},
          {"loss", s.loss},
          {"timestep-sampler", s.timestep_sampler},
          {"batch", std::to_string(s.batch)},
          {"lr", text(s.lr)},
          {"lr-schedule", s.lr_schedule},
          {"weight-decay", text(s.weight_decay)},
          {"ema", text(s.ema_decay)},
          {"steps", std::to_string(s.steps)}};
}

Lesson02Settings settings_from_map(const std::map<std::string, std::string>& m) {
  ConfigReader get(m, "lesson02");
  Lesson02Settings s;
  s.dataset = get.text("dataset");
  s.model_channels = get.integer("model-channels");
  s.channel_mult = get.text("channel-mult");
  s.num_res_blocks = get.integer("num-res-blocks");
  s.attention_resolutions = get.text("attention-resolutions");
  s.num_heads = get.integer("num-heads");
  s.dropout = get.number("dropout");
  s.use_scale_shift_norm = get.flag("scale-shift-norm");
  s.class_cond = get.flag("class-cond");
  s.use_checkpoint = get.flag("use-checkpoint");
  s.diffusion_steps = get.integer("diffusion-steps");
  s.noise_schedule = get.text("schedule");
  s.learn_sigma = get.flag("learn-sigma");
  s.loss = get.text("loss");
  s.timestep_sampler = get.text("timestep-sampler");
  s.batch = get.integer("batch");
  s.lr = get.number("lr");
  s.lr_schedule = get.text("lr-schedule");
  s.weight_decay = get.number("weight-decay");
  s.ema_decay = get.number("ema");
  s.steps = get.integer("steps");
  return s;
}

DiffusionModel diffusion_model(UNetModel& model, const Tensor& y) {
  return [&model, y](const Tensor& x_t, const Tensor& t) { return model.forward(x_t, t, y); };
}

TrainedModel load_trained_model(const std::string& ckpt, Device device) {
  TrainState info = read_train_state_info(ckpt);
  TrainedModel m;
  m.settings = settings_from_map(info.config);
  m.step = info.step;
  m.model = std::make_shared<UNetModel>(unet_config(m.settings));
  load_sampling_weights(ckpt, *m.model, m.settings.ema_decay, device);
  return m;
}

std::pair<Tensor, std::vector<int64_t>> class_labels(int64_t n, int64_t k, int64_t num_classes) {
  std::vector<int64_t> classes = sample_classes(n, k, num_classes, "lesson02");
  return {class_tensor(classes), classes};
}

Samples draw_samples(UNetModel& model, const Lesson02Settings& s, const std::string& respacing,
                     const Shape& shape, const Tensor& y, const DiffusionSampleOptions& options) {
  NoGradGuard no_grad;
  SpacedDiffusion diffusion = make_diffusion(s, respacing);
  DiffusionModel fn = diffusion_model(model, y);
  bool ddim = respacing.rfind("ddim", 0) == 0;
  return ddim ? diffusion.ddim_sample_loop(fn, shape, options)
              : diffusion.p_sample_loop(fn, shape, options);
}

}  // namespace tinydiff::lesson02
