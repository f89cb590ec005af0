// A 5-row example small enough to compute by hand, with unequal groups and ids that are not
// contiguous, that gives a different value under each convention and reference set.
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/metrics/squared_euclidean.hpp"
#include "losses/loss_reference.hpp"

using namespace invar;

namespace {
// x = 0, 1, 3, 6, 10 (one feature, so mean squared difference = squared difference).
// Squared differences of the distinct pairs:
//   (0,1) 1  (0,2) 9  (0,3) 36  (0,4) 100  (1,2) 4  (1,3) 25  (1,4) 81  (2,3) 9  (2,4) 49  (3,4) 16
// all distinct pairs: 330 over 10 pairs. Seeds: rows {0,1,2} id 7 (pairs 1+9+4 = 14), rows {3,4} id 2 (16).
Tensor<double> five_rows() {
  Tensor<double> x(Shape{5, 1});
  const double v[] = {0, 1, 3, 6, 10};
  for (int i = 0; i < 5; ++i) x[i] = v[i];
  return x;
}
}  // namespace

TEST_CASE("hand-computed values of L_DA tell the conventions and reference sets apart") {
  const auto x = five_rows();
  const auto seeds = test::id_tensor({7, 7, 7, 2, 2});
  const auto classes = test::id_tensor({0, 0, 0, 0, 1});
  const auto paper = GroupLossOptions{}.with_epsilon(0);
  const auto pooled = GroupLossOptions{}.with_epsilon(0).with_convention(PairConvention::pooled);

  // paper: num = (1/9)(2*14) + (1/4)(2*16) = 100/9; den = (1/25)(2*330) = 26.4
  auto v = augmentation_invariance(MeanSquaredDifference{}, x, seeds, no_gradient, paper);
  CHECK(v.numerator == doctest::Approx(100.0 / 9).epsilon(1e-14));
  CHECK(v.denominator == doctest::Approx(26.4).epsilon(1e-14));
  CHECK(v.value == doctest::Approx(100.0 / 9 / 26.4).epsilon(1e-14));  // 0.420875...

  // pooled: num = (14 + 16) / 4 pairs = 7.5; den = 330 / 10 = 33
  v = augmentation_invariance(MeanSquaredDifference{}, x, seeds, no_gradient, pooled);
  CHECK(v.numerator == doctest::Approx(7.5).epsilon(1e-14));
  CHECK(v.denominator == doctest::Approx(33.0).epsilon(1e-14));
  CHECK(v.value == doctest::Approx(7.5 / 33).epsilon(1e-14));  // 0.227272...

  // same-class reference (class 0 = rows 0..3: pairs 1+9+36+4+25+9 = 84 over 6; class 1 = row 4 alone)
  // pooled: den = 84 / 6 = 14;  paper: den = 2*84 / (4^2 + 1^2) = 168/17
  v = augmentation_invariance(MeanSquaredDifference{}, x, seeds, same_class(classes), no_gradient, pooled);
  CHECK(v.denominator == doctest::Approx(14.0).epsilon(1e-14));
  CHECK(v.value == doctest::Approx(7.5 / 14).epsilon(1e-14));  // 0.535714...
  v = augmentation_invariance(MeanSquaredDifference{}, x, seeds, same_class(classes), no_gradient, paper);
  CHECK(v.denominator == doctest::Approx(168.0 / 17).epsilon(1e-14));
  CHECK(v.value == doctest::Approx((100.0 / 9) / (168.0 / 17)).epsilon(1e-14));  // 1.124339...
}

TEST_CASE("hand-computed values of L_C with an unlabelled row") {
  const auto x = five_rows();
  // classes {0,1} (pair 1) and {2,4} (pair 49); row 3 unlabelled: denominator only.
  const auto classes = test::id_tensor({0, 0, 1, no_group, 1});
  auto v = class_invariance(SquaredEuclidean{}, x, classes, no_gradient, GroupLossOptions{}.with_epsilon(0));
  CHECK(v.numerator == doctest::Approx(0.25 * 2 + 0.25 * 98).epsilon(1e-14));  // 25
  CHECK(v.denominator == doctest::Approx(26.4).epsilon(1e-14));
  CHECK(v.value == doctest::Approx(25 / 26.4).epsilon(1e-14));  // 0.94697...
  v = class_invariance(SquaredEuclidean{}, x, classes, no_gradient,
                       GroupLossOptions{}.with_epsilon(0).with_convention(PairConvention::pooled));
  CHECK(v.numerator == doctest::Approx(25.0).epsilon(1e-14));  // (1 + 49) / 2
  CHECK(v.value == doctest::Approx(25.0 / 33).epsilon(1e-14));  // 0.757575...
}

TEST_CASE("the pairwise path gives the hand-computed values too") {
  const auto x = five_rows();
  const auto seeds = test::id_tensor({7, 7, 7, 2, 2});
  auto o = GroupLossOptions{}.with_epsilon(0).with_path(LossPath::pairwise);
  CHECK(augmentation_invariance(MeanSquaredDifference{}, x, seeds, no_gradient, o).value ==
        doctest::Approx(100.0 / 9 / 26.4).epsilon(1e-14));
  o.convention = PairConvention::pooled;
  CHECK(augmentation_invariance(MeanSquaredDifference{}, x, seeds, no_gradient, o).value ==
        doctest::Approx(7.5 / 33).epsilon(1e-14));
}
