// Pictures of samples: image grids and denoising trajectories as PNG (stb_image_write).
//
// Tensors hold images as (N, C, H, W) floats in [-1, 1] (C = 1 gray or 3 RGB); a pixel value x
// becomes the byte round((x + 1) * 127.5), clamped to [0, 255].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace tinydiff {

// An 8-bit picture, rows top to bottom, channels interleaved (gray or RGB).
struct Image {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// images (N, C, H, W) in [-1, 1] -> N * H * W * C bytes in NHWC order (for `sample --npy`).
std::vector<uint8_t> to_uint8_nhwc(const Tensor& images);

// images (N, C, H, W) -> one picture: `nrow` images per row, `padding` pixels of gray between
// them and around them, each pixel drawn as an upscale x upscale block (nearest neighbour).
Image make_grid(const Tensor& images, int64_t nrow = 8, int64_t padding = 2, int64_t upscale = 1);

// A trajectory: steps[t] is (N, C, H, W), the N samples at time step t. Row i of the picture
// shows sample i, column t shows step t (left to right: noise to image).
Image make_trajectory(const std::vector<Tensor>& steps, int64_t padding = 2, int64_t upscale = 1);

// Writes a PNG atomically.
void save_png(const std::string& path, const Image& image);

// save_png(path, make_grid(...)) and save_png(path, make_trajectory(...)).
void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow = 8,
                     int64_t padding = 2, int64_t upscale = 1);
void save_trajectory(const std::string& path, const std::vector<Tensor>& steps, int64_t padding = 2,
                     int64_t upscale = 1);

}  // namespace tinydiff
