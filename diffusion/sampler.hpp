// Sampling loops: start from pure noise x_T ~ N(0, I) and apply the model T times (DDPM,
// Ho et al. 2020, Algorithm 2) or S < T times (DDIM, Song et al. 2021, Eq. 12), optionally
// with classifier-free guidance (Ho & Salimans 2022, Eq. 6). Run under NoGradGuard.
#pragma once
#include <functional>
#include <vector>

#include "diffusion/schedule.hpp"
#include "tensor/device.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

// The noise-prediction network eps_theta: x_t (B, C, H, W), t / T (B) and the context (B, K),
// or an undefined tensor when sampling without one -> the predicted noise (B, C, H, W).
using EpsModel =
    std::function<Tensor(const Tensor& x_t, const Tensor& t_normalised, const Tensor& context)>;

struct SampleOptions {
  double guidance_w = 0;     // w of Ho & Salimans Eq. 6; 0 calls the model once per step
  int64_t keep_every = 0;    // keep a frame every k steps (0: keep none)
  int64_t ddim_steps = 20;   // DDIM: number of steps S (the course's n = 20)
  double eta = 0;            // DDIM: eta of Eq. 16 (0: deterministic)
  Generator* gen = nullptr;  // source of x_T and z (the default generator when null)
  Device device = Device::cpu();
};

struct Samples {
  Tensor x0;                         // (B, C, H, W), the samples
  std::vector<Tensor> frames;        // with keep_every > 0: x_T, then every k steps, then x_0
  std::vector<int64_t> frame_steps;  // the step t of each frame
};

// shape is (B, C, H, W), context (B, K) or undefined -> B samples by DDPM ancestral sampling.
Samples sample_ddpm(const EpsModel& model, const Shape& shape, const Tensor& context,
                    const NoiseSchedule& s, const SampleOptions& options = {});

// shape is (B, C, H, W), context (B, K) or undefined -> B samples in options.ddim_steps
// DDIM steps along ddim_timesteps(T, ddim_steps).
Samples sample_ddim(const EpsModel& model, const Shape& shape, const Tensor& context,
                    const NoiseSchedule& s, const SampleOptions& options = {});

}  // namespace tinydiff
