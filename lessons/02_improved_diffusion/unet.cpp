#include "lessons/02_improved_diffusion/unet.hpp"

#include <algorithm>
#include <sstream>

#include "nn/timestep_embedding.hpp"

namespace tinydiff::lesson02 {

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TD_CHECK(used > 0 && used == item.size(), what, ": expected whole numbers separated by ",
             "commas (e.g. 1,2,2), got '", text, "'");
    values.push_back(v);
  }
  return values;
}

std::string format_int_list(const std::vector<int64_t>& values) {
  std::string text;
  for (size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + std::to_string(values[i]);
  return text;
}

namespace {

void check_config(const UNetConfig& c) {
  TD_CHECK(c.in_channels > 0 && c.out_channels > 0 && c.model_channels > 0,
           "UNetModel: in_channels (", c.in_channels, "), out_channels (", c.out_channels,
           ") and model_channels (", c.model_channels, ") must be positive");
  TD_CHECK(c.num_res_blocks >= 0, "UNetModel: num_res_blocks must be >= 0, got ",
           c.num_res_blocks);
  TD_CHECK(!c.channel_mult.empty(), "UNetModel: channel_mult must list at least one level");
  for (int64_t m : c.channel_mult)
    TD_CHECK(m > 0, "UNetModel: channel_mult entries must be positive, got (",
             format_int_list(c.channel_mult), ")");
  TD_CHECK(c.num_heads > 0 && (c.num_heads_upsample == -1 || c.num_heads_upsample > 0),
           "UNetModel: num_heads (", c.num_heads, ") must be positive and num_heads_upsample (",
           c.num_heads_upsample, ") positive or -1");
  TD_CHECK(c.dropout >= 0.f && c.dropout < 1.f, "UNetModel: dropout must be in [0, 1), got ",
           c.dropout);
  TD_CHECK(c.num_classes >= 0, "UNetModel: num_classes must be >= 0, got ", c.num_classes);
}

bool contains(const std::vector<int64_t>& values, int64_t v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

std::shared_ptr<TimestepEmbedSequential> timestep_sequential(
    const std::vector<std::shared_ptr<Module>>& layers) {
  return std::make_shared<TimestepEmbedSequential>(layers);
}

}  // namespace

std::shared_ptr<ResBlock> UNetModel::res_block(int64_t in, int64_t out) const {
  const UNetConfig& c = config;
  ResBlockOptions o{4 * c.model_channels, c.dropout, c.use_scale_shift_norm, c.use_checkpoint,
                    c.num_groups};
  return std::make_shared<ResBlock>(in, out, o);
}

std::shared_ptr<AttentionBlock> UNetModel::attention(int64_t channels, int64_t heads) const {
  return std::make_shared<AttentionBlock>(channels, heads, config.num_groups,
                                          config.use_checkpoint);
}

// The construction follows the reference's __init__ step by step; `skip_channels` is its
// input_block_chans: the width of each input block's output, popped by the output blocks
// that concatenate it.
UNetModel::UNetModel(const UNetConfig& c) : config(c) {
  check_config(c);
  const int64_t mc = c.model_channels, emb_dim = 4 * mc;
  time_embed = register_module("time_embed", sequential({
      std::make_shared<Linear>(mc, emb_dim), std::make_shared<SiLU>(),
      std::make_shared<Linear>(emb_dim, emb_dim)}));
  if (c.num_classes > 0)
    label_emb = register_module("label_emb", std::make_shared<Embedding>(c.num_classes, emb_dim));
  std::vector<int64_t> skip_channels;
  int64_t ch = build_input_blocks(skip_channels);
  middle_block = register_module("middle_block", timestep_sequential({
      res_block(ch, ch), attention(ch, c.num_heads), res_block(ch, ch)}));
  ch = build_output_blocks(ch, skip_channels);
  out = register_module("out", sequential({
      normalization(ch, c.num_groups), std::make_shared<SiLU>(),
      zero_module(std::make_shared<Conv2d>(ch, c.out_channels, 3, 1, 1))}));
}

// Level by level: num_res_blocks x [ResBlock (+ attention)], then a Downsample but at the
// last level. Returns the width at the bottom; skip_channels gets each block's width.
int64_t UNetModel::build_input_blocks(std::vector<int64_t>& skip_channels) {
  const UNetConfig& c = config;
  input_list_ = register_module("input_blocks", std::make_shared<ModuleList>());
  auto add = [&](const std::vector<std::shared_ptr<Module>>& layers, int64_t width) {
    input_blocks.push_back(timestep_sequential(layers));
    input_list_->push_back(input_blocks.back());
    skip_channels.push_back(width);
  };
  int64_t ch = c.model_channels, ds = 1;
  add({std::make_shared<Conv2d>(c.in_channels, ch, 3, 1, 1)}, ch);
  for (size_t level = 0; level < c.channel_mult.size(); ++level) {
    for (int64_t r = 0; r < c.num_res_blocks; ++r) {
      int64_t width = c.channel_mult[level] * c.model_channels;
      std::vector<std::shared_ptr<Module>> layers = {res_block(ch, width)};
      ch = width;
      if (contains(c.attention_resolutions, ds)) layers.push_back(attention(ch, c.num_heads));
      add(layers, ch);
    }
    if (level + 1 < c.channel_mult.size()) {
      add({std::make_shared<Downsample>(ch)}, ch);
      ds *= 2;
    }
  }
  return ch;
}

// Deepest level first: (num_res_blocks + 1) x [ResBlock on cat(h, skip) (+ attention)], the
// last of each level but level 0 followed by an Upsample. Returns the final width.
int64_t UNetModel::build_output_blocks(int64_t ch, std::vector<int64_t>& skip_channels) {
  const UNetConfig& c = config;
  const int64_t heads = c.num_heads_upsample == -1 ? c.num_heads : c.num_heads_upsample;
  int64_t ds = int64_t(1) << num_downsamples();
  output_list_ = register_module("output_blocks", std::make_shared<ModuleList>());
  for (size_t level = c.channel_mult.size(); level-- > 0;) {
    for (int64_t i = 0; i <= c.num_res_blocks; ++i) {
      int64_t width = c.channel_mult[level] * c.model_channels;
      std::vector<std::shared_ptr<Module>> layers = {res_block(ch + skip_channels.back(), width)};
      skip_channels.pop_back();
      ch = width;
      if (contains(c.attention_resolutions, ds)) layers.push_back(attention(ch, heads));
      if (level > 0 && i == c.num_res_blocks) {
        layers.push_back(std::make_shared<Upsample>(ch));
        ds /= 2;
      }
      output_blocks.push_back(timestep_sequential(layers));
      output_list_->push_back(output_blocks.back());
    }
  }
  return ch;
}

void UNetModel::check_inputs(const Tensor& x, const Tensor& timesteps, const Tensor& y) const {
  TD_CHECK(x.dim() == 4, "UNetModel: input must be (N, C, H, W), got ", str(x.shape()));
  TD_CHECK(x.size(1) == config.in_channels, "UNetModel: input has ", x.size(1),
           " channels but in_channels is ", config.in_channels, " (input ", str(x.shape()), ")");
  const int64_t factor = int64_t(1) << num_downsamples();
  TD_CHECK(x.size(2) % factor == 0 && x.size(3) % factor == 0, "UNetModel: input ",
           str(x.shape()), " is ", x.size(2), "x", x.size(3), " but channel_mult (",
           format_int_list(config.channel_mult), ") halves it ", num_downsamples(),
           " times, so height and width must be multiples of ", factor);
  TD_CHECK(timesteps.dim() == 1 && timesteps.size(0) == x.size(0), "UNetModel: timesteps must be (",
           x.size(0), "), one per image, got ", str(timesteps.shape()), " (input ",
           str(x.shape()), ")");
  if (config.num_classes > 0) {
    TD_CHECK(y.defined(), "UNetModel: the model is class-conditional (", config.num_classes,
             " classes), so labels y of shape (", x.size(0), ") are required");
    TD_CHECK(y.dim() == 1 && y.size(0) == x.size(0), "UNetModel: labels y must be (", x.size(0),
             "), got ", str(y.shape()));
  } else {
    TD_CHECK(!y.defined(), "UNetModel: labels y were given but the model is not "
             "class-conditional (num_classes 0)");
  }
}

// x (N, in_channels, H, W), timesteps (N), y (N) or undefined -> (N, out_channels, H, W)
Tensor UNetModel::forward(const Tensor& x, const Tensor& timesteps, const Tensor& y) {
  check_inputs(x, timesteps, y);
  Tensor emb = (*time_embed)(timestep_embedding(timesteps, config.model_channels));  // (N, 4 mc)
  if (label_emb) emb = emb + (*label_emb)(y);
  TensorList skips;
  Tensor h = x;
  for (const auto& block : input_blocks) {
    h = block->forward(h, emb);
    skips.push_back(h);
  }
  h = middle_block->forward(h, emb);
  for (const auto& block : output_blocks) {
    h = block->forward(cat({h, skips.back()}, 1), emb);
    skips.pop_back();
  }
  Tensor result = (*out)(h);
  trace_call(x, result);
  return result;
}

}  // namespace tinydiff::lesson02
