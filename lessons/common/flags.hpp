// Command-line flags for the lesson programs: `lessonNN SUBCOMMAND [--name value] [--switch]`.
//
//   Flags flags("lesson01", "train", "Trains the ContextUnet with DDPM.");
//   flags.add_int("steps", 1000, "total training steps");
//   flags.add_choice("dataset", "sprites", {"mnist", "sprites"}, "which data set");
//   flags.add_bool("resume", "continue from RUN_DIR/ckpt.safetensors");
//   if (!flags.parse(args)) return 0;          // --help was printed
//   int64_t steps = flags.get_int("steps");
//
// Values are given as `--name value` or `--name=value`; a bool flag is a switch (`--resume`)
// or takes an explicit `--resume=false`. Unknown flags, missing values and unparsable numbers
// throw an Error that names the flag and the value and points to --help.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace tinydiff {

class Flags {
 public:
  Flags(std::string program, std::string subcommand, std::string description);

  void add_string(const std::string& name, const std::string& default_value,
                  const std::string& help);
  void add_int(const std::string& name, int64_t default_value, const std::string& help);
  void add_float(const std::string& name, double default_value, const std::string& help);
  void add_bool(const std::string& name, const std::string& help);  // default false
  // A string flag that must be one of `choices`.
  void add_choice(const std::string& name, const std::string& default_value,
                  const std::vector<std::string>& choices, const std::string& help);

  // Parses the arguments after the subcommand. Returns false when --help was given: the
  // usage has then been written to `help_out` and the caller should exit successfully.
  bool parse(const std::vector<std::string>& args);
  bool parse(const std::vector<std::string>& args, std::ostream& help_out);

  std::string get_string(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  // True when the flag was given on the command line (not just defaulted).
  bool was_set(const std::string& name) const;
  // Every flag and its value as text, in declaration order (for run configs and logs).
  std::vector<std::pair<std::string, std::string>> values() const;

  std::string usage() const;

 private:
  enum class Type { String, Int, Float, Bool };
  struct Option {
    std::string name, help, value, default_value;
    Type type;
    std::vector<std::string> choices;
    bool set = false;
  };
  void declare(const std::string& name, Type type, const std::string& default_value,
               const std::string& help, const std::vector<std::string>& choices = {});
  const Option& find(const std::string& name, Type type) const;
  void assign(Option& option, const std::string& value);
  [[noreturn]] void fail(const std::string& message) const;

  std::string program_, subcommand_, description_;
  std::vector<Option> options_;
  std::map<std::string, size_t> index_;
};

// One subcommand of a program: `run` receives the arguments after the subcommand's name.
struct Subcommand {
  std::string name, help;
  std::function<int(const std::vector<std::string>& args)> run;
};

// The body of a lesson's main(): picks the subcommand named by argv[1] and runs it. With no
// subcommand, `--help` or an unknown one it prints the list of subcommands. A tinydiff::Error
// (bad flag, bad file, bad shape) is printed as "PROGRAM: error: message" and gives exit code 1.
int run_subcommands(int argc, char** argv, const std::string& program,
                    const std::string& description, const std::vector<Subcommand>& subcommands);

}  // namespace tinydiff
