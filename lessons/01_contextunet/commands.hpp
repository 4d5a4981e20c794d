// The subcommands of build/lesson01 (each takes the arguments after its name, returns the
// exit code): train.cpp, sample.cpp, eval.cpp, and summary in main.cpp.
#pragma once
#include <string>
#include <vector>

namespace tinydiff::lesson01 {

int train(const std::vector<std::string>& args);
int sample(const std::vector<std::string>& args);
int eval(const std::vector<std::string>& args);

}  // namespace tinydiff::lesson01
