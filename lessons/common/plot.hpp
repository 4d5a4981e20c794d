// Training curves: loss.csv (CsvLog) and loss.svg (save_loss_svg), written into the run folder.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

namespace tinydiff {

// An SVG line chart of the loss: the raw values as a thin line and their moving average (over
// about 1/25 of the run) as a thick one; axes with ticks and labels; optionally a log-scale y
// axis. Non-finite values (and, on a log scale, values <= 0) are left out. Written atomically.
void save_loss_svg(const std::string& path, const std::vector<double>& steps,
                   const std::vector<double>& losses, const std::string& title, bool log_y = false);

// A CSV file with a header line, e.g. "step,loss,lr", to which training appends one row per
// logged step. Each row is flushed at once, so the file is complete up to the last row.
class CsvLog {
 public:
  // A new log: replaces any existing file with just the header.
  static CsvLog create(const std::string& path, const std::vector<std::string>& columns);
  // Continues the log of a resumed run. The header must match `columns`. Rows whose first
  // column (the step) is greater than `last_step` -- logged after the checkpoint we resume
  // from -- are dropped, and so is a last line cut short by a crash, so that the resumed
  // log reads like an uninterrupted one. A missing file is created.
  static CsvLog resume(const std::string& path, const std::vector<std::string>& columns,
                       double last_step);

  CsvLog(CsvLog&& other) noexcept;
  CsvLog& operator=(CsvLog&& other) = delete;
  CsvLog(const CsvLog&) = delete;
  ~CsvLog();

  void append(const std::vector<double>& values);
  const std::string& path() const { return path_; }

 private:
  CsvLog(std::string path, std::vector<std::string> columns);
  std::string path_;
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
};

// A CSV file read back: its header and its rows of numbers.
struct CsvTable {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  // The values of one column; an Error names the file's columns when `name` is not one.
  std::vector<double> column(const std::string& name) const;
};
CsvTable read_csv(const std::string& path);

}  // namespace tinydiff
