// Optimizer primitives: the fused per-element update loops of SGD, Adam/AdamW and the EMA,
// plus the two helpers of gradient clipping, each over a list of tensors (below). One pass over
// memory per parameter: each loop reads p, g and the moment buffers once and writes them once.
//
// The scalars of a step (bias corrections, 1 - beta, ...) are computed on the host in double
// precision, as torch.optim computes them in Python, and rounded to float once. The nn/optim.cpp
// classes fill these structs; the kernels only apply them.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

// One SGD step (torch.optim.SGD):
//   d = g + weight_decay p
//   buf = d on the first step, else momentum buf + (1 - dampening) d
//   d = d + momentum buf (nesterov) or d = buf
//   p = p - lr d
struct SgdScalars {
  float lr;
  float momentum;              // 0 turns momentum (and the buffer) off
  float one_minus_dampening;
  float weight_decay;
  bool nesterov;
  bool first_step;             // the momentum buffer is initialised to d
};

// One Adam / AdamW step (Kingma & Ba 2015, Algorithm 1; Loshchilov & Hutter 2019, Algorithm 2):
//   p = decay p                                  AdamW's decoupled decay (decay = 1 - lr wd)
//   g = g + l2 p                                 Adam's L2 weight decay
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   p = p - step_size m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t) (the bias corrections).
struct AdamScalars {
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float eps;
  float l2;     // 0 for AdamW
  float decay;  // 1 for Adam
  float step_size;
  float bc2_sqrt;
};

// ---- multi-tensor lists ----
// An optimizer updates every parameter tensor of a model in one call: each primitive below
// takes a list of tensors, entry k holding n floats at each of its pointers. The CPU runs the
// entries one after another; the GPU packs up to 64 entries into the arguments of one kernel
// launch (tensor/cuda/optim.cu), so a model of 100 parameter tensors costs 2 launches per step,
// not 100 (PyTorch calls this multi_tensor_apply; its foreach optimizers use it).
struct SgdTensor {
  float* p;
  const float* g;
  float* buf;  // the momentum buffer; unused (may be null) when momentum == 0
  int64_t n;
};
struct AdamTensor {
  float* p;
  const float* g;
  float* m;  // first moment (exp_avg)
  float* v;  // second moment (exp_avg_sq)
  int64_t n;
};
struct EmaTensor {
  float* shadow;
  const float* p;
  int64_t n;
};
struct FloatSpan {
  float* x;
  int64_t n;
};

namespace cpu {
void sgd_update(const std::vector<SgdTensor>& list, const SgdScalars& s);
void adam_update(const std::vector<AdamTensor>& list, const AdamScalars& s);
// shadow = shadow - (1 - decay) (shadow - p)     for each entry
void ema_update(const std::vector<EmaTensor>& list, float one_minus_decay);
// out[0] = the sum of x[i]^2 over every entry, in double in a fixed order (the same for any
// thread count), rounded to float once.
void sum_squares(const std::vector<FloatSpan>& list, float* out);
// x = factor x     for each entry
void scale(const std::vector<FloatSpan>& list, float factor);
}  // namespace cpu

namespace cuda {
void sgd_update(const std::vector<SgdTensor>& list, const SgdScalars& s);
void adam_update(const std::vector<AdamTensor>& list, const AdamScalars& s);
void ema_update(const std::vector<EmaTensor>& list, float one_minus_decay);
void sum_squares(const std::vector<FloatSpan>& list, float* out);  // out: a device pointer
void scale(const std::vector<FloatSpan>& list, float factor);
}  // namespace cuda

}  // namespace tinydiff
