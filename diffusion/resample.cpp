// Timestep samplers: uniform and loss-aware importance sampling (see resample.hpp).
#include "diffusion/resample.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/ops.hpp"

namespace tinydiff {

ScheduleSampler::ScheduleSampler(int64_t T) : T_(T) {
  TD_CHECK(T >= 1, "ScheduleSampler: T = ", T, " must be at least 1");
}

// batch -> t (B), weights (B)
TimestepSample ScheduleSampler::sample(int64_t batch, Generator* gen, Device device) const {
  TD_CHECK(batch >= 1, "ScheduleSampler::sample: batch = ", batch, " must be at least 1");
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> w = weights(), cdf(w.size());
  double total = 0;
  for (size_t i = 0; i < w.size(); ++i) cdf[i] = total += w[i];
  std::vector<float> steps(batch), importance(batch);
  for (int64_t b = 0; b < batch; ++b) {
    // Inverse CDF: the first step whose cumulative weight exceeds u * total.
    double target = double(g.uniform()) * total;
    size_t t = size_t(std::upper_bound(cdf.begin(), cdf.end(), target) - cdf.begin());
    if (t >= w.size()) t = w.size() - 1;
    steps[b] = float(t);
    importance[b] = float(1.0 / (double(T_) * w[t] / total));  // 1 / (T p_t)
  }
  return {from_vector(steps, {batch}, device), from_vector(importance, {batch}, device)};
}

void ScheduleSampler::update_with_local_losses(const Tensor&, const Tensor&) {}

UniformSampler::UniformSampler(int64_t T) : ScheduleSampler(T) {}

std::vector<double> UniformSampler::weights() const { return std::vector<double>(T_, 1.0); }

LossSecondMomentResampler::LossSecondMomentResampler(int64_t T, int64_t history_per_term,
                                                     double uniform_prob)
    : ScheduleSampler(T), history_per_term_(history_per_term), uniform_prob_(uniform_prob) {
  TD_CHECK(history_per_term >= 1, "LossSecondMomentResampler: history_per_term = ",
           history_per_term, " must be at least 1");
  TD_CHECK(uniform_prob >= 0 && uniform_prob <= 1, "LossSecondMomentResampler: uniform_prob = ",
           uniform_prob, " must be in [0, 1]");
  loss_history_.assign(size_t(T * history_per_term), 0.0);
  loss_counts_.assign(size_t(T), 0);
}

bool LossSecondMomentResampler::warmed_up() const {
  for (int64_t count : loss_counts_)
    if (count < history_per_term_) return false;
  return true;
}

// Nichol & Dhariwal Eq. 18: p_t proportional to sqrt(E[L_t^2]), mixed with uniform_prob / T.
// -> T weights (normalised once warmed up)
std::vector<double> LossSecondMomentResampler::weights() const {
  if (!warmed_up()) return std::vector<double>(T_, 1.0);
  std::vector<double> w(T_);
  double total = 0;
  for (int64_t t = 0; t < T_; ++t) {
    double second_moment = 0;
    for (int64_t k = 0; k < history_per_term_; ++k) {
      double loss = loss_history_[size_t(t * history_per_term_ + k)];
      second_moment += loss * loss / double(history_per_term_);
    }
    total += w[t] = std::sqrt(second_moment);
  }
  if (total == 0) return std::vector<double>(T_, 1.0);  // all losses 0: nothing to prefer
  for (double& v : w) v = v / total * (1 - uniform_prob_) + uniform_prob_ / double(T_);
  return w;
}

// t (B), losses (B)
void LossSecondMomentResampler::update_with_local_losses(const Tensor& t, const Tensor& losses) {
  TD_CHECK(t.dim() == 1 && losses.shape() == t.shape(),
           "update_with_local_losses: t ", str(t.shape()), " and losses ", str(losses.shape()),
           " must both be (B)");
  std::vector<float> steps = t.tolist(), values = losses.tolist();
  std::vector<int64_t> ts(steps.size());
  for (size_t b = 0; b < steps.size(); ++b) {
    TD_CHECK(steps[b] == std::floor(steps[b]), "update_with_local_losses: t[", b, "] = ",
             steps[b], " is not a whole step");
    ts[b] = int64_t(steps[b]);
  }
  update_with_all_losses(ts, std::vector<double>(values.begin(), values.end()));
}

// ts (B), losses (B): each loss joins its step's history, the oldest leaving a full one.
void LossSecondMomentResampler::update_with_all_losses(const std::vector<int64_t>& ts,
                                                       const std::vector<double>& losses) {
  TD_CHECK(ts.size() == losses.size(), "update_with_all_losses: ", ts.size(), " steps but ",
           losses.size(), " losses");
  for (size_t b = 0; b < ts.size(); ++b) {
    int64_t t = ts[b];
    TD_CHECK(t >= 0 && t < T_, "update_with_all_losses: step ", t, " is not in [0, ", T_, ")");
    TD_CHECK(std::isfinite(losses[b]), "update_with_all_losses: the loss at step ", t, " is ",
             losses[b]);
    double* row = &loss_history_[size_t(t * history_per_term_)];
    int64_t& count = loss_counts_[size_t(t)];
    if (count == history_per_term_) {
      std::copy(row + 1, row + history_per_term_, row);
      row[history_per_term_ - 1] = losses[b];
    } else {
      row[count++] = losses[b];
    }
  }
}

// "T H", then per step its count and its H losses, one step per line (exact: %.17g).
std::string LossSecondMomentResampler::save_state() const {
  std::ostringstream out;
  out.precision(17);
  out << T_ << ' ' << history_per_term_ << '\n';
  for (int64_t t = 0; t < T_; ++t) {
    out << loss_counts_[size_t(t)];
    for (int64_t k = 0; k < history_per_term_; ++k)
      out << ' ' << loss_history_[size_t(t * history_per_term_ + k)];
    out << '\n';
  }
  return out.str();
}

void LossSecondMomentResampler::load_state(const std::string& text) {
  std::istringstream in(text);
  int64_t T = -1, H = -1;
  in >> T >> H;
  TD_CHECK(in && T == T_ && H == history_per_term_, "LossSecondMomentResampler::load_state: ",
           "the state is for T = ", T, ", history ", H, " but this sampler has T = ", T_,
           ", history ", history_per_term_);
  std::vector<double> history(loss_history_.size());
  std::vector<int64_t> counts(loss_counts_.size());
  for (int64_t t = 0; t < T_; ++t) {
    in >> counts[size_t(t)];
    for (int64_t k = 0; k < H; ++k) in >> history[size_t(t * H + k)];
    TD_CHECK(in && counts[size_t(t)] >= 0 && counts[size_t(t)] <= H,
             "LossSecondMomentResampler::load_state: bad or truncated row for step ", t);
  }
  loss_history_ = std::move(history);
  loss_counts_ = std::move(counts);
}

std::unique_ptr<ScheduleSampler> create_named_schedule_sampler(const std::string& name,
                                                               int64_t T) {
  if (name == "uniform") return std::make_unique<UniformSampler>(T);
  if (name == "loss-second-moment") return std::make_unique<LossSecondMomentResampler>(T);
  throw_error("create_named_schedule_sampler: unknown sampler '", name,
              "' (expected uniform or loss-second-moment)");
}

}  // namespace tinydiff
