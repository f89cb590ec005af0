// Representational dissimilarity matrices: both metrics against explicit loops (symmetric, zero
// diagonal), select_per_class, block and class contrasts against explicit averages on a hand-made
// matrix, animate classes sharing a direction, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/dissimilarity.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using analysis::RdmMetric;

TEST_SUITE_BEGIN("analysis");

namespace {

double naive_pearson_distance(const Tensor<double>& x, index_t a, index_t b) {
  const index_t d = x.dim(1);
  double ma = 0, mb = 0;
  for (index_t j = 0; j < d; ++j) ma += x(a, j), mb += x(b, j);
  ma /= double(d);
  mb /= double(d);
  double sab = 0, saa = 0, sbb = 0;
  for (index_t j = 0; j < d; ++j) {
    sab += (x(a, j) - ma) * (x(b, j) - mb);
    saa += (x(a, j) - ma) * (x(a, j) - ma);
    sbb += (x(b, j) - mb) * (x(b, j) - mb);
  }
  return 1.0 - sab / std::sqrt(saa * sbb);
}

double naive_sq_euclidean_per_dim(const Tensor<double>& x, index_t a, index_t b) {
  double s = 0;
  for (index_t j = 0; j < x.dim(1); ++j) s += (x(a, j) - x(b, j)) * (x(a, j) - x(b, j));
  return s / double(x.dim(1));
}

}  // namespace

TEST_CASE("rdm: both metrics equal explicit loops, symmetric with a zero diagonal") {
  auto x = test::random_tensor<double>(Shape{12, 9}, 1, 3.0, 5.0);  // an offset: no cancellation trouble
  const index_t n = 12;
  for (auto metric : {RdmMetric::correlation, RdmMetric::squared_euclidean_per_dim}) {
    INFO("metric ", int(metric));
    const Tensor<double> r = analysis::rdm(x, metric);
    REQUIRE(r.shape() == Shape{n, n});
    for (index_t i = 0; i < n; ++i) {
      CHECK(r(i, i) == 0.0);
      for (index_t j = 0; j < n; ++j) {
        CHECK(r(i, j) == r(j, i));
        if (i == j) continue;
        const double expected = metric == RdmMetric::correlation ? naive_pearson_distance(x, i, j)
                                                                 : naive_sq_euclidean_per_dim(x, i, j);
        CHECK(r(i, j) == doctest::Approx(expected).epsilon(1e-11));
      }
    }
  }
  // float input, rank > 2 (rows x flattened rest)
  const auto xf = test::random_tensor<float>(Shape{5, 2, 3}, 2);
  Tensor<double> xd(Shape{5, 6});
  for (index_t i = 0; i < 30; ++i) xd[i] = double(xf[i]);
  const Tensor<double> rf = analysis::rdm(xf, RdmMetric::squared_euclidean_per_dim);
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 5; ++j)
      if (i != j) CHECK(rf(i, j) == doctest::Approx(naive_sq_euclidean_per_dim(xd, i, j)).epsilon(1e-11));
  // Perfectly (anti-)correlated rows.
  Tensor<double> c(Shape{3, 4});
  for (index_t j = 0; j < 4; ++j) c(0, j) = double(j), c(1, j) = 2.0 * double(j) + 7, c(2, j) = -double(j);
  const Tensor<double> rc = analysis::rdm(c);
  CHECK(rc(0, 1) == doctest::Approx(0.0).scale(1));
  CHECK(rc(0, 2) == doctest::Approx(2.0));
}

TEST_CASE("select_per_class: the first n rows of every class, classes in increasing order") {
  Tensor<index_t> labels(Shape{12});
  const index_t values[] = {3, 1, 3, -1, 0, 1, 3, 0, 1, 0, 3, 1};
  for (index_t i = 0; i < 12; ++i) labels[i] = values[i];
  const Tensor<index_t> sel = analysis::select_per_class(labels, 2);
  const std::vector<index_t> expected{4, 7, 1, 5, 0, 2};
  REQUIRE(sel.numel() == 6);
  for (index_t i = 0; i < 6; ++i) CHECK(sel[i] == expected[std::size_t(i)]);
  const Tensor<index_t> three = analysis::select_per_class(labels, 3);
  const std::vector<index_t> e3{4, 7, 9, 1, 5, 8, 0, 2, 6};
  for (index_t i = 0; i < 9; ++i) CHECK(three[i] == e3[std::size_t(i)]);
  CHECK_ERROR_CONTAINS(analysis::select_per_class(labels, 4), "class 0 has only 3 rows, 4 requested");
  CHECK_ERROR_CONTAINS(analysis::select_per_class(labels, 0), "n_per_class must be >= 1");
}

