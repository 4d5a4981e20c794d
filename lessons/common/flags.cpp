#include "lessons/common/flags.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "tensor/error.hpp"

namespace tinydiff {

namespace {

// Levenshtein distance, to suggest "--steps" for a mistyped "--step".
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool parse_int(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  *out = v;
  return true;
}

bool parse_float(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool parse_bool(const std::string& text, bool* out) {
  if (text == "true" || text == "1" || text == "yes") return *out = true, true;
  if (text == "false" || text == "0" || text == "no") return *out = false, true;
  return false;
}

// The shortest decimal text that reads back as exactly `v` ("0.001", not "0.00100000000000000002").
std::string shortest_text(double v) {
  char buffer[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
    if (std::strtod(buffer, nullptr) == v) break;
  }
  return buffer;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? sep : "") + parts[i];
  return s;
}

}  // namespace

Flags::Flags(std::string program, std::string subcommand, std::string description)
    : program_(std::move(program)),
      subcommand_(std::move(subcommand)),
      description_(std::move(description)) {}

void Flags::declare(const std::string& name, Type type, const std::string& default_value,
                    const std::string& help, const std::vector<std::string>& choices) {
  TD_CHECK(!index_.count(name) && name != "help", "flags: ", program_, " ", subcommand_,
           " declares --", name, " twice");
  index_[name] = options_.size();
  Option option;
  option.name = name, option.help = help, option.type = type, option.choices = choices;
  option.value = option.default_value = default_value;
  options_.push_back(option);
}

void Flags::add_string(const std::string& name, const std::string& default_value,
                       const std::string& help) {
  declare(name, Type::String, default_value, help);
}
void Flags::add_int(const std::string& name, int64_t default_value, const std::string& help) {
  declare(name, Type::Int, std::to_string(default_value), help);
}
void Flags::add_float(const std::string& name, double default_value, const std::string& help) {
  declare(name, Type::Float, shortest_text(default_value), help);
}
void Flags::add_bool(const std::string& name, const std::string& help) {
  declare(name, Type::Bool, "false", help);
}
void Flags::add_choice(const std::string& name, const std::string& default_value,
                       const std::vector<std::string>& choices, const std::string& help) {
  declare(name, Type::String, default_value, help, choices);
}

void Flags::fail(const std::string& message) const {
  throw_error(program_, " ", subcommand_, ": ", message, " (see '", program_, " ", subcommand_,
              " --help')");
}

// Checks that `value` suits the option's type before storing it.
void Flags::assign(Option& option, const std::string& value) {
  int64_t i = 0;
  double x = 0;
  bool b = false;
  const std::string got = ", got '" + value + "'";
  if (option.type == Type::Int && !parse_int(value, &i))
    fail("--" + option.name + " expects an integer" + got);
  if (option.type == Type::Float && !parse_float(value, &x))
    fail("--" + option.name + " expects a number" + got);
  if (option.type == Type::Bool && !parse_bool(value, &b))
    fail("--" + option.name + " expects true or false" + got);
  if (!option.choices.empty() &&
      std::find(option.choices.begin(), option.choices.end(), value) == option.choices.end())
    fail("--" + option.name + " expects one of " + join(option.choices, ", ") + got);
  option.value = option.type == Type::Bool ? (b ? "true" : "false") : value;
  option.set = true;
}

bool Flags::parse(const std::vector<std::string>& args) { return parse(args, std::cout); }

bool Flags::parse(const std::vector<std::string>& args, std::ostream& help_out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_out << usage();
      return false;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) fail("unexpected argument '" + arg + "'");
    size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    auto it = index_.find(name);
    if (it == index_.end()) {
      std::string hint;
      for (const Option& o : options_)
        if (edit_distance(name, o.name) <= 2) hint = " (did you mean --" + o.name + "?)";
      fail("unknown flag --" + name + hint);
    }
    Option& option = options_[it->second];
    if (eq != std::string::npos) {
      assign(option, arg.substr(eq + 1));
    } else if (option.type == Type::Bool) {
      assign(option, "true");
    } else {
      if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
        fail("--" + name + " needs a value");
      assign(option, args[++i]);
    }
  }
  return true;
}

const Flags::Option& Flags::find(const std::string& name, Type type) const {
  auto it = index_.find(name);
  TD_CHECK(it != index_.end(), "flags: ", program_, " ", subcommand_, " has no flag --", name);
  const Option& option = options_[it->second];
  TD_CHECK(option.type == type, "flags: --", name, " is read with the wrong type");
  return option;
}

std::string Flags::get_string(const std::string& name) const {
  return find(name, Type::String).value;
}

int64_t Flags::get_int(const std::string& name) const {
  int64_t v = 0;
  parse_int(find(name, Type::Int).value, &v);
  return v;
}

double Flags::get_float(const std::string& name) const {
  double v = 0;
  parse_float(find(name, Type::Float).value, &v);
  return v;
}

bool Flags::get_bool(const std::string& name) const {
  return find(name, Type::Bool).value == "true";
}

bool Flags::was_set(const std::string& name) const {
  auto it = index_.find(name);
  TD_CHECK(it != index_.end(), "flags: ", program_, " ", subcommand_, " has no flag --", name);
  return options_[it->second].set;
}

std::vector<std::pair<std::string, std::string>> Flags::values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Option& o : options_) out.emplace_back(o.name, o.value);
  return out;
}

// usage: lesson01 train [options]
//   --steps N    total training steps (default 1000)
std::string Flags::usage() const {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const Option& o : options_) {
    std::string shape = o.type == Type::Int ? " N" : o.type == Type::Float ? " X" : " VALUE";
    if (!o.choices.empty()) shape = " " + join(o.choices, "|");
    if (o.type == Type::Bool) shape = "";
    // "(default X)" unless the help already explains the default.
    bool said = o.help.find("(default") != std::string::npos;
    std::string dflt = o.type == Type::Bool || o.default_value.empty() || said
                           ? ""
                           : " (default " + o.default_value + ")";
    rows.emplace_back("--" + o.name + shape, o.help + dflt);
  }
  rows.emplace_back("--help", "show this help");
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string text = "usage: " + program_ + " " + subcommand_ + " [options]\n";
  if (!description_.empty()) text += description_ + "\n";
  text += "\noptions:\n";
  for (const auto& [left, right] : rows)
    text += "  " + left + std::string(width - left.size() + 3, ' ') + right + "\n";
  return text;
}

int run_subcommands(int argc, char** argv, const std::string& program,
                    const std::string& description, const std::vector<Subcommand>& subcommands) {
  std::string name = argc > 1 ? argv[1] : "";
  const Subcommand* chosen = nullptr;
  for (const Subcommand& s : subcommands)
    if (s.name == name) chosen = &s;
  if (!chosen) {
    bool asked = name == "--help" || name == "-h";
    std::ostream& out = asked ? std::cout : std::cerr;
    if (name.empty())
      out << program << ": no subcommand given\n";
    else if (!asked)
      out << program << ": unknown subcommand '" << name << "'\n";
    out << "usage: " << program << " SUBCOMMAND [options]\n" << description << "\n\nsubcommands:\n";
    for (const Subcommand& s : subcommands) {
      size_t gap = s.name.size() < 10 ? 12 - s.name.size() : 2;
      out << "  " << s.name << std::string(gap, ' ') << s.help << "\n";
    }
    out << "\nRun '" << program << " SUBCOMMAND --help' for its flags.\n";
    return asked ? 0 : 2;
  }
  try {
    return chosen->run(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::exception& e) {  // tinydiff::Error, and std::bad_alloc & co.
    std::cerr << program << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace tinydiff
