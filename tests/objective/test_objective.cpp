// The objective of Eq. 1 on a model with taps: its value equals the weighted sum of the losses
// called directly, its gradient (through tap gradients and backward) matches central
// differences, with and without cross-entropy, schedules reach the term weights, and the first
// loss at a tap writes its gradient over a stale buffer; a whole training step with the objective
// on a separate-memory device gives the CPU step's bits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "invar/cpu.hpp"
#include "invar/metrics/cosine_distance.hpp"
#include "invar/metrics/manhattan.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "invar/objective/objective.hpp"
#include "invar/optim/sgd.hpp"
#include "support/error_message.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"
#include "support/separate_device.hpp"

using namespace invar;
using namespace invar::objective;

TEST_SUITE_BEGIN("objective");

namespace {
struct Setup {
  nn::Sequential<double> model = nn::make_mlp<double>({6, 5, 4, 3}, nn::MlpOptions{}.with_seed(2));
  Tensor<double> x = test::random_tensor<double>(Shape{8, 6}, 3);
  Tensor<index_t> seeds{Shape{8}}, labels{Shape{8}};
  Setup() {
    for (index_t i = 0; i < 8; ++i) {
      seeds[i] = i / 2;  // 4 seeds x 2 augmentations
      labels[i] = (i / 2) % 2;
    }
    labels[7] = no_group;  // one unlabelled row: in L_DA, not in L_C or the cross-entropy
    labels[6] = no_group;
  }
};

Objective<double> make_objective(const WeightSchedule& s) {
  Objective<double> obj;
  obj.augmentation({"hidden1", "hidden2"}, MeanSquaredDifference{}, WeightProfile::exponential, 4.0)
      .class_wise({"hidden2"}, CosineDistance{}, WeightProfile::uniform, 10.0,
                  GroupLossOptions{}.with_convention(PairConvention::pooled))
      .with_schedule(s);
  return obj;
}
/// After evaluate(&dlogits) and backward: every parameter's gradient against central differences
/// of the objective's total.
void check_objective_parameter_gradients(Setup& s, Objective<double>& obj) {
  auto loss = [&] {
    s.model.forward(s.x);
    return obj.evaluate(s.model, s.seeds, s.labels).total;
  };
  for (auto* p : s.model.parameters()) {
    CAPTURE(p->name);
    const auto g = Tensor<double>::copy_of(p->grad.view());
    CHECK(test::gradient_relative_error(p->value, g, loss) < 1e-6);
  }
}

/// A tap gradient against the sum computed by hand: max |got - want| <= 1e-12 max |want| > 0.
void check_tap_gradient_matches(TensorView<const double> got, const Tensor<double>& want) {
  double err = 0, scale = 0;
  for (index_t i = 0; i < want.numel(); ++i) {
    err = std::max(err, std::abs(got.data()[i] - want.data()[i]));
    scale = std::max(scale, std::abs(want.data()[i]));
  }
  CHECK(scale > 0);
  CHECK(err <= 1e-12 * scale);
}
}  // namespace

TEST_CASE("Objective value equals the weighted sum of the losses called directly") {
  Setup s;
  auto obj = make_objective(WeightSchedule::constant(0.1, 0.2));
  s.model.forward(s.x);
  const auto v = obj.evaluate(s.model, s.seeds, s.labels);
  const double w1 = 0.1 * 1.0 / 5.0, w2 = 0.1 * 4.0 / 5.0;  // exponential shares 1 : 4
  const double da1 = augmentation_invariance(MeanSquaredDifference{}, s.model.tap("hidden1"), s.seeds, no_gradient).value;
  const double da2 = augmentation_invariance(MeanSquaredDifference{}, s.model.tap("hidden2"), s.seeds, no_gradient).value;
  const double c2 = class_invariance(CosineDistance{}, s.model.tap("hidden2"), s.labels, no_gradient,
                                     GroupLossOptions{}.with_convention(PairConvention::pooled))
                        .value;
  const double ce = softmax_cross_entropy(s.model.output(), s.labels, no_gradient).loss;
  REQUIRE(v.terms.size() == 3);
  CHECK(v.terms[0].weight == doctest::Approx(w1));
  CHECK(v.terms[1].weight == doctest::Approx(w2));
  CHECK(v.terms[2].weight == doctest::Approx(0.2));
  CHECK(v.terms[0].loss.value == doctest::Approx(da1));
  CHECK(v.terms[2].loss.value == doctest::Approx(c2));
  CHECK(v.weights.cross_entropy == doctest::Approx(0.7));
  CHECK(v.cross_entropy.labelled == 6);
  CHECK(v.total == doctest::Approx(w1 * da1 + w2 * da2 + 0.2 * c2 + 0.7 * ce));
}

