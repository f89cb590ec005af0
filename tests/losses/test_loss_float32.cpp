// float32 features far from the origin and close together: the case where the expansion
// ||a||^2 - 2 a.b + ||b||^2 cancels. Computed from shifted data in double, nothing is lost.
#include <doctest/doctest.h>

#include <random>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"

using namespace invar;

TEST_CASE("X = 1e3 + 1e-2 * noise: float32 within 1e-3 of the naive double result") {
  const index_t rows = 64, d = 96, k = 8;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 1.0);
  Tensor<double> xd(Shape{rows, d});
  Tensor<index_t> seeds(Shape{rows});
  std::vector<double> centre(static_cast<std::size_t>(k * d));
  for (auto& c : centre) c = noise(rng);
  for (index_t i = 0; i < rows; ++i) {
    seeds[i] = i % k;
    for (index_t j = 0; j < d; ++j)  // groups 1e-2 apart, rows within a group 3e-3 apart
      xd(i, j) = double(float(1e3 + 1e-2 * centre[std::size_t((i % k) * d + j)] + 3e-3 * noise(rng)));
  }
  const auto xf = test::cast<float>(xd);  // exactly the values above (they were rounded to float)
  const auto rows_ld = test::rows_of(xd);
  const auto ids = test::ids_of(seeds);
  test::for_each_metric([&](auto m) {
    using M = decltype(m);
    for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
      CAPTURE(M::name);
      CAPTURE(to_string(conv));
      const auto naive = test::naive_loss<M>(rows_ld, ids, {}, conv, 1e-12L);
      const auto v = augmentation_invariance(M{}, xf, seeds, no_gradient, GroupLossOptions{}.with_convention(conv));
      if constexpr (SquaredDifferenceMetric<M, float>) {
        CHECK(test::rel(v.value, double(naive.value)) < 1e-6);  // linear path: far better than required
      } else if constexpr (M::translation_invariant) {
        CHECK(test::rel(v.value, double(naive.value)) < 1e-3);  // differences first: no cancellation
      } else {
        // Cosine and correlation of rows near 1e3 * (1, ..., 1): 1 - cos ~ 1e-10 is below float32's
        // resolution of 1 (6e-8) for cosine, inherent to the metric, not to the loss. Correlation
        // centres each row first and keeps ~3 digits.
        if constexpr (std::is_same_v<M, CorrelationDistance>) CHECK(test::rel(v.value, double(naive.value)) < 1e-2);
      }
    }
  });
  // The gradient of the linear path in float32 against the double one.
  Tensor<float> gf(xf.shape());
  Tensor<double> gd(xd.shape());
  augmentation_invariance(MeanSquaredDifference{}, xf, seeds, gf);
  augmentation_invariance(MeanSquaredDifference{}, xd, seeds, gd);
  double diff = 0, norm = 0;
  for (index_t i = 0; i < gd.numel(); ++i) {
    diff = std::max(diff, std::abs(double(gf[i]) - gd[i]));
    norm = std::max(norm, std::abs(gd[i]));
  }
  CHECK(diff <= 1e-5 * norm);
}

TEST_CASE("a gradient beyond the last-level cache (streamed stores) equals the accumulated one") {
  const index_t rows = 600, d = 16384;  // 39 MB of float32: the combination streams its output
  auto x = invar::test::random_tensor<float>(Shape{rows, d}, 31);
  Tensor<index_t> seeds(Shape{rows}), classes(Shape{rows});
  for (index_t i = 0; i < rows; ++i) {
    seeds[i] = (i * 7) % 75;
    classes[i] = seeds[i] % 10;
  }
  Tensor<float> streamed(x.shape()), accumulated(x.shape());
  const auto v1 = augmentation_invariance(MeanSquaredDifference{}, x, seeds, same_class(classes), streamed);
  const auto v2 = augmentation_invariance(MeanSquaredDifference{}, x, seeds, same_class(classes), accumulated,
                                          GroupLossOptions{}.accumulating());  // reads grad: never streamed
  CHECK(v1.value == v2.value);
  double diff = 0, norm = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    diff = std::max(diff, std::abs(double(streamed[i]) - double(accumulated[i])));
    norm = std::max(norm, std::abs(double(accumulated[i])));
  }
  CHECK(norm > 0);
  CHECK(diff <= 1e-6 * norm);
}
