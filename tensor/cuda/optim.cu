// CUDA optimizer kernels: the fused updates of tensor/kernels/optim.hpp over lists of tensors,
// plus the two helpers of gradient clipping. The order of operations is the CPU's.
//
// Multi-tensor launches. A model has ~100 parameter tensors, most of them small (a bias of 64
// numbers); one launch each would cost ~100 launches of a few microseconds per step, far more
// than the arithmetic. So one launch updates up to kBatch tensors: their pointers and sizes
// travel by value in the kernel's arguments (a TensorBatch, under 3 KB of the 4 KB CUDA allows).
// The launch's blocks are dealt out to the tensors by size (blocks_for, at most
// kBlocksPerTensor each): a bias gets one block, a 3x3 convolution's weight up to 64. Each
// block finds its tensor in the batch's table of first blocks and sweeps the tensor with its
// siblings in a grid-stride loop.
#include <memory>

#include "tensor/cuda/common.cuh"
#include "tensor/kernels/optim.hpp"
#include "tensor/storage.hpp"

namespace tinydiff::cuda {

namespace {

constexpr int kBatch = 64;            // tensors per launch
constexpr int kBlocksPerTensor = 64;  // 16384 threads at most sweep one tensor

// The blocks a tensor of n elements gets: one thread per element, at most kBlocksPerTensor.
int tensor_blocks(int64_t n) { return int(std::min<int64_t>(blocks_for(n), kBlocksPerTensor)); }

// Up to kBatch entries of a list, as one kernel argument. Entry k owns the blocks
// first_block[k] .. first_block[k + 1] - 1 of the launch.
template <class Entry>
struct TensorBatch {
  Entry entry[kBatch];
  int first_block[kBatch + 1];
  int count;
};

// Calls launch(batch, blocks) for each run of kBatch entries of `list`, blocks being the
// launch's block count; then counts and checks the launch.
template <class Entry, class Launch>
void for_each_batch(const std::vector<Entry>& list, Launch launch) {
  for (size_t first = 0; first < list.size(); first += kBatch) {
    TensorBatch<Entry> batch;
    batch.count = int(std::min<size_t>(kBatch, list.size() - first));
    batch.first_block[0] = 0;
    for (int k = 0; k < batch.count; ++k) {
      batch.entry[k] = list[first + k];
      batch.first_block[k + 1] = batch.first_block[k] + tensor_blocks(batch.entry[k].n);
    }
    launch(batch, unsigned(batch.first_block[batch.count]));
    TD_CUDA_LAUNCH_CHECK();
  }
}

// Inside a kernel over a TensorBatch: this block's entry k, and the loop of its thread over
// that entry: i = (block within the entry) * blockDim.x + threadIdx.x, then i + the entry's
// threads, and so on.
struct TensorLoop {
  int k;
  int64_t start, stride;
};
template <class Entry>
__device__ TensorLoop tensor_loop(const TensorBatch<Entry>& batch) {
  int k = 0;
  while (int(blockIdx.x) >= batch.first_block[k + 1]) ++k;
  const int64_t blocks = batch.first_block[k + 1] - batch.first_block[k];
  return {k, (int64_t(blockIdx.x) - batch.first_block[k]) * blockDim.x + threadIdx.x,
          blocks * blockDim.x};
}

// Each thread: one SGD step on its elements of its tensor (buf is not touched without momentum).
__global__ void sgd_kernel(TensorBatch<SgdTensor> batch, SgdScalars s) {
  const TensorLoop loop = tensor_loop(batch);
  const SgdTensor t = batch.entry[loop.k];
  for (int64_t i = loop.start; i < t.n; i += loop.stride) {
    const float d = s.weight_decay != 0.f ? t.g[i] + s.weight_decay * t.p[i] : t.g[i];
    if (s.momentum == 0.f) {
      t.p[i] -= s.lr * d;
      continue;
    }
    const float b = s.first_step ? d : s.momentum * t.buf[i] + s.one_minus_dampening * d;
    t.buf[i] = b;
    t.p[i] -= s.lr * (s.nesterov ? d + s.momentum * b : b);
  }
}

// Each thread: one Adam / AdamW step on its elements of its tensor.
__global__ void adam_kernel(TensorBatch<AdamTensor> batch, AdamScalars s) {
  const TensorLoop loop = tensor_loop(batch);
  const AdamTensor t = batch.entry[loop.k];
  for (int64_t i = loop.start; i < t.n; i += loop.stride) {
    const float param = t.p[i] * s.decay;
    const float grad = s.l2 != 0.f ? t.g[i] + s.l2 * param : t.g[i];
    const float mi = s.beta1 * t.m[i] + s.one_minus_beta1 * grad;
    const float vi = s.beta2 * t.v[i] + (s.one_minus_beta2 * grad) * grad;
    const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
    t.m[i] = mi;
    t.v[i] = vi;
    t.p[i] = param - (s.step_size * mi) / denom;
  }
}

// Each thread: shadow[i] -= (1 - decay) (shadow[i] - p[i]) on its elements of its tensor.
__global__ void ema_kernel(TensorBatch<EmaTensor> batch, float one_minus_decay) {
  const TensorLoop loop = tensor_loop(batch);
  const EmaTensor t = batch.entry[loop.k];
  for (int64_t i = loop.start; i < t.n; i += loop.stride)
    t.shadow[i] -= one_minus_decay * (t.shadow[i] - t.p[i]);
}

// Each thread: x[i] *= factor on its elements of its tensor.
__global__ void scale_kernel(TensorBatch<FloatSpan> batch, float factor) {
  const TensorLoop loop = tensor_loop(batch);
  const FloatSpan t = batch.entry[loop.k];
  for (int64_t i = loop.start; i < t.n; i += loop.stride) t.x[i] *= factor;
}

// Stage 1 of sum_squares: each block sums x[i]^2 over its share of its tensor, in double, and
// writes partial[first + blockIdx.x], `first` being the blocks of the earlier launches. The
// blocks depend only on the tensors' sizes, so the sum's order is the same on every run.
__global__ void sum_squares_partial_kernel(TensorBatch<FloatSpan> batch, int64_t first,
                                           double* partial) {
  const TensorLoop loop = tensor_loop(batch);
  const FloatSpan t = batch.entry[loop.k];
  double s = 0;
  for (int64_t i = loop.start; i < t.n; i += loop.stride) s += double(t.x[i]) * t.x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) partial[first + blockIdx.x] = s;
}

// Stage 2: one block adds the n partial sums: out[0] = the total, as a float.
__global__ void sum_partials_kernel(const double* partial, int64_t n, float* out) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = float(s);
}

}  // namespace

