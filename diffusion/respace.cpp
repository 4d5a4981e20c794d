// Respacing a diffusion onto a sub-sequence of its steps (see respace.hpp).
#include "diffusion/respace.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace tinydiff {

namespace {

// "25" -> 25. Throws naming the whole `text` for anything but a whole number >= 0.
int64_t parse_count(const std::string& part, const std::string& text) {
  const char* begin = part.c_str();
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(begin, &end, 10);
  TD_CHECK(!part.empty() && end != begin && *end == '\0' && errno == 0 && value >= 0,
           "space_timesteps: '", part, "' in '", text, "' is not a whole number of steps");
  return int64_t(value);
}

// "10,15,20" -> {10, 15, 20}
std::vector<int64_t> parse_counts(const std::string& text) {
  std::vector<int64_t> counts;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    counts.push_back(parse_count(text.substr(start, comma - start), text));
    if (comma == std::string::npos) return counts;
    start = comma + 1;
  }
}

// "ddimN": the strides k = 1, 2, ... until 0, k, 2k, ... < T has exactly N steps.
std::set<int64_t> ddim_strided(int64_t T, const std::string& text) {
  int64_t desired = parse_count(text.substr(4), text);
  for (int64_t stride = 1; stride < T; ++stride) {
    if ((T + stride - 1) / stride != desired) continue;
    std::set<int64_t> steps;
    for (int64_t t = 0; t < T; t += stride) steps.insert(t);
    return steps;
  }
  throw_error("space_timesteps: cannot take exactly ", desired, " of ", T,
              " steps with an integer stride ('", text, "')");
}

}  // namespace

// T, "a,b,c" | "ddimN" -> the kept steps in [0, T)
std::set<int64_t> space_timesteps(int64_t T, const std::string& section_counts) {
  TD_CHECK(T >= 1, "space_timesteps: T = ", T, " must be at least 1");
  if (section_counts.rfind("ddim", 0) == 0) return ddim_strided(T, section_counts);
  std::vector<int64_t> counts = parse_counts(section_counts);
  int64_t n = int64_t(counts.size()), size_per = T / n, extra = T % n, start = 0;
  std::set<int64_t> steps;
  for (int64_t i = 0; i < n; ++i) {
    int64_t size = size_per + (i < extra ? 1 : 0), count = counts[i];
    TD_CHECK(size >= count, "space_timesteps: cannot take ", count, " steps from a section of ",
             size, " (section ", i, " of '", section_counts, "', T = ", T, ")");
    // Evenly from the section's first step to its last: stride (size - 1) / (count - 1).
    double stride = count <= 1 ? 1.0 : double(size - 1) / double(count - 1), position = 0;
    for (int64_t k = 0; k < count; ++k, position += stride)
      steps.insert(start + int64_t(std::nearbyint(position)));  // half to even, as Python
    start += size;
  }
  return steps;
}

// use_timesteps (S of them), betas (T) -> S betas
std::vector<double> respaced_betas(const std::set<int64_t>& use_timesteps,
                                   const std::vector<double>& betas) {
  const int64_t T = int64_t(betas.size());
  TD_CHECK(!use_timesteps.empty(), "SpacedDiffusion: no steps to keep (of T = ", T, ")");
  for (int64_t t : use_timesteps)
    TD_CHECK(t >= 0 && t < T, "SpacedDiffusion: step ", t, " is not in [0, ", T, ")");
  // BEGIN EXERCISE 02.6 respacing (#6-respaced-sampling)
  std::vector<double> new_betas;
  double alpha_bar = 1, last_kept = 1;
  for (int64_t t = 0; t < T; ++t) {
    alpha_bar *= 1 - betas[t];
    if (use_timesteps.count(t) == 0) continue;
    new_betas.push_back(1 - alpha_bar / last_kept);  // beta_i = 1 - ab_{S_i} / ab_{S_{i-1}}
    last_kept = alpha_bar;
  }
  return new_betas;
  // END EXERCISE
}

SpacedDiffusion::SpacedDiffusion(const std::set<int64_t>& use_timesteps,
                                 const std::vector<double>& betas, const DiffusionConfig& config)
    : GaussianDiffusion(respaced_betas(use_timesteps, betas), config,
                        std::vector<int64_t>(use_timesteps.begin(), use_timesteps.end()),
                        int64_t(betas.size())) {}

SpacedDiffusion create_gaussian_diffusion(const DiffusionFlags& flags) {
  std::vector<double> betas = get_named_beta_schedule(flags.noise_schedule, flags.steps);
  DiffusionConfig config;
  config.mean_type = flags.predict_xstart ? ModelMeanType::StartX : ModelMeanType::Epsilon;
  config.var_type = flags.learn_sigma   ? ModelVarType::LearnedRange
                    : flags.sigma_small ? ModelVarType::FixedSmall
                                        : ModelVarType::FixedLarge;
  config.loss_type = flags.use_kl                   ? LossType::RescaledKL
                     : flags.rescale_learned_sigmas ? LossType::RescaledMSE
                                                    : LossType::MSE;
  config.rescale_timesteps = flags.rescale_timesteps;
  std::string respacing =
      flags.timestep_respacing.empty() ? std::to_string(flags.steps) : flags.timestep_respacing;
  return SpacedDiffusion(space_timesteps(flags.steps, respacing), betas, config);
}

}  // namespace tinydiff
