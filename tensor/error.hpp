// Errors a user can cause (bad shapes, files, flags) are exceptions with a message that names
// the op and the values involved. Programs catch them in main, print them and exit non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tinydiff {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown by the stubs of a student handout (see lessons/README.md).
struct NotImplemented : Error {
  using Error::Error;
};

template <class... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}

}  // namespace tinydiff

// TD_CHECK(cond, "conv2d: input has ", c, " channels ...") throws tinydiff::Error when cond is false.
#define TD_CHECK(cond, ...)                                       \
  do {                                                            \
    if (!(cond)) ::tinydiff::throw_error(__VA_ARGS__);            \
  } while (0)
