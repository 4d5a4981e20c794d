// Small pieces every lesson's `train` shares: the run folder, the loader position as text,
// the loss log and its picture, and the model's device.
#pragma once
#include <string>
#include <vector>

#include "lessons/common/dataset.hpp"
#include "lessons/common/plot.hpp"

namespace tinydiff {

// Creates RUN_DIR and its parents; an Error names the folder when that fails.
void make_run_dir(const std::string& dir);
// "RUN_DIR/name"
std::string run_file(const std::string& dir, const std::string& name);

// A DataLoader position as "epoch=<e> index=<i> seed=<s>", and back.
std::string format_loader_position(const LoaderPosition& position);
LoaderPosition parse_loader_position(const std::string& text);

// Keeps loss.csv (step, loss, lr) and redraws loss.svg from it.
class LossLog {
 public:
  // A fresh log, or (resume) the existing one cut back to `step`.
  LossLog(const std::string& run_dir, bool resume, int64_t step);
  void append(int64_t step, double loss, double lr);
  // Rewrites loss.svg from everything logged so far.
  void save_svg(const std::string& title) const;

 private:
  std::string svg_path_;
  CsvLog csv_;
  std::vector<double> steps_, losses_;
};

}  // namespace tinydiff
