// Training on the GPU against the CPU: the optimizer, EMA and gradient-clipping kernels (and
// their multi-tensor launches), the lesson-01 ContextUnet forward + backward, the kernel
// launches of one training step of each lesson's model, and 50 DDPM training steps of a small
// ContextUnet whose loss curves must agree to 1e-3. Skipped without a GPU.
#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "diffusion/ddpm.hpp"
#include "lessons/01_contextunet/lesson.hpp"
#include "lessons/01_contextunet/model.hpp"
#include "lessons/02_improved_diffusion/unet.hpp"
#include "nn/ema.hpp"
#include "nn/functional.hpp"
#include "nn/optim.hpp"
#include "tests/cuda_parity.hpp"

using namespace tinydiff;
using test::gpu_or_skip;
using test::kElementwiseRtol;
using test::kGemmRtol;
using test::require_device_close;

#define REQUIRE_GPU() \
  if (!gpu_or_skip()) return

namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const NamedTensors&)>;

// A module built with the default generator at seed 1, then moved to `device`: two calls
// give equal weights on two devices.
template <class M, class... Args>
std::shared_ptr<M> make_on(Device device, const Args&... args) {
  manual_seed(1);
  auto model = std::make_shared<M>(args...);
  model->to(device);
  return model;
}

// Three steps of the optimizer on a CPU and a GPU copy of two parameters, from the gradients
// of the same loss; the parameters must agree after every step.
void check_optimizer(const MakeOptimizer& make) {
  Tensor w = test::uniform({40, 30}, -1.f, 1.f, 1), b = test::uniform({30}, -1.f, 1.f, 2);
  Tensor target = test::uniform({40, 30}, -1.f, 1.f, 3, false);
  Tensor w_gpu = w.detach().to(Device::cuda()).requires_grad_();
  Tensor b_gpu = b.detach().to(Device::cuda()).requires_grad_();
  auto cpu = make({{"w", w}, {"b", b}}), gpu = make({{"w", w_gpu}, {"b", b_gpu}});
  Tensor target_gpu = target.to(Device::cuda());
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    cpu->zero_grad();
    gpu->zero_grad();
    (sum(square(w - target)) + sum(b * b * b)).backward();
    (sum(square(w_gpu - target_gpu)) + sum(b_gpu * b_gpu * b_gpu)).backward();
    cpu->step();
    gpu->step();
    require_device_close(w_gpu, w, kElementwiseRtol, "w");
    require_device_close(b_gpu, b, kElementwiseRtol, "b");
  }
}

// Each step's DDPM loss (Ho et al. 2020, Algorithm 1) of a small ContextUnet trained with
// Adam on `device`. The data, timesteps and noise are drawn on the CPU and moved, so both
// devices train on identical numbers.
// Adam's lr is 1e-4, not the default 1e-3: at 1e-3 this small net's training is chaotic. On
// the CPU alone, scaling each initial weight by (1 + 1e-7 u), u in [-1, 1], changes the loss
// by 1.1e-3 (relative) within 50 steps, so no two summation orders could agree to 1e-3; at
// 1e-4 a 1e-5 change stays below 2.1e-5 (measured with this function's exact setup).
std::vector<double> ddpm_losses(Device device, int steps) {
  ContextUnetConfig config;
  config.in_channels = 1, config.n_feat = 8, config.n_cfeat = 3, config.height = 8;
  auto model = make_on<ContextUnet>(device, config);
  Adam optimizer(model->named_parameters(), AdamOptions{1e-4});
  NoiseSchedule schedule = linear_schedule_course(100);
  Generator data(11);
  Tensor images = rand({16, 1, 8, 8}, &data) * 2.f - 1.f;
  Tensor labels = one_hot(randint(0, 3, {16}, &data), 3);
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    Generator draws(100 + step);
    Tensor x0 = narrow(images, 0, step % 2 * 8, 8), c = narrow(labels, 0, step % 2 * 8, 8);
    Tensor t = randint(1, schedule.T + 1, {8}, &draws), noise = randn({8, 1, 8, 8}, &draws);
    Tensor x_t = q_sample(x0, t, noise, schedule);
    Tensor eps = model->forward(x_t.to(device), (t / float(schedule.T)).to(device), c.to(device));
    Tensor loss = mse_loss(eps, noise.to(device));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item());
  }
  return losses;
}

