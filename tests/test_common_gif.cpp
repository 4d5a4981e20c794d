// lessons/common/gif: the GIF89a encoder, checked by parsing its output and LZW-decoding it
// with a decoder written here from the spec, and by stb_image's GIF decoder.
#include <stb/stb_image.h>

#include <algorithm>
#include <cstdlib>

#include "lessons/common/gif.hpp"
#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;

namespace {

// GIF's LZW decoder: codes of `width` bits (least significant bit first), starting at
// min_size + 1 bits and widening when the table reaches 2^width entries, up to 12 bits.
// Entry k of the table is entry prefix[k] followed by the byte suffix[k].
std::vector<uint8_t> lzw_decode(const std::string& data, int min_size) {
  const int clear = 1 << min_size, end = clear + 1;
  std::vector<int> prefix(4096, -1), suffix(4096), first(4096);
  for (int i = 0; i < clear; ++i) suffix[i] = first[i] = i;
  int width = min_size + 1, next = clear + 2, prev = -1;
  size_t bit = 0;
  std::vector<uint8_t> out;
  auto emit = [&](int code) {  // appends entry `code`'s bytes
    size_t at = out.size();
    for (; code >= 0; code = prefix[code]) out.push_back(uint8_t(suffix[code]));
    std::reverse(out.begin() + at, out.end());
  };
  while (bit + width <= data.size() * 8) {
    int code = 0;
    for (int i = 0; i < width; ++i, ++bit) code |= ((data[bit / 8] >> (bit % 8)) & 1) << i;
    if (code == clear) {
      width = min_size + 1, next = clear + 2, prev = -1;
      continue;
    }
    if (code == end) {
      CHECK_MESSAGE((bit + 7) / 8 == data.size(), "the end code is not the last code");
      return out;
    }
    bool known = (code < next && code != clear && code != end) || (code == next && prev >= 0);
    REQUIRE_MESSAGE(known, "LZW code " << code << " is not in the table of " << next);
    if (prev >= 0 && next < 4096) {  // the new entry: prev's string + the first byte of code's
      prefix[next] = prev, first[next] = first[prev];
      suffix[next] = code == next ? first[prev] : first[code];
      ++next;
    }
    emit(code);
    if (next == (1 << width) && width < 12) ++width;
    prev = code;
  }
  FAIL("the LZW data has no end code");
  return {};
}

struct ParsedGif {
  int width = 0, height = 0;
  std::string palette;
  bool loops = false;
  std::vector<int> delays;
  std::vector<std::vector<uint8_t>> frames;  // palette indices
};

// Reads the blocks of a GIF89a file (failing the test on anything unexpected).
ParsedGif parse_gif(const std::string& g) {
  ParsedGif p;
  auto u16 = [&](size_t at) { return int(uint8_t(g[at])) | (int(uint8_t(g[at + 1])) << 8); };
  auto sub_blocks = [&](size_t& at) {
    std::string data;
    for (int len; (len = uint8_t(g.at(at++))) != 0; at += len) data += g.substr(at, len);
    return data;
  };
  REQUIRE(g.substr(0, 6) == "GIF89a");
  p.width = u16(6), p.height = u16(8);
  REQUIRE(uint8_t(g[10]) == 0xF7);  // a global palette of 256 colours
  p.palette = g.substr(13, 768);
  size_t at = 13 + 768;
  while (true) {
    uint8_t block = uint8_t(g.at(at++));
    if (block == 0x3B) break;
    if (block == 0x21) {
      uint8_t label = uint8_t(g.at(at++));
      std::string body = sub_blocks(at);
      if (label == 0xF9) p.delays.push_back(int(uint8_t(body[1])) | (int(uint8_t(body[2])) << 8));
      if (label == 0xFF)
        p.loops = body.substr(0, 11) == "NETSCAPE2.0" &&
                  body.substr(11) == std::string("\x01\x00\x00", 3);
      continue;
    }
    REQUIRE(block == 0x2C);
    CHECK(u16(at + 4) == p.width);
    CHECK(u16(at + 6) == p.height);
    CHECK(g[at + 8] == 0);  // no local palette, not interlaced
    at += 9;
    int min_size = uint8_t(g.at(at++));
    p.frames.push_back(lzw_decode(sub_blocks(at), min_size));
  }
  CHECK(at == g.size());
  return p;
}

Image gray_frame(int w, int h, uint8_t (*value)(int x, int y)) {
  Image im{w, h, 1, {}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) im.pixels.push_back(value(x, y));
  return im;
}

// Pseudo-random bytes (a 32-bit LCG): hard to compress, so the LZW table fills and is cleared.
uint8_t noise(int x, int y) {
  uint32_t s = uint32_t(x * 7919 + y * 104729) * 1664525u + 1013904223u;
  return uint8_t(s >> 24);
}

// n pixels of noise from a few symbols (fewer symbols: longer strings, other code counts).
Image noise_row(int n, int symbols, int seed) {
  Image im{n, 1, 1, {}};
  for (int x = 0; x < n; ++x) im.pixels.push_back(uint8_t(noise(x, seed) % symbols));
  return im;
}

}  // namespace

