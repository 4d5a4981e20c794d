// Lesson 02's UNetModel: PyTorch parity of the whole model (fixture: tests/ref/unet.py), its
// parameter names, gradient checkpointing (bit-identical gradients, less memory), the
// zero-initialised blocks, gradchecks of its attention and residual blocks, and bad inputs.
#include <algorithm>
#include <cstring>
#include <sstream>

#include "lessons/02_improved_diffusion/unet.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using namespace tinydiff::lesson02;
using tinydiff::test::require_close;

namespace {

const char* kFile = "unet";

Tensor fx(const std::string& key) { return test::fixture_tensor(kFile, key); }

// The configurations of tests/ref/unet.py's cases.
UNetConfig full_config() {
  UNetConfig c;
  c.in_channels = 3, c.model_channels = 6, c.out_channels = 6, c.num_res_blocks = 1;
  c.attention_resolutions = {2}, c.channel_mult = {1, 2}, c.num_classes = 3, c.num_heads = 2;
  c.use_scale_shift_norm = true, c.num_groups = 3;
  return c;
}

UNetConfig plain_config() {
  UNetConfig c;
  c.in_channels = 1, c.model_channels = 4, c.out_channels = 1, c.num_res_blocks = 1;
  c.attention_resolutions = {}, c.channel_mult = {1, 2}, c.num_classes = 0, c.num_heads = 1;
  c.use_scale_shift_norm = false, c.num_groups = 2;
  return c;
}

// The fixture's "<name>.state.*" tensors, keyed as in the state_dict.
std::map<std::string, Tensor> fixture_state(const std::string& name) {
  std::map<std::string, Tensor> state;
  std::string prefix = name + ".state.";
  for (const auto& [key, t] : test::fixture(kFile).tensors)
    if (key.rfind(prefix, 0) == 0) state[key.substr(prefix.size())] = t;
  return state;
}

// The metadata "<name>.keys": a JSON list of plain strings, in PyTorch's state_dict order.
std::vector<std::string> pytorch_keys(const std::string& name) {
  const std::string& text = test::fixture(kFile).metadata.at(name + ".keys");
  std::vector<std::string> keys;
  for (size_t open = text.find('"'); open != std::string::npos;) {
    size_t close = text.find('"', open + 1);
    keys.push_back(text.substr(open + 1, close - open - 1));
    open = text.find('"', close + 1);
  }
  return keys;
}

// require_close with atol 1e-6 of the largest expected value (at least 1e-5). A weight's
// gradient sums N H W products per element; an element that cancels down to ~1/1000 of the
// largest one keeps the float32 rounding of the large terms (the fixture is computed in
// float64, so the error is tinydiff's alone: up to ~1e-6 of the largest element).
void require_close_scaled(const Tensor& actual, const Tensor& expected, const std::string& what) {
  double atol = std::max(1e-5, 1e-6 * double(max(abs(expected)).item()));
  require_close(actual, expected, 1e-4, atol, what);
}

// Loads PyTorch's weights strictly, runs forward and backward on the fixture's inputs and
// compares the output, the input gradient and every parameter gradient.
void check_model_parity(const std::string& name, UNetConfig config) {
  UNetModel model(config);
  model.load_state_dict(fixture_state(name));
  Tensor x = fx(name + ".x").clone().detach().requires_grad_();
  Tensor y = config.num_classes > 0 ? fx(name + ".y") : Tensor();
  Tensor out = model.forward(x, fx(name + ".t"), y);
  require_close(out, fx(name + ".out"), 1e-4, 1e-5, name + " output");
  out.backward(fx(name + ".grad_out"));
  require_close(x.grad(), fx(name + ".grad.x"), 1e-4, 1e-5, name + " grad of x");
  for (const auto& [key, p] : model.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name << ": no gradient for " << key);
    require_close_scaled(p.grad(), fx(name + ".grad." + key), name + " grad of " + key);
  }
}

// The parameter names as summary() prints them: the first word of each line before "total".
std::vector<std::string> summary_names(Module& model) {
  std::vector<std::string> names;
  std::stringstream lines(model.summary());
  for (std::string line; std::getline(lines, line) && line.rfind("total ", 0) != 0;)
    names.push_back(line.substr(0, line.find(' ')));
  return names;
}

