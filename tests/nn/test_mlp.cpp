// A whole MLP: taps, gradients w.r.t. parameters, input and tap losses by central differences.
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/metrics/cosine_distance.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/models/mlp.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace invar;
using namespace invar::nn;

TEST_SUITE_BEGIN("nn");

namespace {
struct Problem {
  Sequential<double> model = make_mlp<double>({6, 5, 4, 3}, MlpOptions{}.with_seed(11));
  Tensor<double> x = test::random_tensor<double>(Shape{8, 1, 2, 3}, 12);
  Tensor<index_t> labels{Shape{8}}, seeds{Shape{8}}, classes{Shape{8}};
  Problem() {
    for (index_t i = 0; i < 8; ++i) {
      labels[i] = i % 3;
      seeds[i] = i / 2;
      classes[i] = (i / 2) % 2;
    }
    labels[5] = no_group;  // an unlabelled row
  }
  // Total loss = CE(logits) + 0.3 L_DA(hidden1, msd) + 0.2 L_C(hidden2, cosine); with gradients when asked.
  double run(bool gradients) {
    model.forward(x);
    const auto pooled = GroupLossOptions{}.with_convention(PairConvention::pooled);
    double total = 0;
    if (!gradients) {
      total += softmax_cross_entropy(model.output(), labels, no_gradient).loss;
      total += 0.3 * augmentation_invariance(MeanSquaredDifference{}, model.tap("hidden1"), seeds, no_gradient).value;
      total += 0.2 * class_invariance(CosineDistance{}, model.tap("hidden2"), classes, no_gradient, pooled).value;
      return total;
    }
    Tensor<double> dlogits(model.output().shape());
    total += softmax_cross_entropy(model.output(), labels, dlogits).loss;
    total += 0.3 * augmentation_invariance(MeanSquaredDifference{}, model.tap("hidden1"), seeds,
                                           model.tap_grad("hidden1"),
                                           GroupLossOptions{}.with_gradient_scale(0.3).accumulating())
                       .value;
    total += 0.2 * class_invariance(CosineDistance{}, model.tap("hidden2"), classes, model.tap_grad("hidden2"),
                                    GroupLossOptions{pooled}.with_gradient_scale(0.2).accumulating())
                       .value;
    model.zero_grad();
    dx = Tensor<double>::copy_of(model.backward(dlogits));
    return total;
  }
  Tensor<double> dx;
};
}  // namespace

TEST_CASE("MLP: taps, parameter names and count") {
  auto model = make_mlp<double>({784, 256, 128, 10});
  CHECK(model.tap_names() == std::vector<std::string>{"hidden1", "hidden2", "logits"});
  CHECK(model.parameter_count() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  CHECK(model.parameters().front()->name == "fc1.weight");
  CHECK_THROWS_WITH_AS((void)model.tap("hidden1"), doctest::Contains("call forward() first"), Error);
  model.forward(Tensor<double>(Shape{2, 1, 28, 28}));
  CHECK(model.tap("hidden2").shape() == Shape{2, 128});
  CHECK_THROWS_WITH_AS((void)model.tap("hidden9"), doctest::Contains("no tap named 'hidden9' (taps: hidden1, hidden2, logits)"),
                       Error);
  CHECK_THROWS_AS(make_mlp<double>({10}), Error);
}

TEST_CASE("MLP: gradients w.r.t. every parameter and the input, with tap losses, by central differences") {
  Problem p;
  p.run(true);
  std::vector<Tensor<double>> grads;
  for (auto* prm : p.model.parameters()) grads.push_back(prm->grad);
  std::size_t k = 0;
  for (auto* prm : p.model.parameters()) {
    CAPTURE(prm->name);
    CHECK(test::gradient_relative_error(prm->value, grads[k++], [&] { return p.run(false); }) < 1e-6);
  }
  const auto dx = p.dx;
  CHECK(test::gradient_relative_error(p.x, dx, [&] { return p.run(false); }) < 1e-6);
}

TEST_CASE("MLP: backward from taps only (invariance-only training) reaches the first layer") {
  auto model = make_mlp<double>({4, 3, 2}, MlpOptions{}.with_seed(2));
  auto x = test::random_tensor<double>(Shape{6, 4}, 3);
  Tensor<index_t> seeds(Shape{6});
  for (index_t i = 0; i < 6; ++i) seeds[i] = i / 3;
  model.forward(x);
  augmentation_invariance(MeanSquaredDifference{}, model.tap("hidden1"), seeds, model.tap_grad("hidden1"),
                          GroupLossOptions{}.accumulating());
  model.zero_grad();
  model.backward_from_taps();
  double norm = 0;
  for (auto e : model.parameters().front()->grad) norm += e * e;
  CHECK(norm > 0);
  for (auto e : model.parameters().back()->grad) CHECK(e == 0.0);  // the layer above the tap gets nothing
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("nn");

TEST_CASE("MLP: without the input gradient, parameter gradients are unchanged and dL/dx is skipped") {
  auto a = make_mlp<double>({6, 5, 3}, MlpOptions{}.with_seed(4));
  auto b = make_mlp<double>({6, 5, 3}, MlpOptions{}.with_seed(4));
  b.set_input_gradient(false);
  const auto x = test::random_tensor<double>(Shape{4, 6}, 5);
  const auto dy = test::random_tensor<double>(Shape{4, 3}, 6);
  a.forward(x);
  b.forward(x);
  a.zero_grad();
  b.zero_grad();
  CHECK(a.backward(dy).shape() == x.shape());
  CHECK(b.backward(dy).empty());
  auto pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    for (index_t k = 0; k < pa[i]->grad.numel(); ++k) CHECK(pa[i]->grad[k] == pb[i]->grad[k]);
}

TEST_SUITE_END();
