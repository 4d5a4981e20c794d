// A progress bar for training and sampling loops, on stderr:
//
//   train  1200/5000 [#######.....................]  24%  loss 0.0412  312 img/s  01:23 < 04:25
//
// On a terminal it redraws one line in place (with '\r') at most ~10 times a second; when
// stderr is a file or a CI log it prints a plain line every `interval_s` seconds instead, and
// always the final line.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <utility>

namespace tinydiff {

struct ProgressOptions {
  explicit ProgressOptions(std::string label = "train", int64_t items_per_step = 0)
      : label(std::move(label)), items_per_step(items_per_step) {}
  std::string label;
  int64_t items_per_step;  // images per step (the batch size) for the img/s column; 0 hides it
  std::FILE* out = stderr;
  int tty = -1;                   // 1: redraw in place, 0: plain lines, -1: ask isatty(out)
  double interval_s = 10;         // seconds between plain lines
  std::function<double()> clock;  // seconds since some origin; a steady clock when empty
};

class ProgressBar {
 public:
  // A loop over steps (start, total]; `start` > 0 when training resumes.
  ProgressBar(int64_t total, int64_t start = 0, ProgressOptions options = ProgressOptions());
  // Reports that `step` steps are done; `loss` is shown as a running mean
  // (an exponential moving average with weight 0.1 on the newest value). NaN skips the loss.
  void update(int64_t step, double loss = std::numeric_limits<double>::quiet_NaN());
  // Draws the final state and ends the line.
  void finish();
  // The status line, e.g. "train  12/50 [###...] 24%  loss 0.0412  ..." (without '\r' or '\n').
  std::string line() const;

 private:
  double now() const;
  void draw();

  int64_t total_, start_, step_;
  ProgressOptions options_;
  bool tty_, finished_ = false;
  double start_time_, last_draw_ = -1e300, loss_avg_ = 0;
  bool has_loss_ = false;
};

}  // namespace tinydiff
