// build/lesson00: train, evaluate and inspect the lesson-00 CNN classifier.
//
//   lesson00 train   --data DIR --dataset mnist|sprites --out RUN_DIR [--epochs N | --steps N] ...
//   lesson00 eval    --ckpt RUN_DIR/ckpt.safetensors --data DIR
//   lesson00 summary [--dataset mnist|sprites]
#include <cstdio>
#include <iostream>

#include "lessons/00_autograd/classifier.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/progress.hpp"
#include "lessons/common/training.hpp"
#include "nn/functional.hpp"
#include "nn/optim.hpp"
#include "nn/train_state.hpp"

using namespace tinydiff;

namespace {

ClassifierConfig config_for(const std::string& dataset) {
  ClassifierConfig c;
  if (dataset == "sprites") c.in_channels = 3, c.image_size = 16, c.num_classes = 5;
  return c;
}

// Accuracy of `model` on `data`, in batches, without recording a graph.
double accuracy(Classifier& model, const Dataset& data, int64_t batch = 500) {
  NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0;
  for (int64_t start = 0; start < data.size(); start += batch) {
    int64_t n = std::min(batch, data.size() - start);
    Tensor predicted = argmax(model(narrow(data.images, 0, start, n)), 1);
    correct += int64_t(sum(eq(predicted, narrow(data.labels, 0, start, n))).item());
  }
  model.train();
  return data.size() ? double(correct) / double(data.size()) : 0.0;
}

void add_model_flags(Flags& flags) {
  flags.add_choice("dataset", "mnist", {"mnist", "sprites"}, "which data set to classify");
}

int train(const std::vector<std::string>& args) {
  Flags flags("lesson00", "train", "Trains the CNN classifier with cross-entropy and Adam.");
  flags.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  add_model_flags(flags);
  flags.add_string("out", "runs/lesson00", "run folder for ckpt.safetensors, loss.csv, loss.svg");
  flags.add_int("epochs", 2, "passes over the training set (ignored when --steps is given)");
  flags.add_int("steps", 0, "total training steps (0: use --epochs)");
  flags.add_int("batch", 64, "batch size");
  flags.add_float("lr", 1e-3, "Adam learning rate");
  flags.add_int("seed", 0, "seed for initialisation and shuffling");
  flags.add_choice("device", "cpu", {"cpu", "cuda"}, "where to train");
  flags.add_int("save-every", 500, "steps between checkpoints");
  flags.add_bool("resume", "continue from RUN_DIR/ckpt.safetensors up to --steps");
  if (!flags.parse(args)) return 0;

  std::string data_dir = resolve_data_dir(flags.get_string("data"));
  std::string dataset = flags.get_string("dataset"), out = flags.get_string("out");
  Device device = Device::parse(flags.get_string("device"));
  require_device(device, "lesson00 train");
  Dataset train_set = load_dataset(dataset, data_dir, Split::train);
  Dataset test_set = load_dataset(dataset, data_dir, Split::test);
  int64_t batch = flags.get_int("batch");
  DataLoader loader(train_set, uint64_t(flags.get_int("seed")));
  int64_t total = flags.get_int("steps") > 0 ? flags.get_int("steps")
                                              : flags.get_int("epochs") * loader.batches_per_epoch(batch);

  manual_seed(uint64_t(flags.get_int("seed")));
  Classifier model(config_for(dataset));
  model.to(device);
  Adam optimizer(model.named_parameters(), AdamOptions{flags.get_float("lr")});
  make_run_dir(out);
  std::string ckpt = run_file(out, "ckpt.safetensors");
  TrainState state;
  for (const auto& [k, v] : flags.values()) state.config[k] = v;
  if (flags.get_bool("resume")) {
    state = load_train_state(ckpt, model, nullptr, &optimizer);
    loader.set_position(parse_loader_position(state.extra.at("loader")));
    std::printf("resuming %s at step %lld of %lld\n", ckpt.c_str(), (long long)state.step, (long long)total);
  }
  LossLog log(out, flags.get_bool("resume"), state.step);
  std::printf("lesson00: %s, %lld training images, %lld parameters, %lld steps of batch %lld\n",
              dataset.c_str(), (long long)train_set.size(), (long long)model.num_parameters(),
              (long long)total, (long long)batch);

  auto save = [&]() {
    state.extra["loader"] = format_loader_position(loader.position());
    save_train_state(ckpt, model, nullptr, &optimizer, state);
    log.save_svg("lesson00 " + dataset + " classifier: cross-entropy");
  };
  install_interrupt_handler();
  ProgressBar progress(total, state.step, ProgressOptions{"train", batch});
  while (state.step < total && !interrupt_requested()) {
    auto [images, labels] = loader.next_batch(batch);
    Tensor loss = cross_entropy(model(images.to(device)), labels.to(device));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    ++state.step;
    double value = loss.item();
    log.append(state.step, value, optimizer.lr);
    progress.update(state.step, value);
    if (state.step % flags.get_int("save-every") == 0) save();
  }
  progress.finish();
  save();
  if (interrupt_requested()) {
    std::printf("interrupted: saved %s at step %lld (continue with --resume)\n", ckpt.c_str(),
                (long long)state.step);
    return 130;
  }
  std::printf("test accuracy %.4f on %lld images; weights in %s\n", accuracy(model, test_set),
              (long long)test_set.size(), ckpt.c_str());
  return 0;
}

int eval(const std::vector<std::string>& args) {
  Flags flags("lesson00", "eval", "Reports the classifier's accuracy on the held-out images.");
  flags.add_string("ckpt", "runs/lesson00/ckpt.safetensors", "checkpoint written by train");
  flags.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  if (!flags.parse(args)) return 0;
  std::string ckpt = flags.get_string("ckpt");
  TrainState info = read_train_state_info(ckpt);
  std::string dataset = info.config.count("dataset") ? info.config.at("dataset") : "mnist";
  Classifier model(config_for(dataset));
  load_train_state(ckpt, model, nullptr, nullptr);
  Dataset test_set = load_dataset(dataset, resolve_data_dir(flags.get_string("data")), Split::test);
  double acc = accuracy(model, test_set);
  std::printf("%-16s %s\n%-16s %lld\n%-16s %lld\n%-16s %.4f\n", "dataset", dataset.c_str(),
              "train steps", (long long)info.step, "test images", (long long)test_set.size(),
              "test accuracy", acc);
  std::printf("{\"dataset\": \"%s\", \"steps\": %lld, \"test_images\": %lld, \"test_accuracy\": %.6f}\n",
              dataset.c_str(), (long long)info.step, (long long)test_set.size(), acc);
  return 0;
}

int summary(const std::vector<std::string>& args) {
  Flags flags("lesson00", "summary", "Prints the classifier's parameters and forward shapes.");
  add_model_flags(flags);
  if (!flags.parse(args)) return 0;
  ClassifierConfig c = config_for(flags.get_string("dataset"));
  Classifier model(c);
  std::cout << model.summary(zeros({2, c.in_channels, c.image_size, c.image_size}));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_subcommands(argc, argv, "lesson00",
                         "Lesson 00: tensors, autograd, and a CNN classifier on MNIST or sprites.",
                         {{"train", "train the classifier", train},
                          {"eval", "test accuracy of a trained classifier", eval},
                          {"summary", "parameter table and forward shape trace", summary}});
}
