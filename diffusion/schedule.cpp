// The course's linear noise schedule (see schedule.hpp).
#include "diffusion/schedule.hpp"

#include <cmath>

#include "tensor/error.hpp"

namespace tinydiff {

void NoiseSchedule::check_step(int64_t t, int64_t lo, const char* op) const {
  TD_CHECK(t >= lo && t <= T, op, ": step t = ", t, " is outside [", lo, ", ", T,
           "] (the schedule has T = ", T, ")");
}

// T scalars -> tables of T + 1 entries, indexed by t = 0..T.
NoiseSchedule linear_schedule_course(int64_t T, double beta1, double beta2) {
  TD_CHECK(T >= 1, "linear_schedule_course: T = ", T, " must be at least 1");
  TD_CHECK(beta1 > 0 && beta1 <= beta2 && beta2 < 1,
           "linear_schedule_course: need 0 < beta1 <= beta2 < 1, got beta1 = ", beta1,
           ", beta2 = ", beta2);
  NoiseSchedule s;
  s.T = T;
  double log_alpha_bar = 0;  // running sum_{s<=t} log alpha_s (the course's cumsum)
  for (int64_t t = 0; t <= T; ++t) {
    double beta = beta1 + (beta2 - beta1) * double(t) / double(T);
    log_alpha_bar += std::log(1 - beta);
    s.beta.push_back(beta);
    s.alpha.push_back(1 - beta);
    s.alpha_bar.push_back(std::exp(log_alpha_bar));
  }
  s.alpha_bar[0] = 1;  // x_0 is the data: no noise at t = 0
  return s;
}

}  // namespace tinydiff
