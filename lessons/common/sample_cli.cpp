#include "lessons/common/sample_cli.hpp"

#include <algorithm>
#include <cstdio>

#include "lessons/common/gif.hpp"
#include "lessons/common/image.hpp"
#include "lessons/common/npy.hpp"

namespace tinydiff {

void add_sample_request_flags(Flags& f, const std::string& default_ckpt) {
  f.add_string("ckpt", default_ckpt, "checkpoint written by train");
  f.add_int("n", 40, "number of samples");
  f.add_string("class", "all", "class index, or 'all' for n / num_classes of each class in order");
}

void add_sample_output_flags(Flags& f) {
  f.add_choice("device", "cpu", {"cpu", "cuda"}, "where to sample");
  f.add_string("png", "", "output PNG grid (required)");
  f.add_string("npy", "", "also write the samples as uint8 (N, H, W, C)");
  f.add_string("labels-npy", "", "also write the requested class of each sample as int64 (N,)");
  f.add_string("progress-png", "", "also write the denoising trajectory as a strip");
  f.add_string("gif", "", "also write the denoising trajectory as an animated GIF");
}

Device sample_device(const Flags& f, const std::string& who) {
  TD_CHECK(!f.get_string("png").empty(), who, ": --png FILE is required (see --help)");
  Device device = Device::parse(f.get_string("device"));
  require_device(device, who.c_str());
  return device;
}

int64_t parse_class_flag(const std::string& text, const std::string& who) {
  if (text == "all") return -1;
  try {
    size_t used = 0;
    int64_t k = std::stoll(text, &used);
    if (used == text.size() && k >= 0) return k;
  } catch (const std::exception&) {
  }
  throw_error(who, ": --class expects a class index or 'all', got '", text, "'");
}

std::vector<int64_t> sample_classes(int64_t n, int64_t k, int64_t num_classes,
                                    const std::string& who) {
  TD_CHECK(k < num_classes, who, ": --class ", k, " is out of range (", num_classes,
           " classes: 0..", num_classes - 1, ")");
  TD_CHECK(k >= 0 || n % num_classes == 0, who, ": --class all needs --n divisible by the ",
           num_classes, " classes, got ", n);
  std::vector<int64_t> classes(n);
  for (int64_t i = 0; i < n; ++i) classes[i] = k >= 0 ? k : i / (n / num_classes);
  return classes;
}

Tensor class_tensor(const std::vector<int64_t>& classes) {
  std::vector<float> values(classes.begin(), classes.end());
  return from_vector(values, {int64_t(classes.size())});
}

int64_t trajectory_keep_every(const Flags& f, int64_t steps) {
  bool want_frames = !f.get_string("progress-png").empty() || !f.get_string("gif").empty();
  return want_frames ? std::max<int64_t>(1, steps / 16) : 0;
}

void write_sample_files(const Flags& f, const Samples& s, const std::vector<int64_t>& classes,
                        int64_t per_row) {
  Tensor x0 = s.x0.to(Device::cpu());
  int64_t n = x0.size(0), channels = x0.size(1), height = x0.size(2), width = x0.size(3);
  save_image_grid(f.get_string("png"), x0, per_row, 2, 2);
  std::printf("wrote %s\n", f.get_string("png").c_str());
  if (!f.get_string("npy").empty())
    save_npy(f.get_string("npy"), to_uint8_nhwc(x0), {n, height, width, channels});
  if (!f.get_string("labels-npy").empty()) save_npy(f.get_string("labels-npy"), classes, {n});
  std::vector<Tensor> frames;
  for (const Tensor& frame : s.frames) frames.push_back(frame.to(Device::cpu()));
  if (!f.get_string("progress-png").empty())
    save_trajectory(f.get_string("progress-png"), frames, 2, 2);
  if (!f.get_string("gif").empty())
    save_trajectory_gif(f.get_string("gif"), frames, per_row, 2, 2);
}

}  // namespace tinydiff
