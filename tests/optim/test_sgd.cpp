// Sgd against updates worked out by hand (the numbers in the comments) and against a scalar
// reference written out below from torch.optim.SGD's documented algorithm.
#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/optim/sgd.hpp"

using invar::index_t;
using invar::Shape;
using invar::Parameter;
using invar::optim::Sgd;
using invar::optim::SgdOptions;

namespace {

template <class T>
Parameter<T> make_sgd_param(std::string name, const std::vector<double>& values) {
  Parameter<T> p(std::move(name), Shape{static_cast<index_t>(values.size())});
  for (std::size_t i = 0; i < values.size(); ++i) p.value[static_cast<index_t>(i)] = static_cast<T>(values[i]);
  return p;
}

template <class T>
void set_grad(Parameter<T>& p, const std::vector<double>& g) {
  for (std::size_t i = 0; i < g.size(); ++i) p.grad[static_cast<index_t>(i)] = static_cast<T>(g[i]);
}

template <class T>
doctest::Approx near_sgd(double expected) {
  return doctest::Approx(expected).epsilon(sizeof(T) == 4 ? 2e-6 : 1e-13);
}

template <class T>
void step_one(Sgd<T>& opt, Parameter<T>& p) {
  std::array<Parameter<T>*, 1> ps{&p};
  opt.step(ps);
}

// One scalar weight through torch.optim.SGD's algorithm, in double, spelled out.
struct SgdReference {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  double w, buf = 0;
  bool first = true;
  void step(double grad) {
    double g = grad;
    if (weight_decay != 0) g = g + weight_decay * w;
    if (momentum != 0) {
      if (first) {
        buf = g;
      } else {
        buf = momentum * buf + (1 - dampening) * g;
      }
      first = false;
      g = nesterov ? g + momentum * buf : buf;
    }
    w = w - lr * g;
  }
};

}  // namespace

