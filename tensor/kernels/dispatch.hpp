// The backend interface. Every primitive kernel has one name and one signature, implemented
// once in tensor/cpu/ (namespace cpu) and once in tensor/cuda/ (namespace cuda). The
// function in namespace `kernels` picks one by the tensor's device:
//
//   kernels::unary(device, ...)  ->  cpu::unary(...)   or   cuda::unary(...)
//
// Kernels take raw pointers to contiguous float buffers plus sizes (llm.c style); the
// autograd ops above them deal with shapes, broadcasting and the graph.
#pragma once
#include "tensor/device.hpp"

#ifdef TINYDIFF_CUDA
#define TD_DISPATCH(device, name, ...) \
  ((device).is_cpu() ? ::tinydiff::cpu::name(__VA_ARGS__) : ::tinydiff::cuda::name(__VA_ARGS__))
#else
#define TD_DISPATCH(device, name, ...) \
  ((device).is_cpu() ? ::tinydiff::cpu::name(__VA_ARGS__) : ::tinydiff::require_device(device, #name))
#endif

// Marks a function usable on the host and inside CUDA kernels (the math functors).
#ifdef __CUDACC__
#define TD_HD __host__ __device__ inline
#else
#define TD_HD inline
#endif
