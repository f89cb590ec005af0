// Softmax cross-entropy against an explicit computation, large logits, unlabelled rows, gradients.
#include <doctest/doctest.h>

#include <cmath>

#include "invar/cpu.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("nn");

namespace {
// -log softmax(z)[y] written out in long double.
long double naive_ce(const Tensor<double>& z, index_t i, index_t y) {
  long double m = z(i, 0);
  for (index_t c = 1; c < z.dim(1); ++c) m = std::max<long double>(m, z(i, c));
  long double s = 0;
  for (index_t c = 0; c < z.dim(1); ++c) s += std::exp(static_cast<long double>(z(i, c)) - m);
  return std::log(s) - (z(i, y) - m);
}
}  // namespace

TEST_CASE("softmax cross-entropy equals the explicit formula, also for logits of 1e4") {
  auto z = test::random_tensor<double>(Shape{6, 4}, 1, -3, 3);
  z(2, 1) = 1e4;   // would overflow exp() without the max shift
  z(3, 0) = -1e4;
  Tensor<index_t> y(Shape{6});
  const index_t labels[] = {0, 3, 1, 2, 1, 0};
  for (index_t i = 0; i < 6; ++i) y[i] = labels[i];
  const auto v = softmax_cross_entropy(z, y, no_gradient);
  long double expected = 0;
  index_t correct = 0;
  for (index_t i = 0; i < 6; ++i) {
    expected += naive_ce(z, i, y[i]);
    index_t arg = 0;
    for (index_t c = 1; c < 4; ++c)
      if (z(i, c) > z(i, arg)) arg = c;
    correct += arg == y[i];
  }
  CHECK(v.loss == doctest::Approx(double(expected / 6)).epsilon(1e-13));
  CHECK(v.correct == correct);
  CHECK(v.labelled == 6);
  CHECK(std::isfinite(v.loss));

  Tensor<float> zf(Shape{1, 3});
  zf[0] = 1e30f;  // float logits far beyond exp's range
  zf[1] = -1e30f;
  Tensor<index_t> y1(Shape{1});
  y1[0] = 1;
  Tensor<float> g(Shape{1, 3});
  const auto big = softmax_cross_entropy(zf, y1, g);
  CHECK(big.loss == doctest::Approx(2e30).epsilon(1e-6));
  for (auto e : g) CHECK(std::isfinite(e));
}

TEST_CASE("softmax cross-entropy: gradient by central differences, with scale and unlabelled rows") {
  auto z = test::random_tensor<double>(Shape{5, 3}, 2, -2, 2);
  Tensor<index_t> y(Shape{5});
  const index_t labels[] = {2, no_group, 0, 1, no_group};
  for (index_t i = 0; i < 5; ++i) y[i] = labels[i];
  Tensor<double> g(z.shape());
  const auto o = CrossEntropyOptions{}.with_gradient_scale(0.7);
  const auto v = softmax_cross_entropy(z, y, g, o);
  CHECK(v.labelled == 3);
  for (index_t c = 0; c < 3; ++c) {
    CHECK(g(1, c) == 0.0);
    CHECK(g(4, c) == 0.0);
  }
  CHECK(test::gradient_relative_error(z, g, [&] { return 0.7 * softmax_cross_entropy(z, y, no_gradient).loss; }) <
        1e-8);
  Tensor<double> acc(z.shape());
  for (auto& e : acc) e = 1.0;
  softmax_cross_entropy(z, y, acc, CrossEntropyOptions{o}.accumulating());
  for (index_t i = 0; i < z.numel(); ++i) CHECK(acc[i] == doctest::Approx(1.0 + g[i]));
}

TEST_CASE("softmax cross-entropy: bad labels and shapes are invar::Error") {
  Tensor<double> z(Shape{2, 3});
  Tensor<index_t> y(Shape{2});
  y[1] = 3;
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(z, y, no_gradient), doctest::Contains("label 3 of row 1 is outside [0, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(z, Tensor<index_t>(Shape{3}), no_gradient),
                       doctest::Contains("one label per row (2)"), Error);
  y[1] = no_group;
  y[0] = no_group;
  const auto none = softmax_cross_entropy(z, y, no_gradient);
  CHECK(none.loss == 0.0);
  CHECK(none.labelled == 0);
}

TEST_SUITE_END();
