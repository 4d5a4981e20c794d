// The kernel launch of the CUDA emulator. rewrite_launches.py turns
//
//   kernel<<<grid, block>>>(a, b, c);
// into
//   ::tinydiff_emu::launch({"kernel", __FILE__, __LINE__}, kernel, grid, block)(a, b, c);
//
// which converts the arguments to the kernel's parameter types (as a CUDA launch does), checks
// that every pointer argument points into device memory, and runs the grid (scheduler.cpp).
// Included by the shim cuda_runtime.h; the rest of the emulator is in the .cpp files beside.
#pragma once
#include <cstddef>
#include <tuple>
#include <utility>

namespace tinydiff_emu {

// Where a launch is written and what it launches, for error messages.
struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};

// Runs body(params) once for every thread of the grid, block after block (scheduler.cpp).
// Throws tinydiff::Error for a launch shape a GPU rejects, and for a barrier or shuffle that
// would hang or misbehave on one.
void run_grid(const LaunchSite& site, dim3 grid, dim3 block, void (*body)(void*), void* params);

// Throws unless the launch asks for what the emulator has: no dynamic shared memory, the
// default stream.
void check_launch_options(const LaunchSite& site, size_t shared_bytes, cudaStream_t stream);

// Throws unless `pointer` points into (or just past) a block from cudaMalloc: a host pointer
// handed to a kernel faults on a GPU (runtime.cpp).
void require_device_argument(const LaunchSite& site, size_t index, const void* pointer);

template <class T>
void check_argument(const LaunchSite&, size_t, const T&) {}
template <class T>
void check_argument(const LaunchSite& site, size_t index, T* pointer) {
  if (pointer) require_device_argument(site, index, pointer);
}

template <class... Params>
class Launch {
 public:
  Launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block)
      : site_(site), kernel_(kernel), grid_(grid), block_(block) {}

  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params),
                  "a kernel launch must pass one argument per kernel parameter");
    Frame frame{kernel_, std::tuple<Params...>(std::forward<Args>(args)...)};
    check_arguments(frame.params, std::index_sequence_for<Params...>{});
    run_grid(site_, grid_, block_, &Frame::run, &frame);
  }

 private:
  // The converted arguments; every thread calls the kernel with its own copy of them.
  struct Frame {
    void (*kernel)(Params...);
    std::tuple<Params...> params;
    static void run(void* self) {
      auto* frame = static_cast<Frame*>(self);
      std::apply(frame->kernel, frame->params);
    }
  };
  template <size_t... I>
  void check_arguments(const std::tuple<Params...>& params, std::index_sequence<I...>) const {
    (check_argument(site_, I, std::get<I>(params)), ...);
  }

  LaunchSite site_;
  void (*kernel_)(Params...);
  dim3 grid_, block_;
};

template <class... Params>
Launch<Params...> launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block,
                         size_t shared_bytes = 0, cudaStream_t stream = nullptr) {
  check_launch_options(site, shared_bytes, stream);
  return Launch<Params...>(site, kernel, grid, block);
}

}  // namespace tinydiff_emu
