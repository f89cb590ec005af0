// MaxPool2d and AvgPool2d: forward and backward against explicit loops (odd sizes, overlapping
// windows, padding, both divisors), central differences in double, ties, NaN, thread-count
// independence, and the errors for bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/nn/layers/avg_pool2d.hpp"
#include "invar/nn/layers/max_pool2d.hpp"
#include "support/error_message.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace invar;
using namespace invar::nn;
using test::project;

TEST_SUITE_BEGIN("nn");

namespace {
struct Combo {
  index_t k, s, p;
};
// Disjoint, overlapping, padded, stride > kernel... on 7 x 5 inputs (odd, floor mode drops a row).
const std::vector<Combo> combos = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {3, 3, 0}, {2, 1, 1},
                                   {3, 1, 0}, {1, 1, 0}, {4, 2, 2}, {2, 3, 1}, {5, 2, 2}};

Pool2dOptions options_of(const Combo& c) { return Pool2dOptions{}.with_kernel(c.k).with_stride(c.s).with_padding(c.p); }

// The reference: the window of output (oy, ox) is rows oy s - p + i, columns ox s - p + j,
// i, j < k; cells outside the image are padding.
struct NaiveMax {
  Tensor<double> y;
  std::vector<index_t> at;  // flat index into x of the chosen pixel
};
NaiveMax naive_max_pool(const Tensor<double>& x, const Combo& c) {
  const index_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const index_t Ho = (H + 2 * c.p - c.k) / c.s + 1, Wo = (W + 2 * c.p - c.k) / c.s + 1;
  NaiveMax r{Tensor<double>(Shape{B, C, Ho, Wo}), {}};
  for (index_t b = 0; b < B; ++b)
    for (index_t ch = 0; ch < C; ++ch)
      for (index_t oy = 0; oy < Ho; ++oy)
        for (index_t ox = 0; ox < Wo; ++ox) {
          double best = -std::numeric_limits<double>::infinity();
          index_t at = -1;
          for (index_t i = 0; i < c.k; ++i)
            for (index_t j = 0; j < c.k; ++j) {
              const index_t yy = oy * c.s - c.p + i, xx = ox * c.s - c.p + j;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              if (at < 0 || x(b, ch, yy, xx) > best) {
                best = x(b, ch, yy, xx);
                at = ((b * C + ch) * H + yy) * W + xx;
              }
            }
          r.y(b, ch, oy, ox) = best;
          r.at.push_back(at);
        }
  return r;
}

Tensor<double> naive_avg_pool(const Tensor<double>& x, const Combo& c, bool count_padding) {
  const index_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const index_t Ho = (H + 2 * c.p - c.k) / c.s + 1, Wo = (W + 2 * c.p - c.k) / c.s + 1;
  Tensor<double> y(Shape{B, C, Ho, Wo});
  for (index_t b = 0; b < B; ++b)
    for (index_t ch = 0; ch < C; ++ch)
      for (index_t oy = 0; oy < Ho; ++oy)
        for (index_t ox = 0; ox < Wo; ++ox) {
          double sum = 0;
          index_t real = 0;
          for (index_t i = 0; i < c.k; ++i)
            for (index_t j = 0; j < c.k; ++j) {
              const index_t yy = oy * c.s - c.p + i, xx = ox * c.s - c.p + j;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              sum += x(b, ch, yy, xx);
              ++real;
            }
          y(b, ch, oy, ox) = sum / double(count_padding ? c.k * c.k : real);
        }
  return y;
}

// dx of average pooling by explicit loops: each window's real pixels get dy / divisor.
Tensor<double> naive_avg_pool_backward(const Shape& in, const Tensor<double>& dy, const Combo& c, bool count_padding) {
  const index_t B = in.dim(0), C = in.dim(1), H = in.dim(2), W = in.dim(3), Ho = dy.dim(2), Wo = dy.dim(3);
  Tensor<double> dx(in);
  for (index_t b = 0; b < B; ++b)
    for (index_t ch = 0; ch < C; ++ch)
      for (index_t oy = 0; oy < Ho; ++oy)
        for (index_t ox = 0; ox < Wo; ++ox) {
          index_t real = 0;
          for (index_t i = 0; i < c.k; ++i)
            for (index_t j = 0; j < c.k; ++j) {
              const index_t yy = oy * c.s - c.p + i, xx = ox * c.s - c.p + j;
              real += (yy >= 0 && yy < H && xx >= 0 && xx < W) ? 1 : 0;
            }
          const double g = dy(b, ch, oy, ox) / double(count_padding ? c.k * c.k : real);
          for (index_t i = 0; i < c.k; ++i)
            for (index_t j = 0; j < c.k; ++j) {
              const index_t yy = oy * c.s - c.p + i, xx = ox * c.s - c.p + j;
              if (yy >= 0 && yy < H && xx >= 0 && xx < W) dx(b, ch, yy, xx) += g;
            }
        }
  return dx;
}

