// Training checkpoints: an interrupted and resumed run is bit-identical to a straight one;
// the file is written atomically; a different model, another optimizer, a truncated or foreign
// file are refused with clear messages; the Ctrl-C flag.
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "nn/lr_schedule.hpp"
#include "nn/train_state.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// x (B, in) -> relu((x - running_mean) w1 + b1), dropout 0.1 (from the default generator),
// then w2 -> (B, 1). running_mean is a buffer updated by every forward.
struct TinyNet : Module {
  Tensor w1, b1, w2, running_mean;
  TinyNet(int64_t in, int64_t hidden, uint64_t seed, const char* out_name = "w2") {
    Generator g(seed);
    register_parameter("w1", &w1, randn({in, hidden}, &g) * 0.5f);
    register_parameter("b1", &b1, zeros({hidden}));
    register_parameter(out_name, &w2, randn({hidden, 1}, &g) * 0.5f);
    register_buffer("running_mean", &running_mean, zeros({in}));
  }
  std::string type_name() const override { return "TinyNet"; }
  Tensor forward(const Tensor& x) override {
    {
      NoGradGuard no_grad;
      running_mean = running_mean * 0.9f + mean(x, {0}) * 0.1f;
    }
    Tensor h = relu(matmul(x - running_mean, w1) + b1);
    Tensor keep = gt(rand(h.shape()), scalar_tensor(0.1f)) / 0.9f;
    return matmul(h * keep, w2);
  }
};

// One step: the batch from `data`, input noise and dropout from the default generator,
// gradient clipping, a cosine schedule, Adam, then the EMA.
void train_step(TinyNet& net, Adam& opt, EMA& ema, Generator& data) {
  Tensor x = randn({8, 4}, &data);
  Tensor target = sum(x, {1}, true);
  Tensor noisy = x + randn(x.shape()) * 0.1f;
  Tensor loss = mean(square(net(noisy) - target));
  opt.zero_grad();
  loss.backward();
  clip_grad_norm_(net.parameters(), 1.0);
  opt.lr = cosine_lr(0.02, 20, 3)(opt.step_count());
  opt.step();
  ema.update(net);
}

// Everything a run's result consists of, as exact float lists.
std::map<std::string, std::vector<float>> snapshot(const TinyNet& net, const EMA& ema,
                                                   const Optimizer& opt) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [key, t] : net.state_dict()) out["model." + key] = t.tolist();
  for (const auto& [key, t] : ema.state_dict()) out["ema." + key] = t.tolist();
  for (const auto& [key, t] : opt.state_dict()) out["optim." + key] = t.tolist();
  RngState rng = default_generator().state();
  out["rng"] = {float(rng.seed), float(rng.offset)};
  return out;
}

// A fresh folder under the system's temporary folder, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("tinydiff_train_state_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A TinyNet trained for `steps` steps from seed 1234, with its optimizer, EMA and data stream.
struct Run {
  TinyNet net;
  Adam opt;
  EMA ema;
  Generator data;
  explicit Run(uint64_t init_seed = 7)
      : net(4, 16, init_seed), opt(net.named_parameters()), ema(net, 0.9), data(99) {}
  void train(int steps) {
    for (int i = 0; i < steps; ++i) train_step(net, opt, ema, data);
  }
};

std::string save_run(const TempDir& dir, Run& run) {
  std::string path = dir.file("ckpt.safetensors");
  TrainState state;
  state.step = run.opt.step_count();
  state.config = {{"lr", "0.02"}, {"dataset", "tiny"}};
  state.extra = {{"rng.data", format_rng_state(run.data.state())}, {"loader.epoch", "3"}};
  save_train_state(path, run.net, &run.ema, &run.opt, state);
  return path;
}

}  // namespace

TEST_CASE(
    "train_state: 10 steps + save + load into fresh objects + 10 steps == 20 steps, exactly") {
  TempDir dir;
  manual_seed(1234);
  Run straight;
  straight.train(20);
  auto expected = snapshot(straight.net, straight.ema, straight.opt);

  manual_seed(1234);
  Run first;
  first.train(10);
  std::string path = save_run(dir, first);

  manual_seed(555);  // scramble the default generator
  randn({100});
  Run resumed(/*init_seed=*/8);  // other initial weights, overwritten by the load
  TrainState state = load_train_state(path, resumed.net, &resumed.ema, &resumed.opt);
  resumed.data.set_state(parse_rng_state(state.extra.at("rng.data")));
  CHECK(state.step == 10);
  resumed.train(20 - int(state.step));

  auto actual = snapshot(resumed.net, resumed.ema, resumed.opt);
  REQUIRE(actual.size() == expected.size());
  for (const auto& [key, values] : expected) {
    CAPTURE(key);
    CHECK(actual.at(key) == values);
  }
  CHECK(expected.at("optim.step") == std::vector<float>{20});
  CHECK(expected.at("ema.num_updates") == std::vector<float>{20});
}