// True when some line of `text` contains every one of `parts`.
bool has_line(const std::string& text, const std::vector<std::string>& parts) {
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const std::string& part : parts) all &= line.find(part) != std::string::npos;
    if (all) return true;
  }
  return false;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.tolist(), vb = b.tolist();
  return va.size() == vb.size() &&
         std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_SUITE_BEGIN("lesson02");

TEST_CASE("UNetModel parity: scale-shift norm, attention, 2 heads, classes, learned sigma") {
  check_model_parity("full", full_config());
}

TEST_CASE("UNetModel parity: the same model under gradient checkpointing") {
  UNetConfig c = full_config();
  c.use_checkpoint = true;
  check_model_parity("full", c);
}

TEST_CASE("UNetModel parity: plain ResBlocks, middle attention only, unconditional, 12x12") {
  check_model_parity("plain", plain_config());
}

TEST_CASE("UNetModel: parameter names and summary() rows are PyTorch's state_dict keys") {
  for (auto [name, config] :
       {std::pair{"full", full_config()}, std::pair{"plain", plain_config()}}) {
    UNetModel model(config);
    std::vector<std::string> keys = pytorch_keys(name), names;
    REQUIRE(keys.size() > 40);
    for (const auto& [key, p] : model.named_parameters()) names.push_back(key);
    CHECK(names == keys);
    CHECK(summary_names(model) == keys);
  }
  UNetModel model(full_config());
  std::vector<std::string> keys = pytorch_keys("full");
  for (const char* key :
       {"time_embed.0.weight", "label_emb.weight", "input_blocks.0.0.weight",
        "input_blocks.1.0.in_layers.0.weight", "input_blocks.1.0.emb_layers.1.weight",
        "input_blocks.1.0.out_layers.3.weight", "input_blocks.2.0.op.weight",
        "input_blocks.3.0.skip_connection.weight", "input_blocks.3.1.qkv.weight",
        "middle_block.1.norm.weight", "middle_block.1.proj_out.weight",
        "output_blocks.1.2.conv.weight", "out.0.weight", "out.2.weight"})
    CHECK_MESSAGE(std::find(keys.begin(), keys.end(), key) != keys.end(), key);
  CHECK(model.state_dict().at("middle_block.1.qkv.weight").shape() == Shape{36, 12, 1});
  CHECK(model.state_dict().at("middle_block.1.proj_out.weight").shape() == Shape{12, 12, 1});
}

TEST_CASE("UNetModel: the forward trace shows each block's shapes, 28x28 down to 7x7") {
  UNetConfig c;  // the lesson's MNIST model: channel_mult (1, 2, 2), attention at 7x7
  c.num_classes = 10;
  UNetModel model(c);
  std::string text = model.summary([&] {
    model.forward(zeros({2, 1, 28, 28}), full({2}, 10.f), full({2}, 3.f));
  });
  CHECK(has_line(text, {"(model) ", "UNetModel ", "[2, 1, 28, 28] -> [2, 2, 28, 28]"}));
  CHECK(has_line(text, {"input_blocks.3.0 ", "Downsample ", "[2, 32, 28, 28] -> [2, 32, 14, 14]"}));
  CHECK(has_line(text, {"input_blocks.7.1 ", "AttentionBlock ", "[2, 64, 7, 7] -> [2, 64, 7, 7]"}));
  CHECK(has_line(text, {"middle_block.1 ", "AttentionBlock ", "[2, 64, 7, 7] -> [2, 64, 7, 7]"}));
  CHECK(has_line(text, {"output_blocks.0.0 ", "ResBlock ", "[2, 128, 7, 7] -> [2, 64, 7, 7]"}));
  CHECK(has_line(text, {"output_blocks.5.1 ", "Upsample ", "[2, 64, 14, 14] -> [2, 64, 28, 28]"}));
  CHECK_FALSE(has_line(text, {"input_blocks.4.1 ", "AttentionBlock"}));  // none at 14x14
}