// 130 parameters of mixed sizes (1 to 70000 numbers: one block to many grid-stride turns) on
// `device`, each with a gradient, from fixed seeds: three launches' worth of multi-tensor
// batches (64 tensors each).
struct ManyParameters : Module {
  std::vector<Tensor> tensors = std::vector<Tensor>(130);
  explicit ManyParameters(Device device) {
    for (size_t k = 0; k < tensors.size(); ++k) {
      const int64_t n = k == 7 ? 70000 : 1 + (k * 997) % 3000;
      register_parameter("p" + std::to_string(k), &tensors[k],
                         test::uniform({n}, -1.f, 1.f, 100 + k).detach().to(device));
      tensors[k].set_grad(test::uniform({n}, -1.f, 1.f, 1000 + k, false).to(device));
    }
  }
  std::string type_name() const override { return "ManyParameters"; }
};

// The kernel launches, cuBLAS calls and device copies that `work` hands the GPU.
int64_t launches_of(const std::function<void()>& work) {
  const int64_t before = device_launches(Device::cuda());
  work();
  return device_launches(Device::cuda()) - before;
}

// Those of a training step's second run (the first also makes the optimizer's state), printed.
int64_t training_step_launches(const char* model, const std::function<void()>& step) {
  step();
  const int64_t launches = launches_of(step);
  MESSAGE(std::string(model), " training step: ", launches, " kernel launches, cuBLAS calls and copies");
  return launches;
}

}  // namespace

TEST_CASE("cuda optim: SGD with momentum, Nesterov and weight decay") {
  REQUIRE_GPU();
  SGDOptions options;
  options.lr = 0.05, options.momentum = 0.9, options.nesterov = true, options.weight_decay = 0.01;
  check_optimizer([&](const NamedTensors& p) { return std::make_unique<SGD>(p, options); });
  options.momentum = 0, options.nesterov = false;  // the momentum-free loop
  check_optimizer([&](const NamedTensors& p) { return std::make_unique<SGD>(p, options); });
}

TEST_CASE("cuda optim: Adam with L2 decay and AdamW") {
  REQUIRE_GPU();
  AdamOptions adam;
  adam.lr = 0.01, adam.weight_decay = 0.1;
  check_optimizer([&](const NamedTensors& p) { return std::make_unique<Adam>(p, adam); });
  AdamWOptions adamw;
  adamw.lr = 0.01;
  check_optimizer([&](const NamedTensors& p) { return std::make_unique<AdamW>(p, adamw); });
}

TEST_CASE("cuda optim: clip_grad_norm_ (sum of squares, then scaling) and the EMA") {
  REQUIRE_GPU();
  auto cpu = make_on<Linear>(Device::cpu(), 300, 7), gpu = make_on<Linear>(Device::cuda(), 300, 7);
  SGD cpu_sgd(cpu->named_parameters(), SGDOptions{}), gpu_sgd(gpu->named_parameters(), SGDOptions{});
  EMA cpu_ema(*cpu, 0.9), gpu_ema(*gpu, 0.9);
  Tensor x = test::uniform({5, 300}, -1.f, 1.f, 4, false);
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    cpu_sgd.zero_grad();
    gpu_sgd.zero_grad();
    sum(square((*cpu)(x))).backward();
    sum(square((*gpu)(x.to(Device::cuda())))).backward();
    float cpu_norm = clip_grad_norm_(cpu->parameters(), 0.5);
    float gpu_norm = clip_grad_norm_(gpu->parameters(), 0.5);
    CHECK(cpu_norm > 0.5f);  // so that the gradients were scaled
    CHECK(std::fabs(gpu_norm - cpu_norm) <= kGemmRtol * cpu_norm);
    require_device_close(gpu->weight.grad(), cpu->weight.grad(), kGemmRtol, "clipped weight grad");
    cpu_sgd.step();
    gpu_sgd.step();
    cpu_ema.update(*cpu);
    gpu_ema.update(*gpu);
  }
  auto cpu_shadows = cpu_ema.state_dict(), gpu_shadows = gpu_ema.state_dict();
  for (const auto& [name, shadow] : cpu_shadows)
    require_device_close(gpu_shadows.at(name), shadow, kGemmRtol, "EMA " + name);
}

