// Optimizers and gradient clipping against torch.optim (fixture: tests/ref/optim.py), their
// state_dict, in-place updates and error messages.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "nn/optim.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using tinydiff::test::fixture;
using tinydiff::test::fixture_tensor;
using tinydiff::test::require_close;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const NamedTensors&)>;
const char* const kParams[] = {"weight", "bias"};
// torch.optim works in float32 too; only a few roundings differ (its vectorised add fuses a
// multiply-add). Elements near 0 come from cancelling terms as large as the tensor's largest
// element, so the tolerance is 1e-6 relative to the element or to that largest magnitude.
void require_torch_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  double scale = 0;
  for (float v : expected.tolist()) scale = std::max(scale, double(std::fabs(v)));
  require_close(actual, expected, 1e-6, 1e-6 * scale, what);
}

bool has_key(const std::string& key) { return fixture("optim").tensors.count(key) > 0; }

// The case's initial parameters, as fresh leaves.
NamedTensors initial_params(const std::string& c) {
  NamedTensors params;
  for (const char* name : kParams)
    params.emplace_back(name,
                        fixture_tensor("optim", c + ".init." + name).clone().requires_grad_());
  return params;
}

// Sets the gradients of step k from the fixture (none where the fixture has none).
void set_fixture_grads(const std::string& c, int k, const NamedTensors& params) {
  for (const auto& [name, p] : params) {
    std::string key = c + ".grad" + std::to_string(k) + "." + name;
    p.set_grad(has_key(key) ? fixture_tensor("optim", key).clone() : Tensor());
  }
}

// 5 steps on the fixture's gradients; parameters after every step and the final state must
// match torch.optim.
void check_against_torch(const std::string& c, const MakeOptimizer& make) {
  NamedTensors params = initial_params(c);
  std::unique_ptr<Optimizer> opt = make(params);
  for (int k = 0; k < 5; ++k) {
    set_fixture_grads(c, k, params);
    opt->step();
    for (const auto& [name, p] : params)
      require_torch_close(p, fixture_tensor("optim", c + ".param" + std::to_string(k) + "." + name),
                          c + " step " + std::to_string(k) + " " + name);
  }
  CHECK(opt->step_count() == 5);
  // Every tensor torch keeps must match ours, and we keep no buffer torch does not have.
  std::map<std::string, Tensor> state = opt->state_dict();
  const std::string prefix = c + ".state.";
  for (const auto& [key, expected] : fixture("optim").tensors) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    std::string name = key.substr(prefix.size());
    REQUIRE_MESSAGE(state.count(name), c << ": no state '" << name << "'");
    require_torch_close(state.at(name).reshape(expected.shape()), expected, key);
  }
  for (const auto& [name, value] : state)
    if (name.compare(0, 4, "step") != 0)
      CHECK_MESSAGE(has_key(prefix + name), c << ": extra state " << name);
}

std::vector<float> values(const Tensor& t) { return t.tolist(); }

}  // namespace

// ---- parity with torch.optim (hyperparameters as in tests/ref/optim.py) ----

TEST_CASE("parity SGD: weight decay, no momentum") {
  check_against_torch("sgd_plain_wd", [](const NamedTensors& p) {
    SGDOptions o;
    o.lr = 0.1, o.weight_decay = 0.05;
    return std::make_unique<SGD>(p, o);
  });
}

TEST_CASE("parity SGD: momentum") {
  check_against_torch("sgd_momentum", [](const NamedTensors& p) {
    SGDOptions o;
    o.lr = 0.1, o.momentum = 0.9;
    return std::make_unique<SGD>(p, o);
  });
}

TEST_CASE("parity SGD: Nesterov momentum with weight decay") {
  check_against_torch("sgd_nesterov_wd", [](const NamedTensors& p) {
    SGDOptions o;
    o.lr = 0.05, o.momentum = 0.9, o.weight_decay = 0.01, o.nesterov = true;
    return std::make_unique<SGD>(p, o);
  });
}

TEST_CASE("parity SGD: momentum with dampening and weight decay") {
  check_against_torch("sgd_dampening", [](const NamedTensors& p) {
    SGDOptions o;
    o.lr = 0.1, o.momentum = 0.5, o.dampening = 0.3, o.weight_decay = 0.1;
    return std::make_unique<SGD>(p, o);
  });
}

