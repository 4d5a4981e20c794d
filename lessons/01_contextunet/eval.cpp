// lesson01 eval: how good are the samples? Two numbers, both from the lesson-00 classifier
// trained on the same data set:
//   accuracy   the fraction of class-conditional samples that the classifier assigns to the
//              class that was asked for (does context conditioning work?)
//   FD         the Fréchet distance between the classifier's features of the samples and of
//              held-out real images (do the samples look like the data?), printed beside the
//              same distance between two disjoint sets of real images: the floor a perfect
//              generator would reach with this many images.
#include <cstdio>

#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/sample_scores.hpp"

namespace tinydiff::lesson01 {

int eval(const std::vector<std::string>& args) {
  Flags f("lesson01", "eval", "Scores samples with the lesson-00 classifier: accuracy and FD.");
  add_eval_flags(f, "runs/lesson01/ckpt.safetensors");
  f.add_int("n", 500, "number of samples (a multiple of the number of classes)");
  f.add_choice("sampler", "ddim", {"ddpm", "ddim"}, "sampler");
  f.add_int("steps", 25, "DDIM steps");
  f.add_float("w", 2.0, "classifier-free guidance weight");
  f.add_int("seed", 0, "seed of the starting noise and of the real-image draw");
  if (!f.parse(args)) return 0;
  NoGradGuard no_grad;
  TrainedModel m = load_trained_model(f.get_string("ckpt"), Device::cpu());
  const std::string& dataset = m.settings.dataset;
  auto classifier = load_eval_classifier(classifier_path(f, dataset), dataset, "lesson01 eval");
  Dataset real = load_dataset(dataset, resolve_data_dir(f.get_string("data")), Split::test);

  const ContextUnetConfig& c = m.model->config;
  int64_t n = f.get_int("n");
  require_real_images(n, real, "lesson01 eval");
  auto [context, classes] = class_contexts(n, -1, c.n_cfeat);
  Generator gen(uint64_t(f.get_int("seed")));
  SampleOptions options;
  options.guidance_w = f.get_float("w");
  options.ddim_steps = f.get_int("steps");
  options.gen = &gen;
  bool ddim = f.get_string("sampler") == "ddim";
  std::printf("sampling %lld images to score ...\n", (long long)n);
  std::fflush(stdout);
  Shape shape = {n, c.in_channels, c.height, c.height};
  Samples s = ddim ? sample_ddim(eps_model(*m.model), shape, context, m.schedule, options)
                   : sample_ddpm(eps_model(*m.model), shape, context, m.schedule, options);

  auto [fake_features, predicted] = classifier_embed(*classifier, s.x0);
  double accuracy = class_accuracy(predicted, classes);
  FrechetScores fd = frechet_scores(*classifier, fake_features, real, uint64_t(f.get_int("seed")));

  std::printf("%-28s %s\n%-28s %lld\n%-28s %lld (%s, w %g)\n%-28s %.4f\n%-28s %.3f\n%-28s %.3f\n",
              "dataset", dataset.c_str(), "train steps", (long long)m.step, "samples", (long long)n,
              ddim ? ("DDIM " + std::to_string(options.ddim_steps)).c_str() : "DDPM",
              options.guidance_w, "conditional accuracy", accuracy,
              "Frechet distance (samples)", fd.fd, "Frechet distance (real)", fd.fd_real);
  std::printf("{\"dataset\": \"%s\", \"steps\": %lld, \"samples\": %lld, \"sampler\": \"%s\", "
              "\"w\": %g, \"accuracy\": %.6f, \"fd\": %.6f, \"fd_real\": %.6f}\n",
              dataset.c_str(), (long long)m.step, (long long)n, ddim ? "ddim" : "ddpm",
              options.guidance_w, accuracy, fd.fd, fd.fd_real);
  return 0;
}

}  // namespace tinydiff::lesson01
