// Respacing (Nichol & Dhariwal 2021, Sec. 4, "Improving Sampling Speed"): a model trained on a
// chain of T steps samples along any increasing sub-sequence S of its steps. The kept steps
// keep their alpha_bar values, so the new chain's betas are
//   beta_i = 1 - alpha_bar_{S_i} / alpha_bar_{S_{i-1}}      (alpha_bar_{S_{-1}} = 1),
// and the model is still called with the ORIGINAL step index S_i (the timestep_map).
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "diffusion/gaussian_diffusion.hpp"

namespace tinydiff {

// The steps to keep out of T, as improved-diffusion's space_timesteps:
//   "ddimN":      the strided steps 0, k, 2k, ... with the smallest stride k that gives exactly
//                 N steps (DDIM's evenly spaced sub-sequence);
//   "a,b,c,...":  split 0..T-1 into as many equal sections (the first T % n one step longer),
//                 and take a, b, c, ... steps from them, evenly spaced with rounding (half to
//                 even, as Python's round) and both section ends included;
//   "N":          one section: N steps evenly over the whole chain.
// Throws naming the text when a section is shorter than its count or no stride fits.
std::set<int64_t> space_timesteps(int64_t T, const std::string& section_counts);

// A GaussianDiffusion over the kept steps `use_timesteps` of the chain with `betas`:
// betas recomputed from the kept alpha_bar (above), timestep_map = the kept steps in order,
// original_num_steps = betas.size(). With config.rescale_timesteps the model sees
// timestep_map[t] * 1000 / original_num_steps. Everything else is GaussianDiffusion's.
class SpacedDiffusion : public GaussianDiffusion {
 public:
  // use_timesteps: non-empty, each in [0, betas.size()); throws naming the first bad one.
  SpacedDiffusion(const std::set<int64_t>& use_timesteps, const std::vector<double>& betas,
                  const DiffusionConfig& config = {});
};

// The betas of the chain keeping `use_timesteps` of the chain with `betas` (see above).
// -> use_timesteps.size() betas.
std::vector<double> respaced_betas(const std::set<int64_t>& use_timesteps,
                                   const std::vector<double>& betas);

// improved-diffusion's script_util.create_gaussian_diffusion: the flags of its training and
// sampling scripts, turned into a (respaced) diffusion.
//   learn_sigma:           LearnedRange variance (else FixedSmall if sigma_small, else FixedLarge)
//   predict_xstart:        StartX mean (else Epsilon)
//   use_kl:                RescaledKL loss; else rescale_learned_sigmas: RescaledMSE; else MSE
//   timestep_respacing:    space_timesteps text ("" keeps all `steps`)
struct DiffusionFlags {
  int64_t steps = 1000;
  bool learn_sigma = false;
  bool sigma_small = false;
  std::string noise_schedule = "linear";
  bool use_kl = false;
  bool predict_xstart = false;
  bool rescale_timesteps = true;
  bool rescale_learned_sigmas = true;
  std::string timestep_respacing = "";
};
SpacedDiffusion create_gaussian_diffusion(const DiffusionFlags& flags = {});

}  // namespace tinydiff