TEST_CASE("parity Adam: defaults with lr 0.01") {
  check_against_torch("adam", [](const NamedTensors& p) {
    AdamOptions o;
    o.lr = 0.01;
    return std::make_unique<Adam>(p, o);
  });
}

TEST_CASE("parity Adam: betas, eps, L2 weight decay, a step without gradient") {
  check_against_torch("adam_wd", [](const NamedTensors& p) {
    AdamOptions o;
    o.lr = 0.02, o.beta1 = 0.8, o.beta2 = 0.99, o.eps = 1e-6, o.weight_decay = 0.1;
    return std::make_unique<Adam>(p, o);
  });
}

TEST_CASE("parity AdamW: decoupled weight decay") {
  check_against_torch("adamw", [](const NamedTensors& p) {
    AdamWOptions o;
    o.lr = 0.01, o.weight_decay = 0.1;
    return std::make_unique<AdamW>(p, o);
  });
}

TEST_CASE("parity AdamW: torch's defaults (weight decay 0.01), per-parameter step counts") {
  check_against_torch("adamw_defaults", [](const NamedTensors& p) {
    AdamWOptions o;
    o.lr = 0.05;
    return std::make_unique<AdamW>(p, o);
  });
}

TEST_CASE("parity clip_grad_norm_: clips to max_norm, or leaves the gradients alone") {
  for (auto [c, max_norm] : {std::pair<std::string, double>{"clip", 1.0}, {"noclip", 100.0}}) {
    CAPTURE(c);
    Tensor a = zeros({5, 3}).requires_grad_(), b = zeros({7}).requires_grad_();
    Tensor no_grad = zeros({2}).requires_grad_();
    a.set_grad(fixture_tensor("optim", c + ".grad.a").clone());
    b.set_grad(fixture_tensor("optim", c + ".grad.b").clone());
    float norm = clip_grad_norm_({a, b, no_grad}, max_norm);
    require_close(from_vector({norm}, {1}), fixture_tensor("optim", c + ".total_norm"), 1e-6, 0,
                  c + " total norm");
    require_close(a.grad(), fixture_tensor("optim", c + ".clipped.a"), 1e-6, 1e-9, c + " a");
    require_close(b.grad(), fixture_tensor("optim", c + ".clipped.b"), 1e-6, 1e-9, c + " b");
    CHECK_FALSE(no_grad.grad().defined());
  }
  CHECK(fixture_tensor("optim", "clip.total_norm").item() > 1.f);  // the case does clip
}

// ---- behaviour ----

TEST_CASE("optimizer state_dict resumes exactly: 2 steps + save + load + 3 steps == 5 steps") {
  MakeOptimizer makers[] = {[](const NamedTensors& p) {
                              AdamOptions o;
                              o.lr = 0.01, o.weight_decay = 0.1;
                              return std::make_unique<Adam>(p, o);
                            },
                            [](const NamedTensors& p) {
                              SGDOptions o;
                              o.lr = 0.1, o.momentum = 0.9, o.nesterov = true;
                              return std::make_unique<SGD>(p, o);
                            }};
  for (const MakeOptimizer& make : makers) {
    NamedTensors straight = initial_params("adam_wd");
    std::unique_ptr<Optimizer> a = make(straight);
    for (int k = 0; k < 5; ++k) {
      set_fixture_grads("adam_wd", k, straight);
      a->step();
    }

    NamedTensors first = initial_params("adam_wd");
    std::unique_ptr<Optimizer> b = make(first);
    for (int k = 0; k < 2; ++k) {
      set_fixture_grads("adam_wd", k, first);
      b->step();
    }
    NamedTensors resumed;
    for (const auto& [name, p] : first)
      resumed.emplace_back(name, p.detach().clone().requires_grad_());
    std::unique_ptr<Optimizer> c = make(resumed);
    c->load_state_dict(b->state_dict());
    CHECK(c->step_count() == 2);
    for (int k = 2; k < 5; ++k) {
      set_fixture_grads("adam_wd", k, resumed);
      c->step();
    }

    CAPTURE(a->type_name());
    for (size_t i = 0; i < straight.size(); ++i)
      CHECK(values(straight[i].second) == values(resumed[i].second));
    std::map<std::string, Tensor> sa = a->state_dict(), sc = c->state_dict();
    REQUIRE(sa.size() == sc.size());
    for (const auto& [key, value] : sa) CHECK(values(value) == values(sc.at(key)));
  }
}