template <class T>
bool same_pool_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}
}  // namespace

TEST_CASE("Pool2dOptions: stride 0 means the kernel, and floor-mode output sizes") {
  const Pool2dOptions d{};
  CHECK(d.kernel == 2);
  CHECK(d.effective_stride() == 2);
  CHECK(d.output_size(7) == 3);
  const auto o = Pool2dOptions{}.with_kernel(3).with_stride(2).with_padding(1).with_count_padding(false);
  CHECK(o.effective_stride() == 2);
  CHECK_FALSE(o.count_padding);
  CHECK(o.output_size(7) == 4);
  CHECK(o.output_size(5) == 3);
  CHECK(Pool2dOptions{}.with_kernel(3).effective_stride() == 3);
  CHECK(MaxPool2d<double>("p", o).output_size(32) == 16);
}

TEST_CASE("MaxPool2d forward and backward equal explicit loops for odd sizes, strides and paddings") {
  for (const auto& c : combos) {
    CAPTURE(c.k);
    CAPTURE(c.s);
    CAPTURE(c.p);
    MaxPool2d<double> pool("pool", options_of(c));
    const auto x = test::random_tensor<double>(Shape{2, 3, 7, 5}, 1);
    const auto expected = naive_max_pool(x, c);
    const auto y = pool.forward(x);
    REQUIRE(y.shape() == expected.y.shape());
    for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == expected.y[i]);

    // dx: dy routed to the chosen pixels, adding where windows chose the same one (same order).
    const auto dy = test::random_tensor<double>(y.shape(), 2);
    Tensor<double> dx_expected(x.shape());
    for (index_t o = 0; o < dy.numel(); ++o) dx_expected[expected.at[std::size_t(o)]] += dy[o];
    const auto dx = pool.backward(dy);
    REQUIRE(dx.shape() == x.shape());
    for (index_t i = 0; i < dx.numel(); ++i) CHECK(dx[i] == dx_expected[i]);
  }
}

TEST_CASE("AvgPool2d forward and backward equal explicit loops with and without padding in the divisor") {
  for (const bool count_padding : {true, false}) {
    for (const auto& c : combos) {
      CAPTURE(count_padding);
      CAPTURE(c.k);
      CAPTURE(c.s);
      CAPTURE(c.p);
      AvgPool2d<double> pool("pool", options_of(c).with_count_padding(count_padding));
      const auto x = test::random_tensor<double>(Shape{2, 3, 7, 5}, 3);
      const auto expected = naive_avg_pool(x, c, count_padding);
      const auto y = pool.forward(x);
      REQUIRE(y.shape() == expected.shape());
      for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-14));

      const auto dy = test::random_tensor<double>(y.shape(), 4);
      const auto dx_expected = naive_avg_pool_backward(x.shape(), dy, c, count_padding);
      const auto dx = pool.backward(dy);
      REQUIRE(dx.shape() == x.shape());
      for (index_t i = 0; i < dx.numel(); ++i) CHECK(dx[i] == doctest::Approx(dx_expected[i]).epsilon(1e-14));
    }
  }
}

TEST_CASE("AvgPool2d divisors at the border: padding counts as zeros or is left out") {
  // 1 x 1 x 2 x 2 of ones, kernel 3, stride 1, padding 1: every window holds the 4 pixels.
  Tensor<double> x(Shape{1, 1, 2, 2});
  for (auto& v : x) v = 1;
  AvgPool2d<double> with("with", Pool2dOptions{}.with_kernel(3).with_stride(1).with_padding(1));
  AvgPool2d<double> without("without", Pool2dOptions{}.with_kernel(3).with_stride(1).with_padding(1).with_count_padding(false));
  const auto a = with.forward(x);
  const auto b = without.forward(x);
  REQUIRE(a.shape() == Shape{1, 1, 2, 2});
  for (index_t i = 0; i < 4; ++i) {
    CHECK(a[i] == doctest::Approx(4.0 / 9.0));
    CHECK(b[i] == 1.0);
  }
}

