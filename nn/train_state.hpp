// Training checkpoints: the whole state of a run in ONE .safetensors file, so that a resumed
// run is bit-identical to one that was never interrupted.
//
//   tensors   "model.<key>"   the model's parameters and buffers (its state_dict)
//             "ema.<key>"     the EMA's shadows and num_updates      (when an EMA is given)
//             "optim.<key>"   the optimizer's moments and counts     (when an optimizer is given)
//   metadata  "tinydiff.train_state"  the format version
//             "step"                  the training step
//             "rng"                   the default generator: "seed=<s> offset=<o>"
//             "model.signature"       one line "<name> [shape]" per parameter, then per buffer
//             "optim.type"            "SGD", "Adam" or "AdamW"
//             "config.<key>"          the run configuration (e.g. command-line flags)
//             "extra.<key>"           caller state as strings: other generators
//                                     (format_rng_state), the data loader's position, ...
//
// The file is written atomically (nn/safetensors.hpp: temporary file, then rename), so an
// interrupted save keeps the previous checkpoint intact.
//
// Ctrl-C: install_interrupt_handler() makes SIGINT only set a flag; the training loop polls
// interrupt_requested() between steps, saves a final checkpoint and exits cleanly. The handler
// restores the default action, so a second Ctrl-C stops the program at once.
#pragma once
#include <map>
#include <string>

#include "nn/ema.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "tensor/rng.hpp"

namespace tinydiff {

struct TrainState {
  int64_t step = 0;
  std::map<std::string, std::string> config;  // the run configuration
  std::map<std::string, std::string> extra;   // anything else the caller must resume
};

// Saves the model (and the EMA and optimizer when not null), the default generator's state and
// `state`. Throws (naming the file) when it cannot write; the previous file is then unchanged.
void save_train_state(const std::string& path, const Module& model, const EMA* ema,
                      const Optimizer* optimizer, const TrainState& state);

// Loads a checkpoint into the model (and the EMA and optimizer when not null), restores the
// default generator and returns the saved TrainState. Before changing anything it refuses a
// checkpoint of a different model (naming the first tensor whose name or shape differs), one
// without the EMA or optimizer asked for, or with another optimizer type. A corrupt or
// truncated file is refused with the safetensors error.
TrainState load_train_state(const std::string& path, Module& model, EMA* ema,
                            Optimizer* optimizer);

// The step, configuration and extra state of a checkpoint, changing nothing (e.g. to build
// the model with the saved flags before loading it).
TrainState read_train_state_info(const std::string& path);

// "<name> [d0, d1, ...]" per parameter, then per buffer, one per line.
std::string model_signature(const Module& model);

// A generator state as text, "seed=<s> offset=<o>", and back (an Error names a bad text).
std::string format_rng_state(const RngState& state);
RngState parse_rng_state(const std::string& text);

// ---- Ctrl-C ----
void install_interrupt_handler();
bool interrupt_requested();
void clear_interrupt_request();

}  // namespace tinydiff
