// Learning-rate schedules (values at chosen steps against their formulas) and the EMA of a
// model's parameters (warm-up decay, update rule, copy/swap, state_dict, errors).
#include <cmath>

#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

namespace {

doctest::Approx exactly(double v) { return doctest::Approx(v).epsilon(1e-12); }

// Two parameters and a buffer (which the EMA leaves alone).
struct TwoParams : Module {
  Tensor a, b, count;
  TwoParams(std::vector<float> a_values, float b_value, const char* b_name = "b") {
    register_parameter("a", &a, from_vector(a_values, {int64_t(a_values.size())}));
    register_parameter(b_name, &b, from_vector({b_value}, {1}));
    register_buffer("count", &count, zeros({1}));
  }
  std::string type_name() const override { return "TwoParams"; }
};

// Sets a parameter's values in place, as an optimizer step does.
void assign(const Tensor& p, std::vector<float> values) {
  std::copy(values.begin(), values.end(), p.cpu_data());
}

}  // namespace

// ---- learning-rate schedules ----

TEST_CASE("constant and linear-decay schedules") {
  LRSchedule constant = constant_lr(3e-4);
  CHECK(constant(0) == 3e-4);
  CHECK(constant(123456) == 3e-4);
  // The course: lr = lr0 (1 - ep / n_epoch).
  LRSchedule linear = linear_decay_lr(1e-3, 100);
  CHECK(linear(0) == exactly(1e-3));
  CHECK(linear(25) == exactly(1e-3 * 0.75));
  CHECK(linear(99) == exactly(1e-5));
  CHECK(linear(100) == 0.0);
  CHECK(linear(500) == 0.0);
}

TEST_CASE("warm-up then constant: base_lr (step + 1) / W during the warm-up") {
  LRSchedule s = warmup_constant_lr(2e-4, 10);
  CHECK(s(0) == exactly(2e-5));
  CHECK(s(4) == exactly(1e-4));
  CHECK(s(9) == exactly(2e-4));
  CHECK(s(10) == exactly(2e-4));
  CHECK(s(100000) == exactly(2e-4));
  CHECK(warmup_constant_lr(2e-4, 0)(0) == exactly(2e-4));
}

TEST_CASE("cosine decay: min_lr + (base_lr - min_lr) (1 + cos(pi t)) / 2, with optional warm-up") {
  LRSchedule plain = cosine_lr(1.0, 100);
  CHECK(plain(0) == exactly(1.0));
  CHECK(plain(25) == exactly((1 + std::cos(M_PI / 4)) / 2));
  CHECK(plain(50) == exactly(0.5));
  CHECK(plain(100) == exactly(0.0));
  CHECK(plain(250) == exactly(0.0));

  LRSchedule warm = cosine_lr(1.0, 110, 10, 0.1);
  CHECK(warm(0) == exactly(0.1));  // warm-up from base_lr / W
  CHECK(warm(4) == exactly(0.5));
  CHECK(warm(9) == exactly(1.0));
  CHECK(warm(10) == exactly(1.0));  // the cosine starts at t = 0
  CHECK(warm(60) == exactly(0.1 + 0.9 * 0.5));
  CHECK(warm(85) == exactly(0.1 + 0.9 * (1 + std::cos(0.75 * M_PI)) / 2));
  CHECK(warm(110) == exactly(0.1));
  CHECK(warm(1000) == exactly(0.1));
}

TEST_CASE("make_lr_schedule picks a schedule by name") {
  CHECK(make_lr_schedule("constant", 0.5, 10)(7) == 0.5);
  CHECK(make_lr_schedule("linear", 0.5, 10)(5) == exactly(0.25));
  CHECK(make_lr_schedule("warmup", 0.5, 10, 4)(1) == exactly(0.25));
  CHECK(make_lr_schedule("cosine", 0.5, 10, 0)(5) == exactly(0.25));
  CHECK_THROWS_WITH_AS(make_lr_schedule("step", 0.5, 10),
                       doctest::Contains("unknown schedule 'step' (expected constant, linear"),
                       Error);
}

