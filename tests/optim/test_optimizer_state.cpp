// Optimiser state for checkpoints: names, lazy creation, exact round trips, load_state's errors,
// the Optimizer concept and AnyOptimizer.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/optim/adam.hpp"
#include "invar/optim/schedule.hpp"
#include "invar/optim/sgd.hpp"
#include "support/random.hpp"

using invar::Shape;
using invar::Tensor;
using invar::Parameter;
using invar::optim::Adam;
using invar::optim::AdamOptions;
using invar::optim::AnyOptimizer;
using invar::optim::OptimizerState;
using invar::optim::Sgd;
using invar::optim::SgdOptions;

static_assert(invar::optim::Optimizer<Sgd<float>> && invar::optim::Optimizer<Adam<double>>);
static_assert(invar::optim::Optimizer<AnyOptimizer<double>>);
static_assert(!invar::optim::Optimizer<int> && !invar::optim::Optimizer<invar::optim::StepLr>);

namespace {

template <class T>
bool same_state_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

// Two parameters; one name contains '/', which state names must survive (kinds follow the last '/').
template <class T>
struct Model {
  Parameter<T> conv{"encoder/conv1.weight", Shape{4, 3, 2}};
  Parameter<T> bias{"fc.bias", Shape{5}};
  Model() {
    conv.value = invar::test::random_tensor<T>(conv.value.shape(), 11);
    bias.value = invar::test::random_tensor<T>(bias.value.shape(), 12);
  }
  void set_grads(int step) {  // the same gradients for the same step, whichever copy of the model
    conv.grad = invar::test::random_tensor<T>(conv.value.shape(), 100 + static_cast<std::uint64_t>(step));
    bias.grad = invar::test::random_tensor<T>(bias.value.shape(), 200 + static_cast<std::uint64_t>(step), -3, 3);
  }
  std::vector<Parameter<T>*> params() { return {&conv, &bias}; }
};

template <class T>
void require_same_state(const OptimizerState<T>& a, const OptimizerState<T>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    REQUIRE(same_state_bits(a[i].second, b[i].second));
  }
}

// 3 steps, save, a fresh optimiser loads the state, then 2 more steps on both: identical bits.
template <class T, class Opt>
void check_round_trip(const std::function<Opt()>& make, const std::vector<std::string>& expected_names) {
  Model<T> model;
  Opt opt = make();
  for (int s = 0; s < 3; ++s) {
    model.set_grads(s);
    if (s == 1) opt.set_learning_rate(opt.learning_rate() * 0.5);  // a schedule at work
    opt.step(model.params());
  }
  const auto saved = opt.state();
  std::vector<std::string> names;
  for (const auto& e : saved) names.push_back(e.first);
  CHECK(names == expected_names);
  REQUIRE(saved[0].first == "step");
  CHECK(saved[0].second.shape() == Shape{1});
  CHECK(saved[0].second[0] == T(3));

  Model<T> resumed = model;  // the parameters come from the model checkpoint
  Opt fresh = make();
  fresh.load_state(saved);
  fresh.set_learning_rate(opt.learning_rate());  // the trainer restores the rate from its schedule
  require_same_state(fresh.state(), saved);
  for (int s = 3; s < 5; ++s) {
    model.set_grads(s);
    resumed.set_grads(s);
    opt.step(model.params());
    auto reversed = resumed.params();  // state is keyed by name, not by position
    std::swap(reversed[0], reversed[1]);
    fresh.step(reversed);
  }
  CHECK(same_state_bits(model.conv.value, resumed.conv.value));
  CHECK(same_state_bits(model.bias.value, resumed.bias.value));
  require_same_state(opt.state(), fresh.state());
}

}  // namespace

