#include "lessons/common/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>

#include "tensor/error.hpp"

namespace tinydiff {

namespace {

// "mm:ss", or "h:mm:ss" from an hour on.
std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  int64_t s = int64_t(seconds + 0.5);
  char buffer[32];
  if (s >= 3600)
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", (long long)(s / 3600),
                  (long long)(s / 60 % 60), (long long)(s % 60));
  else
    std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buffer;
}

}  // namespace

ProgressBar::ProgressBar(int64_t total, int64_t start, ProgressOptions options)
    : total_(total), start_(start), step_(start), options_(std::move(options)) {
  TD_CHECK(total > 0 && start >= 0 && start <= total, "progress: start ", start,
           " must be in [0, total] with total > 0, got total ", total);
  tty_ = options_.tty >= 0 ? options_.tty == 1 : isatty(fileno(options_.out));
  start_time_ = now();
}

double ProgressBar::now() const {
  if (options_.clock) return options_.clock();
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void ProgressBar::update(int64_t step, double loss) {
  step_ = std::min(step, total_);
  if (std::isfinite(loss)) {
    loss_avg_ = has_loss_ ? 0.9 * loss_avg_ + 0.1 * loss : loss;
    has_loss_ = true;
  }
  double t = now();
  if (t - last_draw_ >= (tty_ ? 0.1 : options_.interval_s)) {
    last_draw_ = t;
    draw();
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw();
  if (tty_) std::fputc('\n', options_.out);
  std::fflush(options_.out);
}

void ProgressBar::draw() {
  std::fprintf(options_.out, tty_ ? "\r%s\033[K" : "%s\n",
               line().c_str());  // \033[K: clear to the end
  std::fflush(options_.out);
}

// Rates are measured from the steps done in this process (not those before a resume).
std::string ProgressBar::line() const {
  const int width = 28;
  double fraction = double(step_) / double(total_), elapsed = now() - start_time_;
  int filled = int(fraction * width);
  double steps_per_s = elapsed > 0 ? double(step_ - start_) / elapsed : 0;
  double eta = steps_per_s > 0 ? double(total_ - step_) / steps_per_s : NAN;
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, "%s  %lld/%lld [%s%s] %3d%%", options_.label.c_str(),
                (long long)step_, (long long)total_, std::string(filled, '#').c_str(),
                std::string(width - filled, '.').c_str(), int(fraction * 100));
  std::string text = buffer;
  if (has_loss_) std::snprintf(buffer, sizeof buffer, "  loss %.4g", loss_avg_), text += buffer;
  if (options_.items_per_step > 0 && steps_per_s > 0)
    std::snprintf(buffer, sizeof buffer, "  %.1f img/s", steps_per_s * options_.items_per_step),
        text += buffer;
  return text + "  " + clock_text(elapsed) + " < " + clock_text(eta);
}

}  // namespace tinydiff
