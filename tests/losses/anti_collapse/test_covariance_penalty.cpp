// The covariance penalty against loops (values), central differences (gradients, double), the
// Gram form against the direct form, and its refusals.
#include <doctest/doctest.h>

#include <limits>

#include "invar/cpu.hpp"
#include "invar/losses/anti_collapse/covariance_penalty.hpp"
#include "losses/anti_collapse/penalty_reference.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
namespace ref = invar::test::penalty;

namespace {
// Correlated columns: x_j = z_j + 0.8 z_0.
Tensor<double> correlated_columns(index_t B, index_t F, std::uint64_t seed) {
  auto x = test::random_tensor<double>(Shape{B, F}, seed);
  for (index_t i = 0; i < B; ++i)
    for (index_t j = 1; j < F; ++j) x[i * F + j] += 0.8 * x[i * F];
  return x;
}
const CovarianceForm covariance_forms[] = {CovarianceForm::automatic, CovarianceForm::direct, CovarianceForm::gram};
}  // namespace

TEST_CASE("covariance_penalty: the value equals explicit loops in every form, F < B and F > B") {
  for (auto [B, F] : {std::pair<index_t, index_t>{16, 5}, {6, 11}}) {
    const auto x = correlated_columns(B, F, std::uint64_t(B));
    const double expected = ref::covariance_penalty(ref::features_of(x, false));
    CHECK(expected > 0.01);
    for (auto form : covariance_forms) {
      CAPTURE(int(form));
      const auto v = covariance_penalty(x, no_gradient, CovariancePenaltyOptions{}.with_form(form));
      CHECK(v.value == doctest::Approx(expected).epsilon(1e-12));
      CHECK(v.statistic == v.value);
    }
  }
  const auto maps = test::random_tensor<double>(Shape{7, 4, 3, 2}, 9);
  CHECK(covariance_penalty(maps, no_gradient).value ==
        doctest::Approx(ref::covariance_penalty(ref::features_of(maps, true))).epsilon(1e-12));
  CHECK(covariance_penalty(maps, no_gradient, CovariancePenaltyOptions{}.with_features(PenaltyFeatures::flat)).value ==
        doctest::Approx(ref::covariance_penalty(ref::features_of(maps, false))).epsilon(1e-12));
}

TEST_CASE("covariance_penalty: uncorrelated features (orthogonal centred columns) give 0") {
  // Columns of a centred orthogonal design: +-1 patterns of a Hadamard matrix of order 8.
  Tensor<double> x(Shape{8, 3});
  for (index_t i = 0; i < 8; ++i) {
    x[i * 3 + 0] = (i & 1) ? 1 : -1;
    x[i * 3 + 1] = (i & 2) ? 2 : -2;
    x[i * 3 + 2] = (i & 4) ? 3 : -3;
  }
  for (auto form : covariance_forms) CHECK(covariance_penalty(x, no_gradient, CovariancePenaltyOptions{}.with_form(form)).value ==
                                doctest::Approx(0.0).scale(1.0));
}

TEST_CASE("covariance_penalty: the Gram form equals the direct form, value and gradient") {
  for (auto [B, F] : {std::pair<index_t, index_t>{20, 6}, {5, 30}}) {
    const auto x = correlated_columns(B, F, 11);
    Tensor<double> gd(x.shape()), gg(x.shape());
    const auto vd = covariance_penalty(x, gd, CovariancePenaltyOptions{}.with_form(CovarianceForm::direct));
    const auto vg = covariance_penalty(x, gg, CovariancePenaltyOptions{}.with_form(CovarianceForm::gram));
    CHECK(vg.value == doctest::Approx(vd.value).epsilon(1e-12));
    for (index_t i = 0; i < x.numel(); ++i) CHECK(gg[i] == doctest::Approx(gd[i]).epsilon(1e-10).scale(1e-12));
  }
}

TEST_CASE("covariance_penalty: gradients match central differences (double)") {
  for (auto form : covariance_forms) {
    CAPTURE(int(form));
    const auto o = CovariancePenaltyOptions{}.with_form(form);
    CHECK(ref::gradient_error(correlated_columns(7, 4, 12), [&](const Tensor<double>& x, auto&& g) {
            return covariance_penalty(x, g, o);
          }) < 1e-7);
    CHECK(ref::gradient_error(correlated_columns(4, 9, 13), [&](const Tensor<double>& x, auto&& g) {
            return covariance_penalty(x, g, o);
          }) < 1e-7);
    const auto maps = test::random_tensor<double>(Shape{5, 3, 2, 2}, 14);
    for (auto view : {PenaltyFeatures::channel_mean, PenaltyFeatures::flat}) {
      CAPTURE(to_string(view));
      const auto ov = CovariancePenaltyOptions{o}.with_features(view);
      CHECK(ref::gradient_error(maps, [&](const Tensor<double>& x, auto&& g) { return covariance_penalty(x, g, ov); }) <
            1e-7);
    }
  }
}

TEST_CASE("covariance_penalty: gradient_scale and accumulate, and float agrees with double") {
  const auto x = correlated_columns(24, 10, 15);
  Tensor<double> g1(x.shape()), g2(x.shape());
  covariance_penalty(x, g1);
  ops::fill(g2, -1.0);
  covariance_penalty(x, g2, CovariancePenaltyOptions{}.with_gradient_scale(0.5).accumulating());
  for (index_t i = 0; i < x.numel(); ++i) CHECK(g2[i] == doctest::Approx(-1.0 + 0.5 * g1[i]).epsilon(1e-14));

  Tensor<float> xf(x.shape());
  for (index_t i = 0; i < x.numel(); ++i) xf[i] = float(x[i]);
  Tensor<float> gf(x.shape());
  CHECK(covariance_penalty(xf, gf).value == doctest::Approx(covariance_penalty(x, no_gradient).value).epsilon(1e-5));
  for (index_t i = 0; i < x.numel(); ++i) CHECK(double(gf[i]) == doctest::Approx(g1[i]).epsilon(1e-4).scale(1e-3));
}

TEST_CASE("covariance_penalty: bad input is an invar::Error that names it") {
  CHECK_ERROR_CONTAINS(covariance_penalty(test::random_tensor<double>(Shape{1, 4}, 1), no_gradient),
                       "covariance_penalty: needs at least 2 rows");
  auto x = test::random_tensor<double>(Shape{5, 4}, 2);
  x[0] = std::numeric_limits<double>::infinity();
  CHECK_ERROR_CONTAINS(covariance_penalty(x, no_gradient), "covariance_penalty: x has a non-finite value (inf) at row 0");
  Tensor<double> wrong(Shape{5, 3});
  CHECK_ERROR_CONTAINS(covariance_penalty(test::random_tensor<double>(Shape{5, 4}, 2), wrong), "grad has shape");
}
