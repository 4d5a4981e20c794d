#include "lessons/02_improved_diffusion/blocks.hpp"

#include <cmath>

#include "autograd/checkpoint.hpp"
#include "nn/functional/conv.hpp"
#include "nn/init.hpp"

namespace tinydiff::lesson02 {

namespace {

using BlockBody = std::function<Tensor(const TensorList&)>;

// Runs a block's body on its inputs, under gradient checkpointing when asked (improved-
// diffusion's checkpoint(self._forward, inputs, self.parameters(), flag)).
//
// Without checkpointing the inputs enter the body through views. A view costs nothing, but it
// makes the backward sum the gradients of an input's uses inside the block (the skip path and
// the GroupNorm path) before adding the gradient from outside (the UNet's skip connection),
// exactly as the checkpointed block does, which hands out one summed gradient per input.
// Floating-point addition is not associative, so only then are both gradients bit-identical.
Tensor run_block(const BlockBody& body, const TensorList& inputs, const Module& block,
                 bool use_checkpoint) {
  if (use_checkpoint && grad_enabled()) return checkpoint(body, inputs, block.parameters());
  TensorList views;
  for (const Tensor& x : inputs) views.push_back(x.reshape(x.shape()));
  return body(views);
}

}  // namespace

std::shared_ptr<GroupNorm> normalization(int64_t channels, int64_t num_groups) {
  TD_CHECK(num_groups > 0 && channels % num_groups == 0, "UNetModel: GroupNorm cannot split ",
           channels, " channels into ", num_groups, " groups (hint: choose model_channels and "
           "channel_mult so that every width is a multiple of num_groups)");
  return std::make_shared<GroupNorm>(num_groups, channels);
}

// ---- TimestepEmbedSequential ----

// x (N, C, H, W), emb (N, E) -> the last child's output
Tensor TimestepEmbedSequential::forward(const Tensor& x, const Tensor& emb) {
  Tensor h = x;
  for (size_t i = 0; i < size(); ++i) {
    Module& layer = *(*this)[i];
    auto* block = dynamic_cast<TimestepBlock*>(&layer);
    h = block ? block->forward(h, emb) : layer(h);
  }
  trace_call(x, h);
  return h;
}

// ---- Conv1d (kernel size 1) ----

Conv1d::Conv1d(int64_t in_channels, int64_t out_channels)
    : in_channels(in_channels), out_channels(out_channels) {
  TD_CHECK(in_channels > 0 && out_channels > 0, "Conv1d: in_channels (", in_channels,
           ") and out_channels (", out_channels, ") must be positive");
  register_parameter("weight", &weight, Tensor::empty({out_channels, in_channels, 1}));
  init::kaiming_uniform_(weight, std::sqrt(5.f));  // torch.nn.Conv1d's default
  float bound = 1.f / std::sqrt(float(in_channels));
  register_parameter("bias", &bias, init::uniform_(Tensor::empty({out_channels}), -bound, bound));
}

// y[n, o, l] = sum_i W[o, i] x[n, i, l] + b[o]:  x (N, in, L) -> (N, out, L)
Tensor Conv1d::forward(const Tensor& x) {
  TD_CHECK(x.dim() == 3 && x.size(1) == in_channels, label(), ": input must be (N, ",
           in_channels, ", L), got ", str(x.shape()), " (weight ", str(weight.shape()), ")");
  Tensor y = matmul(weight.reshape({out_channels, in_channels}), x);
  return y + bias.reshape({out_channels, 1});
}

// ---- ResBlock ----

ResBlock::ResBlock(int64_t channels, int64_t out_channels, const ResBlockOptions& options)
    : channels(channels), out_channels(out_channels), options(options) {
  int64_t groups = options.num_groups;
  in_layers = register_module("in_layers", sequential({
      normalization(channels, groups), std::make_shared<SiLU>(),
      std::make_shared<Conv2d>(channels, out_channels, 3, 1, 1)}));
  int64_t emb_out = options.use_scale_shift_norm ? 2 * out_channels : out_channels;
  emb_layers = register_module("emb_layers", sequential({
      std::make_shared<SiLU>(), std::make_shared<Linear>(options.emb_channels, emb_out)}));
  out_layers = register_module("out_layers", sequential({
      normalization(out_channels, groups), std::make_shared<SiLU>(),
      std::make_shared<Dropout>(options.dropout),
      zero_module(std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1))}));
  if (out_channels == channels)
    skip_connection = register_module("skip_connection", std::make_shared<Identity>());
  else
    skip_connection = register_module("skip_connection",
                                      std::make_shared<Conv2d>(channels, out_channels, 1));
}

