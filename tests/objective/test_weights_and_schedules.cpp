// Eq. 1's per-layer weights and schedules against method.md's numbers: the authors' nine
// exponential weights, the step curriculum's table, the beta ramp.
#include <doctest/doctest.h>

#include <numeric>

#include "invar/cpu.hpp"
#include "invar/objective/layer_weights.hpp"
#include "invar/objective/weight_schedule.hpp"
#include "support/error_message.hpp"

using namespace invar;
using namespace invar::objective;

TEST_SUITE_BEGIN("objective");

TEST_CASE("the authors' exponential weights: total 0.1, r = 10, nine layers") {
  const auto w = layer_weights(WeightProfile::exponential, 9, 0.1, 10.0);
  const double expected[9] = {.0027, .0036, .0048, .0064, .0086, .0114, .0152, .0203, .0270};
  REQUIRE(w.size() == 9);
  for (int i = 0; i < 9; ++i) CHECK(w[std::size_t(i)] == doctest::Approx(expected[i]).epsilon(0.02));
  CHECK(std::accumulate(w.begin(), w.end(), 0.0) == doctest::Approx(0.1).epsilon(1e-14));
  CHECK(w[8] / w[0] == doctest::Approx(10.0).epsilon(1e-12));
  for (int i = 1; i < 9; ++i) CHECK(w[std::size_t(i)] / w[std::size_t(i - 1)] == doctest::Approx(std::pow(10.0, 1.0 / 8)));
}

TEST_CASE("uniform and linear weights, one layer, errors") {
  const auto u = layer_weights(WeightProfile::uniform, 4, 1.0);
  for (double v : u) CHECK(v == doctest::Approx(0.25));
  const auto l = layer_weights(WeightProfile::linear, 3, 0.9, 5.0);  // 1, 3, 5 -> / 9 * 0.9
  CHECK(l[0] == doctest::Approx(0.1));
  CHECK(l[1] == doctest::Approx(0.3));
  CHECK(l[2] == doctest::Approx(0.5));
  CHECK(layer_weights(WeightProfile::exponential, 1, 0.7)[0] == doctest::Approx(0.7));
  CHECK(parse_weight_profile("linear") == WeightProfile::linear);
  CHECK_ERROR_CONTAINS(parse_weight_profile("cubic"), "unknown layer-weight profile 'cubic'");
  CHECK_ERROR_CONTAINS(layer_weights(WeightProfile::uniform, 0, 1.0), "at least one layer");
  CHECK_ERROR_CONTAINS(layer_weights(WeightProfile::uniform, 3, std::nan("")), "total");
}

TEST_CASE("the step curriculum follows method.md's table, epoch by epoch") {
  // Total 0.1 (alpha 0.1, beta 0): invariance / cross-entropy by fraction of training.
  const auto s = WeightSchedule::step_curriculum(0.1, 0.0);
  const index_t epochs = 200;
  for (index_t e = 0; e < epochs; ++e) {
    CAPTURE(e);
    const double f = double(e) / double(epochs);
    const auto w = s.at(e, epochs);
    const double inv = f < 0.03 ? 1.0 : f < 0.25 ? 0.1 : f < 0.5 ? 0.01 : f < 0.75 ? 0.001 : 0.0;
    CHECK(w.alpha == doctest::Approx(inv));
    CHECK(w.beta == 0);
    CHECK(w.cross_entropy == doctest::Approx(1.0 - inv));
  }
  // Boundaries for 200 epochs: 6 (3 %), 50, 100, 150.
  CHECK(s.at(5, epochs).alpha == doctest::Approx(1.0));
  CHECK(s.at(6, epochs).alpha == doctest::Approx(0.1));
  CHECK(s.at(49, epochs).alpha == doctest::Approx(0.1));
  CHECK(s.at(50, epochs).alpha == doctest::Approx(0.01));
  CHECK(s.at(150, epochs).alpha == 0);
  // alpha and beta scale together.
  const auto both = WeightSchedule::step_curriculum(0.02, 0.08).at(10, 100);
  CHECK(both.alpha == doctest::Approx(0.02));
  CHECK(both.beta == doctest::Approx(0.08));
  CHECK(both.cross_entropy == doctest::Approx(0.9));
}

TEST_CASE("constant weights and the beta ramp") {
  const auto c = WeightSchedule::constant(0.1, 0.9).at(3, 10);
  CHECK(c.alpha == 0.1);
  CHECK(c.beta == 0.9);
  CHECK(c.cross_entropy == doctest::Approx(0.0));
  CHECK(WeightSchedule::constant(0.05, 0.05).at(0, 1).cross_entropy == doctest::Approx(0.9));
  CHECK(WeightSchedule::constant(0.5, 0.5, 1.0).at(0, 1).cross_entropy == 1.0);
  const auto r = WeightSchedule::beta_ramp(1.0, 0.1, 0.9, 4);
  const double betas[] = {0.1, 0.3, 0.5, 0.7, 0.9, 0.9, 0.9};
  for (index_t e = 0; e < 7; ++e) {
    const auto w = r.at(e, 7);
    CHECK(w.beta == doctest::Approx(betas[e]));
    CHECK(w.alpha == doctest::Approx(1.0 - betas[e]));
    CHECK(w.cross_entropy == doctest::Approx(0.0));
  }
  CHECK_ERROR_CONTAINS(WeightSchedule::constant(0.8, 0.8), "give the cross-entropy weight explicitly");
  CHECK_ERROR_CONTAINS(WeightSchedule::constant(-0.1, 0.1), "finite and >= 0");
  CHECK_ERROR_CONTAINS(WeightSchedule::beta_ramp(0.5, 0.1, 0.9, 3), "beta_1 <= total");
  CHECK_ERROR_CONTAINS(WeightSchedule::constant(0.1, 0.1).at(0, 0), "epochs >= 1");
}

TEST_SUITE_END();