TEST_CASE("Pooling gradients by central differences in double") {
  for (const auto& c : combos) {
    CAPTURE(c.k);
    CAPTURE(c.s);
    CAPTURE(c.p);
    // Random doubles: distinct with probability one, and far enough apart (seeded) that the
    // +-1e-6 steps never change which pixel is a window's maximum.
    auto x = test::random_tensor<double>(Shape{2, 2, 6, 5}, 5);
    {
      MaxPool2d<double> pool("max", options_of(c));
      const auto r = test::random_tensor<double>(pool.forward(x).shape(), 6);
      const auto dx = Tensor<double>::copy_of(pool.backward(r));
      CHECK(test::gradient_relative_error(x, dx, [&] { return project(pool.forward(x), r); }) < 1e-8);
    }
    for (const bool count_padding : {true, false}) {
      CAPTURE(count_padding);
      AvgPool2d<double> pool("avg", options_of(c).with_count_padding(count_padding));
      const auto r = test::random_tensor<double>(pool.forward(x).shape(), 7);
      const auto dx = Tensor<double>::copy_of(pool.backward(r));
      CHECK(test::gradient_relative_error(x, dx, [&] { return project(pool.forward(x), r); }) < 1e-8);
    }
  }
}

TEST_CASE("MaxPool2d ties: the first maximum in row-major window order gets the gradient") {
  SUBCASE("disjoint 2 x 2 windows") {
    Tensor<double> x(Shape{1, 1, 4, 4});
    for (auto& v : x) v = 1;
    MaxPool2d<double> pool("pool");
    pool.forward(x);
    Tensor<double> dy(Shape{1, 1, 2, 2});
    for (auto& v : dy) v = 1;
    const auto dx = pool.backward(dy);
    for (index_t yy = 0; yy < 4; ++yy)
      for (index_t xx = 0; xx < 4; ++xx) CHECK(dx(0, 0, yy, xx) == ((yy % 2 == 0 && xx % 2 == 0) ? 1.0 : 0.0));
  }
  SUBCASE("overlapping padded windows: the first real pixel, never padding") {
    Tensor<double> x(Shape{1, 1, 3, 4});
    for (auto& v : x) v = -2;  // below zero: zero padding would win, -infinity padding does not
    MaxPool2d<double> pool("pool", Pool2dOptions{}.with_kernel(3).with_stride(1).with_padding(1));
    const auto y = pool.forward(x);
    REQUIRE(y.shape() == Shape{1, 1, 3, 4});
    for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == -2.0);
    Tensor<double> dy(y.shape());
    for (auto& v : dy) v = 1;
    const auto dx = pool.backward(dy);
    Tensor<double> expected(x.shape());
    for (index_t oy = 0; oy < 3; ++oy)
      for (index_t ox = 0; ox < 4; ++ox) expected(0, 0, std::max<index_t>(oy - 1, 0), std::max<index_t>(ox - 1, 0)) += 1;
    for (index_t i = 0; i < dx.numel(); ++i) CHECK(dx[i] == expected[i]);
  }
  SUBCASE("a tie with an earlier smaller value") {
    // Window [1 3; 3 0]: the 3 at (0, 1) comes first.
    Tensor<double> x(Shape{1, 1, 2, 2});
    x(0, 0, 0, 0) = 1;
    x(0, 0, 0, 1) = 3;
    x(0, 0, 1, 0) = 3;
    x(0, 0, 1, 1) = 0;
    for (const index_t k : {2, 3}) {  // the 2 x 2 fast path, and the general path (kernel 3, padding 1)
      MaxPool2d<double> pool("pool", Pool2dOptions{}.with_kernel(k).with_padding(k == 3 ? 1 : 0).with_stride(2));
      const auto y = pool.forward(x);
      REQUIRE(y.numel() == 1);
      CHECK(y[0] == 3.0);
      Tensor<double> dy(y.shape());
      dy[0] = 5;
      const auto dx = pool.backward(dy);
      CHECK(dx[0] == 0.0);
      CHECK(dx[1] == 5.0);
      CHECK(dx[2] == 0.0);
      CHECK(dx[3] == 0.0);
    }
  }
}

