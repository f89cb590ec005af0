// The PC1-share penalty on planted spectra (the share is known exactly), against a full
// eigen-decomposition of a loop-built covariance, against central differences (double), and on
// its edge cases.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "invar/cpu.hpp"
#include "invar/losses/anti_collapse/pc1_share_penalty.hpp"
#include "losses/anti_collapse/penalty_reference.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
namespace ref = invar::test::penalty;

namespace {
double planted_share(const std::vector<double>& s) {
  double total = 0;
  for (double v : s) total += v * v;
  return s[0] * s[0] / total;
}
const auto precise_pc1 = Pc1SharePenaltyOptions{}.with_iterations(1e-15, 500);
}  // namespace

TEST_CASE("pc1_share_penalty: a planted spectrum gives its PC1 share exactly") {
  for (const std::vector<double>& s : {std::vector<double>{10, 1, 0.5, 0.1}, std::vector<double>{3, 2, 1.5, 1, 1},
                                       std::vector<double>{5, 0.01}}) {
    for (auto [B, F] : {std::pair<index_t, index_t>{32, 8}, {10, 40}}) {
      const auto x = ref::planted(B, F, s, 17);
      const auto v = pc1_share_penalty(x, no_gradient, Pc1SharePenaltyOptions{precise_pc1}.with_threshold(0.0));
      CHECK(v.statistic == doctest::Approx(planted_share(s)).epsilon(1e-10));
      CHECK(v.value == doctest::Approx(planted_share(s)).epsilon(1e-10));
      CHECK(v.iterations < 500);
    }
  }
  // The default tolerance converges within its iterations on a clear gap, to about 1e-6.
  const auto x = ref::planted(64, 20, {4, 2, 1, 1, 0.5}, 3);
  const auto v = pc1_share_penalty(x, no_gradient);
  CHECK(v.statistic == doctest::Approx(planted_share({4, 2, 1, 1, 0.5})).epsilon(1e-5));
  CHECK(v.iterations < 50);
}

TEST_CASE("pc1_share_penalty: the share equals a full eigen-decomposition on random and collapsed data") {
  auto x = test::random_tensor<double>(Shape{25, 6}, 21);
  CHECK(pc1_share_penalty(x, no_gradient, precise_pc1).statistic ==
        doctest::Approx(ref::pc1_share(ref::features_of(x, false))).epsilon(1e-9));
  // Near-collapse: one direction carries almost everything (the paper's 0.996).
  for (index_t i = 0; i < 25; ++i)
    for (index_t j = 0; j < 6; ++j) x[i * 6 + j] = 0.02 * x[i * 6 + j] + double(i % 7) * double(j + 1);
  const double share = ref::pc1_share(ref::features_of(x, false));
  CHECK(share > 0.99);
  const auto v = pc1_share_penalty(x, no_gradient, Pc1SharePenaltyOptions{}.with_threshold(0.3));
  CHECK(v.statistic == doctest::Approx(share).epsilon(1e-8));
  CHECK(v.value == doctest::Approx(share - 0.3).epsilon(1e-8));
  const auto maps = test::random_tensor<double>(Shape{9, 5, 2, 3}, 22);
  CHECK(pc1_share_penalty(maps, no_gradient, precise_pc1).statistic ==
        doctest::Approx(ref::pc1_share(ref::features_of(maps, true))).epsilon(1e-9));
}

