#include "nn/safetensors.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "autograd/ops.hpp"

namespace tinydiff {

namespace {

// ---- a small JSON reader: just enough for a safetensors header ----
struct Json {
  enum Kind { Null, Number, String, Array, Object } kind = Null;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;
};

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}
  Json parse_document() {
    Json v = parse_value();
    skip_space();
    if (pos_ != s_.size()) fail("trailing characters after the JSON header");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw_error("safetensors: ", path_, ": malformed header at byte ", pos_, ": ", what);
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  char peek() {
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  Json parse_value() {
    char c = peek();
    if ((c == '{' || c == '[') && depth_ >= kMaxDepth) fail("nested too deeply");
    if (c == '{') return parse_object();
    if (c == '[') return parse_array();
    if (c == '"') {
      Json v;
      v.kind = Json::String;
      v.string = parse_string();
      return v;
    }
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return parse_number();
    if (s_.compare(pos_, 4, "null") == 0) {
      pos_ += 4;
      return Json();
    }
    fail("unexpected character");
  }
  Json parse_number() {
    size_t start = pos_;
    while (pos_ < s_.size() && std::strchr("+-0123456789.eE", s_[pos_])) ++pos_;
    Json v;
    v.kind = Json::Number;
    try {
      v.number = std::stod(s_.substr(start, pos_ - start));
    } catch (const std::exception&) {
      fail("bad number");
    }
    return v;
  }
  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': append_utf8(out, parse_code_point()); break;
        default: out += e;
      }
    }
  }
  // Four hex digits after "\u"; a UTF-16 surrogate pair (\ud83d\ude00) makes one code point.
  unsigned parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("bad \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned char h = static_cast<unsigned char>(s_[pos_++]);
      if (!std::isxdigit(h)) fail("bad \\u escape");
      code = code * 16 + (std::isdigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return code;
  }
  unsigned parse_code_point() {
    unsigned code = parse_hex4();
    if (code < 0xD800 || code > 0xDBFF) return code;
    if (s_.compare(pos_, 2, "\\u") != 0) fail("unpaired UTF-16 surrogate");
    pos_ += 2;
    unsigned low = parse_hex4();
    if (low < 0xDC00 || low > 0xDFFF) fail("unpaired UTF-16 surrogate");
    return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }
  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += char(code);
    } else if (code < 0x800) {
      out += char(0xC0 | (code >> 6));
      out += char(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += char(0xE0 | (code >> 12));
      out += char(0x80 | ((code >> 6) & 0x3F));
      out += char(0x80 | (code & 0x3F));
    } else {
      out += char(0xF0 | (code >> 18));
      out += char(0x80 | ((code >> 12) & 0x3F));
      out += char(0x80 | ((code >> 6) & 0x3F));
      out += char(0x80 | (code & 0x3F));
    }
  }
  Json parse_array() {
    DepthGuard guard(depth_);
    expect('[');
    Json v;
    v.kind = Json::Array;
    if (peek() == ']') return ++pos_, v;
    while (true) {
      v.array.push_back(parse_value());
      if (peek() == ']') return ++pos_, v;
      expect(',');
    }
  }
  Json parse_object() {
    DepthGuard guard(depth_);
    expect('{');
    Json v;
    v.kind = Json::Object;
    if (peek() == '}') return ++pos_, v;
    while (true) {
      if (peek() != '"') fail("expected a key");
      std::string key = parse_string();
      expect(':');
      v.object.emplace_back(key, parse_value());
      if (peek() == '}') return ++pos_, v;
      expect(',');
    }
  }
  // A header nests three levels; a limit keeps a hostile "[[[[..." from overflowing the stack.
  static constexpr int kMaxDepth = 64;
  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    int& depth;
  };
  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
  int depth_ = 0;
};

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

int64_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    float f = float(mant) * 5.9604644775390625e-8f;
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// dst[i] = float(the i-th little-endian T in src); memcpy because src need not be aligned.
template <class T>
void widen(const char* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * int64_t(sizeof(T)), sizeof(T));
    dst[i] = float(v);
  }
}

// Converts n little-endian values of `dtype` to float.
void convert_to_float(const std::string& dtype, const char* src, float* dst, int64_t n) {
  if (n == 0) return;  // dst may be null
  if (dtype == "F32") std::memcpy(dst, src, n * sizeof(float));
  else if (dtype == "F64") widen<double>(src, dst, n);
  else if (dtype == "I64") widen<int64_t>(src, dst, n);
  else if (dtype == "U64") widen<uint64_t>(src, dst, n);
  else if (dtype == "I32") widen<int32_t>(src, dst, n);
  else if (dtype == "U32") widen<uint32_t>(src, dst, n);
  else if (dtype == "I16") widen<int16_t>(src, dst, n);
  else if (dtype == "U16") widen<uint16_t>(src, dst, n);
  else if (dtype == "I8") widen<int8_t>(src, dst, n);
  else if (dtype == "U8" || dtype == "BOOL") widen<uint8_t>(src, dst, n);
  else if (dtype == "F16")
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = half_to_float(h);
    }
  else if (dtype == "BF16")  // the upper 16 bits of a float32
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      uint32_t bits = uint32_t(h) << 16;
      std::memcpy(&dst[i], &bits, 4);
    }
}

