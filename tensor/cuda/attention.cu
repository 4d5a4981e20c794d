// CUDA fused attention forward (tensor/kernels/attention.hpp), FlashAttention-style (Dao et al.
// 2022, Algorithm 1) in its plainest form: one thread per query row, K and V streamed through
// shared memory a tile of kKeys keys at a time, and the softmax computed online (Milakov &
// Gimelshein 2018): a running max m and sum l = sum_j e^(s_j - m) per row, and the output
// accumulated unnormalised as acc = sum_j e^(s_j - m) v_j. When a new score beats m, what was
// summed so far is rescaled by e^(m_old - m_new), so at the end out = acc / l is exactly
// softmax(s) v, and the (Lq, Lk) scores never exist in memory.
#include <cmath>

#include "tensor/cuda/common.cuh"
#include "tensor/kernels/attention.hpp"

namespace tinydiff::cuda {

namespace {

constexpr int kRows = 64;  // query rows per block, one per thread
constexpr int kKeys = 64;  // keys per tile of K and V in shared memory

// Block (slice, r) computes rows r kRows .. r kRows + kRows - 1 of its slice. kHead >= d, dv
// is a compile-time size, so that the loops over a row unroll and q_row and acc live in
// registers; columns past d (or dv) hold zeros and add nothing.
template <int kHead>
__global__ void flash_attention_kernel(const float* q, const float* k, const float* v, float* out,
                                       AttentionDims a) {
  __shared__ float k_tile[kKeys][kHead], v_tile[kKeys][kHead];
  const int64_t slice = blockIdx.x, row = int64_t(blockIdx.y) * kRows + threadIdx.x;
  const bool active = row < a.lq;
  const float* k_slice = k + slice * a.lk * a.d;
  const float* v_slice = v + slice * a.lk * a.dv;
  float q_row[kHead], acc[kHead];
#pragma unroll
  for (int c = 0; c < kHead; ++c) {
    q_row[c] = active && c < a.d ? q[(slice * a.lq + row) * a.d + c] * a.scale : 0.f;
    acc[c] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t start = 0; start < a.lk; start += kKeys) {
    const int keys = int(min(int64_t(kKeys), a.lk - start));
    __syncthreads();  // every thread is done with the previous tile
    for (int e = threadIdx.x; e < kKeys * kHead; e += blockDim.x) {
      const int j = e / kHead, c = e % kHead;
      k_tile[j][c] = j < keys && c < a.d ? k_slice[(start + j) * a.d + c] : 0.f;
      v_tile[j][c] = j < keys && c < a.dv ? v_slice[(start + j) * a.dv + c] : 0.f;
    }
    __syncthreads();
    if (!active) continue;  // (it still took part in loading the tile)
    for (int j = 0; j < keys; ++j) {
      float s = 0.f;  // s = scale q . k_j (the scale is in q_row)
#pragma unroll
      for (int c = 0; c < kHead; ++c) s += q_row[c] * k_tile[j][c];
      if (s > m) {  // a new max: rescale the sums kept against the old one
        const float correction = expf(m - s);
        l *= correction;
#pragma unroll
        for (int c = 0; c < kHead; ++c) acc[c] *= correction;
        m = s;
      }
      const float p = expf(s - m);
      l += p;
#pragma unroll
      for (int c = 0; c < kHead; ++c) acc[c] += p * v_tile[j][c];
    }
  }
  if (!active) return;
  for (int c = 0; c < a.dv; ++c) out[(slice * a.lq + row) * a.dv + c] = acc[c] / l;
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, float* out,
                       const AttentionDims& a) {
  check_fused_head(a);
  const int64_t head = std::max(a.d, a.dv);
  TD_CHECK(a.slices <= INT32_MAX && (a.lq + kRows - 1) / kRows <= 65535, "attention_forward: ",
           a.slices, " slices of ", a.lq, " queries exceed the grid of one launch");
  if (a.slices == 0 || a.lq == 0) return;
  const dim3 grid(unsigned(a.slices), unsigned((a.lq + kRows - 1) / kRows));
  // The narrowest instance that holds the head: fewer registers, more blocks per SM.
  if (head <= 16)
    flash_attention_kernel<16><<<grid, kRows>>>(q, k, v, out, a);
  else if (head <= 32)
    flash_attention_kernel<32><<<grid, kRows>>>(q, k, v, out, a);
  else
    flash_attention_kernel<64><<<grid, kRows>>>(q, k, v, out, a);
  TD_CUDA_LAUNCH_CHECK();
}

}  // namespace tinydiff::cuda
