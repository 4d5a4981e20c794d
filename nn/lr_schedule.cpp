// Learning-rate schedules (see nn/lr_schedule.hpp).
#include "nn/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/error.hpp"

namespace tinydiff {

namespace {

void check_base(const char* name, double base_lr) {
  TD_CHECK(base_lr >= 0, name, ": base learning rate must be >= 0, got ", base_lr);
}

// base_lr (step + 1) / W during the warm-up, 1 after it (as a factor of base_lr).
double warmup_factor(int64_t step, int64_t warmup_steps) {
  if (step >= warmup_steps) return 1.0;
  return double(step + 1) / double(warmup_steps);
}

}  // namespace

double LRSchedule::operator()(int64_t step) const {
  TD_CHECK(step >= 0, "lr schedule: step must be >= 0, got ", step);
  TD_CHECK(kind != Kind::Linear || total_steps > 0, "lr schedule: linear decay needs ",
           "total_steps > 0, got ", total_steps);
  TD_CHECK(kind != Kind::Cosine || (warmup_steps >= 0 && total_steps > warmup_steps),
           "lr schedule: cosine needs 0 <= warmup_steps < total_steps, got warmup_steps ",
           warmup_steps, " and total_steps ", total_steps);
  switch (kind) {
    case Kind::Constant:
      return base_lr;
    case Kind::Linear:  // lr0 (1 - s / N), the course's per-epoch decay
      return base_lr * std::max(0.0, 1.0 - double(step) / double(total_steps));
    case Kind::WarmupConstant:
      return base_lr * warmup_factor(step, warmup_steps);
    case Kind::Cosine: {
      // Loshchilov & Hutter 2017 (SGDR), Eq. 5 without restarts; t runs from 0 to 1 after warm-up:
      //   lr = min_lr + (base_lr - min_lr) (1 + cos(pi t)) / 2
      if (step < warmup_steps) return base_lr * warmup_factor(step, warmup_steps);
      double t = double(step - warmup_steps) / double(total_steps - warmup_steps);
      t = std::min(t, 1.0);
      return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * t));
    }
  }
  return base_lr;
}

LRSchedule constant_lr(double base_lr) {
  check_base("constant_lr", base_lr);
  LRSchedule s;
  s.base_lr = base_lr;
  return s;
}

LRSchedule linear_decay_lr(double base_lr, int64_t total_steps) {
  check_base("linear_decay_lr", base_lr);
  TD_CHECK(total_steps > 0, "linear_decay_lr: total_steps must be > 0, got ", total_steps);
  LRSchedule s;
  s.kind = LRSchedule::Kind::Linear;
  s.base_lr = base_lr;
  s.total_steps = total_steps;
  return s;
}

LRSchedule warmup_constant_lr(double base_lr, int64_t warmup_steps) {
  check_base("warmup_constant_lr", base_lr);
  TD_CHECK(warmup_steps >= 0, "warmup_constant_lr: warmup_steps must be >= 0, got ", warmup_steps);
  LRSchedule s;
  s.kind = LRSchedule::Kind::WarmupConstant;
  s.base_lr = base_lr;
  s.warmup_steps = warmup_steps;
  return s;
}

LRSchedule cosine_lr(double base_lr, int64_t total_steps, int64_t warmup_steps, double min_lr) {
  check_base("cosine_lr", base_lr);
  TD_CHECK(warmup_steps >= 0 && total_steps > warmup_steps, "cosine_lr: need 0 <= warmup_steps < ",
           "total_steps, got warmup_steps ", warmup_steps, " and total_steps ", total_steps);
  TD_CHECK(min_lr >= 0 && min_lr <= base_lr, "cosine_lr: min_lr must be in [0, base_lr = ",
           base_lr, "], got ", min_lr);
  LRSchedule s;
  s.kind = LRSchedule::Kind::Cosine;
  s.base_lr = base_lr;
  s.total_steps = total_steps;
  s.warmup_steps = warmup_steps;
  s.min_lr = min_lr;
  return s;
}

LRSchedule make_lr_schedule(const std::string& name, double base_lr, int64_t total_steps,
                            int64_t warmup_steps) {
  if (name == "constant") return constant_lr(base_lr);
  if (name == "linear") return linear_decay_lr(base_lr, total_steps);
  if (name == "warmup") return warmup_constant_lr(base_lr, warmup_steps);
  if (name == "cosine") return cosine_lr(base_lr, total_steps, warmup_steps);
  throw_error("lr schedule: unknown schedule '", name,
              "' (expected constant, linear, warmup or cosine)");
}

}  // namespace tinydiff
