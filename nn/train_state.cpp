// Training checkpoints (see nn/train_state.hpp).
#include "nn/train_state.hpp"

#include <csignal>
#include <sstream>
#include <vector>

#include "nn/safetensors.hpp"

namespace tinydiff {

namespace {

const char* const kFormatKey = "tinydiff.train_state";
const char* const kFormatVersion = "1";

using TensorMap = std::map<std::string, Tensor>;
using StringMap = std::map<std::string, std::string>;

// Adds `prefix` to every key of `from`.
void put_prefixed(TensorMap& into, const std::string& prefix, const TensorMap& from) {
  for (const auto& [key, value] : from) into[prefix + key] = value;
}
template <class Map>
Map take_prefixed(const Map& from, const std::string& prefix) {
  Map out;
  for (const auto& [key, value] : from)
    if (key.compare(0, prefix.size(), prefix) == 0) out[key.substr(prefix.size())] = value;
  return out;
}

// A whole number written by save_train_state; an Error names the file, key and text.
uint64_t parse_uint(const std::string& what, const std::string& text) {
  bool digits = !text.empty() && text.size() <= 20 &&
                text.find_first_not_of("0123456789") == std::string::npos;
  TD_CHECK(digits, what, ": expected a whole number >= 0, got '", text, "'");
  return std::stoull(text);
}

const std::string& required(const std::string& path, const StringMap& meta,
                            const std::string& key) {
  auto it = meta.find(key);
  TD_CHECK(it != meta.end(), "train_state: ", path, ": the checkpoint has no '", key, "' metadata");
  return it->second;
}

// The signature's lines split into (name, "[shape]").
std::vector<std::pair<std::string, std::string>> signature_entries(const std::string& signature) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(signature);
  for (std::string line; std::getline(lines, line);) {
    size_t split = line.rfind(" [");
    if (split == std::string::npos)
      out.emplace_back(line, "");
    else
      out.emplace_back(line.substr(0, split), line.substr(split + 1));
  }
  return out;
}

// Refuses a checkpoint whose tensors differ from the model's, naming the first difference.
void check_signature(const std::string& path, const std::string& saved, const Module& model) {
  auto want = signature_entries(model_signature(model));
  auto have = signature_entries(saved);
  const std::string head = "train_state: " + path + " was saved from a different model: ";
  for (size_t i = 0; i < want.size() || i < have.size(); ++i) {
    TD_CHECK(i < have.size(), head, "the checkpoint has no '", want[i].first, "' ", want[i].second,
             " (it has ", have.size(), " tensors, this model ", want.size(), ")");
    TD_CHECK(i < want.size(), head, "this model has no '", have[i].first, "' ", have[i].second,
             " (it has ", want.size(), " tensors, the checkpoint ", have.size(), ")");
    TD_CHECK(have[i].first == want[i].first, head, "tensor ", i, " is '", have[i].first, "' ",
             have[i].second, " in the checkpoint but '", want[i].first, "' ", want[i].second,
             " in this model");
    TD_CHECK(have[i].second == want[i].second, head, "'", want[i].first, "' has shape ",
             have[i].second, " in the checkpoint but ", want[i].second, " in this model");
  }
}

}  // namespace

std::string model_signature(const Module& model) {
  std::string out;
  for (const auto& [name, t] : model.named_parameters()) out += name + " " + str(t.shape()) + "\n";
  for (const auto& [name, t] : model.named_buffers()) out += name + " " + str(t.shape()) + "\n";
  return out;
}

std::string format_rng_state(const RngState& state) {
  return "seed=" + std::to_string(state.seed) + " offset=" + std::to_string(state.offset);
}

RngState parse_rng_state(const std::string& text) {
  size_t space = text.find(' ');
  bool shaped = text.compare(0, 5, "seed=") == 0 && space != std::string::npos &&
                text.compare(space, 8, " offset=") == 0;
  TD_CHECK(shaped, "rng state: expected 'seed=<n> offset=<n>', got '", text, "'");
  RngState state;
  state.seed = parse_uint("rng state seed", text.substr(5, space - 5));
  state.offset = parse_uint("rng state offset", text.substr(space + 8));
  return state;
}

void save_train_state(const std::string& path, const Module& model, const EMA* ema,
                      const Optimizer* optimizer, const TrainState& state) {
  TD_CHECK(state.step >= 0, "train_state: step must be >= 0, got ", state.step);
  TensorMap tensors;
  put_prefixed(tensors, "model.", model.state_dict());
  StringMap meta{{kFormatKey, kFormatVersion},
                 {"step", std::to_string(state.step)},
                 {"rng", format_rng_state(default_generator().state())},
                 {"model.signature", model_signature(model)}};
  if (ema) put_prefixed(tensors, "ema.", ema->state_dict());
  if (optimizer) {
    put_prefixed(tensors, "optim.", optimizer->state_dict());
    meta["optim.type"] = optimizer->type_name();
  }
  for (const auto& [key, value] : state.config) meta["config." + key] = value;
  for (const auto& [key, value] : state.extra) meta["extra." + key] = value;
  save_safetensors(path, tensors, meta);
}

namespace {
// The TrainState part of a loaded checkpoint.
TrainState state_from(const std::string& path, const SafetensorsFile& file) {
  const StringMap& meta = file.metadata;
  TD_CHECK(meta.count(kFormatKey), "train_state: ", path, " is not a tinydiff training ",
           "checkpoint (no '", kFormatKey, "' metadata)");
  TrainState state;
  state.step = int64_t(parse_uint("train_state: " + path + ": step", required(path, meta, "step")));
  state.config = take_prefixed(meta, "config.");
  state.extra = take_prefixed(meta, "extra.");
  return state;
}
}  // namespace

TrainState read_train_state_info(const std::string& path) {
  return state_from(path, load_safetensors(path));
}

TrainState load_train_state(const std::string& path, Module& model, EMA* ema,
                            Optimizer* optimizer) {
  SafetensorsFile file = load_safetensors(path);
  TrainState state = state_from(path, file);
  const StringMap& meta = file.metadata;
  check_signature(path, required(path, meta, "model.signature"), model);
  RngState rng = parse_rng_state(required(path, meta, "rng"));
  TensorMap ema_state = take_prefixed(file.tensors, "ema.");
  TD_CHECK(!ema || !ema_state.empty(), "train_state: ", path, " has no EMA state");
  if (optimizer) {
    const std::string& saved = required(path, meta, "optim.type");
    TD_CHECK(saved == optimizer->type_name(), "train_state: ", path, " holds ", saved,
             " optimizer state, but this run uses ", optimizer->type_name());
  }

  model.load_state_dict(take_prefixed(file.tensors, "model."));
  if (ema) ema->load_state_dict(ema_state);
  if (optimizer) optimizer->load_state_dict(take_prefixed(file.tensors, "optim."));
  default_generator().set_state(rng);
  return state;
}

// ---- Ctrl-C ----

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
// Only sets the flag: nothing else is safe inside a signal handler.
void on_interrupt(int) { g_interrupted = 1; }
}  // namespace

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // the next Ctrl-C gets the default action: stop
  TD_CHECK(sigaction(SIGINT, &action, nullptr) == 0, "install_interrupt_handler: sigaction failed");
}

bool interrupt_requested() { return g_interrupted != 0; }
void clear_interrupt_request() { g_interrupted = 0; }

}  // namespace tinydiff