// A JSON number that is a whole number in [0, 2^50] (sizes and byte offsets).
bool is_count(const Json& v) {
  return v.kind == Json::Number && v.number >= 0 && v.number <= 1125899906842624.0 &&
         v.number == std::floor(v.number);
}

Tensor parse_entry(const std::string& path, const std::string& name, const Json& entry,
                   const std::string& bytes, size_t data_start, std::string* dtype_out) {
  const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  if (entry.kind == Json::Object)
    for (const auto& [key, value] : entry.object) {
      if (key == "dtype") dtype = &value;
      if (key == "shape") shape = &value;
      if (key == "data_offsets") offsets = &value;
    }
  TD_CHECK(dtype && dtype->kind == Json::String && shape && shape->kind == Json::Array &&
               offsets && offsets->kind == Json::Array && offsets->array.size() == 2,
           "safetensors: ", path, ": tensor '", name,
           "' needs \"dtype\", \"shape\" and two \"data_offsets\"");
  int64_t elem = dtype_size(dtype->string);
  TD_CHECK(elem > 0, "safetensors: ", path, ": tensor '", name, "' has unsupported dtype ",
           dtype->string);
  Shape dims;
  double numel = 1;  // in double so that a corrupt shape cannot overflow
  for (const Json& d : shape->array) {
    TD_CHECK(is_count(d), "safetensors: ", path, ": tensor '", name,
             "' has a bad shape entry (sizes must be whole numbers >= 0)");
    dims.push_back(int64_t(d.number));
    numel *= d.number;
  }
  TD_CHECK(numel <= 1125899906842624.0, "safetensors: ", path, ": tensor '", name,
           "' has an impossibly large shape");
  TD_CHECK(is_count(offsets->array[0]) && is_count(offsets->array[1]), "safetensors: ", path,
           ": tensor '", name, "' has data_offsets that are not whole numbers >= 0");
  double begin = offsets->array[0].number, end = offsets->array[1].number;
  size_t available = bytes.size() - data_start;
  TD_CHECK(begin >= 0 && end >= begin && end <= double(available), "safetensors: ", path,
           ": tensor '", name, "' has data_offsets [", begin, ", ", end, "] outside the ",
           available, " data bytes (truncated file?)");
  TD_CHECK(int64_t(end - begin) == numel_of(dims) * elem, "safetensors: ", path, ": tensor '",
           name, "' of shape ", str(dims), " and dtype ", dtype->string, " needs ",
           numel_of(dims) * elem, " bytes but its offsets span ", int64_t(end - begin));
  std::vector<float> values(numel_of(dims));
  convert_to_float(dtype->string, bytes.data() + data_start + size_t(begin), values.data(),
                   int64_t(values.size()));
  *dtype_out = dtype->string;
  return from_vector(values, dims);
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TD_CHECK(in, "safetensors: cannot open '", path, "'");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TD_CHECK(bytes.size() >= 8, "safetensors: ", path, ": file is ", bytes.size(),
           " bytes, too short for the 8-byte header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  TD_CHECK(header_len <= bytes.size() - 8, "safetensors: ", path, ": header length ", header_len,
           " exceeds the file size ", bytes.size(), " (truncated or not a safetensors file)");
  std::string header = bytes.substr(8, header_len);
  Json root = JsonParser(header, path).parse_document();
  TD_CHECK(root.kind == Json::Object, "safetensors: ", path, ": the header is not a JSON object");
  SafetensorsFile file;
  for (const auto& [name, entry] : root.object) {
    if (name == "__metadata__") {
      TD_CHECK(entry.kind == Json::Object, "safetensors: ", path,
               ": __metadata__ is not an object of strings");
      for (const auto& [key, value] : entry.object) {
        TD_CHECK(value.kind == Json::String, "safetensors: ", path, ": metadata '", key,
                 "' is not a string");
        file.metadata[key] = value.string;
      }
      continue;
    }
    file.tensors[name] = parse_entry(path, name, entry, bytes, 8 + header_len, &file.dtypes[name]);
  }
  return file;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json_escape(k) + ":" + json_escape(v);
      first = false;
    }
    header += "}";
  }
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TD_CHECK(t.defined(), "safetensors: ", path, ": tensor '", name, "' is undefined");
    header += (header.size() > 1 ? "," : "") + json_escape(name) + ":{\"dtype\":\"F32\",\"shape\":[";
    for (int64_t i = 0; i < t.dim(); ++i) header += (i ? "," : "") + std::to_string(t.shape()[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + t.numel() * 4) + "]}";
    offset += t.numel() * 4;
  }
  header += "}";
  while ((header.size() + 8) % 8) header += ' ';  // align the data to 8 bytes

  std::string tmp = path + ".tmp";
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    TD_CHECK(out, "safetensors: cannot write '", tmp, "' (does the folder exist?)");
    uint64_t len = header.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(header.data(), header.size());
    for (const auto& [name, t] : tensors) {
      std::vector<float> values = t.tolist();
      out.write(reinterpret_cast<const char*>(values.data()), values.size() * 4);
    }
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw_error("safetensors: writing '", tmp, "' failed (disk full?)");
    }
  } catch (...) {  // e.g. copying a tensor off the GPU failed: leave no half-written file
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw_error("safetensors: cannot rename '", tmp, "' to '", path, "'");
  }
}

}  // namespace tinydiff