// The optimizers and the EMA update all of a model's tensors in one multi-tensor launch per 64
// tensors (tensor/cuda/optim.cu); clip_grad_norm_ reads one number back to the host.
TEST_CASE("cuda optim: multi-tensor updates of 130 tensors, one launch per 64 of them") {
  REQUIRE_GPU();
  SGDOptions sgd;
  sgd.lr = 0.05, sgd.momentum = 0.9;
  AdamWOptions adamw;
  adamw.lr = 0.01;
  std::vector<std::pair<const char*, MakeOptimizer>> optimizers = {
      {"SGD", [&](const NamedTensors& p) { return std::make_unique<SGD>(p, sgd); }},
      {"AdamW", [&](const NamedTensors& p) { return std::make_unique<AdamW>(p, adamw); }}};
  for (const auto& [kind, make] : optimizers) {
    CAPTURE(kind);
    ManyParameters cpu_model(Device::cpu()), gpu_model(Device::cuda());
    auto cpu = make(cpu_model.named_parameters()), gpu = make(gpu_model.named_parameters());
    for (int step = 1; step <= 2; ++step) {  // the first step also makes the state buffers
      cpu->step();
      int64_t launches = launches_of([&] { gpu->step(); });
      if (step == 2) CHECK(launches == 3);
    }
    for (size_t k = 0; k < cpu_model.tensors.size(); ++k)
      require_device_close(gpu_model.tensors[k], cpu_model.tensors[k], kElementwiseRtol,
                           "parameter " + std::to_string(k));
  }
  ManyParameters cpu_model(Device::cpu()), gpu_model(Device::cuda());
  EMA cpu_ema(cpu_model, 0.9), gpu_ema(gpu_model, 0.9);
  float cpu_norm = clip_grad_norm_(cpu_model.parameters(), 1.0), gpu_norm = 0;
  // 3 launches of partial sums, their total, its copy to the host, 3 launches of scaling.
  CHECK(launches_of([&] { gpu_norm = clip_grad_norm_(gpu_model.parameters(), 1.0); }) == 8);
  CHECK(std::fabs(gpu_norm - cpu_norm) <= kGemmRtol * cpu_norm);
  SGD cpu_sgd(cpu_model.named_parameters(), SGDOptions{});
  SGD gpu_sgd(gpu_model.named_parameters(), SGDOptions{});
  cpu_sgd.step();  // so that the EMA has something to average
  gpu_sgd.step();
  cpu_ema.update(cpu_model);
  CHECK(launches_of([&] { gpu_ema.update(gpu_model); }) == 3);
  auto cpu_shadows = cpu_ema.state_dict(), gpu_shadows = gpu_ema.state_dict();
  for (size_t k = 0; k < cpu_model.tensors.size(); ++k) {
    const std::string name = "p" + std::to_string(k);
    require_device_close(gpu_model.tensors[k].grad(), cpu_model.tensors[k].grad(), kGemmRtol,
                         "clipped gradient " + name);
    require_device_close(gpu_shadows.at(name), cpu_shadows.at(name), kElementwiseRtol,
                         "EMA " + name);
  }
}

TEST_CASE("cuda ContextUnet: forward and backward (training mode) match the CPU") {
  REQUIRE_GPU();
  ContextUnetConfig config;  // the sprites model at a smaller width
  config.in_channels = 3, config.n_feat = 16, config.n_cfeat = 5, config.height = 16;
  auto cpu = make_on<ContextUnet>(Device::cpu(), config);
  auto gpu = make_on<ContextUnet>(Device::cuda(), config);
  Generator gen(2);
  Tensor x = randn({4, 3, 16, 16}, &gen), t = rand({4}, &gen);
  Tensor c = one_hot(randint(0, 5, {4}, &gen), 5), target = randn({4, 3, 16, 16}, &gen);
  Tensor cpu_eps = cpu->forward(x, t, c);
  Tensor gpu_eps = gpu->forward(x.to(Device::cuda()), t.to(Device::cuda()), c.to(Device::cuda()));
  require_device_close(gpu_eps, cpu_eps, kGemmRtol, "eps");
  mse_loss(cpu_eps, target).backward();
  mse_loss(gpu_eps, target.to(Device::cuda())).backward();
  // Through ~20 layers with batch statistics, two float32 summation orders drift apart by a
  // few 1e-5 in the gradients (as CPU vs PyTorch in tests/test_contextunet.cpp): 1e-3 holds.
  // The conv biases before BatchNorm have a true gradient of 0 (test::is_bias_before_batch_norm).
  auto gpu_params = gpu->named_parameters();
  auto cpu_params = cpu->named_parameters();
  std::map<std::string, Tensor> cpu_grads;
  for (const auto& [key, p] : cpu_params) cpu_grads[key] = p.grad();
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const std::string& key = cpu_params[i].first;
    const Tensor& gpu_grad = gpu_params[i].second.grad();
    if (test::is_bias_before_batch_norm(key))
      test::check_negligible_bias_grad(gpu_grad, cpu_grads[key],
                                       cpu_grads[key.substr(0, key.size() - 4) + "weight"], key);
    else
      require_device_close(gpu_grad, cpu_grads[key], 1e-3, "d " + key);
  }
  auto gpu_buffers = gpu->named_buffers();
  auto cpu_buffers = cpu->named_buffers();
  for (size_t i = 0; i < cpu_buffers.size(); ++i)
    require_device_close(gpu_buffers[i].second, cpu_buffers[i].second, kGemmRtol, cpu_buffers[i].first);
}

