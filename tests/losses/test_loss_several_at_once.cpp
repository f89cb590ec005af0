// Several losses at one x in one call (group_invariances): each value equals the naive
// computation (explicit loops), the gradient is the sum of the terms' scaled gradients (central
// differences), the linear path's single pass equals the losses called one by one for nested,
// non-nested and more groupings than one pass takes, the other paths run one by one, and bad
// calls name the problem.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"
#include "support/error_message.hpp"
#include "support/gradcheck.hpp"

using namespace invar;

TEST_SUITE_BEGIN("losses");

namespace several_at_once_test {

TensorView<const index_t> view_of(const std::vector<index_t>& v) {
  return TensorView<const index_t>(v.data(), Shape{index_t(v.size())});
}

/// The terms of a tap in the paper's training, with mixed conventions, epsilons and scales of
/// both signs: L_DA with the same-class denominator, L_C, L_DA with the all-pairs denominator.
std::vector<InvarianceTerm> tap_terms(const std::vector<index_t>& seeds, const std::vector<index_t>& classes) {
  const auto pooled = GroupLossOptions{}.with_convention(PairConvention::pooled);
  return {{view_of(seeds), same_class(view_of(classes)), GroupLossOptions{}.with_gradient_scale(0.6), "L_DA same class"},
          {view_of(classes), all_pairs(), GroupLossOptions{pooled}.with_gradient_scale(-0.3).with_epsilon(0.01), "L_C"},
          {view_of(seeds), all_pairs(), GroupLossOptions{pooled}.with_gradient_scale(1.7), "L_DA all pairs"}};
}

/// The losses called one by one (the first writing or adding as `accumulate` says, the rest
/// adding): what one call must equal.
template <class M, class T>
std::vector<LossValue> one_by_one(const M& metric, const Tensor<T>& x, const std::vector<InvarianceTerm>& terms,
                                  Tensor<T>& grad, bool accumulate) {
  std::vector<LossValue> values;
  for (std::size_t t = 0; t < terms.size(); ++t) {
    const auto o = GroupLossOptions{terms[t].options}.accumulating(accumulate || t > 0);
    values.push_back(group_invariance(metric, x, terms[t].ids, terms[t].reference, grad, o));
  }
  return values;
}

template <class T>
double max_difference_over_scale(const Tensor<T>& got, const Tensor<T>& want) {
  double diff = 0, scale = 0;
  for (index_t i = 0; i < want.numel(); ++i) {
    diff = std::max(diff, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

/// Groupings for the single-pass checks: seeds nested in classes nested in the batch; the
/// loss batch's (a seed split between a class and no class, so nothing nests but the batch); and
/// five distinct groupings, more than one pass takes.
struct Scenario {
  std::string name;
  std::vector<index_t> seeds, classes, extra_a, extra_b;
  bool five_groupings = false;
};

std::vector<Scenario> scenarios(const test::LossBatch& b) {
  std::vector<Scenario> out;
  const index_t rows = index_t(b.seeds.size());
  Scenario nested{"nested", {}, {}, {}, {}, false};
  for (index_t i = 0; i < rows; ++i) {
    nested.seeds.push_back(40 - (i * 5) % 6);  // 6 seeds of 2 or 3 rows, unsorted ids
    nested.classes.push_back(nested.seeds.back() % 3);
  }
  out.push_back(nested);
  out.push_back({"loss batch", b.seeds, b.classes, {}, {}, false});
  Scenario five{"five groupings", b.seeds, b.classes, {}, {}, true};
  for (index_t i = 0; i < rows; ++i) {
    five.extra_a.push_back(i % 2);
    five.extra_b.push_back(i % 5 == 4 ? no_group : i % 5);
  }
  out.push_back(five);
  return out;
}

std::vector<InvarianceTerm> scenario_terms(const Scenario& s) {
  auto terms = tap_terms(s.seeds, s.classes);
  if (s.five_groupings) {
    terms.push_back({view_of(s.extra_a), same_group(view_of(s.extra_b)), GroupLossOptions{}.with_gradient_scale(0.9),
                     "extra"});
  }
  return terms;
}

// The cases live in the namespace too: a unity build joins this file with others.

TEST_CASE("group_invariances: every value equals the naive computation, the gradient central differences") {
  const auto b = test::loss_batch(4, 31);
  const auto terms = tap_terms(b.seeds, b.classes);
  auto check_metric = [&](auto metric) {
    using M = decltype(metric);
    CAPTURE(M::name);
    Tensor<double> x = Tensor<double>::copy_of(b.x.view());
    Tensor<double> grad(x.shape());
    const auto values = group_invariances(metric, x, std::span<const InvarianceTerm>(terms), grad);
    REQUIRE(values.size() == terms.size());
    for (std::size_t t = 0; t < terms.size(); ++t) {
      CAPTURE(terms[t].name);
      const std::vector<index_t> groups(terms[t].ids.data(), terms[t].ids.data() + terms[t].ids.numel());
      const std::vector<index_t> reference =
          terms[t].reference.all ? std::vector<index_t>{}
                                 : std::vector<index_t>(terms[t].reference.ids.data(),
                                                        terms[t].reference.ids.data() + terms[t].reference.ids.numel());
      const auto n = test::naive_loss<M>(test::rows_of(x), groups, reference, terms[t].options.convention,
                                         terms[t].options.epsilon);
      CHECK(test::rel(values[t].value, double(n.value)) < 1e-12);
      CHECK(test::rel(values[t].numerator, double(n.numerator)) < 1e-12);
      CHECK(test::rel(values[t].denominator, double(n.denominator)) < 1e-12);
    }
    auto loss = [&] {
      const auto v = group_invariances(metric, x, std::span<const InvarianceTerm>(terms), no_gradient);
      double total = 0;
      for (std::size_t t = 0; t < terms.size(); ++t) total += terms[t].options.gradient_scale * v[t].value;
      return total;
    };
    CHECK(test::gradient_relative_error(x, grad, loss) < 1e-6);
  };
  check_metric(MeanSquaredDifference{});  // linear path, one pass
  check_metric(SquaredEuclidean{});       // linear path, one pass
  check_metric(CosineDistance{});         // Gram path, one loss at a time
  check_metric(Manhattan{});              // pairwise path, one loss at a time
}

TEST_CASE_TEMPLATE("group_invariances: the linear path's single pass equals the losses one by one", T, double, float) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-5;
  const auto b = test::loss_batch(37, 8);
  const Tensor<T> x = test::cast<T>(b.x);
  for (const Scenario& s : scenarios(b)) {
    for (bool accumulate : {false, true}) {
      CAPTURE(s.name);
      CAPTURE(accumulate);
      auto terms = scenario_terms(s);
      for (auto& t : terms) t.options.accumulate = accumulate;
      Tensor<T> got(x.shape()), want(x.shape());
      for (index_t i = 0; i < x.numel(); ++i) got[i] = want[i] = T(0.25) * T(i % 7) - T(0.5);
      if (!accumulate)
        for (index_t i = 0; i < x.numel(); ++i) got[i] = std::numeric_limits<T>::quiet_NaN();  // written, never read
      const auto values = group_invariances(MeanSquaredDifference{}, x, std::span<const InvarianceTerm>(terms), got);
      const auto expected = one_by_one(MeanSquaredDifference{}, x, terms, want, accumulate);
      REQUIRE(values.size() == expected.size());
      for (std::size_t t = 0; t < values.size(); ++t) {
        CAPTURE(terms[t].name);
        CHECK(test::rel(values[t].value, expected[t].value) < tol);
        CHECK(test::rel(values[t].numerator, expected[t].numerator) < tol);
        CHECK(test::rel(values[t].denominator, expected[t].denominator) < tol);
      }
      CHECK(max_difference_over_scale(got, want) < tol);
    }
  }
}

TEST_CASE("group_invariances: float rows far from 0 keep their digits in the single pass") {
  // Rows near 1e3 that differ by about 1e-2: the pass works on x - x_0 in double, so float32
  // features agree with the double computation on the same (float-rounded) values.
  const auto b = test::loss_batch(9, 12);
  Tensor<float> xf(b.x.shape());
  for (index_t i = 0; i < xf.numel(); ++i) xf[i] = 1000.0f + 0.1f * float(b.x[i]);
  Tensor<double> xd(xf.shape());
  for (index_t i = 0; i < xf.numel(); ++i) xd[i] = double(xf[i]);
  const auto terms = tap_terms(b.seeds, b.classes);
  Tensor<float> gf(xf.shape());
  Tensor<double> gd(xd.shape());
  const auto vf = group_invariances(MeanSquaredDifference{}, xf, std::span<const InvarianceTerm>(terms), gf);
  const auto vd = group_invariances(MeanSquaredDifference{}, xd, std::span<const InvarianceTerm>(terms), gd);
  for (std::size_t t = 0; t < terms.size(); ++t) CHECK(test::rel(vf[t].value, vd[t].value) < 1e-9);
  double diff = 0, scale = 0;
  for (index_t i = 0; i < gd.numel(); ++i) {
    diff = std::max(diff, std::abs(double(gf[i]) - gd[i]));
    scale = std::max(scale, std::abs(gd[i]));
  }
  CHECK(scale > 0);
  CHECK(diff < 1e-4 * scale);
}

TEST_CASE("group_invariances: paths other than the linear one run the losses one by one, with the same bits") {
  const auto b = test::loss_batch(6, 3);
  auto terms = tap_terms(b.seeds, b.classes);
  auto same_bits = [&](const auto& metric, const std::vector<InvarianceTerm>& ts) {
    Tensor<double> got(b.x.shape()), want(b.x.shape());
    const auto values = group_invariances(metric, b.x, std::span<const InvarianceTerm>(ts), got);
    const auto expected = one_by_one(metric, b.x, ts, want, false);
    for (std::size_t t = 0; t < ts.size(); ++t) CHECK(values[t].value == expected[t].value);
    for (index_t i = 0; i < got.numel(); ++i) REQUIRE(got[i] == want[i]);
  };
  same_bits(CosineDistance{}, terms);
  same_bits(Manhattan{}, terms);
  terms[1].options.path = LossPath::pairwise;  // one term off the linear path: no shared pass
  same_bits(MeanSquaredDifference{}, terms);
}

TEST_CASE("group_invariances: bad calls name the problem") {
  const auto b = test::loss_batch(3, 5);
  Tensor<double> grad(b.x.shape());
  const MeanSquaredDifference msd;
  CHECK_ERROR_CONTAINS(group_invariances(msd, b.x, std::span<const InvarianceTerm>(), grad), "no losses given");
  auto terms = tap_terms(b.seeds, b.classes);
  terms[2].options.accumulate = true;
  CHECK_ERROR_CONTAINS(group_invariances(msd, b.x, std::span<const InvarianceTerm>(terms), grad),
                       "loss 2 adds to the gradient while loss 0 writes it");
  terms = tap_terms(b.seeds, b.classes);
  const std::vector<index_t> short_ids(b.seeds.begin(), b.seeds.end() - 1);
  terms[1].ids = view_of(short_ids);
  CHECK_ERROR_CONTAINS(group_invariances(msd, b.x, std::span<const InvarianceTerm>(terms), grad),
                       "L_C: need one group id per row of x (13)");
  terms = tap_terms(b.seeds, b.classes);
  Tensor<double> x = Tensor<double>::copy_of(b.x.view());
  x(4, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(group_invariances(msd, x, std::span<const InvarianceTerm>(terms), grad),
                       "L_DA same class: x has a non-finite value (nan) at row 4, column 1");
  Tensor<double> wrong(Shape{13, 2});
  CHECK_ERROR_CONTAINS(group_invariances(msd, b.x, std::span<const InvarianceTerm>(terms), wrong),
                       "grad has shape [13, 2], x has [13, 3]");
}

}  // namespace several_at_once_test
