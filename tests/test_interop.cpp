// Checkpoints move between tinydiff and PyTorch. TinyUNet mirrors tests/ref/layers.py's
// TinyUNet layer by layer: PyTorch's state_dict loads into it strictly and gives the same
// output and gradients; its summary() names are PyTorch's state_dict keys, in order; and its
// own weights, saved to build/interop_model.safetensors with its output in
// build/interop_output.safetensors, are checked in PyTorch by tests/ref/check_interop.py.
#include <filesystem>
#include <sstream>

#include "nn/attention.hpp"
#include "nn/basic.hpp"
#include "nn/conv.hpp"
#include "nn/linear.hpp"
#include "nn/normalization.hpp"
#include "nn/sequential.hpp"
#include "nn/timestep_embedding.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::require_close;

namespace {

const char* kFile = "layers";
Tensor fx(const std::string& key) { return test::fixture_tensor(kFile, key); }

// x (B, 3, 8, 8), t (B), y (B) -> (B, 3, 8, 8); see TinyUNet in tests/ref/layers.py.
struct TinyUNet : Module {
  int64_t width;
  std::shared_ptr<Sequential> time_mlp, init_conv, down, out_block;
  std::shared_ptr<Embedding> label_emb;
  std::shared_ptr<Linear> emb_proj;
  std::shared_ptr<GroupNorm> attn_norm;
  std::shared_ptr<MultiheadAttention> attn;
  std::shared_ptr<ConvTranspose2d> up;

  explicit TinyUNet(int64_t channels = 3, int64_t width = 8, int64_t emb_dim = 16,
                    int64_t num_classes = 10, int64_t heads = 2)
      : width(width) {
    using std::make_shared;
    time_mlp = register_module("time_mlp",
                               sequential({make_shared<Linear>(width, emb_dim), make_shared<SiLU>(),
                                           make_shared<Linear>(emb_dim, emb_dim)}));
    label_emb = register_module("label_emb", make_shared<Embedding>(num_classes, emb_dim));
    init_conv = register_module("init_conv",
                                sequential({make_shared<Conv2d>(channels, width, 3, 1, 1),
                                            make_shared<BatchNorm2d>(width), make_shared<GELU>()}));
    down =
        register_module("down", sequential({make_shared<GroupNorm>(4, width), make_shared<SiLU>(),
                                            make_shared<Conv2d>(width, 2 * width, 3, 2, 1)}));
    emb_proj = register_module("emb_proj", make_shared<Linear>(emb_dim, 2 * width));
    attn_norm = register_module("attn_norm", make_shared<GroupNorm>(4, 2 * width));
    attn = register_module("attn", make_shared<MultiheadAttention>(2 * width, heads));
    up = register_module("up", make_shared<ConvTranspose2d>(2 * width, width, 2, 2));
    out_block = register_module(
        "out", sequential({make_shared<GroupNorm>(4, 2 * width), make_shared<SiLU>(),
                           make_shared<Conv2d>(2 * width, channels, 3, 1, 1)}));
  }
  std::string type_name() const override { return "TinyUNet"; }

  Tensor forward(const Tensor& x, const Tensor& t, const Tensor& y) {
    Tensor emb = (*time_mlp)(timestep_embedding(t, width));
    emb = emb + (*label_emb)(y);
    Tensor h0 = (*init_conv)(x);
    Tensor h = (*down)(h0);
    h = h + (*emb_proj)(emb).reshape({h.size(0), h.size(1), 1, 1});
    Tensor a = (*attn_norm)(h).flatten(2).transpose(1, 2);  // (B, H W, C)
    h = h + (*attn)(a).transpose(1, 2).reshape(h.shape());
    h = (*up)(h);
    Tensor out = (*out_block)(cat({h, h0}, 1));
    trace_call(x, out);
    return out;
  }
};

// The keys of a JSON list of strings (keys hold no quotes or escapes).
std::vector<std::string> json_strings(const std::string& text) {
  std::vector<std::string> out;
  for (size_t open = text.find('"'); open != std::string::npos; open = text.find('"', open + 1)) {
    size_t close = text.find('"', open + 1);
    out.push_back(text.substr(open + 1, close - open - 1));
    open = close;
  }
  return out;
}

// The first word of each row of the summary's table (the rows before the total).
std::vector<std::string> summary_names(const std::string& summary) {
  std::istringstream lines(summary);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(lines, line) && line.rfind("total ", 0) != 0)
    names.push_back(line.substr(0, line.find(' ')));
  return names;
}