TEST_CASE("gif: gray frames decode back exactly, with delays and looping") {
  std::vector<Image> frames = {
      gray_frame(300, 200, noise),                                  // table clears, 12-bit codes
      gray_frame(300, 200, [](int, int) -> uint8_t { return 7; }),  // long runs: the KwKwK case
      gray_frame(300, 200, [](int x, int y) -> uint8_t { return uint8_t((x / 3 + y) % 256); }),
  };
  GifOptions options;
  options.delay_cs = 5, options.last_delay_cs = 150;
  ParsedGif gif = parse_gif(encode_gif(frames, options));
  CHECK(gif.width == 300);
  CHECK(gif.height == 200);
  CHECK(gif.loops);
  CHECK(gif.delays == std::vector<int>{5, 5, 150});
  REQUIRE(gif.frames.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK_MESSAGE(gif.frames[i] == frames[i].pixels, "frame " << i);
  for (int i = 0; i < 256; ++i) CHECK(gif.palette.substr(3 * i, 3) == std::string(3, char(i)));

  options.loop = false;
  CHECK_FALSE(parse_gif(encode_gif({gray_frame(1, 1, noise)}, options)).loops);
  CHECK(parse_gif(encode_gif({gray_frame(1, 1, noise)}, options)).frames[0].size() == 1);
}

TEST_CASE("gif: the LZW code width grows exactly where a decoder expects, for every length") {
  // Every length up to where the table reaches 512, 1024 and 2048 entries, for noise of 256
  // and of 3 symbols, so that the data ends right at each widening in some case.
  for (int symbols : {256, 3})
    for (int n = 1; n < (symbols == 256 ? 2100 : 6000); ++n) {
      Image frame = noise_row(n, symbols, 1);
      ParsedGif gif = parse_gif(encode_gif({frame}));
      REQUIRE_MESSAGE(gif.frames[0] == frame.pixels, "width " << n);
    }
}

TEST_CASE("gif: RGB frames use the colour cube with ordered dithering") {
  Image frame{64, 32, 3, {}};
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 64; ++x) {
      bool exact = y < 8;  // the top rows hold palette colours: white, black, pure red
      uint8_t r = exact ? (x < 20 ? 255 : x < 40 ? 0 : 255) : uint8_t(x * 4);
      uint8_t g = exact ? (x < 20 ? 255 : 0) : uint8_t(y * 8);
      uint8_t b = exact ? (x < 20 ? 255 : 0) : uint8_t(255 - x * 4);
      frame.pixels.insert(frame.pixels.end(), {r, g, b});
    }
  ParsedGif gif = parse_gif(encode_gif({frame, frame}));
  REQUIRE(gif.frames.size() == 2);
  CHECK(gif.frames[0] == gif.frames[1]);
  const int step[3] = {51, 43, 51};  // the spacing of 6, 7 and 6 levels
  for (int i = 0; i < 64 * 32; ++i)
    for (int c = 0; c < 3; ++c) {
      int shown = uint8_t(gif.palette[3 * gif.frames[0][i] + c]), wanted = frame.pixels[3 * i + c];
      if (i < 64 * 8)
        REQUIRE(shown == wanted);  // palette colours stay exact
      else
        REQUIRE(std::abs(shown - wanted) <= step[c]);  // within one level
    }
}

TEST_CASE("gif: stb_image decodes our files to the same pictures") {
  std::vector<Image> frames = {
      gray_frame(40, 30, noise),
      gray_frame(40, 30, [](int x, int) -> uint8_t { return uint8_t(6 * x); })};
  std::string gif = encode_gif(frames);
  int *delays = nullptr, w = 0, h = 0, count = 0, comp = 0;
  unsigned char* rgba =
      stbi_load_gif_from_memory(reinterpret_cast<const unsigned char*>(gif.data()), int(gif.size()),
                                &delays, &w, &h, &count, &comp, 4);
  REQUIRE_MESSAGE(rgba, stbi_failure_reason());
  CHECK(w == 40);
  CHECK(h == 30);
  REQUIRE(count == 2);
  for (int f = 0; f < 2; ++f)
    for (int i = 0; i < 40 * 30; ++i) REQUIRE(rgba[(f * 40 * 30 + i) * 4] == frames[f].pixels[i]);
  CHECK(delays[0] == 80);  // stb reports milliseconds: the default 8 hundredths
  CHECK(delays[1] == 2000);
  stbi_image_free(rgba);
  stbi_image_free(delays);
}

TEST_CASE("gif: bad frames and options are errors, files are written atomically") {
  Image a = gray_frame(4, 4, noise), b = gray_frame(5, 4, noise);
  CHECK_THROWS_WITH_AS(encode_gif({}), doctest::Contains("no frames"), Error);
  CHECK_THROWS_WITH_AS(encode_gif({a, b}),
                       doctest::Contains("frame 1 is 5 x 4 x 1 but frame 0 is 4 x 4 x 1"), Error);
  Image wrong = a;
  wrong.pixels.pop_back();
  CHECK_THROWS_WITH_AS(encode_gif({wrong}), doctest::Contains("with 15 bytes"), Error);
  GifOptions slow;
  slow.delay_cs = 70000;
  CHECK_THROWS_WITH_AS(encode_gif({a}, slow), doctest::Contains("got 70000"), Error);

  TempDir dir;
  save_trajectory_gif(dir.file("t.gif"), {zeros({3, 1, 4, 4}), ones({3, 1, 4, 4})}, 2, 1, 2);
  ParsedGif gif = parse_gif(test::read_bytes(dir.file("t.gif")));
  CHECK(gif.width == 2 * (8 + 1) + 1);
  CHECK(gif.height == 2 * (8 + 1) + 1);
  CHECK(gif.frames.size() == 2);
  CHECK(gif.frames[1][20] == 255);  // frame 1 is all ones: white at pixel (1, 1)
  CHECK_THROWS_WITH_AS(save_gif(dir.file("no/dir/x.gif"), {a}),
                       doctest::Contains("gif: cannot write"), Error);
  CHECK(dir.listing() == "t.gif ");
}
