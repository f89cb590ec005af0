// Frozen parameters (Parameter::requires_grad = false): backward skips their gradients and gives
// the same dL/dx, to the bit, as a backward that computes them; the others' gradients are
// unchanged; optimisers leave frozen values alone; ParameterGradientsOff restores what it froze.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/nn/model.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "invar/optim/adam.hpp"
#include "invar/optim/sgd.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("nn");

namespace {

constexpr double frozen_sentinel = 7.25;  // a frozen parameter's grad must keep this value

struct BackwardResult {
  std::vector<double> dx;
  std::vector<std::vector<double>> grads;
};

std::vector<double> values_of(TensorView<const double> t) { return {t.data(), t.data() + t.numel()}; }

// One forward and backward of `model` on x with output gradient dy, grads first set to the
// sentinel where frozen and to 0 elsewhere.
BackwardResult run_backward(nn::Sequential<double>& model, const Tensor<double>& x, const Tensor<double>& dy) {
  for (auto* p : model.parameters()) ops::fill(p->grad, p->requires_grad ? 0.0 : frozen_sentinel);
  model.forward(x);
  BackwardResult r;
  r.dx = values_of(model.backward(dy));
  for (auto* p : model.parameters()) r.grads.push_back(values_of(p->grad));
  return r;
}

// Every model kind: dense, convolutional with batch norm, residual with zero-pad shortcuts.
struct ModelCase {
  std::string name;
  std::function<nn::Sequential<double>()> make;
  Shape input;
};

std::vector<ModelCase> model_cases() {
  return {
      {"mlp", [] { return nn::make_mlp<double>({12, 9, 7, 4}, nn::MlpOptions{}.with_seed(3)); }, Shape{5, 12}},
      {"all-cnn", [] { return nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_width(0.1).with_seed(4)); },
       Shape{3, 3, 12, 12}},
      {"wide-resnet",
       [] { return nn::make_wide_resnet<double>(nn::WideResnetOptions{}.with_depth(10).with_widen(1).with_seed(5)); },
       Shape{3, 3, 8, 8}},
  };
}

}  // namespace

TEST_CASE("frozen parameters: backward gives the same dL/dx to the bit and leaves their grads untouched") {
  for (const auto& c : model_cases()) {
    for (const bool training : {true, false}) {
      CAPTURE(c.name);
      CAPTURE(training);
      auto model = c.make();
      model.set_training(training);
      model.set_input_gradient(true);
      const auto x = test::random_tensor<double>(c.input, 11, 0.0, 1.0);
      model.forward(x);
      const auto dy = test::random_tensor<double>(model.output().shape(), 12);
      const BackwardResult all = run_backward(model, x, dy);

      nn::set_requires_grad(model, false);
      const BackwardResult none = run_backward(model, x, dy);
      CHECK(none.dx == all.dx);
      for (const auto& g : none.grads)
        for (double v : g) REQUIRE(v == frozen_sentinel);

      // Every other parameter frozen: the trainable ones get exactly their full-backward grads.
      const auto params = model.parameters();
      for (std::size_t i = 0; i < params.size(); ++i) params[i]->requires_grad = i % 2 == 1;
      const BackwardResult half = run_backward(model, x, dy);
      CHECK(half.dx == all.dx);
      for (std::size_t i = 0; i < params.size(); ++i) {
        CAPTURE(params[i]->name);
        if (params[i]->requires_grad) {
          CHECK(half.grads[i] == all.grads[i]);
        } else {
          for (double v : half.grads[i]) REQUIRE(v == frozen_sentinel);
        }
      }
      nn::set_requires_grad(model, true);
      for (auto* p : model.parameters()) CHECK(p->requires_grad);
    }
  }
}