TEST_CASE("pc1_share_penalty: gradients match central differences (double)") {
  const auto o = Pc1SharePenaltyOptions{precise_pc1}.with_threshold(0.1);
  const auto x = ref::planted(12, 5, {3, 1.5, 1, 0.5, 0.2}, 23);
  CHECK(pc1_share_penalty(x, no_gradient, o).value > 0);
  CHECK(ref::gradient_error(x, [&](const Tensor<double>& in, auto&& g) { return pc1_share_penalty(in, g, o); }) < 1e-6);
  const auto wide = ref::planted(6, 14, {2, 1, 0.5}, 24);
  CHECK(ref::gradient_error(wide, [&](const Tensor<double>& in, auto&& g) { return pc1_share_penalty(in, g, o); }) <
        1e-6);
  auto maps = test::random_tensor<double>(Shape{6, 3, 2, 2}, 25);
  for (index_t i = 0; i < maps.numel(); ++i) maps[i] += double((i / 12) % 3) * ((i / 4) % 3 == 0 ? 2.0 : 0.5);
  for (auto view : {PenaltyFeatures::channel_mean, PenaltyFeatures::flat}) {
    CAPTURE(to_string(view));
    const auto ov = Pc1SharePenaltyOptions{o}.with_features(view);
    CHECK(pc1_share_penalty(maps, no_gradient, ov).value > 0);
    CHECK(ref::gradient_error(maps, [&](const Tensor<double>& in, auto&& g) { return pc1_share_penalty(in, g, ov); }) <
          1e-6);
  }
}

TEST_CASE("pc1_share_penalty: below the threshold, and rows all equal, give 0 and a zero gradient") {
  const auto x = ref::planted(16, 8, {1, 1, 1, 1, 1, 1, 1, 0.9}, 26);
  Tensor<double> g(x.shape());
  ops::fill(g, 3.0);
  const auto v = pc1_share_penalty(x, g, Pc1SharePenaltyOptions{}.with_threshold(0.5));
  CHECK(v.value == 0.0);
  CHECK(v.statistic < 0.2);
  for (double e : g) CHECK(e == 0.0);

  Tensor<double> same(Shape{4, 3});
  ops::fill(same, 2.5);
  ops::fill(g = Tensor<double>(same.shape()), 1.0);
  const auto c = pc1_share_penalty(same, g);
  CHECK(c.value == 0.0);
  CHECK(std::isnan(c.statistic));
  for (double e : g) CHECK(e == 0.0);
}

TEST_CASE("pc1_share_penalty: deterministic, float agrees with double, accumulate adds") {
  const auto x = ref::planted(40, 12, {5, 2, 1, 0.5}, 27);
  const auto o = Pc1SharePenaltyOptions{}.with_threshold(0.2);
  Tensor<double> g1(x.shape()), g2(x.shape());
  const auto a = pc1_share_penalty(x, g1, o), b = pc1_share_penalty(x, g2, o);
  CHECK(a.value == b.value);
  for (index_t i = 0; i < x.numel(); ++i) CHECK(g1[i] == g2[i]);
  ops::fill(g2, 0.25);
  pc1_share_penalty(x, g2, Pc1SharePenaltyOptions{o}.with_gradient_scale(2).accumulating());
  for (index_t i = 0; i < x.numel(); ++i) CHECK(g2[i] == doctest::Approx(0.25 + 2 * g1[i]).epsilon(1e-12));

  Tensor<float> xf(x.shape()), gf(x.shape());
  for (index_t i = 0; i < x.numel(); ++i) xf[i] = float(x[i]);
  const auto f = pc1_share_penalty(xf, gf, o);
  CHECK(f.statistic == doctest::Approx(a.statistic).epsilon(1e-5));
  for (index_t i = 0; i < x.numel(); ++i) CHECK(double(gf[i]) == doctest::Approx(g1[i]).epsilon(1e-3).scale(1e-3));
}

TEST_CASE("pc1_share_penalty: bad input is an invar::Error that names it") {
  const auto x = test::random_tensor<double>(Shape{4, 3}, 28);
  CHECK_ERROR_CONTAINS(pc1_share_penalty(x, no_gradient, Pc1SharePenaltyOptions{}.with_threshold(1.0)), "threshold");
  CHECK_ERROR_CONTAINS(pc1_share_penalty(x, no_gradient, Pc1SharePenaltyOptions{}.with_iterations(1e-6, 0)),
                       "max_iterations");
  CHECK_ERROR_CONTAINS(pc1_share_penalty(test::random_tensor<double>(Shape{1, 3}, 1), no_gradient), "at least 2 rows");
  auto bad = x;
  bad[11] = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(pc1_share_penalty(bad, no_gradient), "pc1_share_penalty: x has a non-finite value (nan) at row 3");
}
