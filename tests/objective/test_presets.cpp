// The paper's configurations as presets: their totals, the per-layer split (the authors' nine
// weights), the schedules, the overrides, and that the metric and convention given reach the
// loss (compared with a direct call of the loss on the same tap).
#include <doctest/doctest.h>

#include <numeric>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/cosine_distance.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/objective/presets.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using namespace invar::objective;

TEST_SUITE_BEGIN("objective");

namespace {
const std::vector<std::string> nine_taps = {"conv1", "conv2", "conv3", "conv4", "conv5",
                                            "conv6", "conv7", "conv8", "conv9"};

/// Sum of the current term weights of one kind.
double kind_total(const Objective<float>& o, Invariance kind) {
  double total = 0;
  for (std::size_t i = 0; i < o.size(); ++i)
    if (o.term_kind(i) == kind) total += o.term_weight(i);
  return total;
}
}  // namespace

TEST_CASE("preset totals: baseline, invariance-only (0.1, 0.9), mixed, the authors' (0.1, CE 0.9)") {
  struct Row {
    Preset p;
    double alpha, beta, ce;
    std::size_t terms;
  };
  for (const Row& r : {Row{Preset::baseline, 0, 0, 1, 0}, Row{Preset::invariance_only, 0.1, 0.9, 0, 18},
                       Row{Preset::mixed, 0.01, 0.09, 0.9, 18}, Row{Preset::authors, 0.1, 0, 0.9, 9},
                       Row{Preset::anticollapse, 0.1, 0.9, 0, 18}}) {
    CAPTURE(to_string(r.p));
    auto o = make_objective<float>(r.p, nine_taps);
    o.set_epoch(0, 10);
    CHECK(o.size() == r.terms);
    CHECK(o.weights().alpha == doctest::Approx(r.alpha));
    CHECK(o.weights().beta == doctest::Approx(r.beta));
    CHECK(o.weights().cross_entropy == doctest::Approx(r.ce));
    CHECK(kind_total(o, Invariance::augmentation) == doctest::Approx(r.alpha));
    CHECK(kind_total(o, Invariance::class_wise) == doctest::Approx(r.beta));
    CHECK(parse_preset(to_string(r.p)) == r.p);
  }
  CHECK(parse_preset("invariance-only") == Preset::invariance_only);
  CHECK(parse_preset("anti-collapse") == Preset::anticollapse);
  CHECK_ERROR_CONTAINS(parse_preset("supervised"), "unknown objective preset 'supervised'");
}

TEST_CASE("the authors' preset: method.md's nine weights on All-CNN's taps, same-class reference") {
  const auto o = make_objective<float>(Preset::authors, nine_taps);
  const double expected[9] = {.0027, .0036, .0048, .0064, .0086, .0114, .0152, .0203, .0270};
  REQUIRE(o.size() == 9);
  for (std::size_t i = 0; i < 9; ++i) {
    CHECK(o.term_kind(i) == Invariance::augmentation);
    CHECK(o.taps()[i] == nine_taps[i]);
    CHECK(o.term_weight(i) == doctest::Approx(expected[i]).epsilon(0.02));
  }
  CHECK(o.augmentation_reference() == AugmentationReference::same_class);
  CHECK(make_objective<float>(Preset::mixed, nine_taps).augmentation_reference() == AugmentationReference::all_pairs);
  CHECK(make_objective<float>(Preset::mixed, nine_taps, PresetOptions{}.with_reference(AugmentationReference::same_class))
            .augmentation_reference() == AugmentationReference::same_class);
}

TEST_CASE("preset schedules: the step curriculum and the beta ramp") {
  auto cur = make_objective<float>(Preset::authors, nine_taps, PresetOptions{}.with_schedule(ScheduleKind::step_curriculum));
  cur.set_epoch(0, 100);  // factor 10: invariance 1, no cross-entropy
  CHECK(cur.weights().alpha == doctest::Approx(1.0));
  CHECK(cur.weights().cross_entropy == doctest::Approx(0.0));
  cur.set_epoch(30, 100);  // factor 0.1
  CHECK(cur.weights().alpha == doctest::Approx(0.01));
  CHECK(cur.weights().cross_entropy == doctest::Approx(0.99));

  // Invariance-only with a ramp: beta 0 -> 0.9 over 4 epochs, alpha = 1 - beta, no cross-entropy.
  auto ramp = make_objective<float>(Preset::invariance_only, {"a", "b"}, PresetOptions{}.with_schedule(ScheduleKind::beta_ramp, 4));
  for (index_t e : {0, 2, 4, 7}) {
    ramp.set_epoch(e, 8);
    const double beta = 0.9 * std::min(1.0, double(e) / 4);
    CHECK(ramp.weights().beta == doctest::Approx(beta));
    CHECK(ramp.weights().alpha == doctest::Approx(1.0 - beta));
    CHECK(ramp.weights().cross_entropy == doctest::Approx(0.0));
    CHECK(kind_total(ramp, Invariance::augmentation) == doctest::Approx(1.0 - beta));
  }
  // A ramp of the authors' preset (beta 0) keeps beta at 0.
  auto flat = make_objective<float>(Preset::authors, {"a"}, PresetOptions{}.with_schedule(ScheduleKind::beta_ramp, 4));
  flat.set_epoch(3, 8);
  CHECK(flat.weights().alpha == doctest::Approx(0.1));
  CHECK(flat.weights().beta == 0);
}