TEST_SUITE("optim") {

TEST_CASE_TEMPLATE("Sgd state round trip: 3 steps, save, load into a fresh Sgd, 2 more steps give identical bits", T,
                   float, double) {
  const auto options = SgdOptions(0.05).with_momentum(0.9).with_nesterov().with_weight_decay(1e-3);
  check_round_trip<T, Sgd<T>>([&] { return Sgd<T>(options); },
                              {"step", "encoder/conv1.weight/momentum", "fc.bias/momentum"});
  // Without momentum SGD keeps no buffers: the state is the step count alone.
  check_round_trip<T, Sgd<T>>([] { return Sgd<T>(SgdOptions(0.05)); }, {"step"});
}

TEST_CASE_TEMPLATE("Adam state round trip: plain, AdamW and AMSGrad give identical bits after resuming", T, float,
                   double) {
  check_round_trip<T, Adam<T>>([] { return Adam<T>(AdamOptions(1e-2)); },
                               {"step", "encoder/conv1.weight/adam_m", "encoder/conv1.weight/adam_v",
                                "encoder/conv1.weight/adam_step", "fc.bias/adam_m", "fc.bias/adam_v",
                                "fc.bias/adam_step"});
  check_round_trip<T, Adam<T>>([] { return Adam<T>(AdamOptions::adamw(1e-2, 0.1).with_amsgrad()); },
                               {"step", "encoder/conv1.weight/adam_m", "encoder/conv1.weight/adam_v",
                                "encoder/conv1.weight/adam_vmax", "encoder/conv1.weight/adam_step", "fc.bias/adam_m",
                                "fc.bias/adam_v", "fc.bias/adam_vmax", "fc.bias/adam_step"});
}

TEST_CASE("state is created lazily, with each parameter's shape, and state() returns copies") {
  Sgd<double> opt(SgdOptions(0.1).with_momentum(0.9));
  auto initial = opt.state();
  REQUIRE(initial.size() == 1);
  CHECK(initial[0].first == "step");
  CHECK(initial[0].second[0] == 0.0);
  Model<double> model;
  model.set_grads(0);
  opt.step(model.params());
  auto st = opt.state();
  REQUIRE(st.size() == 3);
  CHECK(st[1].second.shape() == Shape{4, 3, 2});
  CHECK(st[2].second.shape() == Shape{5});
  CHECK(same_state_bits(st[2].second, model.bias.grad));  // the first buffer is the gradient itself
  st[2].second[0] = 1e9;                             // a copy: the optimiser is unaffected
  CHECK(opt.state()[2].second[0] == model.bias.grad[0]);
}

TEST_CASE_TEMPLATE("load_state names the missing, misshapen, unknown or duplicated entry and changes nothing", T,
                   float, double) {
  Model<T> model;
  Adam<T> opt(AdamOptions(1e-2));
  model.set_grads(0);
  opt.step(model.params());
  const auto good = opt.state();
  auto find = [](OptimizerState<T>& s, const std::string& name) -> Tensor<T>& {
    for (auto& e : s)
      if (e.first == name) return e.second;
    FAIL("no entry " << name);
    return s[0].second;
  };

  Adam<T> target(AdamOptions(1e-2));
  auto missing = good;
  missing.erase(missing.begin() + 5);  // fc.bias/adam_v
  CHECK_THROWS_WITH_AS(target.load_state(missing), doctest::Contains("state entry 'fc.bias/adam_v' is missing"),
                       invar::Error);
  auto no_step = good;
  no_step.erase(no_step.begin());
  CHECK_THROWS_WITH_AS(target.load_state(no_step), doctest::Contains("state entry 'step' is missing"), invar::Error);

  auto wrong_shape = good;
  find(wrong_shape, "fc.bias/adam_v") = Tensor<T>(Shape{6});
  CHECK_THROWS_WITH_AS(target.load_state(wrong_shape),
                       doctest::Contains("'fc.bias/adam_v' has shape [6] but 'fc.bias/adam_m' has shape [5]"),
                       invar::Error);
  auto bad_count = good;
  find(bad_count, "encoder/conv1.weight/adam_step") = Tensor<T>(Shape{2});
  CHECK_THROWS_WITH_AS(target.load_state(bad_count),
                       doctest::Contains("'encoder/conv1.weight/adam_step' must hold one count, got shape [2]"),
                       invar::Error);
  auto fractional = good;
  find(fractional, "step")[0] = T(1.5);
  CHECK_THROWS_WITH_AS(target.load_state(fractional), doctest::Contains("'step' must be a non-negative whole number"),
                       invar::Error);
  auto negative = good;
  find(negative, "fc.bias/adam_step")[0] = T(-1);
  CHECK_THROWS_WITH_AS(target.load_state(negative), doctest::Contains("'fc.bias/adam_step' must be a non-negative"),
                       invar::Error);

  auto unknown = good;
  unknown.emplace_back("fc.bias/momentum", Tensor<T>(Shape{5}));
  CHECK_THROWS_WITH_AS(target.load_state(unknown), doctest::Contains("unknown state entry 'fc.bias/momentum'"),
                       invar::Error);
  auto no_slash = good;
  no_slash.emplace_back("epoch", Tensor<T>(Shape{1}));
  CHECK_THROWS_WITH_AS(target.load_state(no_slash), doctest::Contains("unknown state entry 'epoch'"), invar::Error);
  auto twice = good;
  twice.push_back(good[1]);
  CHECK_THROWS_WITH_AS(target.load_state(twice),
                       doctest::Contains("'encoder/conv1.weight/adam_m' appears more than once"),
                       invar::Error);

  // Options that keep other buffers reject the state both ways.
  Adam<T> ams(AdamOptions(1e-2).with_amsgrad());
  CHECK_THROWS_WITH_AS(ams.load_state(good), doctest::Contains("'encoder/conv1.weight/adam_vmax' is missing"),
                       invar::Error);
  Sgd<T> momentum(SgdOptions(0.1).with_momentum(0.9));
  CHECK_THROWS_WITH_AS(momentum.load_state(good),
                       doctest::Contains("unknown state entry 'encoder/conv1.weight/adam_m'"),
                       invar::Error);
  momentum.step(model.params());
  Sgd<T> plain(SgdOptions(0.1));
  CHECK_THROWS_WITH_AS(plain.load_state(momentum.state()),
                       doctest::Contains("unknown state entry 'encoder/conv1.weight/momentum'; expected 'step'"),
                       invar::Error);

  // A failed load changes nothing: target still has the empty state it started with.
  require_same_state(target.state(), Adam<T>(AdamOptions(1e-2)).state());
  CHECK(target.steps() == 0);
}

TEST_CASE("a loaded state whose shape does not fit the parameter of that name fails at step, naming both") {
  Model<float> model;
  Sgd<float> opt(SgdOptions(0.1).with_momentum(0.9));
  model.set_grads(0);
  opt.step(model.params());
  Sgd<float> other(SgdOptions(0.1).with_momentum(0.9));
  other.load_state(opt.state());
  Parameter<float> bias("fc.bias", Shape{6});  // the model changed since the checkpoint
  Parameter<float> conv = model.conv;
  const Tensor<float> before = conv.value;
  std::vector<Parameter<float>*> params{&conv, &bias};
  CHECK_THROWS_WITH_AS(other.step(params),
                       doctest::Contains("state entry 'fc.bias/momentum' has shape [5] but parameter 'fc.bias' has "
                                         "shape [6]"),
                       invar::Error);
  CHECK(same_state_bits(conv.value, before));  // checked before any update
  CHECK(other.steps() == 1);
}

TEST_CASE("counts beyond what float stores exactly are refused when saving, not silently rounded") {
  Sgd<float> opt(SgdOptions(0.1));
  OptimizerState<float> st;
  st.emplace_back("step", Tensor<float>(Shape{1}));
  st[0].second[0] = 16777216.0f;  // 2^24: still exact
  opt.load_state(st);
  CHECK(opt.steps() == 16777216);
  std::vector<Parameter<float>*> none;
  opt.step(none);
  CHECK_THROWS_WITH_AS(opt.state(), doctest::Contains("exceeds 16777216"), invar::Error);
  Sgd<double> wide(SgdOptions(0.1));
  wide.load_state({{"step", Tensor<double>(Shape{1})}});
  CHECK(wide.steps() == 0);
}

TEST_CASE_TEMPLATE("AnyOptimizer holds Sgd or Adam chosen at run time and behaves as the held one", T, float, double) {
  for (const std::string kind : {"sgd", "adam"}) {
    CAPTURE(kind);
    auto make = [&]() -> AnyOptimizer<T> {
      if (kind == "sgd") return Sgd<T>(SgdOptions(0.1).with_momentum(0.9));
      return Adam<T>(AdamOptions(1e-2));
    };
    AnyOptimizer<T> any = make();
    Model<T> a, b;
    Sgd<T> direct_sgd(SgdOptions(0.1).with_momentum(0.9));
    Adam<T> direct_adam(AdamOptions(1e-2));
    for (int s = 0; s < 3; ++s) {
      a.set_grads(s);
      b.set_grads(s);
      any.step(a.params());
      if (kind == "sgd") {
        direct_sgd.step(b.params());
      } else {
        direct_adam.step(b.params());
      }
    }
    CHECK(same_state_bits(a.conv.value, b.conv.value));
    CHECK((kind == "sgd") == (any.template target<Sgd<T>>() != nullptr));
    CHECK((kind == "adam") == (any.template target<Adam<T>>() != nullptr));

    AnyOptimizer<T> copy = any;  // a deep copy: stepping one leaves the other alone
    const auto before = copy.state();
    a.set_grads(7);
    any.step(a.params());
    require_same_state(copy.state(), before);
    AnyOptimizer<T> restored = make();
    restored.load_state(before);
    require_same_state(restored.state(), before);
    restored.set_learning_rate(0.25);
    CHECK(restored.learning_rate() == 0.25);
  }
}

}  // TEST_SUITE
