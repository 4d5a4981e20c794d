// Timestep samplers for training (Nichol & Dhariwal 2021, Sec. 3.3, "Improving the
// Log-likelihood"): draw each sample's step t from a distribution p_t and weight its loss by
// 1 / (T p_t), so that the weighted loss is an unbiased estimate of the uniform average
//   E_{t ~ p}[L_t / (T p_t)] = (1/T) sum_t L_t.
// Sampling the steps whose losses vary most more often lowers the variance of L_vlb (Eq. 18).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace tinydiff {

struct TimestepSample {
  Tensor t;        // (B): whole step indices in [0, T)
  Tensor weights;  // (B): the importance weights 1 / (T p_t)
};

class ScheduleSampler {
 public:
  virtual ~ScheduleSampler() = default;

  // -> T non-negative weights, proportional to p_t.
  virtual std::vector<double> weights() const = 0;

  // -> B steps t ~ p (p = weights / sum) and their weights 1 / (T p_t). Draws B uniforms from
  // gen (the default generator when null), one per sample, by inverting p's CDF.
  TimestepSample sample(int64_t batch, Generator* gen = nullptr,
                        Device device = Device::cpu()) const;

  // t (B) step indices, losses (B) their losses (detached) -> records them. A no-op for
  // samplers that do not learn from the losses.
  virtual void update_with_local_losses(const Tensor& t, const Tensor& losses);

  int64_t num_timesteps() const { return T_; }

 protected:
  explicit ScheduleSampler(int64_t T);
  int64_t T_;
};

// p_t = 1 / T: every step equally often, all weights 1.
class UniformSampler : public ScheduleSampler {
 public:
  explicit UniformSampler(int64_t T);
  std::vector<double> weights() const override;
};

// Nichol & Dhariwal Eq. 18: p_t proportional to sqrt(E[L_t^2]), over the last
// `history_per_term` losses seen at each t, mixed with a little uniform:
//   p_t = (1 - uniform_prob) sqrt(E[L_t^2]) / sum_s sqrt(E[L_s^2]) + uniform_prob / T.
// Uniform until every t has a full history ("warmed up").
class LossSecondMomentResampler : public ScheduleSampler {
 public:
  explicit LossSecondMomentResampler(int64_t T, int64_t history_per_term = 10,
                                     double uniform_prob = 0.001);
  std::vector<double> weights() const override;
  void update_with_local_losses(const Tensor& t, const Tensor& losses) override;
  // The same from host values: appends losses[i] to the history of step ts[i], dropping the
  // oldest once the history is full.
  void update_with_all_losses(const std::vector<int64_t>& ts, const std::vector<double>& losses);
  bool warmed_up() const;

  // The history as text (for TrainState::extra, so that a resumed run is exact) and back;
  // load_state throws on a text of another T or history length.
  std::string save_state() const;
  void load_state(const std::string& text);

 private:
  int64_t history_per_term_;
  double uniform_prob_;
  std::vector<double> loss_history_;  // (T, history_per_term), row t oldest first
  std::vector<int64_t> loss_counts_;  // (T): how many losses each row holds
};

// "uniform" -> UniformSampler, "loss-second-moment" -> LossSecondMomentResampler (defaults).
std::unique_ptr<ScheduleSampler> create_named_schedule_sampler(const std::string& name, int64_t T);

}  // namespace tinydiff