TEST_CASE("MaxPool2d propagates NaN and routes the gradient to the first NaN") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const index_t k : {2, 3}) {  // fast path, general path
    CAPTURE(k);
    Tensor<double> x(Shape{1, 1, 2, 2});
    x(0, 0, 0, 0) = 5;
    x(0, 0, 0, 1) = nan;
    x(0, 0, 1, 0) = 7;
    x(0, 0, 1, 1) = nan;
    MaxPool2d<double> pool("pool", Pool2dOptions{}.with_kernel(k).with_padding(k == 3 ? 1 : 0).with_stride(2));
    const auto y = pool.forward(x);
    REQUIRE(y.numel() == 1);
    CHECK(std::isnan(y[0]));
    Tensor<double> dy(y.shape());
    dy[0] = 1;
    const auto dx = pool.backward(dy);
    CHECK(dx[0] == 0.0);
    CHECK(dx[1] == 1.0);
    CHECK(dx[2] == 0.0);
    CHECK(dx[3] == 0.0);
  }
}

TEST_CASE("Pooling gives the same bits on 1 and 2 threads") {
  const auto x = test::random_tensor<double>(Shape{4, 16, 33, 31}, 8);
  for (const auto& c : {Combo{2, 2, 0}, Combo{3, 2, 1}, Combo{3, 1, 1}}) {
    CAPTURE(c.k);
    CAPTURE(c.s);
    CAPTURE(c.p);
    auto run = [&](int threads, bool max, bool count_padding) {
      ThreadScope scope(threads);
      std::unique_ptr<Layer<double>> pool;
      if (max) pool = std::make_unique<MaxPool2d<double>>("max", options_of(c));
      else pool = std::make_unique<AvgPool2d<double>>("avg", options_of(c).with_count_padding(count_padding));
      auto y = Tensor<double>::copy_of(pool->forward(x));
      const auto dy = test::random_tensor<double>(y.shape(), 9);
      return std::pair{std::move(y), Tensor<double>::copy_of(pool->backward(dy))};
    };
    for (const auto& [max, count_padding] : {std::pair{true, true}, {false, true}, {false, false}}) {
      const auto one = run(1, max, count_padding);
      const auto two = run(2, max, count_padding);
      CHECK(same_pool_bits(one.first, two.first));
      CHECK(same_pool_bits(one.second, two.second));
    }
  }
}

TEST_CASE("Pooling: bad options and shapes are invar::Error naming the layer") {
  CHECK_ERROR_CONTAINS(MaxPool2d<double>("pool1", Pool2dOptions{}.with_kernel(0)), "MaxPool2d pool1: need kernel > 0");
  CHECK_ERROR_CONTAINS(AvgPool2d<double>("pool2", Pool2dOptions{}.with_stride(-1)), "AvgPool2d pool2: need kernel > 0");
  CHECK_ERROR_CONTAINS(MaxPool2d<double>("pool1", Pool2dOptions{}.with_padding(-1)), "padding -1");
  CHECK_ERROR_CONTAINS(MaxPool2d<double>("pool1", Pool2dOptions{}.with_kernel(3).with_padding(2)),
                       "MaxPool2d pool1: padding 2 exceeds kernel / 2 = 1");
  CHECK_ERROR_CONTAINS(AvgPool2d<double>("pool2", Pool2dOptions{}.with_kernel(2).with_padding(2)),
                       "AvgPool2d pool2: padding 2 exceeds kernel / 2 = 1");

  MaxPool2d<double> max("pool1", Pool2dOptions{}.with_kernel(3));
  AvgPool2d<double> avg("pool2", Pool2dOptions{}.with_kernel(3));
  CHECK_ERROR_CONTAINS(max.forward(Tensor<double>(Shape{3, 7, 5})), "MaxPool2d pool1: expected input [B, C, H, W], got [3, 7, 5]");
  CHECK_ERROR_CONTAINS(avg.forward(Tensor<double>(Shape{2, 3, 7, 5, 1})), "AvgPool2d pool2: expected input [B, C, H, W]");
  CHECK_ERROR_CONTAINS(max.forward(Tensor<double>(Shape{1, 2, 2, 5})), "MaxPool2d pool1: input [1, 2, 2, 5] is smaller than the kernel 3");
  CHECK_ERROR_CONTAINS(avg.forward(Tensor<double>(Shape{1, 2, 5, 2})), "smaller than the kernel 3 with padding 0");
  // An empty extent is too small even where padding would cover the kernel.
  MaxPool2d<double> padded("pool3", Pool2dOptions{}.with_kernel(2).with_padding(1));
  CHECK_ERROR_CONTAINS(padded.forward(Tensor<double>(Shape{1, 1, 0, 4})), "smaller than the kernel 2 with padding 1");

  const auto x = test::random_tensor<double>(Shape{1, 2, 7, 5}, 10);
  REQUIRE(max.forward(x).shape() == Shape{1, 2, 2, 1});
  REQUIRE(avg.forward(x).shape() == Shape{1, 2, 2, 1});
  CHECK_ERROR_CONTAINS(max.backward(Tensor<double>(Shape{1, 2, 2, 2})),
                       "MaxPool2d pool1: dy has shape [1, 2, 2, 2], expected [1, 2, 2, 1]");
  CHECK_ERROR_CONTAINS(avg.backward(Tensor<double>(Shape{2, 1, 2, 1})), "AvgPool2d pool2: dy has shape [2, 1, 2, 1]");
}

