// A lesson's run read back from its checkpoint: the settings `train` stored as the
// checkpoint's configuration (nn/train_state.hpp, "config.<key>"), and the weights to sample
// with.
//
//   ConfigReader get(info.config, "lesson01");
//   s.n_feat = get.integer("n-feat");   // an Error names the key when it is missing
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "nn/module.hpp"
#include "tensor/device.hpp"

namespace tinydiff {

// Reads a checkpoint's configuration map. A missing key is an Error that names the key and
// `program` ("lesson01"), whose `train` should have written it; numbers are parsed with
// std::stoll / std::stod.
class ConfigReader {
 public:
  ConfigReader(const std::map<std::string, std::string>& config, std::string program);
  std::string text(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool flag(const std::string& key) const;  // "true" (anything else: false)

 private:
  const std::map<std::string, std::string>& config_;
  std::string program_;
};

// "true" or "false", as ConfigReader::flag reads it back.
std::string config_flag(bool value);

// Loads the checkpoint's weights into `model` to sample with: the EMA's averaged weights when
// the run kept an EMA (ema_decay > 0), else the trained ones. Leaves the model on `device`, in
// eval mode.
void load_sampling_weights(const std::string& ckpt, Module& model, double ema_decay,
                           Device device);

}  // namespace tinydiff
