#include "lessons/common/train_loop.hpp"

#include <algorithm>
#include <cstdio>

#include "lessons/common/image.hpp"
#include "lessons/common/progress.hpp"

namespace tinydiff {

TrainLoop::TrainLoop(const TrainRun& run, Module& model, Optimizer& optimizer, EMA* ema,
                     DataLoader& loader)
    : run_(run), model_(model), optimizer_(optimizer), ema_(ema), loader_(loader) {}

void TrainLoop::start(const std::map<std::string, std::string>& config, int64_t total_steps) {
  make_run_dir(run_.out);
  total_steps_ = total_steps;
  state_ = TrainState();
  state_.config = config;
  if (run_.resume) {
    state_ = load_train_state(run_.ckpt, model_, ema_, &optimizer_);
    loader_.set_position(parse_loader_position(state_.extra.at("loader")));
    if (load_extra) load_extra(state_.extra);
    state_.config["steps"] = std::to_string(total_steps);
    std::printf("resuming %s at step %lld of %lld\n", run_.ckpt.c_str(), (long long)state_.step,
                (long long)total_steps);
  }
  log_ = std::make_unique<LossLog>(run_.out, run_.resume, state_.step);
}

int TrainLoop::run(int64_t batch, const LRSchedule& lr, const std::string& loss_title) {
  TD_CHECK(log_ && step && sample_grid, run_.who, ": TrainLoop::run needs start(), step and ",
           "sample_grid first");
  install_interrupt_handler();
  int64_t stop_at = std::min(run_.stop_at > 0 ? run_.stop_at : total_steps_, total_steps_);
  ProgressBar progress(total_steps_, state_.step, ProgressOptions{"train", batch});
  while (state_.step < stop_at && !interrupt_requested()) {
    auto [images, labels] = loader_.next_batch(batch);
    optimizer_.lr = lr(state_.step);
    double loss = step(images, labels);
    if (ema_) ema_->update(model_);
    ++state_.step;
    log_->append(state_.step, loss, optimizer_.lr);
    progress.update(state_.step, loss);
    if (state_.step % run_.save_every == 0) save(loss_title);
    if (run_.sample_every > 0 && state_.step % run_.sample_every == 0 && state_.step < total_steps_)
      save_sample_grid();
  }
  progress.finish();
  save(loss_title);
  if (interrupt_requested() || state_.step < total_steps_) {
    std::printf("stopped: saved %s at step %lld of %lld (continue with --resume)\n",
                run_.ckpt.c_str(), (long long)state_.step, (long long)total_steps_);
    return interrupt_requested() ? 130 : 0;
  }
  save_sample_grid();
  std::printf("done: %s, loss.csv, loss.svg and samples_step%06lld.png in %s\n",
              run_.ckpt.c_str(), (long long)state_.step, run_.out.c_str());
  return 0;
}

// The checkpoint (with the loader's position and the lesson's extra state) and loss.svg.
void TrainLoop::save(const std::string& loss_title) {
  state_.extra["loader"] = format_loader_position(loader_.position());
  if (save_extra) save_extra(state_.extra);
  save_train_state(run_.ckpt, model_, ema_, &optimizer_, state_);
  log_->save_svg(loss_title);
}

// RUN_DIR/samples_step<step, 6 digits>.png
void TrainLoop::save_sample_grid() {
  char name[64];
  std::snprintf(name, sizeof name, "samples_step%06lld.png", (long long)state_.step);
  sample_grid(run_file(run_.out, name));
}

void save_training_samples(const std::string& path, Module& model, EMA* ema,
                           const std::function<Tensor(Generator& gen)>& draw) {
  std::unique_ptr<EMAWeights> use_ema = ema ? std::make_unique<EMAWeights>(*ema, model) : nullptr;
  model.eval();
  Generator gen(1234);
  Tensor x0 = draw(gen);
  save_image_grid(path, x0.to(Device::cpu()), 8, 2, 2);
  model.train();
}

}  // namespace tinydiff
