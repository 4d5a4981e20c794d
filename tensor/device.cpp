#include "tensor/device.hpp"

#include "tensor/error.hpp"

namespace tinydiff {

Device Device::parse(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda();
  throw_error("device: unknown device '", name, "' (expected cpu or cuda)");
}

#ifndef TINYDIFF_CUDA
bool cuda_available() { return false; }
void synchronize(Device device) { require_device(device, "synchronize"); }
int64_t device_launches(Device device) {
  require_device(device, "device_launches");
  return 0;
}
#endif

void require_device(Device device, const char* op) {
  if (device.is_cpu()) return;
#ifndef TINYDIFF_CUDA
  throw_error(op, ": a CUDA tensor was asked for, but this build has no CUDA backend "
                  "(hint: rebuild with `make CUDA=1` on a machine with the CUDA toolkit)");
#else
  TD_CHECK(cuda_available(), op, ": a CUDA tensor was asked for, but no GPU is visible");
#endif
}

}  // namespace tinydiff
