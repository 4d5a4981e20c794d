// Model-level benchmark cases: one whole training step (forward, loss, backward, optimizer
// update) of each lesson model, and a DDIM sampling run. The data are fixed random tensors
// (no loading), so only the model's compute is timed.
#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "diffusion/sampler.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/02_improved_diffusion/unet.hpp"
#include "nn/functional.hpp"
#include "nn/optim.hpp"
#include "tests/bench/bench.hpp"

namespace tinydiff::bench {

namespace {

// The FLOPs of one forward pass, counted layer by layer from the shapes Module::trace records
// while `forward` runs: a Conv2d, Conv1d or Linear costs 2 * numel(output) * (the weights of one
// output channel), a ConvTranspose2d (the adjoint of a convolution) 2 * numel(input) * (the
// weights of one input channel), and an AttentionBlock's two batched products (Q K^T and A V)
// 4 * N * T^2 * C for T positions of C channels. Norms, activations and additions are left
// out (a few percent). tests/bench/bench_torch.py counts PyTorch's model the same way with
// forward hooks, so both sides quote the same FLOPs per step.
double traced_forward_flops(const Module& model, const std::function<void()>& forward) {
  std::map<std::string, Tensor> params;
  for (const auto& [name, p] : model.named_parameters()) params[name] = p;
  double flops = 0;
  for (const Module::TraceEntry& e : Module::trace(forward)) {
    auto weight = params.find(e.name + ".weight");
    double per_channel = weight == params.end() ? 0
                             : double(weight->second.numel()) / weight->second.size(0);
    if (e.type == "Conv2d" || e.type == "Conv1d" || e.type == "Linear")
      flops += 2 * double(numel_of(e.output)) * per_channel;
    else if (e.type == "ConvTranspose2d")
      flops += 2 * double(numel_of(e.input)) * per_channel;
    else if (e.type == "AttentionBlock")
      flops += 4 * double(e.input[0]) * std::pow(numel_of(e.input) / e.input[0] / e.input[1], 2) *
               e.input[1];
  }
  return flops;
}

// A training step costs about 3 forwards: the backward computes, per layer, an input gradient
// and a weight gradient, each a product of the forward's size.
double train_step_flops(const Module& model, const std::function<void()>& forward) {
  NoGradGuard no_grad;
  return 3 * traced_forward_flops(model, forward);
}

// The ContextUnet training step of lesson 01 (n_feat 64): diffusion_loss, backward, Adam.
// On the GPU the step ends with loss.item(), which waits for every kernel, so the wall time
// measured around it is the GPU's time.
BenchCase contextunet_train_case(const std::string& name, const std::string& dataset,
                                 int64_t batch, Device device = Device::cpu()) {
  ContextUnetConfig config = model_config(dataset, 64, false);
  return {name, double(batch), 0, [=]() {
            manual_seed(0);
            auto model = std::make_shared<ContextUnet>(config);
            model->to(device);
            int64_t side = config.height;
            Tensor x0 = rand({batch, config.in_channels, side, side}, nullptr, device) * 2.f - 1.f;
            Tensor context =
                one_hot(randint(0, config.n_cfeat, {batch}, nullptr, device), config.n_cfeat);
            Tensor t = full({batch}, 0.5f, device);
            double flops = train_step_flops(*model, [&]() { model->forward(x0, t, context); });
            auto optimizer = std::make_shared<Adam>(model->named_parameters(), AdamOptions{1e-3});
            NoiseSchedule schedule = linear_schedule_course(500);
            return Step{nullptr,
                        [=]() {
                          Tensor loss = diffusion_loss(*model, x0, context, schedule, 0.1, false);
                          optimizer->zero_grad();
                          loss.backward();
                          optimizer->step();
                          loss.item();
                        },
                        flops};
          },
          device};
}

// 20 DDIM steps (one model call each, no guidance) for 50 sprites, in eval mode.
BenchCase ddim_sample_case() {
  ContextUnetConfig config = model_config("sprites", 64, false);
  const int64_t batch = 50, steps = 20;
  return {"ddim_sample_sprites", double(batch), 0, [=]() {
            manual_seed(0);
            auto model = std::make_shared<ContextUnet>(config);
            model->eval();
            NoiseSchedule schedule = linear_schedule_course(500);
            Tensor context = class_contexts(batch, -1, config.n_cfeat).first;
            Tensor x = zeros({batch, 3, 16, 16}), t = full({batch}, 0.5f);
            NoGradGuard no_grad;
            double flops = steps * traced_forward_flops(*model, [&]() {
                             model->forward(x, t, context);
                           });
            return Step{nullptr,
                        [=]() {
                          SampleOptions options;
                          options.ddim_steps = steps;
                          sample_ddim(eps_model(*model), {batch, 3, 16, 16}, context, schedule,
                                      options);
                        },
                        flops};
          }};
}

// improved-diffusion's UNet on MNIST: model_channels 32, channel_mult (1, 2, 2), 2 res blocks,
// attention at 7x7 (4 heads), scale-shift norm, class-conditional; L_simple with AdamW.
// With use_checkpoint, every ResBlock and AttentionBlock recomputes its forward in backward
// (gradient checkpointing): the pair of cases shows the memory saved (peak_rss_mb) and the
// time it costs (ms_per_step).
BenchCase unet_train_case(const std::string& name, bool use_checkpoint,
                          Device device = Device::cpu()) {
  const int64_t batch = 64, T = 1000;
  return {name, double(batch), 0, [=]() {
            manual_seed(0);
            lesson02::UNetConfig c;
            c.in_channels = 1, c.model_channels = 32, c.out_channels = 1, c.num_res_blocks = 2;
            c.attention_resolutions = {4}, c.channel_mult = {1, 2, 2}, c.num_classes = 10;
            c.num_heads = 4, c.use_scale_shift_norm = true, c.num_groups = 32;
            c.use_checkpoint = use_checkpoint;
            auto model = std::make_shared<lesson02::UNetModel>(c);
            model->to(device);
            Tensor x0 = rand({batch, 1, 28, 28}, nullptr, device) * 2.f - 1.f;
            Tensor y = randint(0, 10, {batch}, nullptr, device);
            double flops = train_step_flops(*model, [&]() {
              model->forward(x0, full({batch}, 500.f, device), y);
            });
            AdamWOptions options;
            options.lr = 1e-4;
            auto optimizer = std::make_shared<AdamW>(model->named_parameters(), options);
            // sqrt(alpha_bar_{t+1}) and sqrt(1 - alpha_bar_{t+1}) for t = 0..T-1, on the device.
            NoiseSchedule schedule = linear_schedule_course(T);
            std::vector<float> signal, scale;
            for (int64_t t = 1; t <= T; ++t) {
              signal.push_back(float(std::sqrt(schedule.alpha_bar[t])));
              scale.push_back(float(std::sqrt(1 - schedule.alpha_bar[t])));
            }
            Tensor signal_t = from_vector(signal, {T}, device);
            Tensor scale_t = from_vector(scale, {T}, device);
            return Step{nullptr,
                        [=]() {
                          Tensor noise = randn_like(x0);
                          Tensor t = randint(0, T, {batch}, nullptr, device);
                          Tensor x_t =
                              x0 * reshape(index_select(signal_t, 0, t), {batch, 1, 1, 1}) +
                              noise * reshape(index_select(scale_t, 0, t), {batch, 1, 1, 1});
                          Tensor loss = mse_loss(model->forward(x_t, t, y), noise);
                          optimizer->zero_grad();
                          loss.backward();
                          optimizer->step();
                          loss.item();
                        },
                        flops};
          },
          device};
}

}  // namespace

std::vector<BenchCase> model_cases() {
  std::vector<BenchCase> cases = {
      contextunet_train_case("contextunet_train_sprites_b100", "sprites", 100),
      contextunet_train_case("contextunet_train_mnist_b100", "mnist", 100), ddim_sample_case(),
      unet_train_case("unet_train_mnist_b64", false),
      unet_train_case("unet_train_mnist_b64_checkpoint", true)};
#if defined(TINYDIFF_CUDA) && !defined(TINYDIFF_CUDA_EMULATED)
  // The GPU cases of the CUDA issue: lesson 01's step at batch 100 and 512, lesson 02's step.
  // Not in the emulated build (make CUDA=emu): its kernels run on the CPU, one thread at a time.
  Device gpu = Device::cuda();
  cases.push_back(contextunet_train_case("contextunet_train_sprites_b100_cuda", "sprites", 100, gpu));
  cases.push_back(contextunet_train_case("contextunet_train_sprites_b512_cuda", "sprites", 512, gpu));
  cases.push_back(unet_train_case("unet_train_mnist_b64_cuda", false, gpu));
#endif
  return cases;
}

}  // namespace tinydiff::bench