TEST_CASE("step updates the parameters in place; zero_grad clears; no gradient means no update") {
  Tensor w = from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor frozen = from_vector({5, 6}, {2}).requires_grad_();
  SGDOptions o;
  o.lr = 0.5;
  SGD opt({{"w", w}, {"frozen", frozen}}, o);
  const float* storage = w.data();
  (w * from_vector({2, 4, 6}, {3})).sum().backward();  // d/dw = (2, 4, 6)
  opt.step();
  CHECK(w.data() == storage);
  CHECK(values(w) == std::vector<float>{0, 0, 0});  // w - 0.5 g
  CHECK(values(frozen) == std::vector<float>{5, 6});
  // SGD without momentum keeps no buffers, only the counts.
  std::map<std::string, Tensor> state = opt.state_dict();
  CHECK(state.size() == 2);
  CHECK(state.at("step").item() == 1.f);
  CHECK(state.at("step.w").item() == 1.f);
  opt.zero_grad();
  CHECK_FALSE(w.grad().defined());
  opt.step();
  CHECK(values(w) == std::vector<float>{0, 0, 0});
  CHECK(opt.step_count() == 2);
}

TEST_CASE("a tensor listed twice (a tied weight) is updated once") {
  Tensor w = from_vector({1, 1}, {2}).requires_grad_();
  SGDOptions o;
  o.lr = 1;
  SGD opt({{"encoder.weight", w}, {"decoder.weight", w}}, o);
  CHECK(opt.named_parameters().size() == 1);
  w.set_grad(from_vector({0.25f, 0.5f}, {2}));
  opt.step();
  CHECK(values(w) == std::vector<float>{0.75f, 0.5f});
}

TEST_CASE("the lr member is read at every step") {
  Tensor w = from_vector({1}, {1}).requires_grad_();
  SGDOptions o;
  o.lr = 1;
  SGD opt({{"w", w}}, o);
  w.set_grad(from_vector({1}, {1}));
  opt.lr = 0.25;
  opt.step();
  CHECK(w.item() == 0.75f);
}

TEST_CASE("large tensors (the parallel kernels) follow the same formulas") {
  const int64_t n = 100003;  // several OpenMP chunks and an odd tail
  Tensor w = test::uniform({n}, -1, 1, 3);
  Tensor g = test::uniform({n}, -2, 2, 4, false);
  std::vector<float> w0 = values(w), g0 = values(g);
  w.set_grad(g.clone());
  double sum_sq = 0;
  for (float v : g0) sum_sq += double(v) * v;
  float norm = clip_grad_norm_({w}, 1e9);
  CHECK(norm == doctest::Approx(std::sqrt(sum_sq)).epsilon(1e-6));

  AdamOptions o;
  o.lr = 0.01;
  Adam opt({{"w", w}}, o);
  opt.step();  // step 1: m = 0.1 g, v = 0.001 g^2, p -= lr / 0.1 * m / (sqrt(v / 0.001) + eps)
  std::vector<float> expected(n);
  for (int64_t i = 0; i < n; ++i) {
    double m = 0.1 * g0[i], v = 0.001 * double(g0[i]) * g0[i];
    expected[i] = float(w0[i] - 0.1 * m / (std::sqrt(v / 0.001) + 1e-8));
  }
  require_close(w, from_vector(expected, {n}), 1e-6, 1e-7, "Adam on a large tensor");
}

// ---- errors ----

