// The ContextUnet of DeepLearning.AI's "How Diffusion Models Work" course, with the course's
// parameter names (init_conv.conv1.0.weight, down1.model.0.conv1.0.weight,
// timeembed1.model.0.weight, up0.0.weight, out.3.weight, ...), so its state_dict moves
// between tinydiff and the course's PyTorch code.
//
// It predicts the noise eps in x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps from x_t, the
// normalised time t/T and an optional context vector c (a one-hot class):
//
//   x (C, h, h) -> init_conv -> down1 (h/2) -> down2 (h/4) -> to_vec (1x1) -> up0 (h/4)
//                     |            |              |__ skip ___ up1(cemb1 * up0 + temb1)
//                     |            |___________ skip __________ up2(cemb2 * up1 + temb2)
//                     |________________________ skip ___________ out(cat(up2, x)) -> eps
//
// The course's code has three defects; tinydiff fixes them and `course_compat` brings each
// back so the lesson can show what goes wrong (lessons/01_contextunet/README.md):
//   (1) perturb_input uses (1 - ab) eps instead of sqrt(1 - ab) eps   (diffusion/ddpm.hpp)
//   (2) init_conv's 3 -> n_feat shortcut is a fresh random 1x1 conv on every call, never trained
//   (3) to_vec's AvgPool2d(4) is hard-coded, so only 16x16 images pool to 1x1
#pragma once
#include <memory>

#include "nn/basic.hpp"
#include "nn/conv.hpp"
#include "nn/linear.hpp"
#include "nn/normalization.hpp"
#include "nn/sequential.hpp"

namespace tinydiff {

struct ContextUnetConfig {
  int64_t in_channels = 3;   // 3 for sprites, 1 for MNIST
  int64_t n_feat = 64;       // channels at full resolution (the course uses 64)
  int64_t n_cfeat = 5;       // context size: 5 sprite classes, 10 digits
  int64_t height = 16;       // image side, divisible by 4
  bool course_compat = false;
};

// Two [Conv3x3 -> BatchNorm2d -> GELU]; with is_res, (shortcut(x) + x2) / 1.414, the shortcut
// being the identity when channels match and a 1x1 conv otherwise.
class ResidualConvBlock : public Module {
 public:
  ResidualConvBlock(int64_t in_channels, int64_t out_channels, bool is_res = false,
                    bool course_compat = false);
  std::string type_name() const override { return "ResidualConvBlock"; }
  // x (N, in, H, W) -> (N, out, H, W)
  Tensor forward(const Tensor& x) override;

  bool is_res, same_channels, course_compat;
  std::shared_ptr<Sequential> conv1, conv2;
  std::shared_ptr<Conv2d> shortcut;  // a trained 1x1 conv (null when unused or course_compat)
};

// 2 ResidualConvBlocks + MaxPool2d(2): (N, in, H, W) -> (N, out, H/2, W/2)
class UnetDown : public Module {
 public:
  UnetDown(int64_t in_channels, int64_t out_channels);
  std::string type_name() const override { return "UnetDown"; }
  Tensor forward(const Tensor& x) override { return (*model)(x); }
  std::shared_ptr<Sequential> model;
};

// ConvTranspose2d(k=2, s=2) then 2 ResidualConvBlocks, on cat(x, skip):
// x (N, a, H, W), skip (N, b, H, W) with a + b = in -> (N, out, 2H, 2W)
class UnetUp : public Module {
 public:
  UnetUp(int64_t in_channels, int64_t out_channels);
  std::string type_name() const override { return "UnetUp"; }
  Tensor forward(const Tensor& x, const Tensor& skip);
  std::shared_ptr<Sequential> model;
};

// Linear -> GELU -> Linear: (N, input_dim) (or anything with N * input_dim elements)
// -> (N, emb_dim)
class EmbedFC : public Module {
 public:
  EmbedFC(int64_t input_dim, int64_t emb_dim);
  std::string type_name() const override { return "EmbedFC"; }
  Tensor forward(const Tensor& x) override;
  int64_t input_dim;
  std::shared_ptr<Sequential> model;
};

class ContextUnet : public Module {
 public:
  explicit ContextUnet(const ContextUnetConfig& config);
  std::string type_name() const override { return "ContextUnet"; }
  // x (N, C, h, h), t (N) or (N, 1) holding t/T in [0, 1], c (N, n_cfeat) or undefined
  // (then the zero vector: "no context") -> predicted noise (N, C, h, h)
  Tensor forward(const Tensor& x, const Tensor& t, const Tensor& c);
  Tensor forward(const Tensor& x) override { return forward(x, zeros({x.size(0)}), Tensor()); }

  ContextUnetConfig config;
  std::shared_ptr<ResidualConvBlock> init_conv;
  std::shared_ptr<UnetDown> down1, down2;
  std::shared_ptr<Sequential> to_vec, up0, out;
  std::shared_ptr<EmbedFC> timeembed1, timeembed2, contextembed1, contextembed2;
  std::shared_ptr<UnetUp> up1, up2;
};

}  // namespace tinydiff
