// The Module base class: names, the parameter tree, train/eval, gradients, state_dict I/O,
// device moves and summary(). The modules here are built from autograd/ops.hpp only, so these
// tests do not depend on the functional ops.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "nn/init.hpp"
#include "nn/module.hpp"
#include "nn/sequential.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;

namespace {

// y = x * weight + bias, per feature (the last axis).
struct Scale : Module {
  Tensor weight, bias;
  explicit Scale(int64_t n, float w = 1.f) {
    register_parameter("weight", &weight, full({n}, w));
    register_parameter("bias", &bias, zeros({n}));
  }
  std::string type_name() const override { return "Scale"; }
  // x (..., n) -> (..., n)
  Tensor forward(const Tensor& x) override { return x * weight + bias; }
};

// The identity, counting its calls in training mode in the buffer "count".
struct Counter : Module {
  Tensor count;
  Counter() { register_buffer("count", &count, zeros({})); }
  std::string type_name() const override { return "Counter"; }
  Tensor forward(const Tensor& x) override {
    if (is_training()) init::constant_(count, count.item() + 1.f);
    return x;
  }
};

// scale, then a Sequential of (Scale, Counter).
struct Block : Module {
  std::shared_ptr<Scale> scale;
  std::shared_ptr<Sequential> layers;
  explicit Block(int64_t n) {
    scale = register_module("scale", std::make_shared<Scale>(n, 2.f));
    layers = register_module("layers",
                             sequential({std::make_shared<Scale>(n), std::make_shared<Counter>()}));
  }
  std::string type_name() const override { return "Block"; }
  Tensor forward(const Tensor& x) override { return (*layers)((*scale)(x)); }
};

// gain * block2(block1(x)); forward2 takes a second input, as a UNet takes (x, t).
struct Net : Module {
  Tensor gain;
  std::shared_ptr<Block> block1, block2;
  Net() {
    register_parameter("gain", &gain, full({1}, 0.5f));
    block1 = register_module("block1", std::make_shared<Block>(3));
    block2 = register_module("block2", std::make_shared<Block>(3));
  }
  std::string type_name() const override { return "Net"; }
  Tensor forward(const Tensor& x) override { return (*block2)((*block1)(x)) * gain; }
  Tensor forward2(const Tensor& x, const Tensor& y) {
    Tensor a = (*block1)(x);
    Tensor out = a + (*block2)(y);
    trace_call(x, out);
    return out;
  }
};

// The full model is created inside a parent later, to check that names follow.
struct Outer : Module {
  std::shared_ptr<Net> net;
  Outer() { net = register_module("net", std::make_shared<Net>()); }
  std::string type_name() const override { return "Outer"; }
  Tensor forward(const Tensor& x) override { return (*net)(x); }
};

struct NoForward : Module {
  std::string type_name() const override { return "NoForward"; }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.first);
  return names;
}

// Sets every parameter and buffer of m to distinct values 0.1, 0.2, ...
void fill_distinct(Module& m) {
  float v = 0.1f;
  for (auto& [name, t] : m.state_dict()) {
    init::constant_(t, v);
    v += 0.1f;
  }
}

}  // namespace

TEST_CASE("module: nested names follow PyTorch's state_dict order and dots") {
  Net net;
  std::vector<std::string> expected = {"gain",
                                       "block1.scale.weight",
                                       "block1.scale.bias",
                                       "block1.layers.0.weight",
                                       "block1.layers.0.bias",
                                       "block2.scale.weight",
                                       "block2.scale.bias",
                                       "block2.layers.0.weight",
                                       "block2.layers.0.bias"};
  CHECK(names_of(net.named_parameters()) == expected);
  CHECK(names_of(net.named_buffers()) ==
        std::vector<std::string>{"block1.layers.1.count", "block2.layers.1.count"});
  CHECK(net.name().empty());
  CHECK(net.block2->layers->name() == "block2.layers");
  CHECK((*net.block2->layers)[1]->label() == "Counter 'block2.layers.1'");
  CHECK(net.num_parameters() == 1 + 4 * 3 * 2);
  CHECK(names_of(net.block1->named_parameters()) ==
        std::vector<std::string>{"scale.weight", "scale.bias", "layers.0.weight", "layers.0.bias"});
}

TEST_CASE("module: names are updated when a built module is registered in a parent") {
  Outer outer;
  CHECK(outer.net->block1->layers->name() == "net.block1.layers");
  CHECK((*outer.net->block1->layers)[0]->name() == "net.block1.layers.0");
  CHECK(outer.state_dict().count("net.block2.layers.1.count") == 1);
}

