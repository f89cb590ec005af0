// Linear, ReLU and Flatten: forward against explicit loops, backward by central differences.
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/nn/layers/flatten.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/relu.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace invar;
using namespace invar::nn;
using test::project;

TEST_SUITE_BEGIN("nn");

TEST_CASE("Linear: forward equals x W^T + b, gradients w.r.t. W, b and x by central differences") {
  Linear<double> fc("fc", 7, 5);
  Rng rng(3);
  fc.initialize(init::Initializer::glorot_uniform, rng);
  fc.bias().value = test::random_tensor<double>(Shape{5}, 4);
  auto x = test::random_tensor<double>(Shape{4, 7}, 5);
  const auto r = test::random_tensor<double>(Shape{4, 5}, 6);
  const auto y = fc.forward(x);
  for (index_t i = 0; i < 4; ++i)
    for (index_t o = 0; o < 5; ++o) {
      double s = fc.bias().value[o];
      for (index_t k = 0; k < 7; ++k) s += x(i, k) * fc.weight().value(o, k);
      CHECK(y(i, o) == doctest::Approx(s).epsilon(1e-14));
    }
  fc.weight().zero_grad();
  fc.bias().zero_grad();
  const Tensor<double> dx = Tensor<double>::copy_of(fc.backward(r));
  auto loss = [&] { return project(fc.forward(x), r); };
  CHECK(test::gradient_relative_error(fc.weight().value, fc.weight().grad, loss) < 1e-8);
  CHECK(test::gradient_relative_error(fc.bias().value, fc.bias().grad, loss) < 1e-8);
  CHECK(test::gradient_relative_error(x, dx, loss) < 1e-8);
}

TEST_CASE("Linear: backward accumulates parameter gradients, shapes are checked") {
  Linear<double> fc("fc", 3, 2);
  auto x = test::random_tensor<double>(Shape{2, 3}, 1);
  const auto r = test::random_tensor<double>(Shape{2, 2}, 2);
  fc.forward(x);
  fc.backward(r);
  const auto once = fc.weight().grad;
  fc.backward(r);
  for (index_t i = 0; i < once.numel(); ++i) CHECK(fc.weight().grad[i] == doctest::Approx(2 * once[i]));
  CHECK_THROWS_WITH_AS(fc.forward(Tensor<double>(Shape{2, 4})), doctest::Contains("expected input [B, 3], got [2, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(fc.backward(Tensor<double>(Shape{2, 3})), doctest::Contains("dy has shape [2, 3]"), Error);
  CHECK_THROWS_AS(Linear<double>("bad", 0, 3), Error);
  Linear<double> nobias("nb", 3, 2, false);
  CHECK(nobias.parameters().size() == 1);
}

TEST_CASE("ReLU: forward, and backward by central differences away from 0") {
  Relu<double> relu("relu");
  auto x = test::random_tensor<double>(Shape{3, 4, 5}, 7);
  for (auto& v : x)
    if (std::abs(v) < 1e-3) v = 0.5;  // keep finite differences off the kink
  const auto r = test::random_tensor<double>(x.shape(), 8);
  const auto y = relu.forward(x);
  for (index_t i = 0; i < x.numel(); ++i) CHECK(y[i] == (x[i] > 0 ? x[i] : 0.0));
  const auto dx = Tensor<double>::copy_of(relu.backward(r));
  CHECK(test::gradient_relative_error(x, dx, [&] { return project(relu.forward(x), r); }) < 1e-8);
}

TEST_CASE("backward_sum: the backward of dy + extra, by the ReLU in one pass and by default for any layer") {
  // ReLU's own pass against explicit loops, in float so that the rounding of the sum counts.
  Relu<float> relu("relu");
  const auto x = test::random_tensor<float>(Shape{4, 3, 5}, 11);
  const auto dy = test::random_tensor<float>(x.shape(), 12);
  auto extra = test::random_tensor<float>(x.shape(), 13);
  const auto extra_before = Tensor<float>::copy_of(extra.view());
  const auto y = Tensor<float>::copy_of(relu.forward(x));
  const auto dx = relu.backward_sum(dy, extra);
  int passed = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    const float expected = y[i] > 0 ? dy[i] + extra_before[i] : 0.0f;
    CHECK(dx[i] == expected);  // the same bits
    passed += y[i] > 0;
  }
  CHECK(passed > 0);
  CHECK(passed < x.numel());
  CHECK_THROWS_AS(relu.backward_sum(test::random_tensor<float>(Shape{4, 15}, 14), extra), Error);

  // The default (a layer without its own): dy added into extra, then backward.
  Rng rng(3);
  Linear<double> fc("fc", 5, 4, true);
  fc.initialize(init::Initializer::glorot_uniform, rng);
  const auto u = test::random_tensor<double>(Shape{6, 5}, 15);
  const auto g = test::random_tensor<double>(Shape{6, 4}, 16);
  auto e = test::random_tensor<double>(Shape{6, 4}, 17);
  auto summed = Tensor<double>::copy_of(e.view());
  for (index_t i = 0; i < summed.numel(); ++i) summed[i] += g[i];
  fc.forward(u);
  const auto zero_grads = [&] {
    for (auto* p : fc.parameters()) ops::fill(p->grad, 0);
  };
  zero_grads();
  const auto by_hand = Tensor<double>::copy_of(fc.backward(summed));
  const auto w_by_hand = Tensor<double>::copy_of(fc.parameters()[0]->grad.view());
  zero_grads();
  const auto by_default = fc.backward_sum(g, e);
  for (index_t i = 0; i < by_hand.numel(); ++i) CHECK(by_default[i] == by_hand[i]);
  const auto& dw = fc.parameters()[0]->grad;
  for (index_t i = 0; i < dw.numel(); ++i) CHECK(dw[i] == w_by_hand[i]);
}

TEST_CASE("Flatten: a view forward, a reshape backward") {
  Flatten<double> flat("flatten");
  auto x = test::random_tensor<double>(Shape{2, 3, 4}, 9);
  const auto y = flat.forward(x);
  CHECK(y.shape() == Shape{2, 12});
  CHECK(y.data() == x.data());
  const auto r = test::random_tensor<double>(Shape{2, 12}, 10);
  const auto dx = flat.backward(r);
  CHECK(dx.shape() == x.shape());
  CHECK(dx.data() == r.data());
}

TEST_SUITE_END();
