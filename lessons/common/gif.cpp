#include "lessons/common/gif.hpp"

#include <cmath>

#include "lessons/common/file_io.hpp"

namespace tinydiff {

namespace {

constexpr int kRed = 6, kGreen = 7, kBlue = 6;  // levels of the RGB colour cube

// Level k of `levels` evenly spaced values in [0, 255].
uint8_t level_value(int k, int levels) { return uint8_t(std::lround(k * 255.0 / (levels - 1))); }

// 256 RGB triples: grays, or the colour cube (index (r * 7 + g) * 6 + b) padded with black.
std::string palette(int channels) {
  std::string p(256 * 3, '\0');
  for (int i = 0; i < 256; ++i) {
    if (channels == 1) {
      p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = char(i);
    } else if (i < kRed * kGreen * kBlue) {
      p[3 * i] = char(level_value(i / (kGreen * kBlue), kRed));
      p[3 * i + 1] = char(level_value(i / kBlue % kGreen, kGreen));
      p[3 * i + 2] = char(level_value(i % kBlue, kBlue));
    }
  }
  return p;
}

// The 4 x 4 Bayer matrix: thresholds spread evenly over 0..15 so that neighbours differ most.
const int kBayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};

// A channel value v in [0, 255] -> one of `levels` levels, nudged by the threshold t in
// (-1/2, 1/2) before rounding: ordered dithering. Palette colours themselves stay exact.
int quantize(uint8_t v, int levels, float t) {
  int q = int(std::floor(v * (levels - 1) / 255.0f + 0.5f + t));
  return q < 0 ? 0 : (q >= levels ? levels - 1 : q);
}

// The palette index of every pixel.
std::vector<uint8_t> palette_indices(const Image& frame) {
  int64_t n = frame.width * frame.height;
  if (frame.channels == 1) return frame.pixels;
  std::vector<uint8_t> out(n);
  for (int64_t y = 0; y < frame.height; ++y)
    for (int64_t x = 0; x < frame.width; ++x) {
      float t = (kBayer[y % 4][x % 4] + 0.5f) / 16.0f - 0.5f;
      const uint8_t* rgb = &frame.pixels[(y * frame.width + x) * 3];
      int r = quantize(rgb[0], kRed, t), g = quantize(rgb[1], kGreen, t),
          b = quantize(rgb[2], kBlue, t);
      out[y * frame.width + x] = uint8_t((r * kGreen + g) * kBlue + b);
    }
  return out;
}

// Writes variable-width codes least significant bit first, as GIF packs them.
struct BitWriter {
  std::string bytes;
  uint32_t buffer = 0;
  int count = 0;
  void write(int code, int width) {
    buffer |= uint32_t(code) << count;
    count += width;
    for (; count >= 8; count -= 8, buffer >>= 8) bytes += char(buffer & 0xFF);
  }
  void flush() {
    if (count > 0) bytes += char(buffer & 0xFF);
    buffer = 0, count = 0;
  }
};

// The string table of LZW: (prefix code, next byte) -> code, an open-addressing hash table.
class LzwTable {
 public:
  void clear() { keys_.assign(kSize, -1); }
  int find(int prefix, int byte) const {
    int key = (prefix << 8) | byte;
    for (uint32_t h = hash(key);; h = (h + 1) & (kSize - 1)) {
      if (keys_[h] == key) return codes_[h];
      if (keys_[h] < 0) return -1;
    }
  }
  void insert(int prefix, int byte, int code) {
    int key = (prefix << 8) | byte;
    uint32_t h = hash(key);
    while (keys_[h] >= 0) h = (h + 1) & (kSize - 1);
    keys_[h] = key, codes_[h] = int16_t(code);
  }

