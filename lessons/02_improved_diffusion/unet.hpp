// improved-diffusion's UNetModel (Nichol & Dhariwal 2021; openai/improved-diffusion,
// improved_diffusion/unet.py) with the reference's parameter names, so that its state_dict
// moves between tinydiff and PyTorch:
//
//   t -> timestep_embedding -> time_embed (Linear, SiLU, Linear) [+ label_emb(y)] = emb
//
//   x -> input_blocks.0 (conv3x3) ----------------------------------------------> skip 0
//     -> per level: num_res_blocks x [ResBlock (+ AttentionBlock)] ---------------> skips
//                   Downsample (all levels but the last) -----------------------> skip
//     -> middle_block: ResBlock, AttentionBlock, ResBlock
//     -> per level, deepest first: (num_res_blocks + 1) x
//            [ResBlock(cat(h, skip)) (+ AttentionBlock)], then Upsample (all but level 0)
//     -> out: GroupNorm, SiLU, conv3x3 (zero-initialised) -> (N, out_channels, H, W)
//
// Attention is used at the levels whose downsampling rate (1, 2, 4, ...) is listed in
// attention_resolutions. Every ResBlock gets emb; with use_scale_shift_norm it scales and
// shifts the normalised features instead of being added to them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lessons/02_improved_diffusion/blocks.hpp"

namespace tinydiff::lesson02 {

struct UNetConfig {
  int64_t in_channels = 1;
  int64_t model_channels = 32;
  int64_t out_channels = 2;  // in_channels, or 2 in_channels for learned variances
  int64_t num_res_blocks = 2;
  std::vector<int64_t> attention_resolutions = {4};  // downsampling rates with attention
  float dropout = 0;
  std::vector<int64_t> channel_mult = {1, 2, 2};
  int64_t num_classes = 0;  // > 0: class-conditional (label_emb)
  bool use_checkpoint = false;
  int64_t num_heads = 1;
  int64_t num_heads_upsample = -1;  // -1: num_heads
  bool use_scale_shift_norm = false;
  int64_t num_groups = 32;  // GroupNorm groups (the reference's normalization() uses 32)
};

// "1,2,2" <-> {1, 2, 2}, for flags and checkpoint metadata; `what` names the list in errors.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what);
std::string format_int_list(const std::vector<int64_t>& values);

class UNetModel : public Module {
 public:
  explicit UNetModel(const UNetConfig& config);
  std::string type_name() const override { return "UNetModel"; }
  // x (N, in_channels, H, W), timesteps (N) (whole or fractional), y (N) class indices when
  // class-conditional, else undefined -> (N, out_channels, H, W). H and W must be multiples
  // of 2^(levels - 1).
  Tensor forward(const Tensor& x, const Tensor& timesteps, const Tensor& y = Tensor());
  using Module::forward;

  // The number of times the input is halved: channel_mult.size() - 1.
  int64_t num_downsamples() const { return int64_t(config.channel_mult.size()) - 1; }

  UNetConfig config;
  std::shared_ptr<Sequential> time_embed;
  std::shared_ptr<Embedding> label_emb;  // null when not class-conditional
  std::vector<std::shared_ptr<TimestepEmbedSequential>> input_blocks, output_blocks;
  std::shared_ptr<TimestepEmbedSequential> middle_block;
  std::shared_ptr<Sequential> out;

 private:
  int64_t build_input_blocks(std::vector<int64_t>& skip_channels);
  int64_t build_output_blocks(int64_t channels, std::vector<int64_t>& skip_channels);
  std::shared_ptr<ResBlock> res_block(int64_t in, int64_t out) const;
  std::shared_ptr<AttentionBlock> attention(int64_t channels, int64_t heads) const;
  void check_inputs(const Tensor& x, const Tensor& timesteps, const Tensor& y) const;
  std::shared_ptr<ModuleList> input_list_, output_list_;  // hold the blocks' names
};

}  // namespace tinydiff::lesson02
