// Helpers for the classroom grading tests, tests/test_exercises_lessonNN.cpp (see
// lessons/README.md).
//
// EXERCISE_CASE("01.3", "ddim_step: ...") opens the doctest case "01.3 ddim_step: ..." in the
// enclosing TEST_SUITE("lesson01"); `make grade LESSON=01` scores exercise 01.3 by the cases
// whose names start with "01.3 ". In a handout, each stub throws tinydiff::NotImplemented
// with a message that starts with its exercise id. When a case reaches the stub of an
// exercise of an EARLIER lesson (it runs in that lesson's handout, where later lessons cannot
// work: lesson 01 needs lesson 00's conv2d), the case is skipped, not failed. A stub of its
// own lesson fails it (that is the grade); so does a stub of a LATER lesson, because an early
// lesson's tests must never need a later lesson's code.
#pragma once
#include <cctype>
#include <string>

#include "tensor/kernels/conv.hpp"
#include "tests/testing.hpp"

namespace tinydiff::test {

// The two-digit lesson of a stub's message "NN.n: title — see ...", or "" for another message.
inline std::string stub_lesson(const std::string& message) {
  bool is_stub = message.size() > 3 && std::isdigit((unsigned char)message[0]) &&
                 std::isdigit((unsigned char)message[1]) && message[2] == '.';
  return is_stub ? message.substr(0, 2) : "";
}

// Runs one grading case; see the top of this file for when a NotImplemented skips it.
template <class Body>
void run_exercise_case(const char* id, Body body) {
  try {
    body();
  } catch (const NotImplemented& e) {
    std::string lesson = stub_lesson(e.what());
    if (lesson.empty() || lesson >= std::string(id, 2)) throw;
    skip(std::string("needs exercise ") + e.what() + ", which this handout leaves open");
  }
}

// Cases that run a convolution call this first, so that they depend on exercise 00.3 (im2col)
// whichever path conv2d takes: the implicit-GEMM path of 3x3 "same" convolutions never calls
// im2col, so without this a case would pass or fail in a handout depending on its shapes.
inline void needs_conv2d() {
  ConvGeometry one_pixel;
  float image = 1.f, column = 0.f;
  cpu::im2col(one_pixel, &image, &column);
}

}  // namespace tinydiff::test

#define EXERCISE_CASE(id, description)                                                   \
  static void TD_CONCAT(td_exercise_body_, __LINE__)();                                   \
  TEST_CASE(id " " description) {                                                         \
    ::tinydiff::test::run_exercise_case(id, TD_CONCAT(td_exercise_body_, __LINE__));      \
  }                                                                                       \
  static void TD_CONCAT(td_exercise_body_, __LINE__)()