 private:
  static constexpr uint32_t kSize = 8192;  // > 4096 entries, a power of two
  static uint32_t hash(int key) { return (uint32_t(key) * 2654435761u) >> 19; }
  std::vector<int> keys_ = std::vector<int>(kSize, -1);
  std::vector<int16_t> codes_ = std::vector<int16_t>(kSize);
};

// GIF's LZW with 8-bit pixels: codes 0..255 are the bytes, 256 clears the table, 257 ends
// the data, 258.. name longer strings. Codes start 9 bits wide and widen as the table grows,
// up to 12 bits (4096 codes); a full table is cleared.
std::string lzw_compress(const std::vector<uint8_t>& pixels) {
  const int clear = 256, end = 257;
  LzwTable table;
  BitWriter out;
  int width = 9, next = 258;
  out.write(clear, width);
  int prefix = pixels[0];
  for (size_t i = 1; i < pixels.size(); ++i) {
    int code = table.find(prefix, pixels[i]);
    if (code >= 0) {
      prefix = code;  // the string grows by one byte
      continue;
    }
    out.write(prefix, width);
    if (next == 4096) {
      out.write(clear, width);
      table.clear(), width = 9, next = 258;
    } else {
      table.insert(prefix, pixels[i], next++);
      // The decoder builds the same table one code later, so it widens when it has made code
      // 2^width - 1 and we widen when we have made code 2^width.
      if (next > (1 << width) && width < 12) ++width;
    }
    prefix = pixels[i];
  }
  out.write(prefix, width);
  if (next == (1 << width) && width < 12) ++width;  // the decoder's last entry may widen
  out.write(end, width);
  out.flush();
  return out.bytes;
}

void put16(std::string& s, int64_t v) { s += char(v & 0xFF), s += char((v >> 8) & 0xFF); }

// One frame: graphic control extension (delay) + image descriptor + LZW data in sub-blocks.
void append_frame(std::string& gif, const Image& frame, int delay_cs) {
  gif += "\x21\xF9\x04";
  gif += char(1 << 2);  // disposal 1: leave the frame in place; no transparency
  put16(gif, delay_cs);
  gif += '\0', gif += '\0';
  gif += '\x2C';
  put16(gif, 0), put16(gif, 0), put16(gif, frame.width), put16(gif, frame.height);
  gif += '\0';     // no local palette, not interlaced
  gif += char(8);  // LZW minimum code size: 8-bit indices
  std::string data = lzw_compress(palette_indices(frame));
  for (size_t at = 0; at < data.size(); at += 255) {
    size_t len = std::min<size_t>(255, data.size() - at);
    gif += char(len);
    gif.append(data, at, len);
  }
  gif += '\0';
}

}  // namespace

std::string encode_gif(const std::vector<Image>& frames, const GifOptions& options) {
  TD_CHECK(!frames.empty(), "gif: no frames given");
  const Image& first = frames[0];
  for (size_t i = 0; i < frames.size(); ++i) {
    const Image& f = frames[i];
    TD_CHECK(f.width == first.width && f.height == first.height && f.channels == first.channels,
             "gif: frame ", i, " is ", f.width, " x ", f.height, " x ", f.channels,
             " but frame 0 is ", first.width, " x ", first.height, " x ", first.channels);
    TD_CHECK(f.width > 0 && f.height > 0 && f.width < 65536 && f.height < 65536 &&
                 (f.channels == 1 || f.channels == 3) &&
                 int64_t(f.pixels.size()) == f.width * f.height * f.channels,
             "gif: frame ", i, " is ", f.width, " x ", f.height, " x ", f.channels, " with ",
             f.pixels.size(), " bytes; expected 1..65535 pixels a side and 1 or 3 channels");
  }
  TD_CHECK(options.delay_cs >= 0 && options.delay_cs < 65536 && options.last_delay_cs >= 0 &&
               options.last_delay_cs < 65536,
           "gif: delays must be in [0, 65535] hundredths of a second, got ", options.delay_cs,
           " and ", options.last_delay_cs);
  std::string gif = "GIF89a";
  put16(gif, first.width), put16(gif, first.height);
  gif += '\xF7';             // a global palette of 2^(7+1) colours, 8 bits per primary
  gif += '\0', gif += '\0';  // background colour index, pixel aspect ratio
  gif += palette(int(first.channels));
  if (options.loop) {
    gif += "\x21\xFF\x0BNETSCAPE2.0\x03\x01";
    put16(gif, 0);  // loop count 0: forever
    gif += '\0';
  }
  for (size_t i = 0; i < frames.size(); ++i)
    append_frame(gif, frames[i], i + 1 == frames.size() ? options.last_delay_cs : options.delay_cs);
  gif += ';';
  return gif;
}

void save_gif(const std::string& path, const std::vector<Image>& frames,
              const GifOptions& options) {
  write_file_atomic(path, encode_gif(frames, options), "gif");
}

void save_trajectory_gif(const std::string& path, const std::vector<Tensor>& steps, int64_t nrow,
                         int64_t padding, int64_t upscale, const GifOptions& options) {
  std::vector<Image> frames;
  for (const Tensor& step : steps) frames.push_back(make_grid(step, nrow, padding, upscale));
  save_gif(path, frames, options);
}

}  // namespace tinydiff
