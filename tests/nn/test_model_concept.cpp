// The TrainableModel concept: invar's Sequential satisfies it, and so does a model written by
// hand with no invar layer in it, which the objective then trains (gradients checked by central
// differences) and the parameter files save and load.
#include <doctest/doctest.h>

#include <cmath>

#include "invar/cpu.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/objective/objective.hpp"
#include "invar/nn/model.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"
#include "support/temp_dir.hpp"

using namespace invar;

namespace {
// x [B, 4] -> h = tanh(x W1^T) [B, 3] (tap "hidden") -> logits = h W2^T [B, 2]. Plain loops.
template <class T>
struct TinyNet {
  Parameter<T> w1{"w1", Shape{3, 4}}, w2{"w2", Shape{2, 3}};
  Tensor<T> x, h, y, dh_tap;
  bool training = true, tap_used = false;

  TinyNet() {
    w1.value = test::random_tensor<T>(w1.value.shape(), 1);
    w2.value = test::random_tensor<T>(w2.value.shape(), 2);
  }
  TensorView<const T> forward(TensorView<const T> in) {
    const index_t b = in.dim(0);
    x = Tensor<T>::copy_of(in);
    h = Tensor<T>(Shape{b, 3});
    y = Tensor<T>(Shape{b, 2});
    for (index_t i = 0; i < b; ++i) {
      for (index_t j = 0; j < 3; ++j) {
        T s = 0;
        for (index_t k = 0; k < 4; ++k) s += x(i, k) * w1.value(j, k);
        h(i, j) = std::tanh(s);
      }
      for (index_t j = 0; j < 2; ++j) {
        T s = 0;
        for (index_t k = 0; k < 3; ++k) s += h(i, k) * w2.value(j, k);
        y(i, j) = s;
      }
    }
    tap_used = false;
    return y;
  }
  TensorView<const T> output() const { return y; }
  TensorView<const T> tap(const std::string&) const { return h; }
  TensorView<T> tap_grad(const std::string&) {
    if (!tap_used) dh_tap = Tensor<T>(h.shape());  // zero-initialised
    tap_used = true;
    return dh_tap;
  }
  void backward(TensorView<const T> dy) { backward_impl(&dy); }
  void backward_from_taps() { backward_impl(nullptr); }
  std::vector<Parameter<T>*> parameters() { return {&w1, &w2}; }
  void set_training(bool t) { training = t; }

 private:
  void backward_impl(const TensorView<const T>* dy) {
    const index_t b = x.dim(0);
    for (index_t i = 0; i < b; ++i) {
      T dh[3] = {0, 0, 0};
      if (dy)
        for (index_t j = 0; j < 2; ++j)
          for (index_t k = 0; k < 3; ++k) {
            w2.grad(j, k) += (*dy)[i * 2 + j] * h(i, k);
            dh[k] += (*dy)[i * 2 + j] * w2.value(j, k);
          }
      for (index_t k = 0; k < 3; ++k) {
        if (tap_used) dh[k] += dh_tap(i, k);
        const T dpre = dh[k] * (1 - h(i, k) * h(i, k));
        for (index_t c = 0; c < 4; ++c) w1.grad(k, c) += dpre * x(i, c);
      }
    }
  }
};
}  // namespace

static_assert(nn::TrainableModel<nn::Sequential<float>, float>);
static_assert(nn::TrainableModel<nn::Sequential<double>, double>);
static_assert(nn::TrainableModel<TinyNet<double>, double>);
static_assert(!nn::TrainableModel<Tensor<float>, float>);

TEST_SUITE_BEGIN("train");

TEST_CASE("a hand-written model trains with the objective: gradients by central differences") {
  for (double ce_total : {0.5, 0.0}) {
    CAPTURE(ce_total);
    TinyNet<double> net;
    auto x = test::random_tensor<double>(Shape{6, 4}, 3);
    Tensor<index_t> seeds(Shape{6}), labels(Shape{6});
    for (index_t i = 0; i < 6; ++i) {
      seeds[i] = i / 2;
      labels[i] = (i / 2) % 2;
    }
    objective::Objective<double> obj;
    obj.augmentation({"hidden"}, MeanSquaredDifference{})
        .with_schedule(objective::WeightSchedule::constant(1.0 - ce_total, 0.0));
    Tensor<double> dlogits;
    net.forward(x);
    obj.evaluate(net, seeds, labels, &dlogits);
    nn::zero_grad(net);
    obj.backward(net, dlogits);
    auto loss = [&] {
      net.forward(x);
      return obj.evaluate(net, seeds, labels).total;
    };
    for (auto* p : net.parameters()) {
      CAPTURE(p->name);
      const auto g = Tensor<double>::copy_of(p->grad.view());
      CHECK(test::gradient_relative_error(p->value, g, loss) < 1e-7);
    }
  }
}

TEST_CASE("parameter files work for a model that is not an invar layer") {
  test::TempDir dir;
  TinyNet<float> a, b;
  b.w1.value = test::random_tensor<float>(b.w1.value.shape(), 9);
  nn::save_parameters(a, dir.file("tiny.invar"));
  nn::load_parameters(b, dir.file("tiny.invar"));
  for (index_t i = 0; i < a.w1.value.numel(); ++i) CHECK(b.w1.value[i] == a.w1.value[i]);
  for (index_t i = 0; i < a.w2.value.numel(); ++i) CHECK(b.w2.value[i] == a.w2.value[i]);
}

TEST_SUITE_END();
