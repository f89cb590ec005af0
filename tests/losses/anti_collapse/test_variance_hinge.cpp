// The variance hinge against loops (values), central differences (gradients, double), its
// channel-mean form against the flat form on pooled features, and its refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "invar/cpu.hpp"
#include "invar/losses/anti_collapse/variance_hinge.hpp"
#include "losses/anti_collapse/penalty_reference.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
namespace ref = invar::test::penalty;

namespace {
// Columns with standard deviations on both sides of the target 1: half of them hinge.
Tensor<double> mixed_spread(index_t B, index_t F, std::uint64_t seed) {
  auto x = test::random_tensor<double>(Shape{B, F}, seed);
  for (index_t i = 0; i < B; ++i)
    for (index_t j = 0; j < F; ++j) x[i * F + j] *= (j % 2 == 0) ? 0.4 : 3.0;
  return x;
}
}  // namespace

TEST_CASE("variance_hinge: value and mean std equal explicit loops, flat and channel means") {
  const auto x = mixed_spread(12, 7, 1);
  const auto v = variance_hinge(x, no_gradient);
  CHECK(v.value == doctest::Approx(ref::variance_hinge(ref::features_of(x, false), 1.0, 1e-4)).epsilon(1e-12));
  CHECK(v.value > 0.1);  // the narrow columns hinge
  const auto cov = ref::covariance(ref::features_of(x, false));
  double mean_std = 0;
  for (std::size_t j = 0; j < cov.size(); ++j) mean_std += std::sqrt(cov[j][j] + 1e-4);
  CHECK(v.statistic == doctest::Approx(mean_std / double(cov.size())).epsilon(1e-12));

  const auto o = VarianceHingeOptions{}.with_target(0.7).with_epsilon(1e-3);
  CHECK(variance_hinge(x, no_gradient, o).value ==
        doctest::Approx(ref::variance_hinge(ref::features_of(x, false), 0.7, 1e-3)).epsilon(1e-12));

  const auto maps = test::random_tensor<double>(Shape{6, 3, 2, 5}, 2, -2, 2);
  CHECK(variance_hinge(maps, no_gradient).value ==
        doctest::Approx(ref::variance_hinge(ref::features_of(maps, true), 1.0, 1e-4)).epsilon(1e-12));
  CHECK(variance_hinge(maps, no_gradient, VarianceHingeOptions{}.with_features(PenaltyFeatures::flat)).value ==
        doctest::Approx(ref::variance_hinge(ref::features_of(maps, false), 1.0, 1e-4)).epsilon(1e-12));
}

TEST_CASE("variance_hinge: features above the target give 0 and no gradient") {
  const auto x = test::random_tensor<double>(Shape{20, 5}, 3, -10, 10);
  Tensor<double> g(x.shape());
  ops::fill(g, 7.0);
  const auto v = variance_hinge(x, g);
  CHECK(v.value == 0.0);
  for (double e : g) CHECK(e == 0.0);
}

TEST_CASE("variance_hinge: gradients match central differences (double)") {
  const auto flat = mixed_spread(9, 6, 4);
  CHECK(ref::gradient_error(flat, [](const Tensor<double>& x, auto&& g) { return variance_hinge(x, g); }) < 1e-7);
  const auto maps = test::random_tensor<double>(Shape{5, 3, 2, 2}, 5, -1, 1);
  for (auto view : {PenaltyFeatures::automatic, PenaltyFeatures::flat, PenaltyFeatures::channel_mean}) {
    CAPTURE(to_string(view));
    const auto o = VarianceHingeOptions{}.with_features(view);
    CHECK(ref::gradient_error(maps, [&](const Tensor<double>& x, auto&& g) { return variance_hinge(x, g, o); }) <
          1e-7);
  }
}

TEST_CASE("variance_hinge: gradient_scale scales and accumulate adds") {
  const auto x = mixed_spread(8, 4, 6);
  Tensor<double> g1(x.shape()), g2(x.shape());
  variance_hinge(x, g1);
  ops::fill(g2, 1.0);
  variance_hinge(x, g2, VarianceHingeOptions{}.with_gradient_scale(-2.5).accumulating());
  for (index_t i = 0; i < x.numel(); ++i) CHECK(g2[i] == doctest::Approx(1.0 - 2.5 * g1[i]).epsilon(1e-14));
}

TEST_CASE("variance_hinge: float agrees with double") {
  const auto xd = mixed_spread(32, 16, 7);
  Tensor<float> xf(xd.shape());
  for (index_t i = 0; i < xd.numel(); ++i) xf[i] = float(xd[i]);
  Tensor<double> gd(xd.shape());
  Tensor<float> gf(xd.shape());
  const double vd = variance_hinge(xd, gd).value, vf = variance_hinge(xf, gf).value;
  CHECK(vf == doctest::Approx(vd).epsilon(1e-5));
  for (index_t i = 0; i < xd.numel(); ++i) CHECK(double(gf[i]) == doctest::Approx(gd[i]).epsilon(1e-4).scale(1e-3));
}

TEST_CASE("variance_hinge: bad input is an invar::Error that names it") {
  const auto x = test::random_tensor<double>(Shape{4, 3}, 8);
  CHECK_ERROR_CONTAINS(variance_hinge(test::random_tensor<double>(Shape{1, 3}, 1), no_gradient), "at least 2 rows");
  CHECK_ERROR_CONTAINS(variance_hinge(test::random_tensor<double>(Shape{4}, 1), no_gradient), "one row per sample");
  CHECK_ERROR_CONTAINS(variance_hinge(x, no_gradient, VarianceHingeOptions{}.with_target(0)), "target");
  CHECK_ERROR_CONTAINS(variance_hinge(x, no_gradient, VarianceHingeOptions{}.with_epsilon(-1)), "epsilon");
  CHECK_ERROR_CONTAINS(variance_hinge(x, no_gradient, VarianceHingeOptions{}.with_features(PenaltyFeatures::channel_mean)),
                       "channel_mean features need a B x C x H x W tap");
  Tensor<double> wrong(Shape{4, 2});
  CHECK_ERROR_CONTAINS(variance_hinge(x, wrong), "grad has shape");
  auto bad = x;
  bad[5] = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(variance_hinge(bad, no_gradient), "non-finite value (nan) at row 1, column 2");
}
