// Animated GIFs of the denoising process, with our own GIF89a encoder
// (spec: https://www.w3.org/Graphics/GIF/spec-gif89a.txt).
//
// File layout: "GIF89a", the logical screen descriptor, a global palette of 256 colours, the
// NETSCAPE2.0 application extension (loop forever), then per frame a graphic control
// extension (the delay) and an image whose palette indices are LZW-compressed; then ';'.
//
// Palette: 256 grays for 1-channel frames; for RGB frames a 6 x 7 x 6 colour cube (252
// colours: 6 levels of red and blue, 7 of green, to which the eye is most sensitive), with
// 4 x 4 ordered (Bayer) dithering so that smooth gradients do not band.
#pragma once
#include <string>
#include <vector>

#include "lessons/common/image.hpp"

namespace tinydiff {

struct GifOptions {
  int delay_cs = 8;         // time each frame is shown, in hundredths of a second
  int last_delay_cs = 200;  // the final frame is held longer
  bool loop = true;         // repeat forever (the NETSCAPE2.0 extension); else play once
};

// The GIF file's bytes. All frames must have the same size and channels (1 or 3).
std::string encode_gif(const std::vector<Image>& frames, const GifOptions& options = {});

// Writes encode_gif(frames, options) atomically.
void save_gif(const std::string& path, const std::vector<Image>& frames,
              const GifOptions& options = {});

// steps[t] is (N, C, H, W) in [-1, 1]; frame t is make_grid(steps[t], nrow, padding, upscale).
void save_trajectory_gif(const std::string& path, const std::vector<Tensor>& steps,
                         int64_t nrow = 8, int64_t padding = 2, int64_t upscale = 1,
                         const GifOptions& options = {});

}  // namespace tinydiff
