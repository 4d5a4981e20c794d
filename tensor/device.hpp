// Where a tensor's storage lives. CPU always; CUDA only in a `make CUDA=1` build.
#pragma once
#include <cstdint>
#include <string>

namespace tinydiff {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;

  static Device cpu() { return {DeviceType::CPU}; }
  static Device cuda() { return {DeviceType::CUDA}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type; }
  bool operator!=(const Device& o) const { return type != o.type; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda"; }
  // "cpu" or "cuda"; anything else throws naming the flag value.
  static Device parse(const std::string& name);
};

// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();
// Throws a clear error when `device` is CUDA and this build or machine cannot provide it.
void require_device(Device device, const char* op);
// Waits until every kernel launched on `device` has finished. GPU kernels run asynchronously
// (a launch returns at once); timing them needs this. CPU kernels finish before they return.
void synchronize(Device device);
// The work handed to `device` so far: kernel launches, cuBLAS calls and device-side copies
// (always 0 for the CPU). Each costs the GPU a few microseconds whatever it computes, so at the
// lessons' sizes a step's count matters as much as its FLOPs; the GPU benchmark reports it.
int64_t device_launches(Device device);

}  // namespace tinydiff
