#include "lessons/01_contextunet/model.hpp"

#include "nn/functional.hpp"

namespace tinydiff {

namespace {
// [Conv3x3 -> BatchNorm2d -> GELU], the unit ResidualConvBlock stacks twice.
std::shared_ptr<Sequential> conv_bn_gelu(int64_t in_channels, int64_t out_channels) {
  return sequential({std::make_shared<Conv2d>(in_channels, out_channels, 3, 1, 1),
                     std::make_shared<BatchNorm2d>(out_channels), std::make_shared<GELU>()});
}
}  // namespace

ResidualConvBlock::ResidualConvBlock(int64_t in_channels, int64_t out_channels, bool is_res,
                                     bool course_compat)
    : is_res(is_res), same_channels(in_channels == out_channels), course_compat(course_compat) {
  conv1 = register_module("conv1", conv_bn_gelu(in_channels, out_channels));
  conv2 = register_module("conv2", conv_bn_gelu(out_channels, out_channels));
  if (is_res && !same_channels && !course_compat)
    shortcut = register_module("shortcut", std::make_shared<Conv2d>(in_channels, out_channels, 1));
}

Tensor ResidualConvBlock::forward(const Tensor& x) {
  Tensor x2 = (*conv2)((*conv1)(x));
  if (!is_res) return x2;
  Tensor skip = x;
  if (!same_channels) {
    // Defect (2) under course_compat: the course builds nn.Conv2d(...) inside forward(), so
    // each call uses new random weights that no optimizer ever sees.
    skip = course_compat ? Conv2d(x.size(1), x2.size(1), 1).forward(x) : (*shortcut)(x);
  }
  return (skip + x2) / 1.414f;  // the course's constant (about sqrt 2): keeps the variance ~1
}

UnetDown::UnetDown(int64_t in_channels, int64_t out_channels) {
  model = register_module("model", sequential({
      std::make_shared<ResidualConvBlock>(in_channels, out_channels),
      std::make_shared<ResidualConvBlock>(out_channels, out_channels),
      std::make_shared<MaxPool2d>(2)}));
}

UnetUp::UnetUp(int64_t in_channels, int64_t out_channels) {
  model = register_module("model", sequential({
      std::make_shared<ConvTranspose2d>(in_channels, out_channels, 2, 2),
      std::make_shared<ResidualConvBlock>(out_channels, out_channels),
      std::make_shared<ResidualConvBlock>(out_channels, out_channels)}));
}

Tensor UnetUp::forward(const Tensor& x, const Tensor& skip) {
  Tensor y = (*model)(cat({x, skip}, 1));
  trace_call(x, y);
  return y;
}

EmbedFC::EmbedFC(int64_t input_dim, int64_t emb_dim) : input_dim(input_dim) {
  model = register_module("model", sequential({std::make_shared<Linear>(input_dim, emb_dim),
                                               std::make_shared<GELU>(),
                                               std::make_shared<Linear>(emb_dim, emb_dim)}));
}

Tensor EmbedFC::forward(const Tensor& x) { return (*model)(reshape(x, {-1, input_dim})); }

ContextUnet::ContextUnet(const ContextUnetConfig& c) : config(c) {
  TD_CHECK(c.height % 4 == 0, "ContextUnet: height ", c.height, " must be divisible by 4");
  TD_CHECK(c.n_feat % 8 == 0, "ContextUnet: n_feat ", c.n_feat,
           " must be divisible by 8 (GroupNorm(8, n_feat))");
  int64_t n = c.n_feat, q = c.height / 4;
  init_conv = register_module(
      "init_conv", std::make_shared<ResidualConvBlock>(c.in_channels, n, true, c.course_compat));
  down1 = register_module("down1", std::make_shared<UnetDown>(n, n));
  down2 = register_module("down2", std::make_shared<UnetDown>(n, 2 * n));
  // Defect (3) under course_compat: AvgPool2d(4) pools 28x28 MNIST's 7x7 map to 1x1 from its
  // top-left 4x4 corner only; the fix pools the whole h/4 x h/4 map.
  to_vec = register_module("to_vec", sequential({std::make_shared<AvgPool2d>(c.course_compat ? 4 : q),
                                                 std::make_shared<GELU>()}));
  timeembed1 = register_module("timeembed1", std::make_shared<EmbedFC>(1, 2 * n));
  timeembed2 = register_module("timeembed2", std::make_shared<EmbedFC>(1, n));
  contextembed1 = register_module("contextembed1", std::make_shared<EmbedFC>(c.n_cfeat, 2 * n));
  contextembed2 = register_module("contextembed2", std::make_shared<EmbedFC>(c.n_cfeat, n));
  up0 = register_module("up0", sequential({std::make_shared<ConvTranspose2d>(2 * n, 2 * n, q, q),
                                           std::make_shared<GroupNorm>(8, 2 * n),
                                           std::make_shared<ReLU>()}));
  up1 = register_module("up1", std::make_shared<UnetUp>(4 * n, n));
  up2 = register_module("up2", std::make_shared<UnetUp>(2 * n, n));
  out = register_module("out", sequential({std::make_shared<Conv2d>(2 * n, n, 3, 1, 1),
                                           std::make_shared<GroupNorm>(8, n),
                                           std::make_shared<ReLU>(),
                                           std::make_shared<Conv2d>(n, c.in_channels, 3, 1, 1)}));
}

Tensor ContextUnet::forward(const Tensor& x, const Tensor& t, const Tensor& c_in) {
  TD_CHECK(x.dim() == 4 && x.size(1) == config.in_channels && x.size(2) == config.height &&
               x.size(3) == config.height,
           "ContextUnet: expects x (N, ", config.in_channels, ", ", config.height, ", ",
           config.height, "), got ", str(x.shape()));
  int64_t batch = x.size(0), n = config.n_feat;
  TD_CHECK(t.numel() == batch, "ContextUnet: t has ", t.numel(), " elements for a batch of ", batch);
  Tensor c = c_in.defined() ? c_in : zeros({batch, config.n_cfeat}, x.device());
  TD_CHECK(c.dim() == 2 && c.size(0) == batch && c.size(1) == config.n_cfeat,
           "ContextUnet: context must be (", batch, ", ", config.n_cfeat, "), got ", str(c.shape()));

  Tensor h = (*init_conv)(x);           // (N, n, h, h)
  Tensor d1 = (*down1)(h);              // (N, n, h/2, h/2)
  Tensor d2 = (*down2)(d1);             // (N, 2n, h/4, h/4)
  Tensor hidden = (*to_vec)(d2);        // (N, 2n, 1, 1)
  Tensor cemb1 = reshape((*contextembed1)(c), {batch, 2 * n, 1, 1});
  Tensor temb1 = reshape((*timeembed1)(t), {batch, 2 * n, 1, 1});
  Tensor cemb2 = reshape((*contextembed2)(c), {batch, n, 1, 1});
  Tensor temb2 = reshape((*timeembed2)(t), {batch, n, 1, 1});
  Tensor u1 = (*up0)(hidden);                               // (N, 2n, h/4, h/4)
  Tensor u2 = up1->forward(cemb1 * u1 + temb1, d2);         // (N, n, h/2, h/2)
  Tensor u3 = up2->forward(cemb2 * u2 + temb2, d1);         // (N, n, h, h)
  Tensor eps = (*out)(cat({u3, h}, 1));                     // (N, C, h, h)
  trace_call(x, eps);
  return eps;
}

}  // namespace tinydiff
