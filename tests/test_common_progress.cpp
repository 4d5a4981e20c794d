// lessons/common/progress: the status line's numbers, redraw throttling, TTY and log modes.
#include <cstdio>

#include "lessons/common/progress.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

namespace {

// A progress bar writing to a temporary file, driven by a fake clock.
struct Harness {
  double now = 0;
  std::FILE* file = std::tmpfile();
  ProgressOptions options(int tty, int64_t items = 0) {
    ProgressOptions o("train", items);
    o.out = file, o.tty = tty, o.interval_s = 10;
    o.clock = [this] { return now; };
    return o;
  }
  std::string output() {
    std::fflush(file);
    std::string text;
    std::rewind(file);
    for (int c; (c = std::fgetc(file)) != EOF;) text += char(c);
    return text;
  }
  ~Harness() { std::fclose(file); }
};

}  // namespace

TEST_CASE("progress line: counts, bar, smoothed loss, images/s, elapsed and ETA") {
  Harness h;
  ProgressBar bar(100, 0, h.options(0, 8));
  h.now = 10;
  bar.update(50, 1.0);
  CHECK(bar.line() ==
        "train  50/100 [##############..............]  50%  loss 1  40.0 img/s  00:10 < 00:10");
  bar.update(51, 0.0);  // the shown loss is 0.9 * 1 + 0.1 * 0
  CHECK(bar.line().find("loss 0.9 ") != std::string::npos);
  h.now = 3725;
  CHECK(bar.line().find("1:02:05 < ") != std::string::npos);

  Harness resumed;
  ProgressBar second(100, 50, resumed.options(0));
  CHECK(second.line() == "train  50/100 [##############..............]  50%  00:00 < --:--");
  resumed.now = 10;
  second.update(75);  // 25 steps in 10 s since the resume: 25 more steps take 10 s
  CHECK(second.line() == "train  75/100 [#####################.......]  75%  00:10 < 00:10");
}

TEST_CASE("progress in a log prints a plain line every interval and at the end") {
  Harness h;
  ProgressBar bar(10, 0, h.options(0));
  h.now = 1;
  bar.update(1, 0.5);  // the first update prints
  h.now = 5;
  bar.update(2, 0.5);  // too soon
  h.now = 11.5;
  bar.update(3, 0.5);  // 10 s after the last line
  bar.finish();
  bar.finish();  // once only
  std::string out = h.output();
  CHECK(out.find('\r') == std::string::npos);
  int lines = 0;
  for (char c : out) lines += c == '\n';
  CHECK(lines == 3);
  CHECK(out.find("train  1/10 ") == 0);
  CHECK(out.find("\ntrain  3/10 ") != std::string::npos);
}

TEST_CASE("progress on a terminal redraws in place, at most every 0.1 s") {
  Harness h;
  ProgressBar bar(1000, 0, h.options(1));
  for (int step = 1; step <= 1000; ++step) {
    h.now = step * 0.01;  // 100 updates per second
    bar.update(step, 0.1);
  }
  bar.finish();
  std::string out = h.output();
  int redraws = 0;
  for (char c : out) redraws += c == '\r';
  CHECK(redraws >= 90);
  CHECK(redraws <= 102);
  CHECK(out.find("\033[K") != std::string::npos);
  CHECK(out.back() == '\n');
  CHECK(out.find("1000/1000 [############################] 100%") != std::string::npos);
}

TEST_CASE("progress rejects impossible ranges") {
  CHECK_THROWS_WITH_AS(ProgressBar(0), doctest::Contains("total > 0, got total 0"), Error);
  CHECK_THROWS_WITH_AS(ProgressBar(10, 11), doctest::Contains("start 11 must be in [0, total]"),
                       Error);
}