TEST_CASE("Objective gradients by central differences, with cross-entropy and invariance-only") {
  for (bool with_ce : {true, false}) {
    CAPTURE(with_ce);
    Setup s;
    auto obj = make_objective(with_ce ? WeightSchedule::constant(0.1, 0.2) : WeightSchedule::constant(0.1, 0.9));
    auto copy = obj;  // copies must work on their own (no reference to the original)
    obj = Objective<double>{};
    Tensor<double> dlogits;
    s.model.forward(s.x);
    copy.evaluate(s.model, s.seeds, s.labels, &dlogits);
    s.model.zero_grad();
    copy.backward(s.model, dlogits);
    check_objective_parameter_gradients(s, copy);
  }
}

TEST_CASE("Objective: L_DA and L_C of one squared-difference metric at a tap share a call, as the losses called directly") {
  // L_DA (same-class reference) and L_C with mean squared difference at both taps, and a cosine
  // L_C at hidden2 that runs on its own: the shared call must give each term's value and the sum
  // of their weighted gradients, with and without cross-entropy, and a zero-weight term its value.
  for (double beta : {0.2, 0.0}) {
    CAPTURE(beta);
    Setup s;
    Objective<double> obj;
    obj.augmentation({"hidden1", "hidden2"}, MeanSquaredDifference{}, WeightProfile::exponential, 4.0)
        .class_wise({"hidden1", "hidden2"}, MeanSquaredDifference{}, WeightProfile::uniform, 10.0,
                    GroupLossOptions{}.with_convention(PairConvention::pooled))
        .add(Invariance::class_wise, "hidden2", 0.5, CosineDistance{})
        .with_augmentation_reference(AugmentationReference::same_class)
        .with_schedule(WeightSchedule::constant(0.1, beta, beta > 0 ? 0.5 : 0.9));
    Tensor<double> dlogits;
    s.model.forward(s.x);
    const auto v = obj.evaluate(s.model, s.seeds, s.labels, &dlogits);
    REQUIRE(v.terms.size() == 5);
    for (const char* tap : {"hidden1", "hidden2"}) {
      CAPTURE(tap);
      const auto x = s.model.tap(tap);
      Tensor<double> want(x.shape());
      ops::fill(want, 0);
      const auto pooled = GroupLossOptions{}.with_convention(PairConvention::pooled);
      for (std::size_t i = 0; i < obj.size(); ++i) {
        if (v.terms[i].tap != tap) continue;
        const auto o = GroupLossOptions{}.with_gradient_scale(obj.term_weight(i)).accumulating();
        LossValue direct;
        if (i < 2) direct = augmentation_invariance(MeanSquaredDifference{}, x, s.seeds, same_class(s.labels), want, o);
        else if (i < 4)
          direct = class_invariance(MeanSquaredDifference{}, x, s.labels, want,
                                    GroupLossOptions{pooled}.with_gradient_scale(obj.term_weight(i)).accumulating());
        else direct = class_invariance(CosineDistance{}, x, s.labels, want, o);
        CHECK(v.terms[i].loss.value == doctest::Approx(direct.value).epsilon(1e-12));
        CHECK(v.terms[i].loss.value > 0);  // reported, whatever the weight
      }
      check_tap_gradient_matches(s.model.tap_grad(tap), want);
    }
    // And through the model: central differences of the total.
    s.model.zero_grad();
    obj.backward(s.model, dlogits);
    check_objective_parameter_gradients(s, obj);
  }
}