TEST_CASE("optimizers refuse bad hyperparameters, naming the value") {
  NamedTensors p = initial_params("adam");
  AdamOptions adam;
  adam.beta1 = 1.0;
  CHECK_THROWS_WITH_AS(Adam(p, adam),
                       doctest::Contains("Adam: betas must be in [0, 1), got (1, 0.999)"), Error);
  adam = AdamOptions();
  adam.eps = -1;
  CHECK_THROWS_WITH_AS(Adam(p, adam), doctest::Contains("eps must be >= 0, got -1"), Error);
  AdamWOptions adamw;
  adamw.weight_decay = -0.5;
  CHECK_THROWS_WITH_AS(AdamW(p, adamw),
                       doctest::Contains("AdamW: weight_decay must be >= 0, got -0.5"), Error);
  SGDOptions sgd;
  sgd.nesterov = true;
  CHECK_THROWS_WITH_AS(
      SGD(p, sgd),
      doctest::Contains("Nesterov momentum needs momentum > 0 and dampening 0 (got momentum 0"),
      Error);
  sgd = SGDOptions();
  sgd.lr = -0.1;
  CHECK_THROWS_WITH_AS(SGD(p, sgd), doctest::Contains("SGD: learning rate must be >= 0, got -0.1"),
                       Error);
  SGD ok(p, SGDOptions());
  ok.lr = -1;
  CHECK_THROWS_WITH_AS(ok.step(), doctest::Contains("SGD: learning rate must be >= 0, got -1"),
                       Error);
}

TEST_CASE("optimizers refuse bad parameters and gradients") {
  Tensor t = zeros({2, 3}).requires_grad_();
  CHECK_THROWS_WITH_AS(SGD({{"t", t.transpose(0, 1)}}, SGDOptions()),
                       doctest::Contains("optimizer: parameter 't' [3, 2] is not contiguous"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({{"x", t}, {"x", zeros({1})}}, SGDOptions()),
                       doctest::Contains("two different parameters are named 'x'"), Error);
  SGD opt({{"t", t}}, SGDOptions());
  t.set_grad(zeros({3, 2}));
  CHECK_THROWS_WITH_AS(opt.step(),
                       doctest::Contains("SGD: parameter 't' [2, 3] has a gradient [3, 2]"), Error);
  CHECK_THROWS_WITH_AS(clip_grad_norm_({t}, 0), doctest::Contains("max_norm must be > 0, got 0"),
                       Error);
}

TEST_CASE("load_state_dict refuses unknown, missing and misshapen state and then changes nothing") {
  NamedTensors p = initial_params("adam");
  Adam opt(p);
  set_fixture_grads("adam", 0, p);
  opt.step();
  std::map<std::string, Tensor> good = opt.state_dict();
  std::vector<float> before = values(good.at("exp_avg.weight"));

  auto bad = good;
  bad["exp_avg.nope"] = zeros({3});
  CHECK_THROWS_WITH_AS(opt.load_state_dict(bad),
                       doctest::Contains("Adam optimizer: unexpected state 'exp_avg.nope'"), Error);
  bad = good;
  bad["exp_avg_sq.weight"] = zeros({4});
  CHECK_THROWS_WITH_AS(
      opt.load_state_dict(bad),
      doctest::Contains(
          "state 'exp_avg_sq.weight' has shape [4] but the parameter has shape [3, 4]"),
      Error);
  bad = good;
  bad.erase("exp_avg_sq.bias");
  CHECK_THROWS_WITH_AS(opt.load_state_dict(bad),
                       doctest::Contains("has 'step.bias' but no 'exp_avg_sq.bias'"), Error);
  bad = good;
  bad.erase("step");
  CHECK_THROWS_WITH_AS(opt.load_state_dict(bad), doctest::Contains("no 'step' entry"), Error);
  bad = good;
  bad["step.weight"] = scalar_tensor(1.5f);
  CHECK_THROWS_WITH_AS(opt.load_state_dict(bad),
                       doctest::Contains("'step.weight' should be a whole number >= 0 but is 1.5"),
                       Error);

  SGDOptions momentum;
  momentum.momentum = 0.9;
  SGD sgd(p, momentum);
  CHECK_THROWS_WITH_AS(sgd.load_state_dict(good),
                       doctest::Contains("has 'step.weight' but no 'momentum_buffer.weight'"),
                       Error);

  CHECK(values(opt.state_dict().at("exp_avg.weight")) == before);
  CHECK(opt.step_count() == 1);
}