// Each kernel launch costs a few microseconds whatever it computes, which at the lessons'
// sizes weighs as much as the FLOPs (tests/bench/README.md). These count one training step of
// each lesson's model and fail if it grows past the count measured after the launch work of
// tests/bench/README.md (multi-tensor optimizers, gradients kept, BatchNorm's rstd in its
// statistics kernel). The counts depend on the layers, not on the widths.
TEST_CASE("cuda launches: one ContextUnet training step (lesson 01) makes at most 478") {
  REQUIRE_GPU();
  ContextUnetConfig config;
  config.in_channels = 3, config.n_feat = 16, config.n_cfeat = 5, config.height = 16;
  auto model = make_on<ContextUnet>(Device::cuda(), config);
  Adam optimizer(model->named_parameters(), AdamOptions{});
  NoiseSchedule schedule = linear_schedule_course(500);
  Generator gen(3);
  Tensor x0 = (rand({2, 3, 16, 16}, &gen) * 2.f - 1.f).to(Device::cuda());
  Tensor c = one_hot(randint(0, 5, {2}, &gen), 5).to(Device::cuda());
  auto step = [&] {
    Tensor loss = diffusion_loss(*model, x0, c, schedule, 0.1, false);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  };
  CHECK(training_step_launches("ContextUnet", step) <= 478);
}

// The UNet of the unet_train_mnist_b64 benchmark at a smaller width, with its L_simple step.
TEST_CASE("cuda launches: one UNet training step (lesson 02) makes at most 1480") {
  REQUIRE_GPU();
  lesson02::UNetConfig config;
  config.in_channels = 1, config.model_channels = 8, config.out_channels = 1;
  config.num_res_blocks = 2, config.attention_resolutions = {4}, config.channel_mult = {1, 2, 2};
  config.num_classes = 10, config.num_heads = 4, config.use_scale_shift_norm = true;
  config.num_groups = 8;
  auto model = make_on<lesson02::UNetModel>(Device::cuda(), config);
  AdamW optimizer(model->named_parameters(), AdamWOptions{});
  Generator gen(4);
  Tensor x0 = (rand({2, 1, 28, 28}, &gen) * 2.f - 1.f).to(Device::cuda());
  Tensor y = randint(0, 10, {2}, &gen).to(Device::cuda());
  Tensor signal = rand({1000}, &gen).to(Device::cuda());  // stand-ins for sqrt(alpha_bar_t)
  Tensor scale = rand({1000}, &gen).to(Device::cuda());   // and sqrt(1 - alpha_bar_t)
  auto step = [&] {
    Tensor noise = randn_like(x0);
    Tensor t = randint(0, 1000, {2}, nullptr, Device::cuda());
    Tensor x_t = x0 * reshape(index_select(signal, 0, t), {2, 1, 1, 1}) +
                 noise * reshape(index_select(scale, 0, t), {2, 1, 1, 1});
    Tensor loss = mse_loss(model->forward(x_t, t, y), noise);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  };
  CHECK(training_step_launches("UNet", step) <= 1480);
}

TEST_CASE("cuda training: 50 DDPM steps of a small ContextUnet, loss curves agree to 1e-3") {
  REQUIRE_GPU();
  std::vector<double> cpu = ddpm_losses(Device::cpu(), 50), gpu = ddpm_losses(Device::cuda(), 50);
  for (size_t step = 0; step < cpu.size(); ++step) {
    CAPTURE(step);
    REQUIRE(std::isfinite(gpu[step]));
    CHECK(std::fabs(gpu[step] - cpu[step]) <= 1e-3 * std::fabs(cpu[step]));
  }
}