TEST_CASE("frozen parameters: a conv layer's frozen weight with a trainable bias still gets the bias gradient") {
  nn::Conv2d<double> conv("conv", 2, 3, nn::Conv2dOptions{}.with_kernel(3).with_padding(1));
  Rng rng(2);
  conv.initialize(nn::init::Initializer::glorot_uniform, rng);
  const auto x = test::random_tensor<double>(Shape{2, 2, 5, 4}, 3);
  conv.forward(x);
  const auto dy = test::random_tensor<double>(Shape{2, 3, 5, 4}, 4);
  conv.backward(dy);
  const auto bias_grad = values_of(conv.bias().grad);
  // Explicit loops: db[o] = sum over images and positions of dy.
  for (index_t o = 0; o < 3; ++o) {
    double s = 0;
    for (index_t b = 0; b < 2; ++b)
      for (index_t j = 0; j < 20; ++j) s += dy.data()[(b * 3 + o) * 20 + j];
    CHECK(bias_grad[std::size_t(o)] == doctest::Approx(s).epsilon(1e-13));
  }
  conv.weight().zero_grad();
  conv.bias().zero_grad();
  conv.weight().requires_grad = false;
  conv.forward(x);
  conv.backward(dy);
  CHECK(values_of(conv.bias().grad) == bias_grad);
  for (index_t i = 0; i < conv.weight().grad.numel(); ++i) REQUIRE(conv.weight().grad.data()[i] == 0.0);
}

TEST_CASE("frozen parameters: Sgd and Adam leave them unchanged and step the others as if alone") {
  auto check_optimizer = [](auto make_optimizer) {
    Parameter<double> frozen("frozen", Shape{4}), trainable("trainable", Shape{3}), alone("trainable", Shape{3});
    frozen.value = test::random_tensor<double>(Shape{4}, 1);
    trainable.value = test::random_tensor<double>(Shape{3}, 2);
    alone.value = Tensor<double>::copy_of(trainable.value.view());
    frozen.requires_grad = false;
    const auto frozen_start = values_of(frozen.value), trainable_start = values_of(trainable.value);
    auto with_frozen = make_optimizer();
    auto by_itself = make_optimizer();
    for (int step = 0; step < 3; ++step) {
      frozen.grad = test::random_tensor<double>(Shape{4}, 10 + std::uint64_t(step));  // must be ignored
      trainable.grad = test::random_tensor<double>(Shape{3}, 20 + std::uint64_t(step));
      alone.grad = Tensor<double>::copy_of(trainable.grad.view());
      std::vector<Parameter<double>*> both{&frozen, &trainable}, one{&alone};
      with_frozen.step(both);
      by_itself.step(one);
    }
    CHECK(values_of(frozen.value) == frozen_start);
    CHECK(values_of(trainable.value) == values_of(alone.value));
    CHECK(values_of(trainable.value) != trainable_start);
  };
  SUBCASE("Sgd with momentum and weight decay") {
    check_optimizer([] { return optim::Sgd<double>(optim::SgdOptions(0.1).with_momentum(0.9).with_weight_decay(0.01)); });
  }
  SUBCASE("Adam with weight decay") {
    check_optimizer([] { return optim::Adam<double>(optim::AdamOptions(0.1).with_weight_decay(0.01)); });
  }
}

TEST_CASE("ParameterGradientsOff freezes for its lifetime and restores only what it froze, in any order") {
  auto model = nn::make_mlp<double>({4, 3, 2});
  auto params = model.parameters();
  REQUIRE(params.size() == 4);
  params[1]->requires_grad = false;  // frozen by the user: must stay frozen
  auto flags = [&] {
    std::vector<bool> f;
    for (auto* p : params) f.push_back(p->requires_grad);
    return f;
  };
  const std::vector<bool> before{true, false, true, true}, off{false, false, false, false};
  REQUIRE(flags() == before);
  {
    nn::ParameterGradientsOff first(model);
    CHECK(flags() == off);
    {
      nn::ParameterGradientsOff second(model);
      CHECK(flags() == off);
    }
    CHECK(flags() == off);  // the second froze nothing, so it restored nothing
  }
  CHECK(flags() == before);
  {
    // Ended in the order they were made (not nested): the state before is still restored.
    auto first = std::make_unique<nn::ParameterGradientsOff<nn::Sequential<double>>>(model);
    auto second = std::make_unique<nn::ParameterGradientsOff<nn::Sequential<double>>>(model);
    first.reset();
    CHECK(flags() == before);
    second.reset();
    CHECK(flags() == before);
  }
  {
    nn::ParameterGradientsOff guard(model);
    nn::ParameterGradientsOff moved(std::move(guard));
    CHECK(flags() == off);
  }
  CHECK(flags() == before);
}
