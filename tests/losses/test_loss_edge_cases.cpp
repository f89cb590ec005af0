// The edge cases of docs/losses.md, each with its defined result.
#include <doctest/doctest.h>

#include <limits>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"

using namespace invar;

namespace {
bool all_finite(const Tensor<double>& g) {
  for (auto v : g)
    if (!std::isfinite(v)) return false;
  return true;
}
}  // namespace

TEST_CASE("one-row groups: no pairs, paper counts their self-pair (0), pooled ignores them") {
  const auto b = test::loss_batch(4, 1);  // seed 30 has a single row
  Tensor<double> x(Shape{3, 2});
  x(0, 0) = 1;
  x(1, 0) = 2;
  x(2, 1) = 5;
  const auto singles = test::id_tensor({0, 1, 2});
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    test::for_each_metric([&](auto m) {
      Tensor<double> g(x.shape());
      const auto v = augmentation_invariance(m, x, singles, g, GroupLossOptions{}.with_convention(conv));
      CHECK(v.numerator == 0.0);
      CHECK(v.value == 0.0);
      CHECK(v.denominator > 0.0);
      for (auto e : g) CHECK(e == 0.0);
    });
  }
}

TEST_CASE("a batch that is one group: numerator == denominator, L = den / (den + eps)") {
  const auto b = test::loss_batch(5, 2);
  const auto one = test::id_tensor(std::vector<index_t>(13, 42));
  for (auto conv : {PairConvention::paper, PairConvention::pooled})
    test::for_each_metric([&](auto m) {
      const auto v = augmentation_invariance(m, b.x, one, no_gradient, GroupLossOptions{}.with_convention(conv));
      CHECK(v.numerator == doctest::Approx(v.denominator).epsilon(1e-12));
      CHECK(v.value == doctest::Approx(1.0).epsilon(1e-9));
    });
}

TEST_CASE("all rows equal: zero denominator gives L = 0 and a zero, finite gradient (same epsilon)") {
  Tensor<double> x(Shape{6, 3});
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 3; ++j) x(i, j) = 0.5 + j;
  const auto seeds = test::id_tensor({0, 0, 1, 1, 2, 2});
  for (auto path : {LossPath::automatic, LossPath::pairwise})
    test::for_each_metric([&](auto m) {
      Tensor<double> g(x.shape());
      const auto v = augmentation_invariance(m, x, seeds, g, GroupLossOptions{}.with_path(path));
      CAPTURE(decltype(m)::name);
      CHECK(v.denominator == 0.0);
      CHECK(v.value == 0.0);
      CHECK(all_finite(g));
      for (auto e : g) CHECK(e == 0.0);
    });
  const auto v = augmentation_invariance(MeanSquaredDifference{}, x, seeds, no_gradient,
                                         GroupLossOptions{}.with_epsilon(1e-6));
  CHECK(v.value == 0.0);
}

TEST_CASE("epsilon = 0 with all rows equal: N = R = 0 gives L = 0 and a zero gradient, as any epsilon > 0") {
  Tensor<double> x(Shape{6, 3});
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 3; ++j) x(i, j) = 0.5 + j;
  const auto seeds = test::id_tensor({0, 0, 1, 1, 2, 2});
  for (auto conv : {PairConvention::paper, PairConvention::pooled})
    for (auto path : {LossPath::automatic, LossPath::pairwise})
      test::for_each_metric([&](auto m) {
        CAPTURE(decltype(m)::name);
        CAPTURE(to_string(conv));
        const auto o = GroupLossOptions{}.with_convention(conv).with_path(path);
        Tensor<double> g0(x.shape()), g1(x.shape());
        for (auto& e : g0) e = 7.0;  // overwritten, not left as it was
        const auto zero = augmentation_invariance(m, x, seeds, g0, GroupLossOptions{o}.with_epsilon(0));
        const auto tiny = augmentation_invariance(m, x, seeds, g1, o);
        CHECK(zero.numerator == 0.0);
        CHECK(zero.denominator == 0.0);
        CHECK(zero.value == 0.0);
        CHECK(zero.value == tiny.value);
        for (index_t i = 0; i < x.numel(); ++i) {
          CHECK(g0[i] == 0.0);
          CHECK(g0[i] == g1[i]);
        }
        // class_invariance and a same-class reference take the same rule
        const auto classes = test::id_tensor({0, 0, 0, 1, 1, 1});
        CHECK(class_invariance(m, x, classes, no_gradient, GroupLossOptions{o}.with_epsilon(0)).value == 0.0);
        CHECK(augmentation_invariance(m, x, seeds, same_class(classes), no_gradient, GroupLossOptions{o}.with_epsilon(0))
                  .value == 0.0);
      });
}