TEST_CASE("preset overrides and errors") {
  auto o = make_objective<float>(Preset::mixed, {"a", "b", "c"},
                                 PresetOptions{}.with_alpha(0.2).with_beta(0.3).with_profile(WeightProfile::uniform));
  o.set_epoch(0, 1);
  CHECK(o.weights().cross_entropy == doctest::Approx(0.5));
  for (std::size_t i = 0; i < o.size(); ++i)
    CHECK(o.term_weight(i) == doctest::Approx(o.term_kind(i) == Invariance::augmentation ? 0.2 / 3 : 0.1));
  CHECK(make_objective<float>(Preset::baseline, {}).size() == 0);
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::mixed, {}), "no taps");
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::mixed, {"a"}, PresetOptions{}.with_alpha(0.6).with_beta(0.6)), "> 1");
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::mixed, {"a"}, PresetOptions{}.with_alpha(-0.1)), ">= 0");
  CHECK(parse_schedule_kind("curriculum") == ScheduleKind::step_curriculum);
  CHECK_ERROR_CONTAINS(parse_schedule_kind("cyclic"), "unknown weight schedule 'cyclic'");
}

TEST_CASE("a preset passes its metric and convention to the loss") {
  auto model = nn::make_mlp<float>({6, 5, 3}, nn::MlpOptions{}.with_seed(2));
  const auto x = test::random_tensor<float>(Shape{8, 6}, 11);
  model.forward(x);
  Tensor<index_t> seeds(Shape{8}), labels(Shape{8});
  for (index_t i = 0; i < 8; ++i) {
    seeds[i] = i / 2;
    labels[i] = i / 4;
  }
  for (PairConvention conv : {PairConvention::pooled, PairConvention::paper}) {
    auto o = make_objective<float>(Preset::mixed, {"hidden1"}, PresetOptions{}.with_convention(conv), CosineDistance{});
    o.set_epoch(0, 1);
    const auto v = o.evaluate(model, seeds, labels);
    REQUIRE(v.terms.size() == 2);
    const auto opts = GroupLossOptions{}.with_convention(conv);
    const double da = augmentation_invariance(CosineDistance{}, model.tap("hidden1"), seeds, no_gradient, opts).value;
    const double cw = class_invariance(CosineDistance{}, model.tap("hidden1"), labels, no_gradient, opts).value;
    CHECK(v.terms[0].loss.value == doctest::Approx(da).epsilon(1e-6));
    CHECK(v.terms[1].loss.value == doctest::Approx(cw).epsilon(1e-6));
    CHECK(v.terms[0].weight == doctest::Approx(0.01));
    CHECK(v.terms[1].weight == doctest::Approx(0.09));
  }
}

TEST_CASE("presets with given per-layer shares") {
  auto o = make_objective<float>(Preset::authors, {"a", "b", "c"}, PresetOptions{}.with_shares({1, 1, 2}));
  o.set_epoch(0, 1);
  REQUIRE(o.size() == 3);
  CHECK(o.term_weight(0) == doctest::Approx(0.025));
  CHECK(o.term_weight(1) == doctest::Approx(0.025));
  CHECK(o.term_weight(2) == doctest::Approx(0.05));
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::authors, {"a", "b"}, PresetOptions{}.with_shares({1})),
                       "1 per-layer shares given for 2 taps");
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::authors, {"a"}, PresetOptions{}.with_shares({0})), "sum to 0");
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::authors, {"a", "b"}, PresetOptions{}.with_shares({1, -1})),
                       ">= 0");
}

TEST_CASE("anticollapse: the invariance-only terms plus the three penalties at every tap, and overrides reach any preset") {
  const auto o = make_objective<float>(Preset::anticollapse, nine_taps);
  REQUIRE(o.penalty_count() == 27);
  double totals[3] = {0, 0, 0};
  for (std::size_t i = 0; i < o.penalty_count(); ++i) {
    CHECK(o.penalty_tap(i) == nine_taps[i % 9]);
    totals[int(o.penalty(i))] += o.penalty_weight(i);
  }
  const PenaltyTotals expected = preset_penalties(Preset::anticollapse);
  CHECK(totals[int(Penalty::variance)] == doctest::Approx(expected.variance));
  CHECK(totals[int(Penalty::covariance)] == doctest::Approx(expected.covariance));
  CHECK(totals[int(Penalty::pc1_share)] == doctest::Approx(expected.pc1));
  CHECK(expected.variance > 0);
  CHECK(expected.covariance > 0);
  CHECK(expected.pc1 > 0);
  for (Preset p : {Preset::baseline, Preset::invariance_only, Preset::mixed, Preset::authors})
    CHECK(make_objective<float>(p, nine_taps).penalty_count() == 0);

  // An ablation: one penalty off, at the top tap only; and a penalty added to the mixed preset.
  const auto ablated = make_objective<float>(
      Preset::anticollapse, nine_taps, PresetOptions{}.with_penalties(1.0, 0.0, 0.5).with_penalty_taps({"conv9"}));
  REQUIRE(ablated.penalty_count() == 2);
  CHECK(ablated.penalty(0) == Penalty::variance);
  CHECK(ablated.penalty(1) == Penalty::pc1_share);
  CHECK(ablated.penalty_weight(1) == doctest::Approx(0.5));
  CHECK(ablated.penalty_tap(1) == "conv9");
  PresetOptions mixed_pen;
  mixed_pen.variance = 2.0;
  CHECK(make_objective<float>(Preset::mixed, nine_taps, mixed_pen).penalty_count() == 9);
  CHECK_ERROR_CONTAINS(make_objective<float>(Preset::anticollapse, nine_taps, PresetOptions{}.with_penalties(-1, 0, 0)),
                       "variance penalty's weight must be finite and >= 0");
}
