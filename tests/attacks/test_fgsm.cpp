// FGSM: on a linear softmax model the perturbation is known in closed form (the sign of
// W^T (softmax(z) - e_y)), so the attack is compared with explicit double loops, pixel by pixel,
// exactly (the float a bound lands on is the one nearest to x +- epsilon inside the ball);
// epsilon 0 is the identity, the result stays in [0, 1] and within epsilon, a small step never
// lowers the loss, the batch size does not matter, and bad input is refused by name.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/fgsm.hpp"
#include "invar/attacks/target.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/sequential.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("attacks");

namespace {

constexpr index_t kFgsmPixels = 6, kFgsmClasses = 3, kFgsmImages = 4;

/// A softmax-regression model: one Linear layer 6 -> 3 with seeded weights and bias.
struct FgsmLinearModel {
  nn::Sequential<float> model{"linear"};
  nn::Linear<float>* fc = nullptr;
  FgsmLinearModel() {
    fc = &model.emplace<nn::Linear<float>>("fc", kFgsmPixels, kFgsmClasses);
    fc->weight().value = test::random_tensor<float>(Shape{kFgsmClasses, kFgsmPixels}, 101, -1.0, 1.0);
    fc->bias().value = test::random_tensor<float>(Shape{kFgsmClasses}, 102, -0.5, 0.5);
  }
  [[nodiscard]] double w(index_t k, index_t j) const { return double(fc->weight().value(k, j)); }
  [[nodiscard]] double b(index_t k) const { return double(fc->bias().value[k]); }
};

/// 4 images of 1 x 2 x 3 pixels: exact 0, 1 and 0.5 among dyadic values, and one random image.
Tensor<float> fgsm_images() {
  Tensor<float> x(Shape{kFgsmImages, 1, 2, 3});
  const float fixed[3][6] = {{0.0f, 1.0f, 0.5f, 0.25f, 0.75f, 0.5f},
                             {0.5f, 0.0f, 1.0f, 0.0625f, 0.9375f, 0.5f},
                             {1.0f, 1.0f, 0.0f, 0.0f, 0.5f, 0.3f}};
  for (index_t j = 0; j < kFgsmPixels; ++j) {
    x.data()[0 * kFgsmPixels + j] = fixed[0][j];
    x.data()[1 * kFgsmPixels + j] = fixed[1][j];
    x.data()[3 * kFgsmPixels + j] = fixed[2][j];
  }
  const auto r = test::random_tensor<float>(Shape{kFgsmPixels}, 103, 0.0, 1.0);
  for (index_t j = 0; j < kFgsmPixels; ++j) x.data()[2 * kFgsmPixels + j] = r[j];
  return x;
}

Tensor<index_t> fgsm_labels(const std::vector<index_t>& v) {
  Tensor<index_t> t(Shape{static_cast<index_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t[index_t(i)] = v[i];
  return t;
}

/// The input gradient of the attack loss of image i, in double: W^T (p - e_y), negated when targeted.
std::vector<double> fgsm_reference_gradient(const FgsmLinearModel& m, const float* x, index_t y, bool targeted) {
  std::vector<double> z(kFgsmClasses);
  double zmax = -HUGE_VAL;
  for (index_t k = 0; k < kFgsmClasses; ++k) {
    z[std::size_t(k)] = m.b(k);
    for (index_t j = 0; j < kFgsmPixels; ++j) z[std::size_t(k)] += m.w(k, j) * double(x[j]);
    zmax = std::max(zmax, z[std::size_t(k)]);
  }
  double s = 0;
  for (const double v : z) s += std::exp(v - zmax);
  std::vector<double> g(kFgsmPixels, 0.0);
  for (index_t k = 0; k < kFgsmClasses; ++k) {
    const double r = std::exp(z[std::size_t(k)] - zmax) / s - (k == y ? 1.0 : 0.0);
    for (index_t j = 0; j < kFgsmPixels; ++j) g[std::size_t(j)] += (targeted ? -1.0 : 1.0) * m.w(k, j) * r;
  }
  return g;
}

/// The cross-entropy of image i to class y in double.
double fgsm_reference_ce(const FgsmLinearModel& m, const float* x, index_t y) {
  std::vector<double> z(kFgsmClasses);
  for (index_t k = 0; k < kFgsmClasses; ++k) {
    z[std::size_t(k)] = m.b(k);
    for (index_t j = 0; j < kFgsmPixels; ++j) z[std::size_t(k)] += m.w(k, j) * double(x[j]);
  }
  const double zmax = *std::max_element(z.begin(), z.end());
  double s = 0;
  for (const double v : z) s += std::exp(v - zmax);
  return zmax + std::log(s) - z[std::size_t(y)];
}

/// The float FGSM must give for clean pixel x0 and the double target v = clip(x0 + step, 0, 1):
/// v itself when it is a float, else the float nearest to v on x0's side (inside the ball).
float fgsm_expected_float(float x0, double v) {
  float f = static_cast<float>(v);
  if (double(f) == v) return f;
  if (v > double(x0) && double(f) > v) f = std::nextafter(f, -1.0f);
  if (v < double(x0) && double(f) < v) f = std::nextafter(f, 2.0f);
  return f;
}

/// Checks fgsm's output against the double reference for every pixel; returns how many pixels moved.
index_t fgsm_check_against_reference(const FgsmLinearModel& m, const Tensor<float>& x, const Tensor<index_t>& y,
                                     const Tensor<float>& adv, double eps, bool targeted) {
  REQUIRE(adv.shape() == x.shape());
  index_t moved = 0;
  for (index_t i = 0; i < kFgsmImages; ++i) {
    const float* xi = x.data() + i * kFgsmPixels;
    const std::vector<double> g = fgsm_reference_gradient(m, xi, y[i], targeted);
    for (index_t j = 0; j < kFgsmPixels; ++j) {
      // The sign must not be a rounding decision: the float model and the double loops agree on it.
      REQUIRE(std::abs(g[std::size_t(j)]) > 1e-4);
      const double step = g[std::size_t(j)] > 0 ? eps : -eps;
      const double v = std::clamp(double(xi[j]) + step, 0.0, 1.0);
      const float got = adv.data()[i * kFgsmPixels + j];
      INFO("image ", i, " pixel ", j, ": clean ", xi[j], ", gradient ", g[std::size_t(j)], ", epsilon ", eps);
      CHECK(got == fgsm_expected_float(xi[j], v));
      // The same, independently: within one float ulp of v, inside the ball and inside [0, 1].
      CHECK(std::abs(double(got) - v) <= double(std::nextafter(float(v), 2.0f)) - double(float(v)));
      CHECK(std::abs(double(got) - double(xi[j])) <= eps);
      CHECK(got >= 0.0f);
      CHECK(got <= 1.0f);
      if (got != xi[j]) ++moved;
    }
  }
  return moved;
}

bool fgsm_same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

}  // namespace

TEST_CASE("attacks::fgsm on a linear softmax model equals the analytic sign perturbation") {
  FgsmLinearModel m;
  attacks::ModelTarget target(m.model);
  const Tensor<float> x = fgsm_images();
  const Tensor<index_t> y = fgsm_labels({0, 2, 1, 2});
  for (const double eps : {0.125, 0.1, 0.3, 1.0}) {
    CAPTURE(eps);
    const Tensor<float> adv = attacks::fgsm(target, x, y, eps);
    const index_t moved = fgsm_check_against_reference(m, x, y, adv, eps, false);
    // Pixels at 0 or 1 stepping outwards stay; every other pixel moves.
    CHECK(moved >= 16);
  }
  // A dyadic epsilon on dyadic pixels: every unclipped step is exact.
  const Tensor<float> adv = attacks::fgsm(target, x, y, 0.125);
  const std::vector<double> g0 = fgsm_reference_gradient(m, x.data(), 0, false);
  for (index_t j = 0; j < kFgsmPixels; ++j) {
    const double want = std::clamp(double(x[j]) + (g0[std::size_t(j)] > 0 ? 0.125 : -0.125), 0.0, 1.0);
    CHECK(double(adv[j]) == want);
  }
}

TEST_CASE("attacks::fgsm targeted steps along the sign of -W^T (p - e_t)") {
  FgsmLinearModel m;
  attacks::ModelTarget target(m.model);
  const Tensor<float> x = fgsm_images();
  const Tensor<index_t> t = fgsm_labels({1, 0, 2, 0});
  for (const double eps : {0.125, 0.1, 0.3}) {
    CAPTURE(eps);
    const Tensor<float> adv = attacks::fgsm(target, x, t, eps, attacks::FgsmOptions{}.with_targeted());
    fgsm_check_against_reference(m, x, t, adv, eps, true);
    // Targeted and untargeted steps on the same labels are opposite wherever neither is clipped.
    const Tensor<float> away = attacks::fgsm(target, x, t, eps);
    index_t opposite = 0;
    for (index_t i = 0; i < x.numel(); ++i)
      if ((adv[i] - x[i]) * (away[i] - x[i]) < 0) ++opposite;
    CHECK(opposite >= 12);
    for (index_t i = 0; i < x.numel(); ++i) CHECK((adv[i] - x[i]) * (away[i] - x[i]) <= 0);
  }
}

TEST_CASE("attacks::fgsm epsilon 0 is the identity, and the result is valid and independent of the batch") {
  FgsmLinearModel m;
  attacks::ModelTarget target(m.model);
  const Tensor<float> x = fgsm_images();
  const Tensor<index_t> y = fgsm_labels({0, 2, 1, 2});
  CHECK(fgsm_same_bits(attacks::fgsm(target, x, y, 0.0), x));
  CHECK(fgsm_same_bits(attacks::fgsm(target, x, y, 0.0, attacks::FgsmOptions{}.with_targeted()), x));

  for (const double eps : {1e-3, 0.01, 0.1, 0.7}) {
    CAPTURE(eps);
    const Tensor<float> adv = attacks::fgsm(target, x, y, eps);
    for (index_t i = 0; i < x.numel(); ++i) {
      CHECK(adv[i] >= 0.0f);
      CHECK(adv[i] <= 1.0f);
      CHECK(std::abs(double(adv[i]) - double(x[i])) <= eps);  // in double, no tolerance
    }
    for (const index_t b : {1, 3}) CHECK(fgsm_same_bits(attacks::fgsm(target, x, y, eps, attacks::FgsmOptions{}.with_batch(b)), adv));
  }
}

TEST_CASE("attacks::fgsm with a small epsilon raises the loss of every image") {
  FgsmLinearModel m;
  attacks::ModelTarget target(m.model);
  const Tensor<float> x = fgsm_images();
  const Tensor<index_t> y = fgsm_labels({0, 2, 1, 2});
  const Tensor<index_t> t = fgsm_labels({1, 0, 2, 0});
  const double eps = 1e-3;

  const std::vector<double> clean = attacks::attack_loss(target, x, y);
  const Tensor<float> adv = attacks::fgsm(target, x, y, eps);
  const std::vector<double> attacked = attacks::attack_loss(target, adv, y);
  REQUIRE(clean.size() == std::size_t(kFgsmImages));
  for (index_t i = 0; i < kFgsmImages; ++i) {
    CAPTURE(i);
    // attack_loss is the cross-entropy of the float logits.
    CHECK(clean[std::size_t(i)] == doctest::Approx(fgsm_reference_ce(m, x.data() + i * kFgsmPixels, y[i])).epsilon(1e-5));
    // To first order the gain is eps * sum |g_j| over the pixels that can move (about 1e-4 here);
    // the float noise of the logits is far below that.
    CHECK(attacked[std::size_t(i)] > clean[std::size_t(i)]);
    CHECK(attacked[std::size_t(i)] - clean[std::size_t(i)] <= eps * 6 * 2.0);
  }

  // Targeted: -CE(t) rises, that is the cross-entropy to the target falls.
  const std::vector<double> clean_t = attacks::attack_loss(target, x, t, true);
  const Tensor<float> adv_t = attacks::fgsm(target, x, t, eps, attacks::FgsmOptions{}.with_targeted());
  const std::vector<double> attacked_t = attacks::attack_loss(target, adv_t, t, true);
  for (index_t i = 0; i < kFgsmImages; ++i) {
    CAPTURE(i);
    CHECK(clean_t[std::size_t(i)] == doctest::Approx(-fgsm_reference_ce(m, x.data() + i * kFgsmPixels, t[i])).epsilon(1e-5));
    CHECK(attacked_t[std::size_t(i)] > clean_t[std::size_t(i)]);
  }
}

TEST_CASE("attacks::fgsm refuses bad images, labels and epsilon by name") {
  FgsmLinearModel m;
  attacks::ModelTarget target(m.model);
  const Tensor<float> x = fgsm_images();
  const Tensor<index_t> y = fgsm_labels({0, 2, 1, 2});

  Tensor<float> bad = x;
  bad.data()[1 * kFgsmPixels + 2] = 1.5f;
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, bad, y, 0.1), "pixel 2 of image 1 is 1.5");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, bad, y, 0.1), "[0, 1]");
  bad = x;
  bad.data()[3 * kFgsmPixels + 4] = -0.25f;
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, bad, y, 0.1), "pixel 4 of image 3 is -0.25");
  bad = x;
  bad.data()[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, bad, y, 0.1), "pixel 5 of image 0");
  // Epsilon 0 still checks its input.
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, bad, y, 0.0), "NaN is refused");

  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, fgsm_labels({0, 2, 1}), 0.1), "need one label per image (4)");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, fgsm_labels({0, 3, 1, 2}), 0.1), "label 3 is not a class of the 3 logits");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, fgsm_labels({0, 1, -1, 2}), 0.1), "label -1 is not a class");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, y, -0.1), "epsilon must be finite and >= 0, got -0.1");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, y, std::nan("")), "epsilon must be finite");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, y, HUGE_VAL), "epsilon must be finite");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, y, 0.1, attacks::FgsmOptions{}.with_batch(0)), "batch must be >= 1");
  const Tensor<float> flat(Shape{6});
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, flat, fgsm_labels({0}), 0.1), "images must be N x ...");
}

TEST_SUITE_END();
