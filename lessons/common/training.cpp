#include "lessons/common/training.hpp"

#include <cstdio>
#include <filesystem>

namespace tinydiff {

void make_run_dir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  TD_CHECK(!error && std::filesystem::is_directory(dir), "cannot create the run folder '", dir,
           "': ", error.message());
}

std::string run_file(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

std::string format_loader_position(const LoaderPosition& p) {
  return "epoch=" + std::to_string(p.epoch) + " index=" + std::to_string(p.index) +
         " seed=" + std::to_string(p.seed);
}

LoaderPosition parse_loader_position(const std::string& text) {
  LoaderPosition p;
  long long epoch = 0, index = 0;
  unsigned long long seed = 0;
  TD_CHECK(std::sscanf(text.c_str(), "epoch=%lld index=%lld seed=%llu", &epoch, &index, &seed) == 3,
           "checkpoint: bad data-loader position '", text, "'");
  p.epoch = epoch, p.index = index, p.seed = seed;
  return p;
}

LossLog::LossLog(const std::string& run_dir, bool resume, int64_t step)
    : svg_path_(run_file(run_dir, "loss.svg")),
      csv_(resume ? CsvLog::resume(run_file(run_dir, "loss.csv"), {"step", "loss", "lr"}, double(step))
                  : CsvLog::create(run_file(run_dir, "loss.csv"), {"step", "loss", "lr"})) {
  if (!resume) return;
  CsvTable table = read_csv(csv_.path());
  steps_ = table.column("step");
  losses_ = table.column("loss");
}

void LossLog::append(int64_t step, double loss, double lr) {
  csv_.append({double(step), loss, lr});
  steps_.push_back(double(step));
  losses_.push_back(loss);
}

void LossLog::save_svg(const std::string& title) const {
  if (!steps_.empty()) save_loss_svg(svg_path_, steps_, losses_, title, true);
}

}  // namespace tinydiff