TEST_CASE("module: Sequential numbers its children and push_back continues") {
  auto seq = sequential({std::make_shared<Scale>(2), std::make_shared<Counter>()});
  seq->push_back(std::make_shared<Scale>(2, 3.f));
  CHECK(seq->size() == 3);
  CHECK(names_of(seq->named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  std::vector<std::string> child_names;
  for (auto& [name, child] : seq->named_children()) child_names.push_back(name);
  CHECK(child_names == std::vector<std::string>{"0", "1", "2"});
  CHECK(seq->at<Scale>(2)->weight.tolist()[0] == 3.f);
  // x -> 1 x + 0 -> identity -> 3 x + 0
  require_close((*seq)(from_vector({1, 2}, {2})), from_vector({3, 6}, {2}));
  CHECK_THROWS_WITH_AS(seq->at<Scale>(1), doctest::Contains("layer 1 is a Counter"), Error);
  CHECK_THROWS_WITH_AS((*seq)[3], doctest::Contains("index 3 is out of range (3 layers)"), Error);
}

TEST_CASE("module: parameters are leaves that require grad; buffers do not") {
  Net net;
  TensorList params = net.parameters();
  REQUIRE(params.size() == 9);
  for (const Tensor& p : params) {
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
  for (auto& [name, b] : net.named_buffers()) CHECK_FALSE(b.requires_grad());
  // parameters() returns handles to the members themselves
  init::constant_(params[0], 7.f);
  CHECK(net.gain.item() == 7.f);
}

TEST_CASE("module: train and eval propagate to every descendant") {
  Net net;
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE((*net.block2->layers)[1]->is_training());
  net.block1->train();
  CHECK(net.block1->scale->is_training());
  CHECK_FALSE(net.block2->scale->is_training());
  // the buffer counts training-mode calls only
  net(ones({1, 3}));
  CHECK(net.block1->layers->at<Counter>(1)->count.item() == 1.f);
  CHECK(net.block2->layers->at<Counter>(1)->count.item() == 0.f);
}

TEST_CASE("module: backward fills the gradients and zero_grad clears them") {
  Net net;
  Tensor x = from_vector({1, 2, 3}, {1, 3});
  net(x).sum().backward();
  // out = gain * (1 (2 (1 (2 x)))) = 4 gain x with zero biases: d/d gain = 4 sum(x) = 24
  CHECK(net.gain.grad().item() == doctest::Approx(24.f));
  for (const Tensor& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("module: state_dict round trip through a safetensors file") {
  Net a, b;
  fill_distinct(a);
  std::map<std::string, Tensor> state = a.state_dict();
  CHECK(state.size() == 11);  // 9 parameters and 2 buffers
  std::string path =
      (std::filesystem::temp_directory_path() / "tinydiff_test_module.safetensors").string();
  save_safetensors(path, state);
  Tensor gain_handle = b.gain;
  b.load_state_dict(load_safetensors(path).tensors);
  std::remove(path.c_str());
  for (auto& [name, t] : b.state_dict()) require_close(t, state.at(name), 0, 0, name);
  // loading copies into the members' storage: earlier handles see the new values and stay
  // leaves that require grad
  CHECK(gain_handle.item() == state.at("gain").item());
  CHECK(gain_handle.item() != 0.5f);  // not the initial value
  CHECK(b.gain.requires_grad());
  Tensor x = from_vector({1, -2, 3}, {1, 3});
  require_close(b(x), a(x), 0, 0, "output after loading");
}

TEST_CASE("module: strict load errors name the keys and both shapes") {
  Net net;
  std::map<std::string, Tensor> state = net.state_dict();
  SUBCASE("shape mismatch") {
    state["block1.scale.weight"] = zeros({4});
    CHECK_THROWS_WITH_AS(
        net.load_state_dict(state),
        doctest::Contains("shape mismatch for 'block1.scale.weight': the state dict "
                          "has [4] but the model has [3]"),
        Error);
    CHECK_THROWS_WITH_AS(net.load_state_dict(state, false), doctest::Contains("shape mismatch"),
                         Error);
  }
  SUBCASE("missing key") {
    state.erase("block2.layers.1.count");
    CHECK_THROWS_WITH_AS(net.load_state_dict(state),
                         doctest::Contains("missing key(s) 'block2.layers.1.count'"), Error);
  }
  SUBCASE("unexpected key") {
    state["block3.weight"] = zeros({3});
    CHECK_THROWS_WITH_AS(net.load_state_dict(state),
                         doctest::Contains("unexpected key(s) 'block3.weight'"), Error);
  }
  SUBCASE("missing and unexpected together, then non-strict loads the rest") {
    state.erase("gain");
    state["gian"] = full({1}, 9.f);
    state["block1.scale.bias"] = full({3}, 5.f);
    CHECK_THROWS_WITH_AS(net.load_state_dict(state),
                         doctest::Contains("missing key(s) 'gain' (in the model, not in the state "
                                           "dict); unexpected key(s) 'gian'"),
                         Error);
    CHECK(net.block1->scale->bias.tolist()[0] == 0.f);  // a failed load changes nothing
    net.load_state_dict(state, false);
    CHECK(net.block1->scale->bias.tolist()[0] == 5.f);
    CHECK(net.gain.item() == 0.5f);
  }
}

TEST_CASE("module: a 0-d tensor loads from a 1-element 1-d one, as in PyTorch") {
  Counter counter;
  counter.load_state_dict({{"count", full({1}, 3.f)}});
  CHECK(counter.count.dim() == 0);
  CHECK(counter.count.item() == 3.f);
  CHECK_THROWS_WITH_AS(
      counter.load_state_dict({{"count", full({2}, 3.f)}}),
      doctest::Contains("shape mismatch for 'count': the state dict has [2] but the "
                        "model has []"),
      Error);
}

TEST_CASE("module: registration errors") {
  struct Twice : Module {
    Tensor a, b;
    std::string type_name() const override { return "Twice"; }
    void add(const std::string& name, Tensor* member) {
      register_parameter(name, member, zeros({1}));
    }
  } twice;
  twice.add("a", &twice.a);
  CHECK_THROWS_WITH_AS(twice.add("a", &twice.b),
                       doctest::Contains("Twice: the name 'a' is registered twice"), Error);
  CHECK_THROWS_WITH_AS(twice.add("x.y", &twice.b), doctest::Contains("invalid name 'x.y'"), Error);
  NoForward none;
  CHECK_THROWS_WITH_AS(none(ones({1})),
                       doctest::Contains("NoForward: this module has no single-input forward"),
                       Error);
}

TEST_CASE("module: to(cpu) keeps everything; to(cuda) is a clear error without CUDA") {
  Net net;
  fill_distinct(net);
  Tensor gain = net.gain;
  net.to(Device::cpu());
  CHECK(net.gain.same_storage(gain));
  CHECK(net.gain.requires_grad());
  if (cuda_available()) return test::skip("this machine has CUDA: the CPU-only error cannot occur");
  CHECK_THROWS_WITH_AS(net.to(Device::cuda()),
                       doctest::Contains("Module::to: a CUDA tensor was asked for"), Error);
  CHECK(net.gain.device().is_cpu());
}

TEST_CASE("module: zero_module zeroes every parameter, not the buffers") {
  auto block = zero_module(std::make_shared<Block>(2));
  for (const Tensor& p : block->parameters())
    CHECK(p.tolist() == std::vector<float>(p.numel(), 0.f));
  CHECK(block->parameters()[0].requires_grad());
  CHECK(block->named_buffers().size() == 1);
}

TEST_CASE("module: summary lists the state_dict entries, the total and the forward trace") {
  auto seq = sequential({std::make_shared<Scale>(2), std::make_shared<Counter>()});
  std::string expected =
      "0.weight  [2]  2\n"
      "0.bias    [2]  2\n"
      "1.count   []   1 (buffer)\n"
      "total 4 parameters\n";
  CHECK(seq->summary() == expected);
  std::string traced = seq->summary(ones({5, 2}));
  CHECK(traced == expected +
                      "forward trace (module, type, input shape -> output shape)\n"
                      "  (model)  Sequential  [5, 2] -> [5, 2]\n"
                      "  0        Scale       [5, 2] -> [5, 2]\n"
                      "  1        Counter     [5, 2] -> [5, 2]\n");
}

TEST_CASE("module: summary has no side effects") {
  Net net;
  net.block2->eval();
  RngState rng = default_generator().state();
  net.summary(ones({1, 3}));
  CHECK(net.is_training());
  CHECK(net.block1->layers->is_training());
  CHECK_FALSE(net.block2->layers->is_training());
  CHECK(net.block1->layers->at<Counter>(1)->count.item() == 0.f);  // ran in eval mode
  CHECK(default_generator().state().offset == rng.offset);
  CHECK_FALSE(net.gain.grad().defined());
}

TEST_CASE("module: the trace lists modules in call order, multi-input ones included") {
  Outer outer;
  Tensor x = ones({4, 3}), y = ones({4, 3});
  std::vector<Module::TraceEntry> entries = Module::trace([&] { outer.net->forward2(x, y); });
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  CHECK(names == std::vector<std::string>{
                     "net", "net.block1", "net.block1.scale", "net.block1.layers",
                     "net.block1.layers.0", "net.block1.layers.1", "net.block2", "net.block2.scale",
                     "net.block2.layers", "net.block2.layers.0", "net.block2.layers.1"});
  CHECK(entries[0].type == "Net");
  CHECK(entries[0].input == Shape{4, 3});
  // a submodule's summary names its trace entries relative to itself
  std::string text = outer.net->summary([&] { outer.net->forward2(x, y); });
  CHECK(text.find("\n  (model)") != std::string::npos);
  CHECK(text.find("\n  block1.layers.0 ") != std::string::npos);
  CHECK(Module::trace([] {}).empty());
  CHECK(Module::trace([&] { outer.net->forward2(x, y); }).size() == entries.size());
}
