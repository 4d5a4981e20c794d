// The DDPM noise schedule: the tables beta_t, alpha_t = 1 - beta_t and
// alpha_bar_t = prod_s alpha_s that every diffusion step reads (Ho et al. 2020, Sec. 2 and 4).
//
// The tables live on the host in double precision and are indexed by the step t = 0..T
// (T + 1 entries). Steps read one or two scalars from them and pass the result, rounded to
// float, to tensor ops.
#pragma once
#include <cstdint>
#include <vector>

namespace tinydiff {

struct NoiseSchedule {
  int64_t T = 0;                  // number of diffusion steps
  std::vector<double> beta;       // beta_t, the variance added at step t
  std::vector<double> alpha;      // alpha_t = 1 - beta_t
  std::vector<double> alpha_bar;  // alpha_bar_t = prod_s alpha_s, alpha_bar_0 = 1

  // Throws, naming `op`, when t is not a step in [lo, T].
  void check_step(int64_t t, int64_t lo, const char* op) const;
};

// The "How Diffusion Models Work" course's schedule (DDPM's linear schedule on T + 1 points):
//   beta_t = beta1 + (beta2 - beta1) t / T        t = 0..T (torch.linspace(0, 1, T + 1))
//   alpha_t = 1 - beta_t
//   alpha_bar_t = exp(sum_{s=0..t} log alpha_s),  then alpha_bar_0 := 1.
// Note the course's product starts at s = 0, so for t >= 1 its alpha_bar_t carries the extra
// factor alpha_0 = 1 - beta1 (0.9999) compared with DDPM's prod_{s=1..t}; we keep it so that a
// checkpoint trained by the course samples the same way here.
NoiseSchedule linear_schedule_course(int64_t T = 500, double beta1 = 1e-4, double beta2 = 0.02);

}  // namespace tinydiff