TEST_CASE(
    "train_state: atomic write, metadata round trip, the model's tensors unchanged by a save") {
  TempDir dir;
  manual_seed(3);
  Run run;
  run.train(2);
  std::vector<float> w1 = run.net.w1.tolist();
  std::string path = save_run(dir, run);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(run.net.w1.tolist() == w1);

  TrainState info = read_train_state_info(path);
  CHECK(info.step == 2);
  CHECK(info.config == std::map<std::string, std::string>{{"dataset", "tiny"}, {"lr", "0.02"}});
  CHECK(info.extra.at("loader.epoch") == "3");
  SafetensorsFile file = load_safetensors(path);
  CHECK(file.metadata.at("model.signature") ==
        "w1 [4, 16]\nb1 [16]\nw2 [16, 1]\nrunning_mean [4]\n");
  CHECK(file.metadata.at("optim.type") == "Adam");
  CHECK(file.tensors.count("model.running_mean") == 1);
  CHECK(file.tensors.count("ema.w1") == 1);
  CHECK(file.tensors.count("optim.exp_avg_sq.w2") == 1);

  // Saving again replaces the file, still leaving no temporary behind.
  run.train(1);
  save_run(dir, run);
  CHECK(read_train_state_info(path).step == 3);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("train_state: a checkpoint of another model is refused, naming the first difference") {
  TempDir dir;
  Run run;
  std::string path = save_run(dir, run);

  TinyNet wider(4, 32, 1);
  std::vector<float> before = wider.w1.tolist();
  CHECK_THROWS_WITH_AS(load_train_state(path, wider, nullptr, nullptr),
                       doctest::Contains("was saved from a different model: 'w1' has shape [4, 16] "
                                         "in the checkpoint but [4, 32] in this model"),
                       Error);
  CHECK(wider.w1.tolist() == before);  // nothing was loaded

  TinyNet renamed(4, 16, 1, "head");
  CHECK_THROWS_WITH_AS(load_train_state(path, renamed, nullptr, nullptr),
                       doctest::Contains("tensor 2 is 'w2' [16, 1] in the checkpoint but 'head' "
                                         "[16, 1] in this model"),
                       Error);

  TinyNet same(4, 16, 1);
  SGD sgd(same.named_parameters(), SGDOptions());
  CHECK_THROWS_WITH_AS(load_train_state(path, same, nullptr, &sgd),
                       doctest::Contains("holds Adam optimizer state, but this run uses SGD"),
                       Error);
}

TEST_CASE("train_state: truncated, foreign and incomplete files are refused") {
  TempDir dir;
  Run run;
  std::string path = save_run(dir, run);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string cut = dir.file("cut.safetensors");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  TinyNet net(4, 16, 1);
  CHECK_THROWS_WITH_AS(load_train_state(cut, net, nullptr, nullptr),
                       doctest::Contains(("safetensors: " + cut).c_str()), Error);

  std::string plain = dir.file("weights.safetensors");
  save_safetensors(plain, net.state_dict());
  CHECK_THROWS_WITH_AS(load_train_state(plain, net, nullptr, nullptr),
                       doctest::Contains("is not a tinydiff training checkpoint"), Error);

  std::string no_ema = dir.file("no_ema.safetensors");
  save_train_state(no_ema, run.net, nullptr, nullptr, TrainState());
  EMA ema(net);
  CHECK_THROWS_WITH_AS(load_train_state(no_ema, net, &ema, nullptr),
                       doctest::Contains("has no EMA state"), Error);
  CHECK_THROWS_WITH_AS(load_train_state(dir.file("missing.safetensors"), net, nullptr, nullptr),
                       doctest::Contains("cannot open"), Error);
}

TEST_CASE("rng states as text round-trip and bad text is refused") {
  RngState s{18446744073709551615ull, 123456789012ull};
  RngState back = parse_rng_state(format_rng_state(s));
  CHECK(back.seed == s.seed);
  CHECK(back.offset == s.offset);
  CHECK(format_rng_state({7, 3}) == "seed=7 offset=3");
  CHECK_THROWS_WITH_AS(parse_rng_state("seed=7"),
                       doctest::Contains("expected 'seed=<n> offset=<n>', got 'seed=7'"), Error);
  CHECK_THROWS_WITH_AS(parse_rng_state("seed=-1 offset=2"),
                       doctest::Contains("rng state seed: expected a whole number >= 0, got '-1'"),
                       Error);
}

TEST_CASE("Ctrl-C sets a flag that the training loop polls") {
  struct sigaction previous {};
  sigaction(SIGINT, nullptr, &previous);  // doctest's handler, put back at the end
  clear_interrupt_request();
  install_interrupt_handler();
  CHECK_FALSE(interrupt_requested());
  std::raise(SIGINT);  // the handler only sets the flag; the program goes on
  CHECK(interrupt_requested());
  clear_interrupt_request();
  CHECK_FALSE(interrupt_requested());
  sigaction(SIGINT, &previous, nullptr);
}