TEST_CASE("schedules refuse bad arguments, naming them") {
  CHECK_THROWS_WITH_AS(cosine_lr(1e-3, 100, 100),
                       doctest::Contains("cosine_lr: need 0 <= warmup_steps < total_steps, got "
                                         "warmup_steps 100 and total_steps 100"),
                       Error);
  CHECK_THROWS_WITH_AS(cosine_lr(1e-3, 100, 0, 0.5),
                       doctest::Contains("min_lr must be in [0, base_lr = 0.001], got 0.5"), Error);
  CHECK_THROWS_WITH_AS(linear_decay_lr(1e-3, 0),
                       doctest::Contains("linear_decay_lr: total_steps must be > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(constant_lr(-1), doctest::Contains("must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(constant_lr(1)(-3), doctest::Contains("step must be >= 0, got -3"), Error);
  LRSchedule hand_made;
  hand_made.kind = LRSchedule::Kind::Linear;
  CHECK_THROWS_WITH_AS(hand_made(0), doctest::Contains("linear decay needs total_steps > 0"),
                       Error);
}

// ---- EMA ----

TEST_CASE("EMA decay warms up as (1 + n) / (10 + n) and saturates at max_decay") {
  CHECK(ema_decay(1, 0.9999) == exactly(2.0 / 11));
  CHECK(ema_decay(10, 0.9999) == exactly(11.0 / 20));
  CHECK(ema_decay(80, 0.9999) == exactly(0.9));
  CHECK(ema_decay(1000, 0.99) == exactly(0.99));
}

TEST_CASE("EMA update: shadow -= (1 - decay) (shadow - p), starting from the parameters") {
  TwoParams model({1, 2}, 3);
  EMA ema(model, 0.9);
  CHECK(ema.state_dict().at("a").tolist() == std::vector<float>{1, 2});
  CHECK(ema.state_dict().count("count") == 0);  // buffers are not averaged

  assign(model.a, {3, 4});
  ema.update(model);  // n = 1: decay 2/11
  double d1 = 2.0 / 11;
  double a0 = 1 - (1 - d1) * (1 - 3), a1 = 2 - (1 - d1) * (2 - 4);
  assign(model.a, {5, 6});
  ema.update(model);  // n = 2: decay 3/12
  double d2 = 3.0 / 12;
  a0 -= (1 - d2) * (a0 - 5);
  a1 -= (1 - d2) * (a1 - 6);
  std::vector<float> shadow = ema.state_dict().at("a").tolist();
  CHECK(shadow[0] == doctest::Approx(a0).epsilon(1e-6));
  CHECK(shadow[1] == doctest::Approx(a1).epsilon(1e-6));
  CHECK(ema.state_dict().at("b").item() == 3.f);  // b never moved
  CHECK(ema.num_updates() == 2);

  for (int i = 0; i < 300; ++i) ema.update(model);  // decay 0.9 from n = 80 on
  CHECK(ema.state_dict().at("a").tolist()[0] == doctest::Approx(5).epsilon(1e-5));
}

TEST_CASE("EMA copy_to and swap write into the model's own tensors") {
  TwoParams model({1, 2}, 3);
  EMA ema(model, 0.5);
  assign(model.a, {9, 9});
  ema.update(model);  // decay 2/11: shadow a = 1 + 9/11 * 8, ...
  std::vector<float> shadow = ema.state_dict().at("a").tolist();
  const float* storage = model.a.data();

  {
    EMAWeights use_ema(ema, model);
    CHECK(ema.swapped());
    CHECK(model.a.data() == storage);
    CHECK(model.a.tolist() == shadow);
    CHECK_THROWS_WITH_AS(ema.update(model),
                         doctest::Contains("EMA::update: the EMA weights are swapped"), Error);
    CHECK_THROWS_WITH_AS(ema.state_dict(), doctest::Contains("swapped"), Error);
  }
  CHECK_FALSE(ema.swapped());
  CHECK(model.a.tolist() == std::vector<float>{9, 9});
  CHECK(ema.state_dict().at("a").tolist() == shadow);

  ema.copy_to(model);
  CHECK(model.a.data() == storage);
  CHECK(model.a.tolist() == shadow);
  CHECK(model.a.requires_grad());
}

TEST_CASE("EMA state_dict round trip continues identically") {
  TwoParams model({1, 2}, 3);
  EMA ema(model, 0.99);
  assign(model.a, {4, -4});
  ema.update(model);
  ema.update(model);

  TwoParams other({0, 0}, 0);
  EMA restored(other, 0.99);
  restored.load_state_dict(ema.state_dict());
  CHECK(restored.num_updates() == 2);
  assign(model.a, {7, 1});
  ema.update(model);
  restored.update(model);
  for (const char* key : {"a", "b", "num_updates"})
    CHECK(restored.state_dict().at(key).tolist() == ema.state_dict().at(key).tolist());
}

TEST_CASE("EMA refuses a different model and bad state, naming the key") {
  TwoParams model({1, 2}, 3);
  EMA ema(model);
  TwoParams renamed({1, 2}, 3, "c");
  CHECK_THROWS_WITH_AS(
      ema.update(renamed),
      doctest::Contains("EMA::update: parameter 1 of the model is 'c' but the EMA's is 'b'"),
      Error);
  TwoParams longer({1, 2, 3}, 3);
  CHECK_THROWS_WITH_AS(
      ema.copy_to(longer),
      doctest::Contains("EMA::copy_to: parameter 'a' is [3] but its shadow is [2]"), Error);

  std::map<std::string, Tensor> good = ema.state_dict();
  auto bad = good;
  bad.erase("b");
  CHECK_THROWS_WITH_AS(ema.load_state_dict(bad), doctest::Contains("no shadow for parameter 'b'"),
                       Error);
  bad = good;
  bad["a"] = zeros({5});
  CHECK_THROWS_WITH_AS(ema.load_state_dict(bad),
                       doctest::Contains("'a' has shape [5] but the parameter has shape [2]"),
                       Error);
  bad = good;
  bad["extra"] = zeros({1});
  CHECK_THROWS_WITH_AS(ema.load_state_dict(bad), doctest::Contains("unexpected key 'extra'"),
                       Error);
  bad = good;
  bad.erase("num_updates");
  CHECK_THROWS_WITH_AS(ema.load_state_dict(bad), doctest::Contains("no scalar 'num_updates'"),
                       Error);
  CHECK_THROWS_WITH_AS(EMA(model, 1.5), doctest::Contains("max_decay must be in [0, 1], got 1.5"),
                       Error);
}
