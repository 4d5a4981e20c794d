// The building blocks of improved-diffusion's UNet (Nichol & Dhariwal 2021; openai/improved-
// diffusion, improved_diffusion/unet.py), with the reference's parameter names:
//
//   ResBlock                 in_layers.{0,2}, emb_layers.1, out_layers.{0,3}, skip_connection
//   AttentionBlock           norm, qkv (a 1x1 Conv1d: weight (3C, C, 1)), proj_out (C, C, 1)
//   Downsample / Upsample    op (stride-2 conv) / conv (after nearest x2)
//   TimestepEmbedSequential  children "0", "1", ...; those that are TimestepBlocks get emb
//
// ResBlock and AttentionBlock can run under gradient checkpointing (autograd/checkpoint.hpp),
// as the reference's use_checkpoint does.
#pragma once
#include <memory>

#include "nn/basic.hpp"
#include "nn/conv.hpp"
#include "nn/linear.hpp"
#include "nn/normalization.hpp"
#include "nn/sequential.hpp"

namespace tinydiff::lesson02 {

// improved-diffusion's normalization(channels): GroupNorm with 32 groups (num_groups here, so
// that tiny test models with fewer channels can use fewer groups).
std::shared_ptr<GroupNorm> normalization(int64_t channels, int64_t num_groups);

// A module whose forward also takes the timestep embedding.
class TimestepBlock {
 public:
  virtual ~TimestepBlock() = default;
  // x (N, C, H, W), emb (N, emb_channels) -> (N, C', H', W')
  virtual Tensor forward(const Tensor& x, const Tensor& emb) = 0;
};

// A Sequential that hands the embedding to each child that is a TimestepBlock.
class TimestepEmbedSequential : public Sequential, public TimestepBlock {
 public:
  explicit TimestepEmbedSequential(const std::vector<std::shared_ptr<Module>>& layers)
      : Sequential(layers) {}
  std::string type_name() const override { return "TimestepEmbedSequential"; }
  // x (N, C, H, W), emb (N, E) -> the last child's output
  Tensor forward(const Tensor& x, const Tensor& emb) override;
  using Sequential::forward;
};

// torch.nn.ModuleList: children named "0", "1", ... with no forward of their own.
class ModuleList : public Module {
 public:
  std::string type_name() const override { return "ModuleList"; }
  void push_back(std::shared_ptr<Module> m) { register_module(std::to_string(size_++), m); }

 private:
  int64_t size_ = 0;
};

// A Conv1d of kernel size 1 (all that AttentionBlock needs): a matrix product over channels.
// weight (out, in, 1) and bias (out), initialised as torch.nn.Conv1d.
class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels);
  std::string type_name() const override { return "Conv1d"; }
  // x (N, in, L) -> (N, out, L)
  Tensor forward(const Tensor& x) override;

  int64_t in_channels, out_channels;
  Tensor weight, bias;
};

struct ResBlockOptions {
  int64_t emb_channels = 128;
  float dropout = 0;
  bool use_scale_shift_norm = false;
  bool use_checkpoint = false;
  int64_t num_groups = 32;
};

// The residual block, conditioned on the embedding (Ho et al. 2020, Appendix B; Nichol &
// Dhariwal 2021, Sec. 4 for the scale-shift norm):
//   h = conv3x3(SiLU(GN(x)))                                       in_layers
//   e = Linear(SiLU(emb))                                          emb_layers
//   plain:       h = conv3x3(Dropout(SiLU(GN(h + e))))             out_layers
//   scale-shift: h = conv3x3(Dropout(SiLU(GN(h) (1 + scale) + shift))), (scale, shift) = e
//   out = skip(x) + h,  skip = identity, or a 1x1 conv when the channel count changes.
// The last conv starts at zero, so a fresh block is the identity (on its skip path).
class ResBlock : public Module, public TimestepBlock {
 public:
  ResBlock(int64_t channels, int64_t out_channels, const ResBlockOptions& options);
  std::string type_name() const override { return "ResBlock"; }
  // x (N, channels, H, W), emb (N, emb_channels) -> (N, out_channels, H, W)
  Tensor forward(const Tensor& x, const Tensor& emb) override;
  using Module::forward;

  int64_t channels, out_channels;
  ResBlockOptions options;
  std::shared_ptr<Sequential> in_layers, emb_layers, out_layers;
  std::shared_ptr<Module> skip_connection;  // Identity or Conv2d(channels, out_channels, 1)

 private:
  Tensor body(const Tensor& x, const Tensor& emb);
};

// Self-attention over the H W positions of a feature map (Ho et al. 2020's attention block,
// multi-head as in improved-diffusion): out = x + proj_out(QKVAttention(qkv(GN(x)))).
// proj_out starts at zero, so a fresh block is the identity.
class AttentionBlock : public Module {
 public:
  AttentionBlock(int64_t channels, int64_t num_heads, int64_t num_groups, bool use_checkpoint);
  std::string type_name() const override { return "AttentionBlock"; }
  // x (N, C, H, W) -> (N, C, H, W)
  Tensor forward(const Tensor& x) override;

  int64_t channels, num_heads;
  bool use_checkpoint;
  std::shared_ptr<GroupNorm> norm;
  std::shared_ptr<Conv1d> qkv, proj_out;

 private:
  Tensor body(const Tensor& x);
};

// improved-diffusion's QKVAttention: qkv (B, 3 C, T) holds, for each of `heads` heads in turn,
// its q, k and v rows (ch = C / heads each) -> (B, C, T):
//   w = softmax_s((q s)^T (k s)),  s = 1 / sqrt(sqrt(ch))     (= softmax(q^T k / sqrt(ch)))
//   out[c, t] = sum_s v[c, s] w[t, s]
Tensor qkv_attention(const Tensor& qkv, int64_t heads);

// Halves the resolution with a 3x3 convolution of stride 2, padding 1 ("op").
class Downsample : public Module {
 public:
  explicit Downsample(int64_t channels);
  std::string type_name() const override { return "Downsample"; }
  // x (N, C, H, W) -> (N, C, ceil(H / 2), ceil(W / 2))
  Tensor forward(const Tensor& x) override;

  int64_t channels;
  std::shared_ptr<Conv2d> op;
};

// Doubles the resolution: nearest-neighbour x2, then a 3x3 convolution ("conv").
class Upsample : public Module {
 public:
  explicit Upsample(int64_t channels);
  std::string type_name() const override { return "Upsample"; }
  // x (N, C, H, W) -> (N, C, 2 H, 2 W)
  Tensor forward(const Tensor& x) override;

  int64_t channels;
  std::shared_ptr<Conv2d> conv;
};

}  // namespace tinydiff::lesson02