void sgd_update(const std::vector<SgdTensor>& list, const SgdScalars& s) {
  for_each_batch(list, [&](const TensorBatch<SgdTensor>& batch, unsigned blocks) {
    sgd_kernel<<<blocks, kThreads>>>(batch, s);
  });
}

void adam_update(const std::vector<AdamTensor>& list, const AdamScalars& s) {
  for_each_batch(list, [&](const TensorBatch<AdamTensor>& batch, unsigned blocks) {
    adam_kernel<<<blocks, kThreads>>>(batch, s);
  });
}

void ema_update(const std::vector<EmaTensor>& list, float one_minus_decay) {
  for_each_batch(list, [&](const TensorBatch<EmaTensor>& batch, unsigned blocks) {
    ema_kernel<<<blocks, kThreads>>>(batch, one_minus_decay);
  });
}

// out is a device pointer (a one-element tensor).
void sum_squares(const std::vector<FloatSpan>& list, float* out) {
  int64_t partials = 0;
  for (const FloatSpan& t : list) partials += tensor_blocks(t.n);
  // Storage counts floats: two per double.
  auto partial = Storage::allocate(2 * std::max<int64_t>(partials, 1), Device::cuda());
  auto* partial_sums = reinterpret_cast<double*>(partial->data());
  int64_t first = 0;
  for_each_batch(list, [&](const TensorBatch<FloatSpan>& batch, unsigned blocks) {
    sum_squares_partial_kernel<<<blocks, kThreads>>>(batch, first, partial_sums);
    first += blocks;
  });
  sum_partials_kernel<<<1, kThreads>>>(partial_sums, partials, out);
  TD_CUDA_LAUNCH_CHECK();
}

void scale(const std::vector<FloatSpan>& list, float factor) {
  for_each_batch(list, [&](const TensorBatch<FloatSpan>& batch, unsigned blocks) {
    scale_kernel<<<blocks, kThreads>>>(batch, factor);
  });
}

}  // namespace tinydiff::cuda
