// Whole-file reads and atomic writes, shared by the lesson tools (npy, PNG, GIF, SVG, CSV).
//
// An atomic write puts the bytes into `path.tmp` in the same folder, flushes it and renames it
// over `path`. A rename within one folder replaces the old file in one step, so a reader (or a
// crash) sees either the old file or the new one, never half of the new one.
#pragma once
#include <string>

namespace tinydiff {

// The file's bytes. `who` starts the error message: "npy: cannot open 'x.npy': No such file".
std::string read_file(const std::string& path, const std::string& who);

// Replaces `path` with `bytes` atomically. On failure nothing is left behind (no `.tmp`).
void write_file_atomic(const std::string& path, const std::string& bytes, const std::string& who);

}  // namespace tinydiff