TEST_CASE("block_contrast and class_contrast equal explicit averages on a hand-made matrix") {
  // 6 rows: labels 0, 0, 1, 2, 2, 5 (class 5 in neither group). Group A = {0, 1}, B = {2}.
  const index_t n = 6;
  Tensor<index_t> labels(Shape{n});
  const index_t lv[] = {0, 0, 1, 2, 2, 5};
  for (index_t i = 0; i < n; ++i) labels[i] = lv[i];
  Tensor<double> r(Shape{n, n});
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < i; ++j) r(i, j) = r(j, i) = double(10 * i + j);
  for (index_t i = 0; i < n; ++i) r(i, i) = 100.0;  // must be excluded
  // Explicit: A rows {0,1,2}: pairs (1,0)=10, (2,0)=20, (2,1)=21 -> mean 17.
  // B rows {3,4}: (4,3)=43. Between: (3,0)=30,(3,1)=31,(3,2)=32,(4,0)=40,(4,1)=41,(4,2)=42 -> 36.
  const auto b = analysis::block_contrast(r, labels, {0, 1}, {2});
  CHECK(b.within_a == doctest::Approx(17.0));
  CHECK(b.within_b == doctest::Approx(43.0));
  CHECK(b.between == doctest::Approx(36.0));
  CHECK(b.rows_a == 3);
  CHECK(b.rows_b == 2);
  // Within class: (1,0)=10, (4,3)=43 -> 26.5. Between: the other 15 - 2 = 13 unordered pairs.
  double total = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < i; ++j) total += r(i, j);
  const auto c = analysis::class_contrast(r, labels);
  CHECK(c.within_class == doctest::Approx(26.5));
  CHECK(c.between_class == doctest::Approx((total - 53.0) / 13.0));
  CHECK_ERROR_CONTAINS(analysis::block_contrast(r, labels, {0, 2}, {2}), "class 2 is in both groups");
  CHECK_ERROR_CONTAINS(analysis::block_contrast(r, labels, {1}, {2}), "at least 2 rows");
  Tensor<index_t> short_labels(Shape{4});
  CHECK_ERROR_CONTAINS(analysis::class_contrast(r, short_labels), "one label per row");
}

TEST_CASE("rdm: CIFAR-10 animate classes sharing a direction are closer to each other than to inanimate ones") {
  const index_t per_class = 8, d = 20;
  std::mt19937_64 rng(7);
  Tensor<index_t> all_labels(Shape{10 * per_class + 5});
  Tensor<float> x(Shape{10 * per_class + 5, d});
  // Interleaved classes (row i has class i % 10), then select_per_class sorts them by class.
  for (index_t i = 0; i < all_labels.dim(0); ++i) {
    const index_t c = i % 10;
    all_labels[i] = c;
    const bool animate = c >= 2 && c <= 7;
    for (index_t j = 0; j < d; ++j) x(i, j) = float(test::uniform(rng, -1, 1));
    if (animate) x(i, 0) += 4.0f, x(i, 1) += 4.0f;  // shared animate direction
    else x(i, 2 + c % 4) += 4.0f;                     // one direction per inanimate class
    x(i, 10 + c) += 1.0f;                             // a weak class signature
  }
  const Tensor<index_t> sel = analysis::select_per_class(all_labels, per_class);
  REQUIRE(sel.numel() == 10 * per_class);
  Tensor<float> xs(Shape{10 * per_class, d});
  Tensor<index_t> ls(Shape{10 * per_class});
  for (index_t r = 0; r < sel.numel(); ++r) {
    for (index_t j = 0; j < d; ++j) xs(r, j) = x(sel[r], j);
    ls[r] = all_labels[sel[r]];
    CHECK(ls[r] == r / per_class);
  }
  for (auto metric : {RdmMetric::correlation, RdmMetric::squared_euclidean_per_dim}) {
    INFO("metric ", int(metric));
    const Tensor<double> r = analysis::rdm(xs, metric);
    const auto b = analysis::block_contrast(r, ls, analysis::cifar10_animate, analysis::cifar10_inanimate);
    CHECK(b.rows_a == 6 * per_class);
    CHECK(b.rows_b == 4 * per_class);
    CHECK(b.within_a < 0.5 * b.between);
    const auto c = analysis::class_contrast(r, ls);
    CHECK(c.within_class < c.between_class);
  }
}

