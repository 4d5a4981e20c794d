#include "lessons/common/file_io.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tensor/error.hpp"

namespace tinydiff {

std::string read_file(const std::string& path, const std::string& who) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  TD_CHECK(f, who, ": cannot open '", path, "': ", std::strerror(errno));
  std::string bytes;
  char buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, f)) > 0) bytes.append(buffer, got);
  bool failed = std::ferror(f);
  std::fclose(f);
  TD_CHECK(!failed, who, ": reading '", path, "' failed");
  return bytes;
}

void write_file_atomic(const std::string& path, const std::string& bytes, const std::string& who) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  TD_CHECK(f, who, ": cannot write '", path, "': ", std::strerror(errno),
           " (does the folder exist and is it writable?)");
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fflush(f) == 0) && ok;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw_error(who, ": writing '", path, "' failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw_error(who, ": cannot replace '", path, "': ", std::strerror(err));
  }
}

}  // namespace tinydiff