TEST_SUITE("optim") {

TEST_CASE_TEMPLATE("Sgd without momentum: w -= lr * grad, worked by hand over 3 steps", T, float, double) {
  auto p = make_sgd_param<T>("w", {1.0, -2.0, 0.5});
  Sgd<T> opt(SgdOptions(0.1));
  set_grad(p, {0.5, -1.0, 2.0});
  step_one(opt, p);  // [1 - 0.05, -2 + 0.1, 0.5 - 0.2]
  CHECK(p.value[0] == near_sgd<T>(0.95));
  CHECK(p.value[1] == near_sgd<T>(-1.9));
  CHECK(p.value[2] == near_sgd<T>(0.3));
  set_grad(p, {0.25, 0.5, -1.0});
  step_one(opt, p);  // [0.95 - 0.025, -1.9 - 0.05, 0.3 + 0.1]
  CHECK(p.value[0] == near_sgd<T>(0.925));
  CHECK(p.value[1] == near_sgd<T>(-1.95));
  CHECK(p.value[2] == near_sgd<T>(0.4));
  set_grad(p, {-0.5, 0.0, 1.0});
  step_one(opt, p);  // [0.925 + 0.05, -1.95, 0.4 - 0.1]
  CHECK(p.value[0] == near_sgd<T>(0.975));
  CHECK(p.value[1] == near_sgd<T>(-1.95));
  CHECK(p.value[2] == near_sgd<T>(0.3));
  CHECK(opt.steps() == 3);
  // the gradient is read, never zeroed or changed
  CHECK(p.grad[0] == T(-0.5));
  CHECK(p.grad[2] == T(1.0));
}

TEST_CASE_TEMPLATE("Sgd momentum 0.9 with a constant gradient 1, worked by hand", T, float, double) {
  auto p = make_sgd_param<T>("w", {1.0});
  Sgd<T> opt(SgdOptions(0.1).with_momentum(0.9));
  set_grad(p, {1.0});
  step_one(opt, p);  // buf = 1 (the gradient itself on the first step); w = 1 - 0.1
  CHECK(p.value[0] == near_sgd<T>(0.9));
  step_one(opt, p);  // buf = 0.9 * 1 + 1 = 1.9; w = 0.9 - 0.19
  CHECK(p.value[0] == near_sgd<T>(0.71));
  step_one(opt, p);  // buf = 0.9 * 1.9 + 1 = 2.71; w = 0.71 - 0.271
  CHECK(p.value[0] == near_sgd<T>(0.439));
  const auto state = opt.state();
  REQUIRE(state.size() == 2);
  CHECK(state[1].first == "w/momentum");
  CHECK(state[1].second[0] == near_sgd<T>(2.71));
}

TEST_CASE_TEMPLATE("Sgd Nesterov momentum with a constant gradient 1, worked by hand", T, float, double) {
  auto p = make_sgd_param<T>("w", {1.0});
  Sgd<T> opt(SgdOptions(0.1).with_nesterov().with_momentum(0.9));  // setter order does not matter
  set_grad(p, {1.0});
  step_one(opt, p);  // buf = 1; d = 1 + 0.9 * 1 = 1.9; w = 1 - 0.19
  CHECK(p.value[0] == near_sgd<T>(0.81));
  step_one(opt, p);  // buf = 1.9; d = 1 + 0.9 * 1.9 = 2.71; w = 0.81 - 0.271
  CHECK(p.value[0] == near_sgd<T>(0.539));
  step_one(opt, p);  // buf = 2.71; d = 1 + 2.439 = 3.439; w = 0.539 - 0.3439
  CHECK(p.value[0] == near_sgd<T>(0.1951));
}

TEST_CASE_TEMPLATE("Sgd dampening does not apply on the first step (buffer = gradient), worked by hand", T, float,
                   double) {
  auto p = make_sgd_param<T>("w", {1.0});
  Sgd<T> opt(SgdOptions(0.1).with_momentum(0.9).with_dampening(0.5));
  set_grad(p, {1.0});
  step_one(opt, p);  // buf = 1, not 0.5; w = 0.9
  CHECK(p.value[0] == near_sgd<T>(0.9));
  step_one(opt, p);  // buf = 0.9 + 0.5 * 1 = 1.4; w = 0.9 - 0.14
  CHECK(p.value[0] == near_sgd<T>(0.76));
  step_one(opt, p);  // buf = 1.26 + 0.5 = 1.76; w = 0.76 - 0.176
  CHECK(p.value[0] == near_sgd<T>(0.584));
}

TEST_CASE_TEMPLATE("Sgd weight decay alone shrinks w by (1 - lr * wd) per step, grad untouched", T, float, double) {
  auto p = make_sgd_param<T>("w", {2.0, -4.0});
  Sgd<T> opt(SgdOptions(0.1).with_weight_decay(0.1));
  // grad 0: w -= 0.1 * (0 + 0.1 w), i.e. w *= 0.99: 2 -> 1.98 -> 1.9602 -> 1.940598
  step_one(opt, p);
  CHECK(p.value[0] == near_sgd<T>(1.98));
  step_one(opt, p);
  CHECK(p.value[0] == near_sgd<T>(1.9602));
  step_one(opt, p);
  CHECK(p.value[0] == near_sgd<T>(1.940598));
  CHECK(p.value[1] == near_sgd<T>(-3.881196));
  CHECK(p.grad[0] == T(0));  // the L2 term never leaks into the caller's gradient
}

TEST_CASE_TEMPLATE("Sgd with every option against the scalar reference over 6 steps, several parameters", T, float,
                   double) {
  struct Config {
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  const Config configs[] = {{0.9, 0.0, 0.0, false}, {0.9, 0.0, 5e-4, true}, {0.5, 0.3, 0.01, false},
                            {0.0, 0.0, 0.02, false}, {0.99, 0.0, 0.0, true}};
  const std::vector<double> w0 = {0.3, -1.2, 2.5, 0.0, -0.7, 1.1};
  for (const auto& c : configs) {
    CAPTURE(c.momentum);
    CAPTURE(c.nesterov);
    auto a = make_sgd_param<T>("layer.a", {w0[0], w0[1], w0[2]});
    auto b = make_sgd_param<T>("layer.b", {w0[3], w0[4], w0[5]});
    Sgd<T> opt(SgdOptions(0.05)
                   .with_momentum(c.momentum)
                   .with_dampening(c.dampening)
                   .with_weight_decay(c.weight_decay)
                   .with_nesterov(c.nesterov));
    std::vector<SgdReference> ref;
    for (double w : w0) ref.push_back({0.05, c.momentum, c.dampening, c.weight_decay, c.nesterov, w});
    std::vector<Parameter<T>*> params{&b, &a};  // order does not matter: state is keyed by name
    for (int s = 0; s < 6; ++s) {
      for (int i = 0; i < 6; ++i) {
        const double g = 0.5 * (i - 2.5) + 0.3 * s * (i % 2 ? 1 : -1);  // varied signs and sizes
        (i < 3 ? a : b).grad[i % 3] = static_cast<T>(g);
        ref[static_cast<std::size_t>(i)].step(static_cast<double>(static_cast<T>(g)));
      }
      opt.step(params);
      for (int i = 0; i < 6; ++i) REQUIRE((i < 3 ? a : b).value[i % 3] == near_sgd<T>(ref[static_cast<std::size_t>(i)].w));
    }
  }
}

TEST_CASE_TEMPLATE("Sgd uses the learning rate set between steps", T, float, double) {
  auto p = make_sgd_param<T>("w", {1.0});
  Sgd<T> opt(SgdOptions(0.1));
  set_grad(p, {1.0});
  step_one(opt, p);  // 0.9
  opt.set_learning_rate(0.01);
  CHECK(opt.learning_rate() == 0.01);
  step_one(opt, p);  // 0.89
  CHECK(p.value[0] == near_sgd<T>(0.89));
  opt.set_learning_rate(0);  // a schedule may end at 0: allowed, and a no-op step
  step_one(opt, p);
  CHECK(p.value[0] == near_sgd<T>(0.89));
  CHECK_THROWS_WITH_AS(opt.set_learning_rate(-1), doctest::Contains("learning rate must be finite and >= 0"),
                       invar::Error);
}

TEST_CASE("SgdOptions are validated when an Sgd is built, naming the option") {
  using O = SgdOptions;
  CHECK_THROWS_WITH_AS(Sgd<float>(O(0)), doctest::Contains("learning_rate must be finite and > 0, got 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Sgd<float>(O(0.1).with_momentum(-0.9)), doctest::Contains("momentum must be finite and >= 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Sgd<float>(O(0.1).with_weight_decay(-1e-4)), doctest::Contains("weight_decay"), invar::Error);
  CHECK_THROWS_WITH_AS(Sgd<float>(O(0.1).with_dampening(-0.1)), doctest::Contains("dampening"), invar::Error);
  CHECK_THROWS_WITH_AS(Sgd<float>(O(0.1).with_nesterov()), doctest::Contains("nesterov needs momentum > 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Sgd<float>(O(0.1).with_momentum(0.9).with_dampening(0.1).with_nesterov()),
                       doctest::Contains("dampening == 0"), invar::Error);
  CHECK_NOTHROW(Sgd<float>(O(0.01).with_momentum(0.9).with_nesterov()));
  const Sgd<double> opt(O(0.01).with_momentum(0.9));
  CHECK(opt.options().momentum == 0.9);
  CHECK(opt.options().weight_decay == 0);  // off unless asked (the paper uses none)
  CHECK(opt.options().nesterov == false);
}

TEST_CASE("Sgd::step rejects bad parameter lists before changing anything") {
  Sgd<float> opt(SgdOptions(0.1).with_momentum(0.9));
  auto a = make_sgd_param<float>("a", {1.0, 2.0});
  auto dup = make_sgd_param<float>("a", {3.0});
  auto unnamed = make_sgd_param<float>("", {1.0});
  a.grad[0] = 1;
  std::vector<Parameter<float>*> twice{&a, &dup};
  CHECK_THROWS_WITH_AS(opt.step(twice), doctest::Contains("parameter name 'a' appears more than once"), invar::Error);
  CHECK(a.value[0] == 1.0f);  // untouched: the checks run before the first update
  std::vector<Parameter<float>*> nameless{&a, &unnamed};
  CHECK_THROWS_WITH_AS(opt.step(nameless), doctest::Contains("params[1] has an empty name"), invar::Error);
  std::vector<Parameter<float>*> null{&a, nullptr};
  CHECK_THROWS_WITH_AS(opt.step(null), doctest::Contains("params[1] is null"), invar::Error);
  a.grad = invar::Tensor<float>(Shape{3});
  std::vector<Parameter<float>*> bad_grad{&a};
  CHECK_THROWS_WITH_AS(opt.step(bad_grad), doctest::Contains("parameter 'a' has grad shape [3] but value shape [2]"),
                       invar::Error);
  CHECK(a.value[0] == 1.0f);
  CHECK(opt.steps() == 0);
  CHECK(opt.state().size() == 1);  // only "step": no buffer was created
}

}  // TEST_SUITE