TEST_CASE("epsilon = 0, zero denominator but a nonzero numerator: invar::Error (L would be infinite)") {
  // Rows 0, 1 equal and rows 2, 3 equal: the reference groups {0, 1} and {2, 3} have distance 0,
  // the groups {0, 2} and {1, 3} do not.
  Tensor<double> x(Shape{4, 2});
  x(0, 0) = x(1, 0) = 1;
  x(2, 1) = x(3, 1) = 1;
  const auto groups = test::id_tensor({0, 1, 0, 1});
  const auto reference_ids = test::id_tensor({5, 5, 6, 6});
  const auto reference = same_group(reference_ids);
  for (auto path : {LossPath::automatic, LossPath::pairwise})
    test::for_each_metric([&](auto m) {
      CAPTURE(decltype(m)::name);
      Tensor<double> g(x.shape());
      CHECK_THROWS_WITH_AS(
          group_invariance(m, x, groups, reference, g, GroupLossOptions{}.with_epsilon(0).with_path(path)),
          doctest::Contains("the denominator is 0 (every reference pair has distance 0) and epsilon is 0, but the "
                            "numerator is"),
          Error);
      // with the default epsilon the value is finite (and huge)
      const auto v = group_invariance(m, x, groups, reference, g, GroupLossOptions{}.with_path(path));
      CHECK(v.denominator == 0.0);
      CHECK(v.numerator > 0.0);
      CHECK(std::isfinite(v.value));
    });
}

