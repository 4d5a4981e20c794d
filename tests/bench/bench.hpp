// The benchmark cases of build/bench (tests/bench/bench.cpp runs them).
//
// A case builds its inputs or model once (setup, untimed) and returns a Step: `run` is the
// work that is timed, `prepare` (optional) runs untimed before each timed step, e.g. the
// forward pass whose backward is being measured. tests/bench/bench_torch.py defines the same
// cases, under the same names, in PyTorch.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/device.hpp"

namespace tinydiff::bench {

struct Step {
  std::function<void()> prepare;  // untimed, before each step; may be empty
  std::function<void()> run;      // the timed step
  double flops = 0;               // per step, when setup counted them (else BenchCase::flops)
};

struct BenchCase {
  std::string name;
  double images = 0;  // images (samples) per step, for images_per_s
  double flops = 0;   // floating-point operations per step; 0 when not counted
  std::function<Step()> setup;
  Device device = Device::cpu();  // a CUDA case also reports its peak device memory
};

// Convolutions, normalisations, attention and a GEMM at the lesson models' shapes.
std::vector<BenchCase> op_cases();
// Whole training steps and a sampling run of the lesson models.
std::vector<BenchCase> model_cases();

// 2 * multiply-adds of a convolution's forward: y (N, C_out, H_out, W_out), each output
// summing C_in/groups * kh * kw products.
double conv_flops(double batch, double c_in, double c_out, double out_h, double out_w,
                  double kernel);

}  // namespace tinydiff::bench
