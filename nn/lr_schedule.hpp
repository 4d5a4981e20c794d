// Learning-rate schedules: the learning rate as a function of the step about to be taken
// (0 for the first step). A training loop sets it before each optimizer step:
//
//   LRSchedule schedule = cosine_lr(2e-4, total_steps, warmup_steps);
//   opt.lr = schedule(opt.step_count());
//   opt.step();
//
// Warm-up, where a schedule has one, rises linearly to base_lr: step s < W uses
// base_lr (s + 1) / W, so the first step already moves the weights and step W - 1 uses base_lr.
#pragma once
#include <cstdint>
#include <string>

namespace tinydiff {

struct LRSchedule {
  enum class Kind { Constant, Linear, WarmupConstant, Cosine };
  Kind kind = Kind::Constant;
  double base_lr = 1e-3;
  int64_t total_steps = 0;   // Linear and Cosine reach their end here
  int64_t warmup_steps = 0;  // WarmupConstant and Cosine
  double min_lr = 0;         // Cosine ends here

  // The learning rate for `step` (>= 0).
  double operator()(int64_t step) const;
};

// lr = base_lr at every step.
LRSchedule constant_lr(double base_lr);
// The course's decay, lr = base_lr (1 - step / total_steps), 0 from total_steps on.
LRSchedule linear_decay_lr(double base_lr, int64_t total_steps);
// Linear warm-up over warmup_steps, then base_lr.
LRSchedule warmup_constant_lr(double base_lr, int64_t warmup_steps);
// Linear warm-up, then half a cosine from base_lr down to min_lr at total_steps (and min_lr
// after it).
LRSchedule cosine_lr(double base_lr, int64_t total_steps, int64_t warmup_steps = 0,
                     double min_lr = 0);

// A schedule named by a command-line flag: "constant", "linear", "warmup" or "cosine"
// (the arguments a kind does not use are ignored).
LRSchedule make_lr_schedule(const std::string& name, double base_lr, int64_t total_steps,
                            int64_t warmup_steps = 0);

}  // namespace tinydiff
