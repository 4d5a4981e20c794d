// Model-level benchmark cases: one whole training step (forward, loss, backward, optimizer
// update) of each lesson model, and a DDIM sampling run. The data are fixed random tensors
// (no loading), so only the model's compute is timed.
#include <cmath>
#include <memory>

#include "diffusion/sampler.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/02_improved_diffusion/unet.hpp"
#include "nn/functional.hpp"
#include "nn/optim.hpp"
#include "tests/bench/bench.hpp"

namespace tinydiff::bench {

namespace {

// The forward FLOPs of ContextUnet's convolutions (its linears, norms and activations add
// under 1%). A transposed convolution costs what the convolution it is the adjoint of costs.
double contextunet_forward_flops(const ContextUnetConfig& c, double batch) {
  double n = c.n_feat, C = c.in_channels, h = c.height, q = h / 4;
  auto conv3 = [&](double c_in, double c_out, double side) {
    return conv_flops(batch, c_in, c_out, side, side, 3);
  };
  double init = conv3(C, n, h) + conv3(n, n, h) + conv_flops(batch, C, n, h, h, 1);
  double down = 4 * conv3(n, n, h) + conv3(n, 2 * n, h / 2) + 3 * conv3(2 * n, 2 * n, h / 2);
  double up0 = conv_flops(batch, 2 * n, 2 * n, 1, 1, q);
  double up1 = conv_flops(batch, n, 4 * n, q, q, 2) + 4 * conv3(n, n, h / 2);
  double up2 = conv_flops(batch, n, 2 * n, h / 2, h / 2, 2) + 4 * conv3(n, n, h);
  double out = conv3(2 * n, n, h) + conv3(n, C, h);
  return init + down + up0 + up1 + up2 + out;
}

// A training step costs about 3 forwards: the backward computes, per convolution, an input
// gradient and a weight gradient, each a product of the forward's size.
BenchCase contextunet_train_case(const std::string& name, const std::string& dataset,
                                 int64_t batch) {
  ContextUnetConfig config = model_config(dataset, 64, false);
  return {name, double(batch), 3 * contextunet_forward_flops(config, batch), [=]() {
            manual_seed(0);
            auto model = std::make_shared<ContextUnet>(config);
            auto optimizer = std::make_shared<Adam>(model->named_parameters(), AdamOptions{1e-3});
            NoiseSchedule schedule = linear_schedule_course(500);
            int64_t side = config.height;
            Tensor x0 = rand({batch, config.in_channels, side, side}) * 2.f - 1.f;
            Tensor context = one_hot(randint(0, config.n_cfeat, {batch}), config.n_cfeat);
            return Step{nullptr, [=]() {
                          Tensor loss = diffusion_loss(*model, x0, context, schedule, 0.1, false);
                          optimizer->zero_grad();
                          loss.backward();
                          optimizer->step();
                          loss.item();
                        }};
          }};
}

// 20 DDIM steps (one model call each, no guidance) for 50 sprites, in eval mode.
BenchCase ddim_sample_case() {
  ContextUnetConfig config = model_config("sprites", 64, false);
  const int64_t batch = 50, steps = 20;
  return {"ddim_sample_sprites", double(batch),
          steps * contextunet_forward_flops(config, batch), [=]() {
            manual_seed(0);
            auto model = std::make_shared<ContextUnet>(config);
            model->eval();
            NoiseSchedule schedule = linear_schedule_course(500);
            Tensor context = class_contexts(batch, -1, config.n_cfeat).first;
            return Step{nullptr, [=]() {
                          SampleOptions options;
                          options.ddim_steps = steps;
                          sample_ddim(eps_model(*model), {batch, 3, 16, 16}, context, schedule,
                                      options);
                        }};
          }};
}

// improved-diffusion's UNet on MNIST: model_channels 32, channel_mult (1, 2, 2), 2 res blocks,
// attention at 7x7 (4 heads), scale-shift norm, class-conditional; L_simple with AdamW.
// With use_checkpoint, every ResBlock and AttentionBlock recomputes its forward in backward
// (gradient checkpointing): the pair of cases shows the memory saved (peak_rss_mb) and the
// time it costs (ms_per_step).
BenchCase unet_train_case(bool use_checkpoint) {
  const int64_t batch = 64, T = 1000;
  std::string name = use_checkpoint ? "unet_train_mnist_b64_checkpoint" : "unet_train_mnist_b64";
  return {name, double(batch), 0, [=]() {
            manual_seed(0);
            lesson02::UNetConfig c;
            c.in_channels = 1, c.model_channels = 32, c.out_channels = 1, c.num_res_blocks = 2;
            c.attention_resolutions = {4}, c.channel_mult = {1, 2, 2}, c.num_classes = 10;
            c.num_heads = 4, c.use_scale_shift_norm = true, c.num_groups = 32;
            c.use_checkpoint = use_checkpoint;
            auto model = std::make_shared<lesson02::UNetModel>(c);
            AdamWOptions options;
            options.lr = 1e-4;
            auto optimizer = std::make_shared<AdamW>(model->named_parameters(), options);
            auto schedule = std::make_shared<NoiseSchedule>(linear_schedule_course(T));
            Tensor x0 = rand({batch, 1, 28, 28}) * 2.f - 1.f;
            Tensor y = randint(0, 10, {batch});
            return Step{nullptr, [=]() {
                          Tensor noise = randn_like(x0);
                          Tensor t = randint(0, T, {batch});
                          std::vector<float> signal, scale;
                          for (float step : t.tolist()) {
                            double ab = schedule->alpha_bar[int64_t(step) + 1];
                            signal.push_back(float(std::sqrt(ab)));
                            scale.push_back(float(std::sqrt(1 - ab)));
                          }
                          Tensor x_t = x0 * from_vector(signal, {batch, 1, 1, 1}) +
                                       noise * from_vector(scale, {batch, 1, 1, 1});
                          Tensor loss = mse_loss(model->forward(x_t, t, y), noise);
                          optimizer->zero_grad();
                          loss.backward();
                          optimizer->step();
                          loss.item();
                        }};
          }};
}

}  // namespace

std::vector<BenchCase> model_cases() {
  return {contextunet_train_case("contextunet_train_sprites_b100", "sprites", 100),
          contextunet_train_case("contextunet_train_mnist_b100", "mnist", 100),
          ddim_sample_case(), unet_train_case(false), unet_train_case(true)};
}

}  // namespace tinydiff::bench
