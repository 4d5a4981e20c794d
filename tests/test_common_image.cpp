// lessons/common/image: pixel conversion, grid and trajectory layout, PNG files (decoded back
// with stb_image).
#include <stb/stb_image.h>

#include <cmath>

#include "lessons/common/image.hpp"
#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;

namespace {

uint8_t pixel(const Image& im, int64_t x, int64_t y, int64_t c = 0) {
  return im.pixels[(y * im.width + x) * im.channels + c];
}

// Images (n, c, h, w) where every pixel of image i is `value(i)`.
Tensor constant_images(int64_t n, int64_t c, int64_t h, int64_t w, float (*value)(int64_t)) {
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i) v.insert(v.end(), c * h * w, value(i));
  return from_vector(v, {n, c, h, w});
}

}  // namespace

TEST_CASE("to_uint8_nhwc maps [-1, 1] to bytes, clamps, and reorders NCHW to NHWC") {
  // One RGB image of 1 x 2 pixels: channel planes R = (-1, 1), G = (0, 2), B = (-3, NaN).
  Tensor x = from_vector({-1, 1, 0, 2, -3, NAN}, {1, 3, 1, 2});
  CHECK(to_uint8_nhwc(x) == std::vector<uint8_t>{0, 128, 0, 255, 255, 0});
  CHECK(to_uint8_nhwc(from_vector({-0.5f}, {1, 1, 1, 1})) ==
        std::vector<uint8_t>{64});  // 63.75 rounds to 64
  CHECK_THROWS_WITH_AS(to_uint8_nhwc(zeros({3, 4})),
                       doctest::Contains("expects images (N, C, H, W)"), Error);
}

TEST_CASE("make_grid lays images out row by row with padding and nearest-neighbour upscaling") {
  // Five 1 x 2 x 2 gray images; image i has the value -1 + 0.4 i (byte 51 i) everywhere.
  Tensor images = constant_images(5, 1, 2, 2, [](int64_t i) { return -1.f + 0.4f * float(i); });
  Image grid = make_grid(images, 3, 1, 2);
  CHECK(grid.width == 3 * (4 + 1) + 1);
  CHECK(grid.height == 2 * (4 + 1) + 1);
  CHECK(grid.channels == 1);
  CHECK(pixel(grid, 0, 0) == 128);   // padding
  CHECK(pixel(grid, 1, 1) == 0);     // image 0 starts after 1 pixel of padding
  CHECK(pixel(grid, 4, 4) == 0);     // and is 4 x 4 pixels
  CHECK(pixel(grid, 5, 4) == 128);   // then padding again
  CHECK(pixel(grid, 6, 1) == 51);    // image 1
  CHECK(pixel(grid, 14, 4) == 102);  // image 2 ends the first row
  CHECK(pixel(grid, 1, 6) == 153);   // image 3 opens the second row
  CHECK(pixel(grid, 9, 9) == 204);   // image 4
  CHECK(pixel(grid, 11, 6) == 128);  // the empty sixth cell stays padding gray
  Image one_row = make_grid(images, 8, 0, 1);
  CHECK(one_row.width == 10);
  CHECK(one_row.height == 2);
}

TEST_CASE("make_grid keeps RGB channels and make_trajectory puts time along the columns") {
  Tensor rgb =
      from_vector({-1, -1, -1, -1, 1, 1, 1, 1, 0, 0, 0, 0}, {1, 3, 2, 2});  // R 0, G 255, B 128
  Image grid = make_grid(rgb, 8, 2, 1);
  CHECK(grid.channels == 3);
  CHECK(pixel(grid, 2, 2, 0) == 0);
  CHECK(pixel(grid, 2, 2, 1) == 255);
  CHECK(pixel(grid, 3, 3, 2) == 128);

  // Three time steps of two samples (1 x 1 x 1): sample i at step t is -1 + 0.4 (2 t + i),
  // the byte 51 (2 t + i).
  std::vector<Tensor> steps;
  for (int t = 0; t < 3; ++t)
    steps.push_back(from_vector({-1 + 0.8f * t, -0.6f + 0.8f * t}, {2, 1, 1, 1}));
  Image trajectory = make_trajectory(steps, 1, 1);
  CHECK(trajectory.width == 3 * 2 + 1);
  CHECK(trajectory.height == 2 * 2 + 1);
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 2; ++i) CHECK(pixel(trajectory, 1 + 2 * t, 1 + 2 * i) == 51 * (2 * t + i));
}

TEST_CASE("image layout errors name the problem") {
  CHECK_THROWS_WITH_AS(make_grid(zeros({2, 2, 4, 4})),
                       doctest::Contains("C = 1 or 3 and N > 0, got [2, 2, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(make_grid(zeros({0, 1, 4, 4})), doctest::Contains("N > 0"), Error);
  CHECK_THROWS_WITH_AS(make_grid(zeros({1, 1, 4, 4}), 0),
                       doctest::Contains("nrow must be >= 1, got 0"), Error);
  CHECK_THROWS_WITH_AS(make_grid(zeros({1, 1, 4, 4}), 8, -1), doctest::Contains("padding -1"),
                       Error);
  CHECK_THROWS_WITH_AS(make_grid(zeros({1, 1, 4, 4}), 8, 2, 0), doctest::Contains("upscale 0"),
                       Error);
  CHECK_THROWS_WITH_AS(make_trajectory({}), doctest::Contains("no time steps"), Error);
  CHECK_THROWS_WITH_AS(
      make_trajectory({zeros({2, 1, 4, 4}), zeros({3, 1, 4, 4})}),
      doctest::Contains("step 1 has shape [3, 1, 4, 4] but step 0 has [2, 1, 4, 4]"), Error);
}

TEST_CASE("save_image_grid writes a PNG that decodes to the grid, atomically") {
  TempDir dir;
  Tensor images = test::uniform({3, 3, 4, 5}, -1, 1, 9, false);
  save_image_grid(dir.file("grid.png"), images, 2, 1, 3);
  std::string png = test::read_bytes(dir.file("grid.png"));
  int w = 0, h = 0, c = 0;
  unsigned char* decoded = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(png.data()),
                                                 int(png.size()), &w, &h, &c, 0);
  REQUIRE(decoded);
  Image expected = make_grid(images, 2, 1, 3);
  CHECK(w == expected.width);
  CHECK(h == expected.height);
  CHECK(c == 3);
  CHECK(std::vector<uint8_t>(decoded, decoded + w * h * c) == expected.pixels);
  stbi_image_free(decoded);

  save_trajectory(dir.file("steps.png"), {images, images}, 0, 1);
  CHECK(test::read_bytes(dir.file("steps.png")).substr(1, 3) == "PNG");
  CHECK(dir.listing() == "grid.png steps.png ");
  CHECK_THROWS_WITH_AS(save_image_grid(dir.file("no/dir/x.png"), images),
                       doctest::Contains("png: cannot write"), Error);
  CHECK(dir.listing() == "grid.png steps.png ");
}
