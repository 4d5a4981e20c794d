// Where a tensor's storage lives. CPU always; CUDA only in a `make CUDA=1` build.
#pragma once
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

}  // namespace tinydiff
