// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, then N bytes of JSON
//   {"__metadata__": {"key": "value", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the raw little-endian tensor bytes, each tensor at [begin, end) after the header.
// tinydiff uses it for PyTorch parity fixtures, model weights and training checkpoints.
#pragma once
#include <map>
#include <string>

#include "tensor/tensor.hpp"

namespace tinydiff {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;          // every dtype is converted to float32
  std::map<std::string, std::string> dtypes;      // the dtype each tensor had in the file
  std::map<std::string, std::string> metadata;    // "__metadata__" (string to string)
};

// Reads F32, F64, F16, BF16, I64, I32, I16, I8, U8 and BOOL tensors. A malformed, truncated or
// inconsistent file throws an Error naming the file and what is wrong.
SafetensorsFile load_safetensors(const std::string& path);

// Writes float32 tensors (on any device; copied to the host) and string metadata. The write
// is atomic: a temporary file in the same folder is written, flushed and renamed over `path`,
// so an interrupted save never leaves a half-written file.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tinydiff
