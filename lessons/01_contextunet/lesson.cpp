#include "lessons/01_contextunet/lesson.hpp"

#include "diffusion/ddpm.hpp"
#include "diffusion/guidance.hpp"
#include "lessons/common/run_checkpoint.hpp"
#include "lessons/common/sample_cli.hpp"
#include "nn/functional.hpp"
#include "nn/train_state.hpp"

namespace tinydiff {

Lesson01Settings preset_settings(const std::string& preset, const std::string& dataset,
                                 int64_t train_rows) {
  Lesson01Settings s;
  s.dataset = dataset;
  if (preset == "course") {  // the course notebook: n_feat 64, batch 100, lr 1e-3, 32 epochs
    s.steps = 32 * (train_rows / s.batch);
    return s;
  }
  TD_CHECK(preset == "quick", "lesson01: unknown preset '", preset, "' (expected quick or course)");
  // A narrower net, smaller batches, a higher learning rate and an EMA of the weights, with
  // the step counts that fit ~15 minutes at the measured speed (lessons/01_contextunet/README.md,
  // "The quick preset"); a 16x16 sprite step costs about a third of a 28x28 MNIST step.
  s.n_feat = 32;
  s.batch = 64;
  s.lr = 2e-3;
  s.ema_decay = 0.995;
  s.steps = dataset == "mnist" ? 4000 : 10000;
  return s;
}

ContextUnetConfig model_config(const std::string& dataset, int64_t n_feat, bool course_compat) {
  ContextUnetConfig c;
  c.n_feat = n_feat;
  c.course_compat = course_compat;
  if (dataset == "mnist") c.in_channels = 1, c.height = 28, c.n_cfeat = 10;
  else c.in_channels = 3, c.height = 16, c.n_cfeat = 5;
  return c;
}

std::map<std::string, std::string> settings_to_map(const Lesson01Settings& s) {
  return {{"dataset", s.dataset},
          {"n-feat", std::to_string(s.n_feat)},
          {"timesteps", std::to_string(s.timesteps)},
          {"batch", std::to_string(s.batch)},
          {"lr", std::to_string(s.lr)},
          {"steps", std::to_string(s.steps)},
          {"ema", std::to_string(s.ema_decay)},
          {"p-uncond", std::to_string(s.p_uncond)},
          {"course-compat", config_flag(s.course_compat)}};
}

Lesson01Settings settings_from_map(const std::map<std::string, std::string>& m) {
  ConfigReader get(m, "lesson01");
  Lesson01Settings s;
  s.dataset = get.text("dataset");
  s.n_feat = get.integer("n-feat");
  s.timesteps = get.integer("timesteps");
  s.batch = get.integer("batch");
  s.lr = get.number("lr");
  s.steps = get.integer("steps");
  s.ema_decay = get.number("ema");
  s.p_uncond = get.number("p-uncond");
  s.course_compat = get.flag("course-compat");
  return s;
}

Tensor diffusion_loss(ContextUnet& model, const Tensor& x0, const Tensor& context,
                      const NoiseSchedule& schedule, double p_uncond, bool course_compat) {
  // BEGIN EXERCISE 01.7 the training loss (#2-the-training-objective)
  int64_t batch = x0.size(0);
  Tensor c = drop_context(context, p_uncond);                    // classifier-free training
  Tensor noise = randn_like(x0);                                 // eps ~ N(0, I)
  Tensor t = randint(1, schedule.T + 1, {batch}, nullptr, x0.device());  // t ~ U{1..T}
  Tensor x_t = q_sample(x0, t, noise, schedule, course_compat);  // Eq. 4
  Tensor eps = model.forward(x_t, t / float(schedule.T), c);    // eps_theta(x_t, t/T, c)
  return mse_loss(eps, noise);                                   // Eq. 14
  // END EXERCISE
}

EpsModel eps_model(ContextUnet& model) {
  return [&model](const Tensor& x_t, const Tensor& t_normalised, const Tensor& context) {
    return model.forward(x_t, t_normalised, context);
  };
}

TrainedModel load_trained_model(const std::string& ckpt, Device device) {
  TrainState info = read_train_state_info(ckpt);
  TrainedModel m;
  m.settings = settings_from_map(info.config);
  m.step = info.step;
  m.model = std::make_shared<ContextUnet>(
      model_config(m.settings.dataset, m.settings.n_feat, m.settings.course_compat));
  load_sampling_weights(ckpt, *m.model, m.settings.ema_decay, device);
  m.schedule = linear_schedule_course(m.settings.timesteps);
  return m;
}

std::pair<Tensor, std::vector<int64_t>> class_contexts(int64_t n, int64_t k, int64_t num_classes) {
  std::vector<int64_t> classes = sample_classes(n, k, num_classes, "lesson01");
  return {one_hot(class_tensor(classes), num_classes), classes};
}

}  // namespace tinydiff
