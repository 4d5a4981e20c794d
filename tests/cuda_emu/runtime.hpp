// The emulator's map of device memory (runtime.cpp), shared by the runtime API and cuBLAS.
#pragma once
#include <cstddef>
#include <string>

#include "tests/cuda_emu/cuda_runtime.h"

namespace tinydiff_emu {

// True when `pointer` lies in a block from cudaMalloc.
bool is_device_pointer(const void* pointer);

// Throws tinydiff::Error, naming `what`, unless [pointer, pointer + bytes) lies in one block
// from cudaMalloc.
void require_device_range(const void* pointer, size_t bytes, const std::string& what);

}  // namespace tinydiff_emu