TEST_CASE("Objective: the schedule sets the term weights per epoch, the same-class reference is used") {
  Setup s;
  auto obj = make_objective(WeightSchedule::step_curriculum(0.1, 0.0));
  obj.set_epoch(0, 100);
  CHECK(obj.term_weight(0) + obj.term_weight(1) == doctest::Approx(1.0));
  CHECK(obj.weights().cross_entropy == doctest::Approx(0.0));
  obj.set_epoch(80, 100);
  CHECK(obj.term_weight(1) == 0);
  CHECK(obj.weights().cross_entropy == 1.0);
  CHECK(obj.taps() == std::vector<std::string>{"hidden1", "hidden2", "hidden2"});

  obj.set_epoch(10, 100);
  obj.with_augmentation_reference(AugmentationReference::same_class);
  s.model.forward(s.x);
  const auto v = obj.evaluate(s.model, s.seeds, s.labels);
  const double expected = augmentation_invariance(MeanSquaredDifference{}, s.model.tap("hidden1"), s.seeds,
                                                  same_class(s.labels), no_gradient)
                              .value;
  CHECK(v.terms[0].loss.value == doctest::Approx(expected));
  CHECK_ERROR_CONTAINS(Objective<double>{}.augmentation({}, MeanSquaredDifference{}), "no taps");
  CHECK_ERROR_CONTAINS(Objective<double>{}.add(Invariance::augmentation, "hidden1", -1.0, MeanSquaredDifference{}),
                       "share of tap 'hidden1'");
}

TEST_CASE("Objective penalties: weights spread over taps, values as called directly, gradients by central differences") {
  Setup s;
  auto obj = make_objective(WeightSchedule::constant(0.1, 0.9));
  PenaltyOptions po;
  po.variance.with_target(2.0);       // hidden features have std below 2: the hinge acts
  po.pc1_share.with_threshold(0.05);  // and so does the PC1 penalty
  po.pc1_share.with_iterations(1e-15, 500);
  obj.penalize(Penalty::variance, {"hidden1", "hidden2"}, 0.6, po)
      .penalize(Penalty::covariance, {"hidden2"}, 0.3, po)
      .penalize(Penalty::pc1_share, {"hidden1"}, 0.5, po);
  REQUIRE(obj.penalty_count() == 4);
  CHECK(obj.penalty_weight(0) == doctest::Approx(0.3));
  CHECK(obj.penalty_weight(1) == doctest::Approx(0.3));
  CHECK(obj.penalty_tap(1) == "hidden2");
  CHECK(obj.penalty(2) == Penalty::covariance);
  CHECK(obj.penalty_weight(3) == doctest::Approx(0.5));

  s.model.forward(s.x);
  const auto v = obj.evaluate(s.model, s.seeds, s.labels);
  const double v1 = variance_hinge(s.model.tap("hidden1"), no_gradient, po.variance).value;
  const double v2 = variance_hinge(s.model.tap("hidden2"), no_gradient, po.variance).value;
  const double c2 = covariance_penalty(s.model.tap("hidden2"), no_gradient).value;
  const double p1 = pc1_share_penalty(s.model.tap("hidden1"), no_gradient, po.pc1_share).value;
  REQUIRE(v.penalties.size() == 4);
  CHECK(v.penalties[0].value == doctest::Approx(v1));
  CHECK(v.penalties[2].value == doctest::Approx(c2));
  CHECK(v.penalties[3].value == doctest::Approx(p1));
  CHECK(v1 > 0);
  CHECK(p1 > 0);
  double invariance = 0;
  for (const auto& t : v.terms) invariance += t.weight * t.loss.value;
  CHECK(v.total == doctest::Approx(invariance + 0.3 * v1 + 0.3 * v2 + 0.3 * c2 + 0.5 * p1));

  Tensor<double> dlogits;
  s.model.forward(s.x);
  obj.evaluate(s.model, s.seeds, s.labels, &dlogits);
  s.model.zero_grad();
  obj.backward(s.model, dlogits);
  check_objective_parameter_gradients(s, obj);
  CHECK_ERROR_CONTAINS(Objective<double>{}.penalize(Penalty::variance, {}, 1.0), "no taps given for the variance penalty");
  CHECK_ERROR_CONTAINS(Objective<double>{}.penalize(Penalty::pc1_share, {"hidden1"}, -1.0),
                       "weight of the pc1 penalty must be finite and >= 0");
}

