#include "lessons/common/image.hpp"

#include <stb/stb_image_write.h>

#include "lessons/common/file_io.hpp"

namespace tinydiff {

namespace {

constexpr uint8_t kPadGray = 128;  // visible on MNIST's black and on the sprites' white

// (N, C, H, W) images as NHWC bytes plus their sizes.
struct Pictures {
  int64_t n, c, h, w;
  std::vector<uint8_t> bytes;
};

Pictures to_pictures(const Tensor& images, const char* who) {
  TD_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3) && images.numel() > 0,
           who, ": expects images (N, C, H, W) with C = 1 or 3 and N > 0, got ", describe(images));
  return {images.size(0), images.size(1), images.size(2), images.size(3), to_uint8_nhwc(images)};
}

// A canvas for rows x cols cells of h x w pictures, filled with the padding gray.
Image blank_canvas(int64_t rows, int64_t cols, const Pictures& p, int64_t padding,
                   int64_t upscale) {
  Image image;
  image.width = cols * (p.w * upscale + padding) + padding;
  image.height = rows * (p.h * upscale + padding) + padding;
  image.channels = p.c;
  image.pixels.assign(image.width * image.height * image.channels, kPadGray);
  return image;
}

// Draws picture i of `p` into cell (row, col), each pixel as an upscale x upscale block.
void paste(Image& canvas, const Pictures& p, int64_t i, int64_t row, int64_t col, int64_t padding,
           int64_t upscale) {
  int64_t x0 = padding + col * (p.w * upscale + padding),
          y0 = padding + row * (p.h * upscale + padding);
  for (int64_t y = 0; y < p.h * upscale; ++y) {
    const uint8_t* src = &p.bytes[((i * p.h + y / upscale) * p.w) * p.c];
    uint8_t* dst = &canvas.pixels[((y0 + y) * canvas.width + x0) * p.c];
    for (int64_t x = 0; x < p.w * upscale; ++x)
      for (int64_t ch = 0; ch < p.c; ++ch) dst[x * p.c + ch] = src[(x / upscale) * p.c + ch];
  }
}

void check_layout(int64_t padding, int64_t upscale, const char* who) {
  TD_CHECK(padding >= 0 && upscale >= 1, who,
           ": padding must be >= 0 and upscale >= 1, got padding ", padding, " and upscale ",
           upscale);
}

}  // namespace

std::vector<uint8_t> to_uint8_nhwc(const Tensor& images) {
  TD_CHECK(images.dim() == 4, "to_uint8_nhwc: expects images (N, C, H, W), got ", describe(images));
  int64_t n = images.size(0), c = images.size(1), hw = images.size(2) * images.size(3);
  std::vector<float> values = images.tolist();
  std::vector<uint8_t> bytes(values.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) {
        float v = (values[(i * c + ch) * hw + p] + 1.0f) * 127.5f;
        v = v > 0.f ? (v < 255.f ? v : 255.f) : 0.f;  // NaN -> 0
        bytes[(i * hw + p) * c + ch] = uint8_t(v + 0.5f);
      }
  return bytes;
}

Image make_grid(const Tensor& images, int64_t nrow, int64_t padding, int64_t upscale) {
  check_layout(padding, upscale, "make_grid");
  TD_CHECK(nrow >= 1, "make_grid: nrow must be >= 1, got ", nrow);
  Pictures p = to_pictures(images, "make_grid");
  int64_t cols = std::min(nrow, p.n), rows = (p.n + cols - 1) / cols;
  Image canvas = blank_canvas(rows, cols, p, padding, upscale);
  for (int64_t i = 0; i < p.n; ++i) paste(canvas, p, i, i / cols, i % cols, padding, upscale);
  return canvas;
}

Image make_trajectory(const std::vector<Tensor>& steps, int64_t padding, int64_t upscale) {
  check_layout(padding, upscale, "make_trajectory");
  TD_CHECK(!steps.empty(), "make_trajectory: no time steps given");
  std::vector<Pictures> columns;
  for (const Tensor& step : steps) {
    columns.push_back(to_pictures(step, "make_trajectory"));
    TD_CHECK(step.shape() == steps[0].shape(), "make_trajectory: step ", columns.size() - 1,
             " has shape ", str(step.shape()), " but step 0 has ", str(steps[0].shape()));
  }
  Image canvas = blank_canvas(columns[0].n, int64_t(columns.size()), columns[0], padding, upscale);
  for (size_t t = 0; t < columns.size(); ++t)
    for (int64_t i = 0; i < columns[t].n; ++i)
      paste(canvas, columns[t], i, i, int64_t(t), padding, upscale);
  return canvas;
}

void save_png(const std::string& path, const Image& image) {
  TD_CHECK(image.width > 0 && image.height > 0 && (image.channels == 1 || image.channels == 3) &&
               int64_t(image.pixels.size()) == image.width * image.height * image.channels,
           "png: ", path, ": bad image ", image.width, " x ", image.height, " x ", image.channels,
           " with ", image.pixels.size(), " bytes");
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  int ok = stbi_write_png_to_func(append, &bytes, int(image.width), int(image.height),
                                  int(image.channels), image.pixels.data(),
                                  int(image.width * image.channels));
  TD_CHECK(ok, "png: ", path, ": encoding failed");
  write_file_atomic(path, bytes, "png");
}

void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow, int64_t padding,
                     int64_t upscale) {
  save_png(path, make_grid(images, nrow, padding, upscale));
}

void save_trajectory(const std::string& path, const std::vector<Tensor>& steps, int64_t padding,
                     int64_t upscale) {
  save_png(path, make_trajectory(steps, padding, upscale));
}

}  // namespace tinydiff
