// CsvLog and read_csv (declared in lessons/common/plot.hpp).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "lessons/common/file_io.hpp"
#include "lessons/common/plot.hpp"
#include "tensor/error.hpp"

namespace tinydiff {

namespace {

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? "," : "") + parts[i];
  return s;
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.push_back("");
  return fields;
}

// The complete lines of `text` (a last line without its '\n' was cut short and is dropped).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1)
    lines.push_back(text.substr(at, end - at));
  return lines;
}

bool parse_number(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0';
}

}  // namespace

CsvLog::CsvLog(std::string path, std::vector<std::string> columns)
    : path_(std::move(path)), columns_(std::move(columns)) {
  file_ = std::fopen(path_.c_str(), "a");
  TD_CHECK(file_, "csv: cannot append to '", path_, "': ", std::strerror(errno));
}

CsvLog::CsvLog(CsvLog&& other) noexcept
    : path_(std::move(other.path_)), columns_(std::move(other.columns_)), file_(other.file_) {
  other.file_ = nullptr;
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

CsvLog CsvLog::create(const std::string& path, const std::vector<std::string>& columns) {
  TD_CHECK(!columns.empty(), "csv: ", path, ": no columns given");
  write_file_atomic(path, join(columns) + "\n", "csv");
  return CsvLog(path, columns);
}

CsvLog CsvLog::resume(const std::string& path, const std::vector<std::string>& columns,
                      double last_step) {
  if (!std::filesystem::exists(path)) return create(path, columns);
  std::vector<std::string> lines = complete_lines(read_file(path, "csv"));
  TD_CHECK(!lines.empty() && lines[0] == join(columns), "csv: ", path, " has the columns '",
           lines.empty() ? "" : lines[0], "' but this run logs '", join(columns),
           "' (a different program's log?)");
  std::string kept = lines[0] + "\n";
  for (size_t i = 1; i < lines.size(); ++i) {
    double step;
    std::vector<std::string> fields = split_fields(lines[i]);
    TD_CHECK(!fields.empty() && parse_number(fields[0], &step), "csv: ", path, ": line ", i + 1,
             " does not start with a number: '", lines[i], "'");
    if (step <= last_step) kept += lines[i] + "\n";
  }
  write_file_atomic(path, kept, "csv");
  return CsvLog(path, columns);
}

void CsvLog::append(const std::vector<double>& values) {
  TD_CHECK(values.size() == columns_.size(), "csv: ", path_, ": a row of ", values.size(),
           " values for the ", columns_.size(), " columns ", join(columns_));
  std::string line;
  char buffer[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buffer, sizeof buffer, "%.9g", values[i]);
    line += (i ? "," : "") + std::string(buffer);
  }
  line += "\n";
  bool ok = std::fputs(line.c_str(), file_) >= 0 && std::fflush(file_) == 0;
  TD_CHECK(ok, "csv: writing to '", path_, "' failed (disk full?)");
}

std::vector<double> CsvTable::column(const std::string& name) const {
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c] == name) {
      std::vector<double> values;
      for (const auto& row : rows) values.push_back(row[c]);
      return values;
    }
  throw_error("csv: no column '", name, "' (the columns are ", join(columns), ")");
}

CsvTable read_csv(const std::string& path) {
  std::vector<std::string> lines = complete_lines(read_file(path, "csv"));
  TD_CHECK(!lines.empty(), "csv: ", path, " is empty (no header line)");
  CsvTable table;
  table.columns = split_fields(lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> fields = split_fields(lines[i]);
    TD_CHECK(fields.size() == table.columns.size(), "csv: ", path, ": line ", i + 1, " has ",
             fields.size(), " fields but the header has ", table.columns.size());
    std::vector<double> row(fields.size());
    for (size_t c = 0; c < fields.size(); ++c)
      TD_CHECK(parse_number(fields[c], &row[c]), "csv: ", path, ": line ", i + 1, ", column ",
               table.columns[c], ": '", fields[c], "' is not a number");
    table.rows.push_back(row);
  }
  return table;
}

}  // namespace tinydiff
