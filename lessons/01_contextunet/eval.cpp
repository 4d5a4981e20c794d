// lesson01 eval: how good are the samples? Two numbers, both from the lesson-00 classifier
// trained on the same data set:
//   accuracy   the fraction of class-conditional samples that the classifier assigns to the
//              class that was asked for (does context conditioning work?)
//   FD         the Fréchet distance between the classifier's features of the samples and of
//              held-out real images (do the samples look like the data?), printed beside the
//              same distance between two disjoint sets of real images: the floor a perfect
//              generator would reach with this many images.
#include <cstdio>
#include <filesystem>

#include "lessons/00_autograd/classifier.hpp"
#include "lessons/01_contextunet/commands.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/frechet.hpp"
#include "lessons/common/training.hpp"
#include "nn/train_state.hpp"

namespace tinydiff::lesson01 {

namespace {

// The lesson-00 classifier for `dataset`, from a lesson00 checkpoint.
std::shared_ptr<Classifier> load_classifier(const std::string& path, const std::string& dataset) {
  TD_CHECK(std::filesystem::exists(path), "lesson01 eval: no classifier at '", path,
           "' (hint: build/lesson00 train --dataset ", dataset, " --out ",
           std::filesystem::path(path).parent_path().string(), ", or pass --classifier FILE)");
  TrainState info = read_train_state_info(path);
  std::string trained_on = info.config.count("dataset") ? info.config.at("dataset") : "?";
  TD_CHECK(trained_on == dataset, "lesson01 eval: the classifier ", path, " was trained on ",
           trained_on, " but the model generates ", dataset);
  ClassifierConfig c;
  if (dataset == "sprites") c.in_channels = 3, c.image_size = 16, c.num_classes = 5;
  auto classifier = std::make_shared<Classifier>(c);
  load_train_state(path, *classifier, nullptr, nullptr);
  classifier->eval();
  return classifier;
}

// Classifier features (N, hidden) and predicted classes of images (N, C, H, W), in batches.
std::pair<Tensor, Tensor> embed(Classifier& classifier, const Tensor& images) {
  TensorList features, predictions;
  for (int64_t start = 0; start < images.size(0); start += 250) {
    Tensor x = narrow(images, 0, start, std::min<int64_t>(250, images.size(0) - start));
    Tensor h = classifier.embed(x);
    features.push_back(h);
    predictions.push_back(argmax((*classifier.head)(h), 1));
  }
  return {cat(features, 0), cat(predictions, 0)};
}

}  // namespace

int eval(const std::vector<std::string>& args) {
  Flags f("lesson01", "eval", "Scores samples with the lesson-00 classifier: accuracy and FD.");
  f.add_string("ckpt", "runs/lesson01/ckpt.safetensors", "checkpoint written by train");
  f.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  f.add_string("classifier", "", "lesson00 checkpoint (default: runs/lesson00-DATASET/ckpt.safetensors)");
  f.add_int("n", 500, "number of samples (a multiple of the number of classes)");
  f.add_choice("sampler", "ddim", {"ddpm", "ddim"}, "sampler");
  f.add_int("steps", 25, "DDIM steps");
  f.add_float("w", 2.0, "classifier-free guidance weight");
  f.add_int("seed", 0, "seed of the starting noise and of the real-image draw");
  if (!f.parse(args)) return 0;
  NoGradGuard no_grad;
  TrainedModel m = load_trained_model(f.get_string("ckpt"), Device::cpu());
  const std::string& dataset = m.settings.dataset;
  std::string classifier_path = f.get_string("classifier").empty()
                                    ? "runs/lesson00-" + dataset + "/ckpt.safetensors"
                                    : f.get_string("classifier");
  auto classifier = load_classifier(classifier_path, dataset);
  Dataset real = load_dataset(dataset, resolve_data_dir(f.get_string("data")), Split::test);

  const ContextUnetConfig& c = m.model->config;
  int64_t n = f.get_int("n");
  TD_CHECK(2 * n <= real.size(), "lesson01 eval: --n ", n, " needs ", 2 * n,
           " held-out images, the data set has ", real.size());
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

  auto [fake_features, predicted] = embed(*classifier, s.x0);
  std::vector<float> pred = predicted.tolist();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += int64_t(pred[i]) == classes[i];
  double accuracy = double(correct) / double(n);

  // Two disjoint random draws of n real held-out images.
  DataLoader draw(real, uint64_t(f.get_int("seed")) + 1);
  Tensor real_a = embed(*classifier, draw.next_batch(n).first).first;
  Tensor real_b = embed(*classifier, draw.next_batch(n).first).first;
  double fd = frechet_distance(fake_features, real_a), fd_floor = frechet_distance(real_b, real_a);

  std::printf("%-28s %s\n%-28s %lld\n%-28s %lld (%s, w %g)\n%-28s %.4f\n%-28s %.3f\n%-28s %.3f\n",
              "dataset", dataset.c_str(), "train steps", (long long)m.step, "samples", (long long)n,
              ddim ? ("DDIM " + std::to_string(options.ddim_steps)).c_str() : "DDPM",
              options.guidance_w, "conditional accuracy", accuracy,
              "Frechet distance (samples)", fd, "Frechet distance (real)", fd_floor);
  std::printf("{\"dataset\": \"%s\", \"steps\": %lld, \"samples\": %lld, \"sampler\": \"%s\", "
              "\"w\": %g, \"accuracy\": %.6f, \"fd\": %.6f, \"fd_real\": %.6f}\n",
              dataset.c_str(), (long long)m.step, (long long)n, ddim ? "ddim" : "ddpm",
              options.guidance_w, accuracy, fd, fd_floor);
  return 0;
}

}  // namespace tinydiff::lesson01
