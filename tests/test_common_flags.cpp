// lessons/common/flags: declaring, parsing and reading flags; --help; clear errors.
#include <iostream>
#include <sstream>

#include "lessons/common/flags.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

namespace {

Flags train_flags() {
  Flags flags("lesson01", "train", "Trains the ContextUnet with DDPM.");
  flags.add_int("steps", 1000, "total training steps");
  flags.add_float("lr", 1e-3, "learning rate");
  flags.add_float("beta", 0.1 + 0.2, "a default that needs 17 digits");
  flags.add_string("out", "runs/lesson01", "run folder");
  flags.add_choice("dataset", "sprites", {"mnist", "sprites"}, "which data set");
  flags.add_bool("resume", "continue from RUN_DIR/ckpt.safetensors");
  flags.add_int("batch", 0, "batch size (default: the preset's)");
  return flags;
}

}  // namespace

TEST_CASE("flags: defaults, --name value, --name=value and switches") {
  Flags flags = train_flags();
  REQUIRE(flags.parse({}));
  CHECK(flags.get_int("steps") == 1000);
  CHECK(flags.get_float("lr") == 1e-3);
  CHECK(flags.get_float("beta") == 0.1 + 0.2);  // read back exactly
  CHECK(flags.get_string("dataset") == "sprites");
  CHECK_FALSE(flags.get_bool("resume"));
  CHECK_FALSE(flags.was_set("steps"));

  Flags given = train_flags();
  REQUIRE(given.parse({"--steps", "250", "--lr=-2.5e-4", "--resume", "--dataset", "mnist",
                       "--out=", "--steps", "300"}));
  CHECK(given.get_int("steps") == 300);  // the last one wins
  CHECK(given.get_float("lr") == doctest::Approx(-2.5e-4));
  CHECK(given.get_bool("resume"));
  CHECK(given.get_string("dataset") == "mnist");
  CHECK(given.get_string("out").empty());
  CHECK(given.was_set("steps"));
  CHECK(given.was_set("out"));

  Flags explicit_bool = train_flags();
  REQUIRE(explicit_bool.parse({"--resume=false"}));
  CHECK_FALSE(explicit_bool.get_bool("resume"));
  CHECK(explicit_bool.was_set("resume"));
}

TEST_CASE("flags: --help prints the usage of the subcommand and returns false") {
  Flags flags = train_flags();
  std::ostringstream out;
  CHECK_FALSE(flags.parse({"--steps", "5", "--help"}, out));
  std::string usage = out.str();
  CHECK(usage.find("usage: lesson01 train [options]") == 0);
  CHECK(usage.find("Trains the ContextUnet with DDPM.") != std::string::npos);
  CHECK(usage.find("--steps N") != std::string::npos);
  CHECK(usage.find("total training steps (default 1000)") != std::string::npos);
  CHECK(usage.find("--dataset mnist|sprites") != std::string::npos);
  CHECK(usage.find("--lr X") != std::string::npos);
  CHECK(usage.find("learning rate (default 0.001)") != std::string::npos);
  CHECK(usage.find("batch size (default: the preset's)\n") != std::string::npos);  // said once
  CHECK(usage.find("--resume ") != std::string::npos);
  CHECK(usage.find("--help") != std::string::npos);
}