TEST_CASE("NaN or Inf in X: invar::Error naming the row and column") {
  auto b = test::loss_batch(4, 3);
  const auto seeds = test::id_tensor(b.seeds);
  b.x(5, 2) = std::numeric_limits<double>::quiet_NaN();
  Tensor<double> g(b.x.shape());
  CHECK_THROWS_WITH_AS(augmentation_invariance(MeanSquaredDifference{}, b.x, seeds, g),
                       doctest::Contains("non-finite value (nan) at row 5, column 2"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(Euclidean{}, b.x, seeds, g),
                       doctest::Contains("at row 5, column 2"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(CorrelationDistance{}, b.x, seeds, g),
                       doctest::Contains("non-finite value (nan) at row 5, column 2"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(CosineDistance{}, b.x, seeds, g),
                       doctest::Contains("non-finite value (nan) at row 5, column 2"), Error);
  b.x(5, 2) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(class_invariance(CosineDistance{}, b.x, test::id_tensor(b.classes), no_gradient),
                       doctest::Contains("non-finite value (inf) at row 5, column 2"), Error);
  CHECK_THROWS_WITH_AS(class_invariance(Euclidean{}, b.x, test::id_tensor(b.classes), no_gradient),
                       doctest::Contains("non-finite value (inf) at row 5, column 2"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(CorrelationDistance{}, b.x, seeds, g),
                       doctest::Contains("non-finite value (inf) at row 5, column 2"), Error);
}

TEST_CASE("finite rows whose squared norms overflow are reported, not read as zero rows") {
  auto b = test::loss_batch(4, 3);
  const auto seeds = test::id_tensor(b.seeds);
  for (index_t k = 0; k < 4; ++k) b.x(5, k) = 1e200;  // ||x_5||^2 = 4e400: Inf in double
  CHECK_THROWS_AS(augmentation_invariance(CosineDistance{}, b.x, seeds, no_gradient), Error);
  CHECK_THROWS_AS(augmentation_invariance(Euclidean{}, b.x, seeds, no_gradient), Error);
}

TEST_CASE("ids need not be contiguous or sorted: relabelling to 0..K-1 in order gives the same loss") {
  const auto b = test::loss_batch(4, 4);
  std::vector<index_t> dense;
  for (auto s : b.seeds) dense.push_back(s == 1 ? 0 : s == 4 ? 1 : s == 9 ? 2 : s == 12 ? 3 : 4);
  const auto a = augmentation_invariance(Euclidean{}, b.x, test::id_tensor(b.seeds), no_gradient);
  const auto c = augmentation_invariance(Euclidean{}, b.x, test::id_tensor(dense), no_gradient);
  CHECK(a.value == c.value);
}

TEST_CASE("bad input: B = 0, mismatched sizes, bad ids, aliasing, bad options -> invar::Error") {
  const auto b = test::loss_batch(4, 5);
  const auto seeds = test::id_tensor(b.seeds);
  const MeanSquaredDifference msd;
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, Tensor<double>(Shape{0, 4}), Tensor<index_t>(Shape{0}), no_gradient),
                       doctest::Contains("no rows (B = 0)"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, b.x, test::id_tensor({1, 2}), no_gradient),
                       doctest::Contains("one group id per row of x (13)"), Error);
  Tensor<double> small(Shape{13, 3});
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, b.x, seeds, small),
                       doctest::Contains("grad has shape [13, 3], x has [13, 4]"), Error);
  auto bad = b.seeds;
  bad[3] = -5;
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, b.x, test::id_tensor(bad), no_gradient),
                       doctest::Contains("id -5 of row 3 is negative"), Error);
  Tensor<double> x = b.x;
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, x, seeds, x), doctest::Contains("must not alias"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, b.x, seeds, no_gradient, GroupLossOptions{}.with_epsilon(-1)),
                       doctest::Contains("epsilon must be finite and >= 0"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(Euclidean{}, b.x, seeds, no_gradient,
                                               GroupLossOptions{}.with_path(LossPath::linear)),
                       doctest::Contains("needs a squared-difference metric; euclidean"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, Tensor<double>(Shape{13}), seeds, no_gradient),
                       doctest::Contains("one row per sample"), Error);
  // A reference grouping without any pair of distinct rows makes the denominator 0 by construction.
  std::vector<index_t> singles(13);
  std::iota(singles.begin(), singles.end(), 0);
  CHECK_THROWS_WITH_AS(
      augmentation_invariance(msd, b.x, seeds, same_class(test::id_tensor(singles)), no_gradient),
      doctest::Contains("reference set has no pair of distinct rows"), Error);
  CHECK_THROWS_WITH_AS(augmentation_invariance(msd, b.x, seeds, same_class(test::id_tensor({1})), no_gradient),
                       doctest::Contains("one reference id per row of x (13)"), Error);
}

TEST_CASE("unlabelled rows: in the all-pairs denominator of L_C, in no class") {
  Tensor<double> x(Shape{4, 1});
  x[0] = 0;
  x[1] = 1;
  x[2] = 5;  // unlabelled: only in the denominator
  x[3] = 2;
  const auto v = class_invariance(SquaredEuclidean{}, x, test::id_tensor({0, 0, no_group, 0}), no_gradient,
                                  GroupLossOptions{}.with_convention(PairConvention::pooled).with_epsilon(0));
  // class pairs: (0,1) 1, (0,3) 4, (1,3) 1 -> 2; all pairs: 1, 25, 4, 16, 1, 9 -> 56 / 6
  CHECK(v.numerator == doctest::Approx(2.0));
  CHECK(v.denominator == doctest::Approx(56.0 / 6));
  // every row unlabelled: no pairs in the numerator, L = 0
  const auto none = class_invariance(SquaredEuclidean{}, x, test::id_tensor({no_group, no_group, no_group, no_group}),
                                     no_gradient);
  CHECK(none.value == 0.0);
}
