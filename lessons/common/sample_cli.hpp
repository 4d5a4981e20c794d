// The command line that every lesson's `sample` shares: which checkpoint, how many samples of
// which classes, and the files to write (PNG grid, .npy arrays, denoising strip and GIF).
//
//   Flags f("lesson01", "sample", "...");
//   add_sample_request_flags(f, "runs/lesson01/ckpt.safetensors");
//   ...the lesson's sampler flags and --seed...
//   add_sample_output_flags(f);
//   Device device = sample_device(f, "lesson01 sample");
//   ...draw Samples s with options.keep_every = trajectory_keep_every(f, steps)...
//   write_sample_files(f, s, classes, per_row);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "diffusion/sampler.hpp"
#include "lessons/common/flags.hpp"
#include "tensor/device.hpp"

namespace tinydiff {

// --ckpt, --n, --class.
void add_sample_request_flags(Flags& f, const std::string& default_ckpt);
// --device, --png, --npy, --labels-npy, --progress-png, --gif.
void add_sample_output_flags(Flags& f);

// Checks that --png is given and returns --device, checked to be available; errors start
// with `who` ("lesson01 sample").
Device sample_device(const Flags& f, const std::string& who);

// --class as a class index, or -1 for 'all'; anything else is an Error naming `who`.
int64_t parse_class_flag(const std::string& text, const std::string& who);

// The class of each of `n` samples: all `k`, or for k < 0 n / num_classes of each class in
// class order. Errors (starting with `who`, "lesson01") name an out-of-range class, or an `n`
// that the classes do not divide.
std::vector<int64_t> sample_classes(int64_t n, int64_t k, int64_t num_classes,
                                    const std::string& who);
// classes -> (n) float tensor of the same values.
Tensor class_tensor(const std::vector<int64_t>& classes);

// The samplers' keep_every: about 16 frames of the trajectory when --progress-png or --gif
// wants them, else 0 (keep none).
int64_t trajectory_keep_every(const Flags& f, int64_t steps);

// Writes the PNG grid of s.x0 (per_row images a row) and says so on stdout, then what the flags
// ask for: --npy the samples as uint8 (N, H, W, C), --labels-npy `classes` as int64 (N),
// --progress-png the trajectory as a strip and --gif as an animation (per_row a row).
// s.x0 (N, C, H, W) in [-1, 1] and s.frames may be on any device.
void write_sample_files(const Flags& f, const Samples& s, const std::vector<int64_t>& classes,
                        int64_t per_row);

}  // namespace tinydiff