TEST_SUITE_END();

TEST_CASE("Objective: the first loss at a tap writes over what the last step left, and a loss that throws leaves zeros") {
  Setup s;
  // Every path (linear: mean squared difference; Gram: cosine; pairwise: Manhattan) and a penalty,
  // two terms at each tap, so that one writes and the rest add.
  Objective<double> obj;
  obj.add(Invariance::augmentation, "hidden1", 0.5, MeanSquaredDifference{})
      .add(Invariance::augmentation, "hidden1", 0.25, Manhattan{})
      .add(Invariance::class_wise, "hidden2", 0.5, CosineDistance{})
      .add(Invariance::augmentation, "hidden2", 0.5, MeanSquaredDifference{})
      .penalize(Penalty::variance, {"hidden1"}, 0.3, PenaltyOptions{})
      .with_schedule(WeightSchedule::constant(0.4, 0.2));
  // A step whose tap gradients hold garbage (a stale step's), then the step under test.
  s.model.forward(s.x);
  for (const char* tap : {"hidden1", "hidden2"}) ops::fill(s.model.tap_grad(tap), 1e30);
  s.model.forward(s.x);
  Tensor<double> dlogits;
  obj.evaluate(s.model, s.seeds, s.labels, &dlogits);
  // The same sums by hand, into zeroed buffers.
  const auto expected = [&](const char* tap) {
    Tensor<double> g(s.model.tap(tap).shape());
    ops::fill(g, 0);
    const auto taps = obj.taps();
    for (std::size_t i = 0; i < taps.size(); ++i) {
      if (taps[i] != tap) continue;
      const auto o = GroupLossOptions{}.with_gradient_scale(obj.term_weight(i)).accumulating();
      const auto x = s.model.tap(tap);
      if (i == 0 || i == 3) augmentation_invariance(MeanSquaredDifference{}, x, s.seeds, g, o);
      if (i == 1) augmentation_invariance(Manhattan{}, x, s.seeds, g, o);
      if (i == 2) class_invariance(CosineDistance{}, x, s.labels, g, o);
    }
    if (std::string(tap) == "hidden1")
      variance_hinge(s.model.tap(tap), g, VarianceHingeOptions{}.with_gradient_scale(0.3).accumulating());
    return g;
  };
  for (const char* tap : {"hidden1", "hidden2"}) {
    CAPTURE(tap);
    check_tap_gradient_matches(s.model.tap_grad(tap), expected(tap));
  }
  // A loss that throws (seed ids for 7 rows of 8) after its buffer was handed out unzeroed: the
  // tap gradient reads zero, not the stale garbage.
  s.model.forward(s.x);
  for (const char* tap : {"hidden1", "hidden2"}) ops::fill(s.model.tap_grad(tap), 1e30);
  s.model.forward(s.x);
  Tensor<index_t> short_seeds{Shape{7}};
  for (index_t i = 0; i < 7; ++i) short_seeds[i] = i / 2;
  CHECK_THROWS_AS(obj.evaluate(s.model, short_seeds, s.labels, &dlogits), Error);
  CHECK_ERROR_CONTAINS(s.model.tap_grad_to_write("hidden9"), "no tap named 'hidden9'");
  const auto g1 = s.model.tap_grad("hidden1");
  int nonzero = 0;
  for (index_t i = 0; i < g1.numel(); ++i) nonzero += g1.data()[i] != 0.0;
  CHECK(nonzero == 0);
}