// x (N, channels, H, W), emb (N, emb_channels) -> (N, out_channels, H, W)
Tensor ResBlock::body(const Tensor& x, const Tensor& emb) {
  Tensor h = (*in_layers)(x);
  Tensor e = (*emb_layers)(emb);
  e = e.reshape({e.size(0), e.size(1), 1, 1});  // broadcast over H, W
  if (options.use_scale_shift_norm) {
    // GN(h) (1 + scale) + shift: the embedding modulates the normalised features (AdaGN).
    // BEGIN EXERCISE 02.2 the scale-shift ResBlock (#7-the-model-improved-diffusions-unet)
    TensorList scale_shift = chunk(e, 2, 1);
    h = (*(*out_layers)[0])(h) * (1.f + scale_shift[0]) + scale_shift[1];
    for (size_t i = 1; i < out_layers->size(); ++i) h = (*(*out_layers)[i])(h);
    // END EXERCISE
  } else {
    h = (*out_layers)(h + e);
  }
  return (*skip_connection)(x) + h;
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& emb) {
  TD_CHECK(x.dim() == 4 && x.size(1) == channels, label(), ": input must be (N, ", channels,
           ", H, W), got ", str(x.shape()));
  TD_CHECK(emb.dim() == 2 && emb.size(0) == x.size(0) && emb.size(1) == options.emb_channels,
           label(), ": embedding must be (", x.size(0), ", ", options.emb_channels, "), got ",
           str(emb.shape()), " (input ", str(x.shape()), ")");
  Tensor out = run_block([this](const TensorList& in) { return body(in[0], in[1]); }, {x, emb},
                         *this, options.use_checkpoint);
  trace_call(x, out);
  return out;
}

// ---- AttentionBlock and QKVAttention ----

AttentionBlock::AttentionBlock(int64_t channels, int64_t num_heads, int64_t num_groups,
                               bool use_checkpoint)
    : channels(channels), num_heads(num_heads), use_checkpoint(use_checkpoint) {
  TD_CHECK(num_heads > 0 && channels % num_heads == 0, "AttentionBlock: ", channels,
           " channels cannot be split into ", num_heads, " heads");
  norm = register_module("norm", normalization(channels, num_groups));
  qkv = register_module("qkv", std::make_shared<Conv1d>(channels, 3 * channels));
  proj_out = register_module("proj_out", zero_module(std::make_shared<Conv1d>(channels, channels)));
}

// x (N, C, H, W) -> (N, C, H, W), attending over the T = H W positions
Tensor AttentionBlock::body(const Tensor& x) {
  Tensor flat = x.reshape({x.size(0), x.size(1), -1});  // (N, C, T)
  Tensor h = qkv_attention((*qkv)((*norm)(flat)), num_heads);
  return (flat + (*proj_out)(h)).reshape(x.shape());
}

Tensor AttentionBlock::forward(const Tensor& x) {
  TD_CHECK(x.dim() == 4 && x.size(1) == channels, label(), ": input must be (N, ", channels,
           ", H, W), got ", str(x.shape()));
  return run_block([this](const TensorList& in) { return body(in[0]); }, {x}, *this,
                   use_checkpoint);
}

// qkv (B, 3 C, T) -> (B, C, T)
Tensor qkv_attention(const Tensor& qkv, int64_t heads) {
  TD_CHECK(qkv.dim() == 3 && heads > 0 && qkv.size(1) % (3 * heads) == 0,
           "qkv_attention: expects (B, 3 C, T) with 3 C a multiple of 3 x ", heads,
           " heads, got ", str(qkv.shape()));
  // BEGIN EXERCISE 02.3 QKV attention (#7-the-model-improved-diffusions-unet)
  int64_t batch = qkv.size(0), ch = qkv.size(1) / (3 * heads), T = qkv.size(2);
  Tensor per_head = qkv.reshape({batch * heads, 3 * ch, T});  // head h: its q, k, v rows
  float s = 1.f / std::sqrt(std::sqrt(float(ch)));  // split 1/sqrt(ch) between q and k
  Tensor q = narrow(per_head, 1, 0, ch) * s;
  Tensor k = narrow(per_head, 1, ch, ch) * s;
  Tensor v = narrow(per_head, 1, 2 * ch, ch);
  Tensor w = softmax(matmul(transpose(q, 1, 2), k), -1);  // (B heads, T, T): w[t, s]
  Tensor out = matmul(v, transpose(w, 1, 2));             // (B heads, ch, T)
  return out.reshape({batch, heads * ch, T});
  // END EXERCISE
}

// ---- Downsample and Upsample ----

Downsample::Downsample(int64_t channels) : channels(channels) {
  op = register_module("op", std::make_shared<Conv2d>(channels, channels, 3, 2, 1));
}

// x (N, C, H, W) -> (N, C, ceil(H / 2), ceil(W / 2))
Tensor Downsample::forward(const Tensor& x) { return (*op)(x); }

Upsample::Upsample(int64_t channels) : channels(channels) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 1, 1));
}

// x (N, C, H, W) -> (N, C, 2 H, 2 W)
Tensor Upsample::forward(const Tensor& x) {
  TD_CHECK(x.dim() == 4 && x.size(1) == channels, label(), ": input must be (N, ", channels,
           ", H, W), got ", str(x.shape()));
  return (*conv)(upsample_nearest2d(x, 2));
}

}  // namespace tinydiff::lesson02
