// The authors' invariance score against explicit loops, its known values (identical
// augmentations: 1; augmentation = another image: about 0), thread independence, errors, and
// collapsed features (a dead layer: undefined; rank-1 features: the formula's value).
#include <doctest/doctest.h>

#include <cmath>

#include "invar/cpu.hpp"
#include "invar/analysis/invariance_score.hpp"
#include "invar/metrics/cosine_distance.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("analysis");

TEST_CASE("invariance_score equals the formula computed with explicit loops") {
  const index_t n = 7, d = 5;
  const auto x = test::random_tensor<double>(Shape{n, d}, 1);
  auto g = test::random_tensor<double>(Shape{n, d}, 2, -0.1, 0.1);
  for (index_t i = 0; i < n * d; ++i) g[i] += x[i];  // small perturbations of x
  const auto s = analysis::invariance_score(MeanSquaredDifference{}, x, g);
  double mean = 0;
  for (index_t i = 0; i < n; ++i) {
    double total = 0, own = 0;
    for (index_t j = 0; j < n; ++j)
      for (index_t k = 0; k < d; ++k) total += (x(i, k) - x(j, k)) * (x(i, k) - x(j, k)) / double(d);
    for (index_t k = 0; k < d; ++k) own += (x(i, k) - g(i, k)) * (x(i, k) - g(i, k)) / double(d);
    const double si = 1.0 - double(n) * own / total;
    CHECK(s.per_row[std::size_t(i)] == doctest::Approx(si).epsilon(1e-12));
    mean += si / double(n);
  }
  CHECK(s.mean == doctest::Approx(mean).epsilon(1e-12));
  CHECK(s.skipped == 0);
  CHECK(s.mean > 0.5);  // small perturbations: nearly invariant
}

TEST_CASE("invariance_score: identical augmentations score 1, unrelated ones about 0") {
  const auto x = test::random_tensor<float>(Shape{200, 8}, 3);
  CHECK(analysis::invariance_score(CosineDistance{}, x, x).mean == doctest::Approx(1.0));
  const auto other = test::random_tensor<float>(Shape{200, 8}, 4);  // as far as any other image
  CHECK(std::abs(analysis::invariance_score(MeanSquaredDifference{}, x, other).mean) < 0.15);
}

TEST_CASE("invariance_score: the same bits on 1 and 2 threads, skipped rows and errors") {
  const auto x = test::random_tensor<double>(Shape{300, 16}, 5);
  const auto g = test::random_tensor<double>(Shape{300, 16}, 6);
  analysis::InvarianceScore one, two;
  {
    ThreadScope t(1);
    one = analysis::invariance_score(MeanSquaredDifference{}, x, g);
  }
  {
    ThreadScope t(2);
    two = analysis::invariance_score(MeanSquaredDifference{}, x, g);
  }
  CHECK(one.per_row == two.per_row);
  Tensor<double> same(Shape{3, 2});
  CHECK_ERROR_CONTAINS(analysis::invariance_score(MeanSquaredDifference{}, x, same), "same shape");
  auto bad = Tensor<double>::copy_of(g.view());
  bad(4, 3) = std::nan("");
  CHECK_ERROR_CONTAINS(analysis::invariance_score(MeanSquaredDifference{}, x, bad), "image 4 or of its augmentation are not finite");
  CHECK_ERROR_CONTAINS(analysis::invariance_score(MeanSquaredDifference{}, same.view().reshape(Shape{1, 6}),
                                                  same.view().reshape(Shape{1, 6})),
                       "at least 2 images");
}

TEST_CASE("invariance_score: a dead layer is undefined (NaN, every row skipped), rank-1 features have their value") {
  Tensor<float> dead(Shape{3, 4});  // every image maps to the same (zero) features
  auto moved = test::random_tensor<float>(Shape{3, 4}, 7);
  for (const auto* g : {&dead, &moved}) {  // whatever the augmentations do
    const auto s = analysis::invariance_score(MeanSquaredDifference{}, dead, *g);
    CHECK(std::isnan(s.mean));
    CHECK(s.skipped == 3);
    for (const double v : s.per_row) CHECK(std::isnan(v));
  }
  // Rank 1: one live unit of four, a = {0, 1, 2, 3} (image 0 dead), augmentations b = {0.5, 1, 2, 2}.
  // S_i = 1 - N (a_i - b_i)^2 / sum_j (a_i - a_j)^2: 1 - 4 (0.25) / 14, 1, 1, 1 - 4 / 14.
  Tensor<double> x(Shape{4, 4}), g(Shape{4, 4});
  const double a[4] = {0, 1, 2, 3}, b[4] = {0.5, 1, 2, 2};
  for (index_t i = 0; i < 4; ++i) x(i, 2) = a[i], g(i, 2) = b[i];
  const auto s = analysis::invariance_score(MeanSquaredDifference{}, x, g);
  CHECK(s.skipped == 0);
  CHECK(s.per_row[0] == doctest::Approx(13.0 / 14.0).epsilon(1e-15));
  CHECK(s.per_row[1] == 1.0);
  CHECK(s.per_row[3] == doctest::Approx(10.0 / 14.0).epsilon(1e-15));
  CHECK(s.mean == doctest::Approx(51.0 / 56.0).epsilon(1e-15));
}

TEST_SUITE_END();