TEST_CASE("UNetModel: shapes at 28x28 and 16x16; a fresh model outputs exactly zero") {
  UNetConfig mnist;
  mnist.model_channels = 32, mnist.num_classes = 10;
  UNetModel m(mnist);
  Tensor out = m.forward(test::uniform({2, 1, 28, 28}, -1, 1, 1, false), full({2}, 500.f),
                         from_vector({3, 7}, {2}));
  CHECK(out.shape() == Shape{2, 2, 28, 28});
  CHECK(max(abs(out)).item() == 0.f);  // out.2 starts at zero (zero_module)

  UNetConfig sprites;
  sprites.in_channels = 3, sprites.out_channels = 3, sprites.channel_mult = {1, 2, 2, 2};
  sprites.attention_resolutions = {2, 4}, sprites.num_heads = 4;
  UNetModel s(sprites);
  CHECK(s.forward(zeros({1, 3, 16, 16}), zeros({1})).shape() == Shape{1, 3, 16, 16});
}

TEST_CASE("UNetModel blocks: a fresh ResBlock or AttentionBlock is the identity") {
  manual_seed(3);
  Tensor x = test::uniform({2, 8, 4, 4}, -1, 1, 1, false);
  Tensor emb = test::uniform({2, 16}, -1, 1, 2, false);
  for (bool scale_shift : {false, true}) {
    ResBlockOptions o;
    o.emb_channels = 16, o.num_groups = 4, o.use_scale_shift_norm = scale_shift;
    ResBlock block(8, 8, o);
    CHECK(bitwise_equal(block.forward(x, emb), x));
    ResBlock wider(8, 12, o);  // a 1x1 conv skip: not the identity
    CHECK(wider.forward(x, emb).shape() == Shape{2, 12, 4, 4});
  }
  AttentionBlock attention(8, 2, 4, false);
  CHECK(bitwise_equal(attention(x), x));
}

TEST_CASE("gradcheck UNetModel blocks: QKV attention, ResBlock with scale-shift, AttentionBlock") {
  test::check_gradients([](const TensorList& in) { return qkv_attention(in[0], 2); },
                        {test::uniform({2, 12, 3}, -1, 1, 1)});
  manual_seed(4);
  ResBlockOptions o;
  o.emb_channels = 3, o.num_groups = 2, o.use_scale_shift_norm = true;
  ResBlock block(2, 4, o);
  init::normal_(block.out_layers->at<Conv2d>(3)->weight, 0.f, 0.3f);  // undo the zero init
  test::check_gradients([&](const TensorList& in) { return block.forward(in[0], in[1]); },
                        {test::uniform({1, 2, 3, 3}, -1, 1, 2), test::uniform({1, 3}, -1, 1, 3)});
  AttentionBlock attention(4, 2, 2, false);
  init::normal_(attention.proj_out->weight, 0.f, 0.3f);
  test::check_gradients([&](const TensorList& in) { return attention(in[0]); },
                        {test::uniform({1, 4, 2, 2}, -1, 1, 4)});
}

namespace {

struct CheckpointRun {
  TensorList grads;  // x, then every parameter
  int64_t peak_bytes;
};

// One training-mode forward+backward of a model with dropout; the weights are perturbed away
// from the zero initialisation so that every gradient is non-trivial.
CheckpointRun run_with_dropout(bool use_checkpoint, float dropout) {
  UNetConfig c;
  c.in_channels = 3, c.out_channels = 6, c.model_channels = 16, c.num_groups = 8;
  c.channel_mult = {1, 2}, c.num_res_blocks = 2, c.attention_resolutions = {2}, c.num_heads = 2;
  c.num_classes = 3, c.use_scale_shift_norm = true, c.dropout = dropout;
  c.use_checkpoint = use_checkpoint;
  manual_seed(7);
  UNetModel model(c);
  std::map<std::string, Tensor> state;
  Generator gen(8);
  for (const auto& [name, p] : model.named_parameters())
    state[name] = p + randn(p.shape(), &gen) * 0.05f;
  model.load_state_dict(state);
  Tensor x = test::uniform({4, 3, 16, 16}, -1, 1, 9);
  manual_seed(10);  // the dropout masks
  reset_peak_memory_stats();
  int64_t before = memory_stats().current_bytes;
  Tensor t = from_vector({1, 200, 400, 999}, {4}), y = from_vector({0, 1, 2, 1}, {4});
  Tensor out = model.forward(x, t, y);
  mean(square(out)).backward();
  CheckpointRun run{{x.grad()}, memory_stats().peak_bytes - before};
  for (const auto& [name, p] : model.named_parameters()) run.grads.push_back(p.grad());
  return run;
}

}  // namespace

