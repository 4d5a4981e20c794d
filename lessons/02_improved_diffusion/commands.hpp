// The subcommands of build/lesson02 (each takes the arguments after its name, returns the
// exit code): train.cpp, sample.cpp, eval.cpp and summary.cpp.
#pragma once
#include <string>
#include <vector>

namespace tinydiff::lesson02 {

int train(const std::vector<std::string>& args);
int sample(const std::vector<std::string>& args);
int eval(const std::vector<std::string>& args);
int summary(const std::vector<std::string>& args);

}  // namespace tinydiff::lesson02
