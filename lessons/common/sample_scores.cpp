#include "lessons/common/sample_scores.hpp"

#include <algorithm>
#include <filesystem>

#include "lessons/common/frechet.hpp"
#include "nn/train_state.hpp"

namespace tinydiff {

void add_eval_flags(Flags& f, const std::string& default_ckpt) {
  f.add_string("ckpt", default_ckpt, "checkpoint written by train");
  f.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  f.add_string("classifier", "",
               "lesson00 checkpoint (default: runs/lesson00-DATASET/ckpt.safetensors)");
}

std::string classifier_path(const Flags& f, const std::string& dataset) {
  return f.get_string("classifier").empty() ? "runs/lesson00-" + dataset + "/ckpt.safetensors"
                                            : f.get_string("classifier");
}

std::shared_ptr<Classifier> load_eval_classifier(const std::string& path,
                                                 const std::string& dataset,
                                                 const std::string& who) {
  TD_CHECK(std::filesystem::exists(path), who, ": no classifier at '", path,
           "' (hint: build/lesson00 train --dataset ", dataset, " --out ",
           std::filesystem::path(path).parent_path().string(), ", or pass --classifier FILE)");
  TrainState info = read_train_state_info(path);
  std::string trained_on = info.config.count("dataset") ? info.config.at("dataset") : "?";
  TD_CHECK(trained_on == dataset, who, ": the classifier ", path, " was trained on ",
           trained_on, " but the model generates ", dataset);
  ClassifierConfig c;  // MNIST's by default
  if (dataset == "sprites") c.in_channels = 3, c.image_size = 16, c.num_classes = 5;
  auto classifier = std::make_shared<Classifier>(c);
  load_train_state(path, *classifier, nullptr, nullptr);
  classifier->eval();
  return classifier;
}

std::pair<Tensor, Tensor> classifier_embed(Classifier& classifier, const Tensor& images) {
  TensorList features, predictions;
  for (int64_t start = 0; start < images.size(0); start += 250) {
    int64_t rows = std::min<int64_t>(250, images.size(0) - start);
    Tensor h = classifier.embed(narrow(images, 0, start, rows));
    features.push_back(h);
    predictions.push_back(argmax((*classifier.head)(h), 1));
  }
  return {cat(features, 0), cat(predictions, 0)};
}

double class_accuracy(const Tensor& predicted, const std::vector<int64_t>& classes) {
  std::vector<float> pred = predicted.tolist();
  int64_t n = int64_t(classes.size()), correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += int64_t(pred[i]) == classes[i];
  return double(correct) / double(n);
}

void require_real_images(int64_t n, const Dataset& real, const std::string& who) {
  TD_CHECK(2 * n <= real.size(), who, ": --n ", n, " needs ", 2 * n,
           " held-out images, the data set has ", real.size());
}

FrechetScores frechet_scores(Classifier& classifier, const Tensor& fake_features,
                             const Dataset& real, uint64_t seed) {
  int64_t n = fake_features.size(0);
  DataLoader draw(real, seed + 1);
  Tensor real_a = classifier_embed(classifier, draw.next_batch(n).first).first;
  Tensor real_b = classifier_embed(classifier, draw.next_batch(n).first).first;
  return {frechet_distance(fake_features, real_a), frechet_distance(real_b, real_a)};
}

}  // namespace tinydiff
