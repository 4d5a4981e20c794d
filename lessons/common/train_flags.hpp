// The command line that every lesson's `train` shares: the flags for the run folder, data,
// preset and length, the loop's seed, device and save/sample periods, --resume and --stop-at,
// and the rule that a resumed run keeps its own settings.
//
//   Flags f("lesson01", "train", "...");
//   add_train_data_flags(f, "sprites", "runs/lesson01", {"quick", "course"}, "quick: ...");
//   ...the lesson's own model and optimiser flags...
//   add_train_loop_flags(f, 500);
//   add_resume_flags(f);
//   TrainRun run = read_train_run(f, "lesson01 train");
//   Lesson01Settings s = train_settings(run, f, settings_from_flags(f, rows), settings_from_map);
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lessons/common/flags.hpp"
#include "nn/train_state.hpp"
#include "tensor/device.hpp"

namespace tinydiff {

// --data, --dataset, --out, --preset, --steps, --epochs, --batch: what to train on, where the
// run folder is, and how long. `presets` lists the lesson's presets (the first is the default).
void add_train_data_flags(Flags& f, const std::string& default_dataset,
                          const std::string& default_out, const std::vector<std::string>& presets,
                          const std::string& preset_help);
// --seed, --device, --save-every, --sample-every.
void add_train_loop_flags(Flags& f, int64_t default_sample_every);
// --resume, --stop-at.
void add_resume_flags(Flags& f);

// The flags above that the training loop needs, read once.
struct TrainRun {
  std::string who;        // "lesson01 train": starts the messages
  std::string out, ckpt;  // RUN_DIR and RUN_DIR/ckpt.safetensors
  bool resume = false;
  Device device;
  uint64_t seed = 0;
  int64_t save_every = 0, sample_every = 0;  // sample_every 0: only at the end
  int64_t stop_at = 0;                       // 0: run to the end
};
// Reads the run's flags and checks that --device is available (naming `who` when it is not).
TrainRun read_train_run(const Flags& f, const std::string& who);

// Throws unless a resumed run asks for the data set it was trained on (`trained_on`).
void check_resumed_dataset(const TrainRun& run, const std::string& trained_on,
                           const std::string& asked);
// Throws unless steps and batch are positive.
void check_train_length(const TrainRun& run, int64_t steps, int64_t batch);

// The settings a run trains with: `from_flags`, or with --resume the checkpoint's own (read
// back by `from_map`) with only the total step count taken from --steps, so that a resumed run
// continues exactly the run it was. Settings needs `dataset`, `steps` and `batch`.
template <class Settings>
Settings train_settings(const TrainRun& run, const Flags& f, Settings from_flags,
                        Settings (*from_map)(const std::map<std::string, std::string>&)) {
  Settings s = from_flags;
  if (run.resume) {
    s = from_map(read_train_state_info(run.ckpt).config);
    if (f.get_int("steps") > 0) s.steps = f.get_int("steps");
    check_resumed_dataset(run, s.dataset, f.get_string("dataset"));
  }
  check_train_length(run, s.steps, s.batch);
  return s;
}

}  // namespace tinydiff
