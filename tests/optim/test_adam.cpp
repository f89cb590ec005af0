// Adam, AdamW and AMSGrad against hand-worked steps and a scalar reference written out below
// from the algorithm boxes of torch.optim.Adam / AdamW.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/optim/adam.hpp"

using invar::index_t;
using invar::Shape;
using invar::Parameter;
using invar::optim::Adam;
using invar::optim::AdamOptions;

namespace {

template <class T>
Parameter<T> make_param(std::string name, const std::vector<double>& values) {
  Parameter<T> p(std::move(name), Shape{static_cast<index_t>(values.size())});
  for (std::size_t i = 0; i < values.size(); ++i) p.value[static_cast<index_t>(i)] = static_cast<T>(values[i]);
  return p;
}

template <class T>
doctest::Approx near(double expected) {
  return doctest::Approx(expected).epsilon(sizeof(T) == 4 ? 5e-6 : 1e-12);
}

template <class T>
void step_one(Adam<T>& opt, Parameter<T>& p) {
  std::array<Parameter<T>*, 1> ps{&p};
  opt.step(ps);
}

// One scalar weight through Adam / AdamW / AMSGrad, in double, spelled out.
struct AdamReference {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, amsgrad;
  double w, m = 0, v = 0, vmax = 0;
  int t = 0;
  void step(double grad) {
    ++t;
    double g = grad;
    if (weight_decay != 0) {
      if (decoupled) {
        w = w * (1 - lr * weight_decay);
      } else {
        g = g + weight_decay * w;
      }
    }
    m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g * g;
    vmax = std::max(vmax, v);
    const double m_hat = m / (1 - std::pow(beta1, t));
    const double v_hat = (amsgrad ? vmax : v) / (1 - std::pow(beta2, t));
    w = w - lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

}  // namespace

TEST_SUITE("optim") {

TEST_CASE("AdamOptions defaults are PyTorch's") {
  const AdamOptions o;
  CHECK(o.learning_rate == 1e-3);
  CHECK(o.beta1 == 0.9);
  CHECK(o.beta2 == 0.999);
  CHECK(o.eps == 1e-8);
  CHECK(o.weight_decay == 0);
  CHECK_FALSE(o.decoupled);
  CHECK_FALSE(o.amsgrad);
  const auto w = AdamOptions::adamw();
  CHECK(w.decoupled);
  CHECK(w.weight_decay == 0.01);  // torch.optim.AdamW's default
}

TEST_CASE_TEMPLATE("Adam with a constant gradient moves every step by lr g / (|g| + eps): bias correction",
                   T, float, double) {
  // With a constant g, m_t = (1 - beta1^t) g and v_t = (1 - beta2^t) g^2 exactly, so the corrected
  // moments are g and g^2 at every t. Step 1 by hand: m = 0.1 * 0.5 = 0.05, m^ = 0.05 / 0.1 = 0.5;
  // v = 0.001 * 0.25, v^ = 0.25; w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002.
  auto p = make_param<T>("w", {1.0, -1.0});
  p.grad[0] = T(0.5);
  p.grad[1] = T(-2.0);
  Adam<T> opt(AdamOptions(0.1));
  const double step0 = 0.1 * 0.5 / (0.5 + 1e-8), step1 = 0.1 * 2.0 / (2.0 + 1e-8);
  for (int t = 1; t <= 3; ++t) {
    step_one(opt, p);
    CHECK(p.value[0] == near<T>(1.0 - t * step0));
    CHECK(p.value[1] == near<T>(-1.0 + t * step1));
  }
  // Without the corrections step 1 would have moved by 0.1 * 0.05 / sqrt(0.00025) = 0.316...: far off.
  const auto state = opt.state();
  REQUIRE(state.size() == 4);
  CHECK(state[0].first == "step");
  CHECK(state[1].first == "w/adam_m");
  CHECK(state[2].first == "w/adam_v");
  CHECK(state[3].first == "w/adam_step");
  // m_3 = (1 - 0.9^3) g = 0.271 g; v_3 = (1 - 0.999^3) g^2 = 0.002997001 g^2
  CHECK(state[1].second[0] == near<T>(0.271 * 0.5));
  CHECK(state[2].second[1] == near<T>(0.002997001 * 4.0));
  CHECK(state[3].second[0] == T(3));
}

TEST_CASE_TEMPLATE("Adam, L2 Adam, AdamW and AMSGrad against the scalar reference over 3 and 8 steps", T, float,
                   double) {
  struct Config {
    double lr, weight_decay;
    bool decoupled, amsgrad;
  };
  const Config configs[] = {{1e-2, 0.0, false, false}, {1e-2, 0.1, false, false}, {1e-2, 0.1, true, false},
                            {5e-2, 0.0, false, true},  {1e-2, 0.05, true, true}};
  // Large-then-small gradients: v falls after the first steps, so AMSGrad's maximum matters.
  const double grads[8][3] = {{3.0, -0.2, 0.01},  {0.1, -0.1, 0.02}, {0.05, 0.3, -0.5},  {-0.4, 0.2, 0.0},
                              {0.02, -0.01, 1.5}, {0.3, 0.3, 0.3},   {-2.0, 0.01, -0.2}, {0.5, -0.5, 0.05}};
  for (const auto& c : configs) {
    CAPTURE(c.weight_decay);
    CAPTURE(c.decoupled);
    CAPTURE(c.amsgrad);
    auto p = make_param<T>("net.fc.weight", {0.5, -1.5, 2.0});
    Adam<T> opt(
        AdamOptions(c.lr).with_weight_decay(c.weight_decay).with_decoupled(c.decoupled).with_amsgrad(c.amsgrad));
    std::vector<AdamReference> ref;
    for (int i = 0; i < 3; ++i)
      ref.push_back({c.lr, 0.9, 0.999, 1e-8, c.weight_decay, c.decoupled, c.amsgrad, double(p.value[i])});
    for (int s = 0; s < 8; ++s) {
      for (int i = 0; i < 3; ++i) {
        p.grad[i] = static_cast<T>(grads[s][i]);
        ref[static_cast<std::size_t>(i)].step(double(p.grad[i]));
      }
      step_one(opt, p);
      for (int i = 0; i < 3; ++i) REQUIRE(p.value[i] == near<T>(ref[static_cast<std::size_t>(i)].w));
    }
  }
}

TEST_CASE_TEMPLATE("AdamW decays w before the update and Adam's L2 goes through the moments: they differ", T, float,
                   double) {
  // One step, g = 0, w = 2, lr = 0.1, wd = 0.1, by hand:
  //   AdamW: w = 2 * (1 - 0.01) = 1.98; m = v = 0, so the Adam part moves nothing: 1.98.
  //   Adam (L2): g = 0.1 * 2 = 0.2; the first corrected step is lr * g / (|g| + eps) = 0.1: w = 1.9.
  auto a = make_param<T>("w", {2.0});
  auto b = make_param<T>("w", {2.0});
  Adam<T> adamw(AdamOptions::adamw(0.1, 0.1));
  Adam<T> adam_l2(AdamOptions(0.1).with_weight_decay(0.1));
  step_one(adamw, a);
  step_one(adam_l2, b);
  CHECK(a.value[0] == near<T>(1.98));
  CHECK(b.value[0] == near<T>(2.0 - 0.1 * 0.2 / (0.2 + 1e-8)));
  CHECK(a.grad[0] == T(0));  // the L2 term never leaks into the caller's gradient
  CHECK(b.grad[0] == T(0));
}

TEST_CASE_TEMPLATE("AMSGrad keeps the running maximum of v, worked by hand over 2 steps", T, float, double) {
  // g1 = 10, g2 = 0.1, lr = 0.1, betas (0.9, 0.999), eps 0:
  //   v1 = 0.001 * 100 = 0.1;  v2 = 0.999 * 0.1 + 0.001 * 0.01 = 0.09991 < v1, so vmax2 = 0.1
  //   m2 = 0.9 * 1 + 0.1 * 0.1 = 0.91;  m^2 = 0.91 / 0.19;  v^2 = 0.1 / 0.001999
  auto p = make_param<T>("w", {0.0});
  auto q = make_param<T>("w", {0.0});
  Adam<T> ams(AdamOptions(0.1).with_eps(0).with_amsgrad());
  Adam<T> plain(AdamOptions(0.1).with_eps(0));
  p.grad[0] = q.grad[0] = T(10);
  step_one(ams, p);
  step_one(plain, q);
  CHECK(p.value[0] == near<T>(-0.1));
  CHECK(q.value[0] == near<T>(-0.1));
  p.grad[0] = q.grad[0] = T(0.1);
  step_one(ams, p);
  step_one(plain, q);
  CHECK(p.value[0] == near<T>(-0.1 - 0.1 * (0.91 / 0.19) / std::sqrt(0.1 / 0.001999)));
  CHECK(q.value[0] == near<T>(-0.1 - 0.1 * (0.91 / 0.19) / std::sqrt(0.09991 / 0.001999)));
  const auto state = ams.state();
  REQUIRE(state.size() == 5);
  CHECK(state[3].first == "w/adam_vmax");
  CHECK(state[3].second[0] == near<T>(0.1));
  CHECK(state[2].second[0] == near<T>(0.09991));
}

TEST_CASE_TEMPLATE("Adam bias corrections count each parameter's own steps", T, float, double) {
  // b joins at the optimiser's 3rd step: its first update must be corrected as t = 1
  // (lr * g / (|g| + eps)), as PyTorch's per-parameter state['step'] does.
  auto a = make_param<T>("a", {0.0});
  auto b = make_param<T>("b", {1.0});
  a.grad[0] = b.grad[0] = T(0.25);
  Adam<T> opt(AdamOptions(0.1));
  step_one(opt, a);
  step_one(opt, a);
  std::vector<Parameter<T>*> both{&a, &b};
  opt.step(both);
  CHECK(b.value[0] == near<T>(1.0 - 0.1 * 0.25 / (0.25 + 1e-8)));
  CHECK(opt.steps() == 3);
  for (const auto& [name, t] : opt.state()) {
    if (name == "a/adam_step") {
      CHECK(t[0] == T(3));
    }
    if (name == "b/adam_step") {
      CHECK(t[0] == T(1));
    }
  }
}

TEST_CASE("AdamOptions are validated when an Adam is built, naming the option") {
  CHECK_THROWS_WITH_AS(Adam<float>(AdamOptions(-1e-3)), doctest::Contains("learning_rate must be finite and > 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Adam<float>(AdamOptions().with_beta1(1.0)), doctest::Contains("beta1 must be in [0, 1)"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Adam<float>(AdamOptions().with_betas(0.9, -0.1)), doctest::Contains("beta2 must be in [0, 1)"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Adam<float>(AdamOptions().with_eps(-1)), doctest::Contains("eps must be finite and >= 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Adam<float>(AdamOptions().with_weight_decay(-0.1)), doctest::Contains("weight_decay"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(Adam<float>(AdamOptions().with_beta1(std::nan(""))), doctest::Contains("beta1"), invar::Error);
  Adam<double> opt;
  CHECK(opt.learning_rate() == 1e-3);
  opt.set_learning_rate(3e-4);
  CHECK(opt.learning_rate() == 3e-4);
  CHECK_THROWS_AS(opt.set_learning_rate(INFINITY), invar::Error);
}

}  // TEST_SUITE