namespace objective_device_test {

/// One training step of Eq. 1 (L_DA with mean squared difference and L_C with it at one tap, in
/// one call; a cosine L_C at another; cross-entropy), backward and SGD with momentum, of a model
/// on device D; returns every parameter after the step and the objective's value.
template <Device D>
std::pair<std::vector<std::vector<float>>, double> eq1_step(nn::Sequential<float, D> model, const Tensor<float>& x_host,
                                                            const Tensor<index_t>& seeds, const Tensor<index_t>& labels,
                                                            const std::string& low, const std::string& high) {
  Objective<float, D> obj;
  obj.augmentation({low, high}, MeanSquaredDifference{}, WeightProfile::exponential, 4.0)
      .class_wise({high}, MeanSquaredDifference{})
      .add(Invariance::class_wise, low, 0.5, CosineDistance{})
      .with_augmentation_reference(AugmentationReference::same_class)
      .with_schedule(WeightSchedule::constant(0.1, 0.2));
  optim::Sgd<float, D> sgd{optim::SgdOptions(0.05).with_momentum(0.9)};
  const auto x = Tensor<float, D>::copy_of(x_host.view());
  Tensor<float, D> dlogits;
  model.forward(x);
  const double total = obj.evaluate(model, seeds, labels, &dlogits).total;
  model.zero_grad();
  obj.backward(model, dlogits);
  auto params = model.parameters();
  sgd.step(params);
  std::vector<std::vector<float>> values;
  for (auto* p : params) {
    const auto host = Tensor<float>::copy_of(p->value.view());
    values.emplace_back(host.begin(), host.end());
  }
  return {values, total};
}

}  // namespace objective_device_test

TEST_CASE("one Eq. 1 training step on a separate-memory device gives the CPU step's bits (MLP, All-CNN-C, WRN)") {
  using objective_device_test::eq1_step;
  Tensor<index_t> seeds(Shape{6}), labels(Shape{6});
  for (index_t i = 0; i < 6; ++i) {
    seeds[i] = i / 2;  // 3 seeds x 2 augmentations
    labels[i] = (i / 2) % 2;
  }
  labels[5] = no_group;
  const auto mlp = nn::MlpOptions{}.with_seed(3);
  const auto cnn = nn::AllCnnOptions{}.with_width(0.1).with_seed(4).with_classes(3);
  const auto wrn = nn::WideResnetOptions{}.with_depth(10).with_widen(1).with_seed(5).with_classes(3);
  const auto flat = test::random_tensor<float>(Shape{6, 10}, 1, 0.0, 1.0);
  const auto images = test::random_tensor<float>(Shape{6, 3, 8, 8}, 2, 0.0, 1.0);
  {
    const auto want = eq1_step(nn::make_mlp<float>({10, 7, 5, 3}, mlp), flat, seeds, labels, "hidden1", "hidden2");
    const auto got = eq1_step(nn::make_mlp<float, test::SeparateHost>({10, 7, 5, 3}, mlp), flat, seeds, labels,
                              "hidden1", "hidden2");
    CHECK(got.second == want.second);
    CHECK(got.first == want.first);
  }
  {
    const auto want = eq1_step(nn::make_all_cnn<float>(cnn), images, seeds, labels, "conv2", "conv6");
    const auto got = eq1_step(nn::make_all_cnn<float, test::SeparateHost>(cnn), images, seeds, labels, "conv2", "conv6");
    CHECK(got.second == want.second);
    CHECK(got.first == want.first);
  }
  {
    const auto want = eq1_step(nn::make_wide_resnet<float>(wrn), images, seeds, labels, "block1", "block2");
    const auto got =
        eq1_step(nn::make_wide_resnet<float, test::SeparateHost>(wrn), images, seeds, labels, "block1", "block2");
    CHECK(got.second == want.second);
    CHECK(got.first == want.first);
  }
}