TEST_CASE("rdm: errors") {
  auto x = test::random_tensor<double>(Shape{4, 3}, 9);
  x(2, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(analysis::rdm(x), "feature 1 of row 2 is not finite");
  CHECK_ERROR_CONTAINS(analysis::rdm(Tensor<double>(Shape{3, 1})), "needs D >= 2");
  CHECK_ERROR_CONTAINS(analysis::rdm(Tensor<double>(Shape{3})), "must be N x D");
}

TEST_CASE("rdm: constant rows are undefined (NaN) pairs, every other pair as usual") {
  // Rows 1 (all zero: a dead image) and 3 (all 0.1: equal values whose mean is not exactly 0.1)
  // are constant; rows 0, 2 and 4 are not.
  Tensor<double> x(Shape{5, 3});
  const double rows[5][3] = {{1, 2, 4}, {0, 0, 0}, {3, 1, 2}, {0.1, 0.1, 0.1}, {-1, 5, 0}};
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 3; ++j) x(i, j) = rows[i][j];
  const Tensor<double> r = analysis::rdm(x);
  for (index_t i = 0; i < 5; ++i) {
    CHECK(r(i, i) == 0.0);  // an image is not dissimilar to itself, constant or not
    for (index_t j = 0; j < 5; ++j) {
      if (i == j) continue;
      INFO(i, ", ", j);
      const bool undefined = i == 1 || i == 3 || j == 1 || j == 3;
      if (undefined) CHECK(std::isnan(r(i, j)));
      else CHECK(r(i, j) == doctest::Approx(naive_pearson_distance(x, i, j)).epsilon(1e-12));
    }
  }
  CHECK(analysis::constant_rows(x) == std::vector<index_t>{1, 3});
  // The same rows without the constant ones give the same defined entries, to the bit.
  Tensor<double> live(Shape{3, 3});
  for (index_t j = 0; j < 3; ++j) live(0, j) = x(0, j), live(1, j) = x(2, j), live(2, j) = x(4, j);
  const Tensor<double> rl = analysis::rdm(live);
  CHECK(r(0, 2) == rl(0, 1));
  CHECK(r(2, 4) == rl(1, 2));
  // The squared distance is defined for every pair.
  const Tensor<double> e = analysis::rdm(x, RdmMetric::squared_euclidean_per_dim);
  for (index_t i = 0; i < 25; ++i) CHECK(std::isfinite(e[i]));
  CHECK(e(1, 3) == doctest::Approx(3 * 0.01 / 3).epsilon(1e-12));
}

TEST_CASE("rdm: rank-1 features are perfectly correlated, dead rows undefined, contrasts over defined pairs") {
  // One live unit (column 2) of four: a_i > 0 for rows 0, 1, 3, 4; row 2 dead (all zero).
  Tensor<double> x(Shape{6, 4});
  const double a[6] = {0.5, 2.0, 0.0, 1.5, 3.0, 0.25};
  for (index_t i = 0; i < 6; ++i) x(i, 2) = a[i];
  const Tensor<double> r = analysis::rdm(x);
  CHECK(analysis::constant_rows(x) == std::vector<index_t>{2});
  for (index_t j = 0; j < 6; ++j) CHECK(std::isnan(r(2, j)) == (j != 2));
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 6; ++j)
      if (i != j && i != 2 && j != 2) CHECK((r(i, j) >= 0 && r(i, j) <= 1e-12));

  // Contrasts: classes {0, 0, 0, 1, 1, 1}; class 0's pairs with row 2 are undefined and skipped.
  Tensor<index_t> labels(Shape{6});
  for (index_t i = 0; i < 6; ++i) labels[i] = i < 3 ? 0 : 1;
  Tensor<double> m(Shape{6, 6});  // a hand-made RDM with the same undefined row
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 6; ++j)
      m(i, j) = i == j ? 0.0 : (i == 2 || j == 2) ? std::nan("") : (labels[i] == labels[j] ? 0.25 : 1.0);
  m(0, 1) = m(1, 0) = 0.75;
  const auto c = analysis::class_contrast(m, labels);
  // Within: (0,1), (1,0) at 0.75 and the 6 ordered pairs of class 1 at 0.25; between: 6 defined
  // ordered pairs of rows {0, 1} x {3, 4, 5} both ways (12) at 1; undefined: row 2's 10 pairs.
  CHECK(c.within_class == doctest::Approx((2 * 0.75 + 6 * 0.25) / 8).epsilon(1e-15));
  CHECK(c.between_class == 1.0);
  CHECK(c.undefined_pairs == 10);
  const auto b = analysis::block_contrast(m, labels, {0}, {1});
  CHECK(b.within_a == 0.75);
  CHECK(b.within_b == 0.25);
  CHECK(b.between == 1.0);
  CHECK(b.undefined_pairs == 10);
}

TEST_CASE("rdm: all-constant features give an all-undefined RDM whose contrasts are NaN, not an error") {
  Tensor<float> dead(Shape{4, 5});  // every unit dead for every image
  const Tensor<double> r = analysis::rdm(dead);
  CHECK(analysis::constant_rows(dead) == std::vector<index_t>{0, 1, 2, 3});
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK((i == j ? r(i, j) == 0.0 : std::isnan(r(i, j))));
  Tensor<index_t> labels(Shape{4});
  for (index_t i = 0; i < 4; ++i) labels[i] = i / 2;
  const auto c = analysis::class_contrast(r, labels);
  CHECK(std::isnan(c.within_class));
  CHECK(std::isnan(c.between_class));
  CHECK(c.undefined_pairs == 12);
  const auto b = analysis::block_contrast(r, labels, {0}, {1});
  CHECK(std::isnan(b.within_a));
  CHECK(std::isnan(b.between));
  // An infinite entry is still an error; labels that give no pair of a kind too.
  Tensor<double> inf(Shape{4, 4});
  inf(0, 1) = HUGE_VAL;
  CHECK_ERROR_CONTAINS(analysis::class_contrast(inf, labels), "R(0, 1) is not finite");
  Tensor<index_t> one_class(Shape{4});
  CHECK_ERROR_CONTAINS(analysis::class_contrast(r, one_class), "two different classes");
}

TEST_SUITE_END();