TEST_CASE("flags: bad input names the flag and the value and points to --help") {
  Flags flags = train_flags();
  auto parse = [&](std::vector<std::string> args) { return flags.parse(args); };
  CHECK_THROWS_WITH_AS(
      parse({"--steps", "ten"}),
      "lesson01 train: --steps expects an integer, got 'ten' (see 'lesson01 train --help')", Error);
  CHECK_THROWS_WITH_AS(parse({"--steps=1.5"}),
                       doctest::Contains("--steps expects an integer, got '1.5'"), Error);
  CHECK_THROWS_WITH_AS(parse({"--steps", "99999999999999999999"}),
                       doctest::Contains("expects an integer"), Error);
  CHECK_THROWS_WITH_AS(parse({"--lr", "fast"}),
                       doctest::Contains("--lr expects a number, got 'fast'"), Error);
  CHECK_THROWS_WITH_AS(parse({"--lr", "inf"}),
                       doctest::Contains("--lr expects a number, got 'inf'"), Error);
  CHECK_THROWS_WITH_AS(parse({"--resume=maybe"}),
                       doctest::Contains("--resume expects true or false, got 'maybe'"), Error);
  CHECK_THROWS_WITH_AS(parse({"--dataset", "cifar"}),
                       doctest::Contains("--dataset expects one of mnist, sprites, got 'cifar'"),
                       Error);
  CHECK_THROWS_WITH_AS(parse({"--step", "5"}),
                       doctest::Contains("unknown flag --step (did you mean --steps?)"), Error);
  CHECK_THROWS_WITH_AS(parse({"--colour", "red"}), doctest::Contains("unknown flag --colour (see"),
                       Error);
  CHECK_THROWS_WITH_AS(parse({"--steps"}), doctest::Contains("--steps needs a value"), Error);
  CHECK_THROWS_WITH_AS(parse({"--steps", "--lr", "1"}), doctest::Contains("--steps needs a value"),
                       Error);
  CHECK_THROWS_WITH_AS(parse({"extra"}), doctest::Contains("unexpected argument 'extra'"), Error);
  CHECK_THROWS_WITH_AS(parse({"--"}), doctest::Contains("unexpected argument '--'"), Error);
}

TEST_CASE("flags: programming mistakes are errors too") {
  Flags flags = train_flags();
  CHECK_THROWS_WITH_AS(flags.add_int("steps", 1, "again"),
                       doctest::Contains("declares --steps twice"), Error);
  CHECK_THROWS_WITH_AS(flags.get_int("nope"), doctest::Contains("has no flag --nope"), Error);
  CHECK_THROWS_WITH_AS(flags.get_int("lr"), doctest::Contains("--lr is read with the wrong type"),
                       Error);
}

TEST_CASE("run_subcommands dispatches, lists subcommands and turns errors into exit code 1") {
  std::vector<std::string> seen;
  std::vector<Subcommand> subcommands = {
      {"train", "train a model",
       [&](const std::vector<std::string>& args) {
         seen = args;
         return 0;
       }},
      {"eval", "evaluate",
       [&](const std::vector<std::string>& args) -> int {
         Flags flags("prog", "eval", "");
         flags.add_int("n", 1, "count");
         flags.parse(args);
         return 3;
       }},
      {"a-very-long-subcommand", "long names keep a gap",
       [](const std::vector<std::string>&) { return 0; }},
  };
  std::ostringstream out, err;
  auto run = [&](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    out.str(""), err.str("");
    std::streambuf *old_out = std::cout.rdbuf(out.rdbuf()), *old_err = std::cerr.rdbuf(err.rdbuf());
    int rc = run_subcommands(int(argv.size()), argv.data(), "prog", "A test program.", subcommands);
    std::cout.rdbuf(old_out), std::cerr.rdbuf(old_err);
    return rc;
  };
  CHECK(run({"prog", "train", "--x", "1"}) == 0);
  CHECK(seen == std::vector<std::string>{"--x", "1"});
  CHECK(run({"prog", "eval"}) == 3);
  CHECK(run({"prog", "eval", "--n", "many"}) == 1);  // the Error is printed, not thrown
  CHECK(err.str() ==
        "prog: error: prog eval: --n expects an integer, got 'many' (see 'prog eval --help')\n");
  CHECK(run({"prog", "--help"}) == 0);
  CHECK(out.str().find("usage: prog SUBCOMMAND [options]\nA test program.") == 0);
  CHECK(out.str().find("  eval        evaluate\n") != std::string::npos);
  CHECK(out.str().find("  a-very-long-subcommand  long names keep a gap\n") != std::string::npos);
  CHECK(run({"prog"}) == 2);
  CHECK(err.str().find("prog: no subcommand given") == 0);
  CHECK(run({"prog", "fly"}) == 2);
  CHECK(err.str().find("prog: unknown subcommand 'fly'") == 0);
}
