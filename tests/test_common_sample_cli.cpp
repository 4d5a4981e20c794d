// lessons/common/sample_cli and run_checkpoint: the --class flag, the classes of a batch of
// samples, the trajectory's frame spacing, and reading a checkpoint's configuration back.
// (train_flags, train_loop and sample_scores run in the lesson smoke tests.)
#include "lessons/common/run_checkpoint.hpp"
#include "lessons/common/sample_cli.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

TEST_CASE("sample_cli: --class is an index or 'all'; errors name the program and the text") {
  CHECK(parse_class_flag("all", "lesson01 sample") == -1);
  CHECK(parse_class_flag("3", "lesson01 sample") == 3);
  for (const char* bad : {"x", "-1", "2a", ""})
    CHECK_THROWS_WITH_AS(parse_class_flag(bad, "lesson01 sample"),
                         doctest::Contains("lesson01 sample: --class expects"), Error);
}

TEST_CASE("sample_cli: one class for every sample, or n / classes of each in order") {
  CHECK(sample_classes(3, 2, 5, "lesson01") == std::vector<int64_t>{2, 2, 2});
  CHECK(sample_classes(6, -1, 3, "lesson01") == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(class_tensor({0, 2, 1}).tolist() == std::vector<float>{0, 2, 1});
  CHECK_THROWS_WITH_AS(sample_classes(4, 5, 5, "lesson02"),
                       doctest::Contains("lesson02: --class 5 is out of range"), Error);
  CHECK_THROWS_WITH_AS(sample_classes(7, -1, 5, "lesson01"),
                       doctest::Contains("--n divisible by the 5 classes, got 7"), Error);
}

TEST_CASE("sample_cli: about 16 trajectory frames only when a strip or GIF is asked for") {
  auto parsed = [](const std::vector<std::string>& args) {
    Flags f("lesson01", "sample", "test");
    add_sample_output_flags(f);
    REQUIRE(f.parse(args));
    return f;
  };
  CHECK(trajectory_keep_every(parsed({}), 500) == 0);
  Flags gif = parsed({"--gif", "x.gif"});
  CHECK(trajectory_keep_every(gif, 500) == 31);
  CHECK(trajectory_keep_every(gif, 5) == 1);
  CHECK_THROWS_WITH_AS(sample_device(gif, "lesson01 sample"),
                       doctest::Contains("lesson01 sample: --png FILE is required"), Error);
  CHECK(sample_device(parsed({"--png", "x.png"}), "lesson01 sample") == Device::cpu());
}

TEST_CASE("run_checkpoint: ConfigReader reads values back and names a missing key") {
  std::map<std::string, std::string> config = {
      {"steps", "12"}, {"lr", "0.002"}, {"ema", "true"}, {"dataset", "mnist"}};
  ConfigReader get(config, "lesson01");
  CHECK(get.integer("steps") == 12);
  CHECK(get.number("lr") == 0.002);
  CHECK(get.flag("ema"));
  CHECK(get.text("dataset") == "mnist");
  CHECK(config_flag(true) == "true");
  CHECK(config_flag(false) == "false");
  CHECK_THROWS_WITH_AS(get.text("n-feat"),
                       doctest::Contains("lesson01: the checkpoint's configuration has no "
                                         "'n-feat' (was it written by lesson01 train?)"),
                       Error);
}