// The lines after the summary's "forward trace" heading, with runs of spaces made single.
std::vector<std::string> trace_lines(const std::string& summary) {
  std::istringstream lines(summary.substr(summary.find("forward trace")));
  std::string line, word;
  std::getline(lines, line);  // the heading
  std::vector<std::string> out;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string joined;
    while (words >> word) joined += (joined.empty() ? "" : " ") + word;
    out.push_back(joined);
  }
  return out;
}

std::map<std::string, Tensor> fixture_state() {
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : test::fixture(kFile).tensors)
    if (key.rfind("interop.state.", 0) == 0) state[key.substr(14)] = t;
  return state;
}

}  // namespace

TEST_CASE("interop: PyTorch's TinyUNet state_dict loads strictly; forward and backward match") {
  TinyUNet model;
  model.load_state_dict(fixture_state(), true);
  Tensor x = fx("interop.x").clone().detach().requires_grad_();
  Tensor out = model.forward(x, fx("interop.t"), fx("interop.y"));
  require_close(out, fx("interop.out"), 1e-4, 1e-5, "interop output");
  out.backward(fx("interop.grad_out"));
  require_close(x.grad(), fx("interop.grad.x"), 1e-4, 1e-5, "interop grad of x");
  for (const auto& [key, p] : model.named_parameters())
    require_close(p.grad(), fx("interop.grad." + key), 1e-4, 1e-5, "interop grad of " + key);
  for (const auto& [key, b] : model.named_buffers())
    require_close(b, fx("interop.after." + key).reshape(b.shape()), 1e-4, 1e-5,
                  "interop buffer " + key);  // PyTorch's 0-d buffers are stored as [1]
}

TEST_CASE("interop: summary() names are PyTorch's state_dict keys, in order") {
  TinyUNet model;
  std::vector<std::string> keys = json_strings(test::fixture(kFile).metadata.at("interop_keys"));
  REQUIRE(keys.size() == 30);
  CHECK(summary_names(model.summary()) == keys);
  // the trace of one forward lists the model, then every layer it called, in order
  std::string text = model.summary([&] {
    model.forward(zeros({2, 3, 8, 8}), zeros({2}), zeros({2}));
  });
  std::vector<std::string> trace = trace_lines(text);
  REQUIRE(trace.size() == 23);
  CHECK(trace[0] == "(model) TinyUNet [2, 3, 8, 8] -> [2, 3, 8, 8]");
  CHECK(trace[1] == "time_mlp Sequential [2, 8] -> [2, 16]");
  CHECK(trace[2] == "time_mlp.0 Linear [2, 8] -> [2, 16]");
  CHECK(trace[16] == "attn MultiheadAttention [2, 16, 16] -> [2, 16, 16]");
  CHECK(trace[17] == "attn.out_proj Linear [2, 16, 16] -> [2, 16, 16]");
  CHECK(trace[18] == "up ConvTranspose2d [2, 16, 4, 4] -> [2, 8, 8, 8]");
  CHECK(trace[22] == "out.2 Conv2d [2, 16, 8, 8] -> [2, 3, 8, 8]");
  CHECK(text.find("total " + std::to_string(model.num_parameters()) + " parameters\n") !=
        std::string::npos);
}

// Writes the files tests/ref/check_interop.py reads (run it by hand with /usr/bin/python3).
TEST_CASE("interop: tinydiff's own TinyUNet weights and output are saved for PyTorch") {
  manual_seed(42);
  TinyUNet model;
  Tensor x = fx("interop.x"), t = fx("interop.t"), y = fx("interop.y");
  model.forward(x, t, y);  // one training-mode step moves BatchNorm's running statistics
  model.eval();
  Tensor out;
  {
    NoGradGuard no_grad;
    out = model.forward(x, t, y);
  }
  std::filesystem::create_directories("build");
  save_safetensors("build/interop_model.safetensors", model.state_dict());
  save_safetensors("build/interop_output.safetensors",
                   {{"x", x}, {"t", t}, {"y", y}, {"out", out}});
  // the saved file alone rebuilds the same model
  TinyUNet copy;
  copy.load_state_dict(load_safetensors("build/interop_model.safetensors").tensors);
  copy.eval();
  NoGradGuard no_grad;
  require_close(copy.forward(x, t, y), out, 0, 0, "reloaded model output");
}
