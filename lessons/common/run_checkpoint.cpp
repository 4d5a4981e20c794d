#include "lessons/common/run_checkpoint.hpp"

#include <utility>

#include "nn/ema.hpp"
#include "nn/train_state.hpp"

namespace tinydiff {

ConfigReader::ConfigReader(const std::map<std::string, std::string>& config, std::string program)
    : config_(config), program_(std::move(program)) {}

std::string ConfigReader::text(const std::string& key) const {
  auto it = config_.find(key);
  TD_CHECK(it != config_.end(), program_, ": the checkpoint's configuration has no '", key,
           "' (was it written by ", program_, " train?)");
  return it->second;
}

int64_t ConfigReader::integer(const std::string& key) const { return std::stoll(text(key)); }

double ConfigReader::number(const std::string& key) const { return std::stod(text(key)); }

bool ConfigReader::flag(const std::string& key) const { return text(key) == "true"; }

std::string config_flag(bool value) { return value ? "true" : "false"; }

void load_sampling_weights(const std::string& ckpt, Module& model, double ema_decay,
                           Device device) {
  if (ema_decay > 0) {
    EMA ema(model, ema_decay);
    load_train_state(ckpt, model, &ema, nullptr);
    ema.copy_to(model);  // sample with the averaged weights
  } else {
    load_train_state(ckpt, model, nullptr, nullptr);
  }
  model.to(device);
  model.eval();
}

}  // namespace tinydiff