TEST_CASE("Pooling: the input gradient can be skipped") {
  const auto x = test::random_tensor<double>(Shape{1, 2, 4, 4}, 11);
  const auto dy = test::random_tensor<double>(Shape{1, 2, 2, 2}, 12);
  MaxPool2d<double> max("max");
  AvgPool2d<double> avg("avg");
  max.forward(x);
  avg.forward(x);
  max.set_input_gradient(false);
  avg.set_input_gradient(false);
  CHECK(max.backward(dy).empty());
  CHECK(avg.backward(dy).empty());
  CHECK_ERROR_CONTAINS(max.backward(Tensor<double>(Shape{1, 2, 2, 1})), "dy has shape");
}

TEST_CASE("Pooling in float agrees with the double reference") {
  const Combo c{3, 2, 1};
  const auto xd = test::random_tensor<double>(Shape{2, 3, 7, 5}, 13);
  const auto xf = test::random_tensor<float>(Shape{2, 3, 7, 5}, 13);
  MaxPool2d<float> max("max", options_of(c));
  AvgPool2d<float> avg("avg", options_of(c).with_count_padding(false));
  // Max picks one of the inputs: the float result is the float of the double one.
  const auto ymax = max.forward(xf);
  const auto emax = naive_max_pool(xd, c).y;
  REQUIRE(ymax.shape() == emax.shape());
  for (index_t i = 0; i < ymax.numel(); ++i) CHECK(ymax[i] == static_cast<float>(emax[i]));
  const auto yavg = avg.forward(xf);
  const auto eavg = naive_avg_pool(xd, c, false);
  REQUIRE(yavg.shape() == eavg.shape());
  for (index_t i = 0; i < yavg.numel(); ++i) CHECK(double(yavg[i]) == doctest::Approx(eavg[i]).epsilon(1e-5));

  const auto dyf = test::random_tensor<float>(ymax.shape(), 14);
  const auto dyd = test::random_tensor<double>(ymax.shape(), 14);
  const auto dxmax = max.backward(dyf);
  const auto at = naive_max_pool(xd, c).at;
  Tensor<double> emaxdx(xd.shape());
  for (index_t o = 0; o < dyd.numel(); ++o) emaxdx[at[std::size_t(o)]] += dyd[o];
  for (index_t i = 0; i < dxmax.numel(); ++i) CHECK(double(dxmax[i]) == doctest::Approx(emaxdx[i]).epsilon(1e-5));
  const auto dxavg = avg.backward(dyf);
  const auto eavgdx = naive_avg_pool_backward(xd.shape(), dyd, c, false);
  for (index_t i = 0; i < dxavg.numel(); ++i) CHECK(double(dxavg[i]) == doctest::Approx(eavgdx[i]).epsilon(1e-5));
}

TEST_SUITE_END();
