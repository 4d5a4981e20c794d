#include "lessons/common/npy.hpp"

#include <cctype>
#include <cstring>

#include "lessons/common/file_io.hpp"
#include "tensor/error.hpp"

namespace tinydiff {

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
  bool has_descr = false, has_order = false, has_shape = false;
};

// Reads the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    expect('{');
    while (peek() != '}') {
      std::string key = quoted();
      expect(':');
      if (key == "descr")
        h.descr = quoted(), h.has_descr = true;
      else if (key == "fortran_order")
        h.fortran_order = boolean(), h.has_order = true;
      else if (key == "shape")
        h.shape = tuple(), h.has_shape = true;
      else
        fail("unknown key '" + key + "'");
      if (peek() != ',') break;
      ++pos_;
    }
    expect('}');
    if (!h.has_descr || !h.has_order || !h.has_shape)
      fail("the header needs 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw_error("npy: ", path_, ": bad header (", what, "): ", s_);
  }
  char peek() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    if (pos_ >= s_.size()) fail("unexpected end");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string quoted() {
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    size_t end = s_.find(q, ++pos_);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    peek();
    for (const char* word : {"True", "False"})
      if (s_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return word[0] == 'T';
      }
    fail("expected True or False");
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (peek() != ')') {
      size_t start = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ == start || pos_ - start > 12) fail("bad size in the shape");
      shape.push_back(std::stoll(s_.substr(start, pos_ - start)));
      if (peek() != ',') break;
      ++pos_;
    }
    expect(')');
    double numel = 1;  // in double so that a corrupt shape cannot overflow
    for (int64_t d : shape) numel *= double(d);
    if (numel > double(int64_t(1) << 40)) fail("the shape is impossibly large");
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

// Bytes per element of the dtypes we read, 0 for the others.
int64_t item_size(const std::string& descr) {
  if (descr == "|u1" || descr == "|b1") return 1;
  if (descr == "<f4" || descr == "<i4") return 4;
  if (descr == "<f8" || descr == "<i8") return 8;
  return 0;
}

// dst[i] = float(the i-th T in src); memcpy because src need not be aligned.
template <class T>
void widen(const char* src, float* dst, int64_t n) {
#pragma omp parallel for if (n > (1 << 22))
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * int64_t(sizeof(T)), sizeof(T));
    dst[i] = float(v);
  }
}

void convert(const std::string& descr, const char* src, float* dst, int64_t n) {
  if (descr == "|u1") widen<uint8_t>(src, dst, n);
  if (descr == "<f4") widen<float>(src, dst, n);
  if (descr == "<f8") widen<double>(src, dst, n);
  if (descr == "<i4") widen<int32_t>(src, dst, n);
  if (descr == "<i8") widen<int64_t>(src, dst, n);
  if (descr == "|b1")
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] != 0;
}

uint32_t read_le(const std::string& bytes, size_t at, int width) {
  uint32_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// "(3,)" for one axis, "(3, 4)" for more, "()" for a 0-d array: Python's tuple syntax.
std::string python_tuple(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

void save_raw(const std::string& path, const char* data, size_t item, size_t count,
              const Shape& shape, const std::string& descr) {
  for (int64_t s : shape) TD_CHECK(s >= 0, "npy: ", path, ": negative size in shape ", str(shape));
  TD_CHECK(int64_t(count) == numel_of(shape), "npy: ", path, ": ", count,
           " values cannot fill shape ", str(shape));
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + python_tuple(shape) + ", }";
  // Pad with spaces so that magic (6) + version (2) + length (2) + dict + '\n' is a multiple of 64.
  dict += std::string(63 - (10 + dict.size()) % 64, ' ') + "\n";
  std::string bytes = "\x93NUMPY\x01";
  bytes += '\0';
  bytes += char(dict.size() & 0xFF);
  bytes += char(dict.size() >> 8);
  bytes += dict;
  bytes.append(data, item * count);
  write_file_atomic(path, bytes, "npy");
}

}  // namespace

NpyArray load_npy(const std::string& path) {
  std::string bytes = read_file(path, "npy");
  TD_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, "npy: ", path,
           ": not a .npy file (no \\x93NUMPY magic)");
  int major = static_cast<unsigned char>(bytes[6]);
  TD_CHECK(major >= 1 && major <= 3, "npy: ", path, ": unsupported format version ", major);
  int width = major == 1 ? 2 : 4;  // bytes of the header length
  TD_CHECK(bytes.size() >= size_t(8 + width), "npy: ", path, ": truncated header");
  size_t header_len = read_le(bytes, 8, width), data_start = 8 + width + header_len;
  TD_CHECK(data_start <= bytes.size(), "npy: ", path, ": header length ", header_len,
           " runs past the end of the ", bytes.size(), "-byte file");
  NpyHeader h = HeaderParser(bytes.substr(8 + width, header_len), path).parse();
  TD_CHECK(!h.fortran_order, "npy: ", path,
           ": Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  int64_t item = item_size(h.descr);
  TD_CHECK(item > 0, "npy: ", path, ": unsupported dtype '", h.descr,
           "' (supported: |u1, |b1, <f4, <f8, <i4, <i8)");
  int64_t n = numel_of(h.shape);
  TD_CHECK(int64_t(bytes.size() - data_start) == n * item, "npy: ", path, ": shape ", str(h.shape),
           " of ", h.descr, " needs ", n * item, " data bytes but the file has ",
           bytes.size() - data_start,
           bytes.size() - data_start < size_t(n * item) ? " (truncated)" : " (extra bytes)");
  NpyArray array{h.descr, h.shape, std::vector<float>(n)};
  convert(h.descr, bytes.data() + data_start, array.values.data(), n);
  return array;
}

void save_npy(const std::string& path, const std::vector<uint8_t>& values, const Shape& shape) {
  save_raw(path, reinterpret_cast<const char*>(values.data()), 1, values.size(), shape, "|u1");
}
void save_npy(const std::string& path, const std::vector<int64_t>& values, const Shape& shape) {
  save_raw(path, reinterpret_cast<const char*>(values.data()), 8, values.size(), shape, "<i8");
}
void save_npy(const std::string& path, const std::vector<float>& values, const Shape& shape) {
  save_raw(path, reinterpret_cast<const char*>(values.data()), 4, values.size(), shape, "<f4");
}

}  // namespace tinydiff