TEST_CASE("UNetModel: use_checkpoint gives bit-identical gradients with dropout, less memory") {
  CheckpointRun plain = run_with_dropout(false, 0.3f), ckpt = run_with_dropout(true, 0.3f);
  REQUIRE(plain.grads.size() == ckpt.grads.size());
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    REQUIRE(plain.grads[i].defined());
    REQUIRE(ckpt.grads[i].defined());
    CHECK_MESSAGE(bitwise_equal(plain.grads[i], ckpt.grads[i]), "gradient " << i << " differs");
  }
  MESSAGE("peak live bytes, forward+backward: plain " << plain.peak_bytes << ", checkpointed "
                                                      << ckpt.peak_bytes);
  CHECK(ckpt.peak_bytes < plain.peak_bytes * 3 / 4);
  // The agreement means something only if dropout matters: without it x's gradient changes.
  CheckpointRun no_dropout = run_with_dropout(false, 0.f);
  CHECK_FALSE(bitwise_equal(plain.grads[0], no_dropout.grads[0]));
}

TEST_CASE("UNetModel: bad inputs and settings are named") {
  UNetConfig c;  // channel_mult (1, 2, 2): halves twice
  c.num_classes = 10;
  UNetModel model(c);
  Tensor t = zeros({2}), y = zeros({2});
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 1, 27, 27}), t, y),
                       Contains("UNetModel: input [2, 1, 27, 27] is 27x27 but channel_mult (1,2,2) "
                                "halves it 2 times, so height and width must be multiples of 4"),
                       Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 1, 28, 30}), t, y),
                       Contains("must be multiples of 4"), Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 3, 28, 28}), t, y),
                       Contains("UNetModel: input has 3 channels but in_channels is 1 "
                                "(input [2, 3, 28, 28])"),
                       Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 28, 28}), t, y),
                       Contains("UNetModel: input must be (N, C, H, W), got [2, 28, 28]"), Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 1, 28, 28}), zeros({3}), y),
                       Contains("UNetModel: timesteps must be (2), one per image, got [3]"), Error);
  CHECK_THROWS_WITH_AS(model.forward(zeros({2, 1, 28, 28}), t),
                       Contains("the model is class-conditional (10 classes), so labels y of "
                                "shape (2) are required"),
                       Error);
  UNetModel unconditional(UNetConfig{});
  CHECK_THROWS_WITH_AS(unconditional.forward(zeros({2, 1, 28, 28}), t, y),
                       Contains("labels y were given but the model is not class-conditional"),
                       Error);

  UNetConfig narrow_groups;
  narrow_groups.model_channels = 16;  // 16 channels into 32 groups
  CHECK_THROWS_WITH_AS(UNetModel{narrow_groups},
                       Contains("GroupNorm cannot split 16 channels into 32 groups"), Error);
  UNetConfig bad_heads;
  bad_heads.num_heads = 3;  // 64 channels at the attention level
  CHECK_THROWS_WITH_AS(UNetModel{bad_heads},
                       Contains("AttentionBlock: 64 channels cannot be split into 3 heads"), Error);
  UNetConfig no_levels;
  no_levels.channel_mult = {};
  CHECK_THROWS_WITH_AS(UNetModel{no_levels},
                       Contains("channel_mult must list at least one level"), Error);
  CHECK_THROWS_WITH_AS(parse_int_list("1,x,2", "--channel-mult"),
                       Contains("--channel-mult: expected whole numbers separated by commas "
                                "(e.g. 1,2,2), got '1,x,2'"),
                       Error);
  CHECK(parse_int_list("1,2,2", "list") == std::vector<int64_t>{1, 2, 2});
  CHECK(parse_int_list("", "list").empty());
  CHECK(format_int_list({1, 2, 4}) == "1,2,4");
}

TEST_SUITE_END();
