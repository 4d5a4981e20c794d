#include "lessons/common/train_flags.hpp"

#include "lessons/common/training.hpp"

namespace tinydiff {

namespace {
const char* kPreset = " (default: the preset's)";
}  // namespace

void add_train_data_flags(Flags& f, const std::string& default_dataset,
                          const std::string& default_out, const std::vector<std::string>& presets,
                          const std::string& preset_help) {
  f.add_string("data", "", "data folder (default: $TINYDIFF_DATA, else ./data)");
  f.add_choice("dataset", default_dataset, {"mnist", "sprites"}, "which data set");
  f.add_string("out", default_out, "run folder: ckpt.safetensors, loss.csv, loss.svg, samples");
  f.add_choice("preset", presets.front(), presets, preset_help);
  f.add_int("steps", 0, std::string("total training steps") + kPreset);
  f.add_int("epochs", 0, "total epochs, converted to steps (overrides the preset)");
  f.add_int("batch", 0, std::string("batch size") + kPreset);
}

void add_train_loop_flags(Flags& f, int64_t default_sample_every) {
  f.add_int("seed", 0, "seed for initialisation, shuffling and noise");
  f.add_choice("device", "cpu", {"cpu", "cuda"}, "where to train");
  f.add_int("save-every", 500, "steps between checkpoints");
  f.add_int("sample-every", default_sample_every, "steps between sample grids (0: only at the end)");
}

void add_resume_flags(Flags& f) {
  f.add_bool("resume", "continue RUN_DIR/ckpt.safetensors up to --steps");
  f.add_int("stop-at", 0, "save and stop after this step, as Ctrl-C would (0: run to the end)");
}

TrainRun read_train_run(const Flags& f, const std::string& who) {
  TrainRun run;
  run.who = who;
  run.out = f.get_string("out");
  run.ckpt = run_file(run.out, "ckpt.safetensors");
  run.resume = f.get_bool("resume");
  run.device = Device::parse(f.get_string("device"));
  require_device(run.device, who.c_str());
  run.seed = uint64_t(f.get_int("seed"));
  run.save_every = f.get_int("save-every");
  run.sample_every = f.get_int("sample-every");
  run.stop_at = f.get_int("stop-at");
  return run;
}

void check_resumed_dataset(const TrainRun& run, const std::string& trained_on,
                           const std::string& asked) {
  TD_CHECK(trained_on == asked, run.who, " --resume: ", run.ckpt, " was trained on ", trained_on,
           ", not ", asked);
}

void check_train_length(const TrainRun& run, int64_t steps, int64_t batch) {
  TD_CHECK(steps > 0 && batch > 0, run.who, ": --steps and --batch must be positive");
}

}  // namespace tinydiff
