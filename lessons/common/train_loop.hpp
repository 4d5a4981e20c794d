// The model-independent half of a lesson's `train`: start or --resume a run, then step until
// the end (or --stop-at, or Ctrl-C), logging loss.csv / loss.svg, drawing the progress bar,
// saving checkpoints every --save-every steps and sample grids every --sample-every steps.
// The lesson supplies the model, optimizer, EMA and data loader it checkpoints, one
// optimisation step, and how to draw a sample grid:
//
//   TrainLoop loop(run, model, optimizer, ema.get(), loader);
//   loop.step = [&](const Tensor& images, const Tensor& labels) { ...; return loss.item(); };
//   loop.sample_grid = [&](const std::string& png) { ... };
//   loop.start(settings_to_map(s), s.steps);   // prints "resuming ..." with --resume
//   std::printf("lesson01: ...\n");
//   return loop.run(s.batch, lr, "lesson01 sprites: noise-prediction MSE");
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "lessons/common/dataset.hpp"
#include "lessons/common/train_flags.hpp"
#include "lessons/common/training.hpp"
#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/train_state.hpp"

namespace tinydiff {

class TrainLoop {
 public:
  using Extra = std::map<std::string, std::string>;  // TrainState::extra

  // The references (and `ema`, null for none) must outlive the loop.
  TrainLoop(const TrainRun& run, Module& model, Optimizer& optimizer, EMA* ema,
            DataLoader& loader);

  // Set by the lesson before start():
  // One optimisation step on a batch, images (B, C, H, W) and labels (B), with optimizer.lr
  // already set for it; returns the loss.
  std::function<double(const Tensor& images, const Tensor& labels)> step;
  // Writes a grid of samples from the current weights to the PNG `path`.
  std::function<void(const std::string& path)> sample_grid;
  // Optional: more state to checkpoint (e.g. a timestep sampler's history), and restoring it.
  std::function<void(Extra& extra)> save_extra;
  std::function<void(const Extra& extra)> load_extra;

  // Creates the run folder. A new run starts at step 0 with `config` as the checkpoint's
  // configuration; with --resume the model, EMA, optimizer, default generator, loader position
  // and extra state come from the checkpoint, and only its total step count becomes
  // `total_steps`. Opens loss.csv (cut back to the checkpoint's step when resuming).
  void start(const std::map<std::string, std::string>& config, int64_t total_steps);

  // Trains from the current step to the total, --stop-at or Ctrl-C, with `batch` images a
  // step and the learning rate `lr(step)`, then saves. A finished run also writes its last
  // sample grid. Returns the exit code: 0, or 130 after Ctrl-C.
  int run(int64_t batch, const LRSchedule& lr, const std::string& loss_title);

  int64_t current_step() const { return state_.step; }

 private:
  void save(const std::string& loss_title);
  void save_sample_grid();

  TrainRun run_;
  Module& model_;
  Optimizer& optimizer_;
  EMA* ema_;
  DataLoader& loader_;
  TrainState state_;
  int64_t total_steps_ = 0;
  std::unique_ptr<LossLog> log_;
};

// Writes the PNG grid (8 images a row) of the samples `draw` returns, drawn in eval mode
// with the EMA's weights when there is an EMA, and from a generator of its own (seed 1234)
// so that sampling never shifts the training's random stream. The model is back in training
// mode with its own weights afterwards.
// draw(gen) -> samples (N, C, H, W) in [-1, 1], on any device
void save_training_samples(const std::string& path, Module& model, EMA* ema,
                           const std::function<Tensor(Generator& gen)>& draw);

}  // namespace tinydiff
