// Conv2d and GlobalAvgPool: forward against explicit loops (odd sizes, strides, padding),
// backward by central differences in double.
#include <doctest/doctest.h>

#include <algorithm>
#include <tuple>

#include "invar/cpu.hpp"
#include "invar/nn/layers/conv2d.hpp"
#include "invar/nn/layers/global_avg_pool.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace invar;
using namespace invar::nn;
using test::project;

TEST_SUITE_BEGIN("nn");

namespace {
// y[b][o][oy][ox] = bias[o] + sum_c,i,j w[o][c][i][j] x[b][c][oy s - p + i][ox s - p + j]
Tensor<double> naive_conv(const Tensor<double>& x, const Tensor<double>& w, const Tensor<double>* bias, index_t s,
                          index_t p) {
  const index_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), K = w.dim(2);
  const index_t Ho = (H + 2 * p - K) / s + 1, Wo = (W + 2 * p - K) / s + 1;
  Tensor<double> y(Shape{B, O, Ho, Wo});
  for (index_t b = 0; b < B; ++b)
    for (index_t o = 0; o < O; ++o)
      for (index_t oy = 0; oy < Ho; ++oy)
        for (index_t ox = 0; ox < Wo; ++ox) {
          double acc = bias ? (*bias)[o] : 0.0;
          for (index_t c = 0; c < C; ++c)
            for (index_t i = 0; i < K; ++i)
              for (index_t j = 0; j < K; ++j) {
                const index_t yy = oy * s - p + i, xx = ox * s - p + j;
                if (yy >= 0 && yy < H && xx >= 0 && xx < W) acc += w(o, c, i, j) * x(b, c, yy, xx);
              }
          y(b, o, oy, ox) = acc;
        }
  return y;
}
}  // namespace

TEST_CASE("Conv2d forward equals explicit loops for odd sizes, strides and paddings") {
  for (auto [k, s, p] : {std::tuple{3, 1, 1}, {3, 2, 1}, {3, 1, 0}, {1, 1, 0}, {3, 2, 0}, {2, 3, 1}}) {
    CAPTURE(k);
    CAPTURE(s);
    CAPTURE(p);
    Conv2d<double> conv("conv", 3, 4, Conv2dOptions{}.with_kernel(k).with_stride(s).with_padding(p));
    Rng rng(1);
    conv.initialize(init::Initializer::glorot_uniform, rng);
    conv.bias().value = test::random_tensor<double>(Shape{4}, 2);
    const auto x = test::random_tensor<double>(Shape{2, 3, 7, 5}, 3);
    const auto y = conv.forward(x);
    const auto expected = naive_conv(x, conv.weight().value, &conv.bias().value, s, p);
    REQUIRE(y.shape() == expected.shape());
    for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-13));
  }
}

TEST_CASE("Conv2d on every chunking path: one image per GEMM, a 1x1 image as its own patch matrix, a partial last chunk") {
  // 33x33 outputs: one image per GEMM; 1x1 stride 1 at 32x32: the image is the patch matrix;
  // 5 images of 15x20 = 300 positions: chunks of 4 and 1.
  struct Case {
    index_t k, s, p, h, w, b;
  };
  for (const Case c : {Case{3, 1, 1, 33, 33, 2}, Case{1, 1, 0, 32, 32, 2}, Case{3, 1, 1, 15, 20, 5}}) {
    CAPTURE(c.k);
    CAPTURE(c.h);
    Conv2d<double> conv("conv", 2, 3, Conv2dOptions{}.with_kernel(c.k).with_stride(c.s).with_padding(c.p));
    Rng rng(2);
    conv.initialize(init::Initializer::he_normal, rng);
    conv.bias().value = test::random_tensor<double>(Shape{3}, 3);
    auto x = test::random_tensor<double>(Shape{c.b, 2, c.h, c.w}, 4);
    const auto y = Tensor<double>::copy_of(conv.forward(x));
    const auto expected = naive_conv(x, conv.weight().value, &conv.bias().value, c.s, c.p);
    REQUIRE(y.shape() == expected.shape());
    for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-13));
    const auto r = test::random_tensor<double>(y.shape(), 5);
    conv.weight().zero_grad();
    conv.bias().zero_grad();
    auto dx = Tensor<double>::copy_of(conv.backward(r));
    auto loss = [&] { return project(conv.forward(x), r); };
    CHECK(test::gradient_relative_error(conv.weight().value, conv.weight().grad, loss) < 1e-8);
    CHECK(test::gradient_relative_error(conv.bias().value, conv.bias().grad, loss) < 1e-8);
    CHECK(test::sampled_gradient_relative_error(x, dx, loss, 200, 6) < 1e-8);
  }
}

TEST_CASE("Conv2d gives the same bits on 1 and 2 threads, with more image chunks than partial sums") {
  // 12x12 maps: 4 images per chunk, 40 images: 10 chunks over 8 partial weight gradients.
  auto run = [](int threads) {
    ThreadScope scope(threads);
    Conv2d<float> conv("conv", 8, 16, Conv2dOptions{}.with_padding(1));
    Rng rng(3);
    conv.initialize(init::Initializer::he_normal, rng);
    const auto x = test::random_tensor<float>(Shape{40, 8, 12, 12}, 4);
    auto y = Tensor<float>::copy_of(conv.forward(x));
    const auto r = test::random_tensor<float>(y.shape(), 5);
    conv.weight().zero_grad();
    conv.bias().zero_grad();
    auto dx = Tensor<float>::copy_of(conv.backward(r));
    return std::tuple{y, dx, Tensor<float>::copy_of(conv.weight().grad.view()),
                      Tensor<float>::copy_of(conv.bias().grad.view())};
  };
  const auto [y1, dx1, dw1, db1] = run(1);
  const auto [y2, dx2, dw2, db2] = run(2);
  auto same = [](const Tensor<float>& a, const Tensor<float>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  };
  CHECK(same(y1, y2));
  CHECK(same(dx1, dx2));
  CHECK(same(dw1, dw2));
  CHECK(same(db1, db2));
}

TEST_CASE("Conv2d gradients w.r.t. weight, bias and input by central differences") {
  for (auto [k, s, p] : {std::tuple{3, 1, 1}, {3, 2, 1}, {2, 2, 0}}) {
    Conv2d<double> conv("conv", 2, 3, Conv2dOptions{}.with_kernel(k).with_stride(s).with_padding(p));
    Rng rng(4);
    conv.initialize(init::Initializer::he_normal, rng);
    conv.bias().value = test::random_tensor<double>(Shape{3}, 5);
    auto x = test::random_tensor<double>(Shape{2, 2, 6, 5}, 6);
    const auto y = conv.forward(x);
    const auto r = test::random_tensor<double>(y.shape(), 7);
    conv.weight().zero_grad();
    conv.bias().zero_grad();
    const auto dx = Tensor<double>::copy_of(conv.backward(r));
    auto loss = [&] { return project(conv.forward(x), r); };
    CHECK(test::gradient_relative_error(conv.weight().value, conv.weight().grad, loss) < 1e-8);
    CHECK(test::gradient_relative_error(conv.bias().value, conv.bias().grad, loss) < 1e-8);
    CHECK(test::gradient_relative_error(x, dx, loss) < 1e-8);
  }
}

TEST_CASE("Conv2d: bad shapes are invar::Error, and the input gradient can be skipped") {
  Conv2d<double> conv("conv", 3, 2, Conv2dOptions{}.with_kernel(3));
  CHECK_THROWS_WITH_AS(conv.forward(Tensor<double>(Shape{1, 2, 5, 5})), doctest::Contains("expected input [B, 3, H, W]"),
                       Error);
  CHECK_THROWS_WITH_AS(conv.forward(Tensor<double>(Shape{1, 3, 2, 5})), doctest::Contains("smaller than the kernel"),
                       Error);
  CHECK_THROWS_AS(Conv2d<double>("bad", 3, 2, Conv2dOptions{}.with_stride(0)), Error);
  const auto x = test::random_tensor<double>(Shape{1, 3, 5, 5}, 8);
  conv.forward(x);
  conv.set_input_gradient(false);
  CHECK(conv.backward(test::random_tensor<double>(Shape{1, 2, 3, 3}, 9)).empty());
}

TEST_CASE("GlobalAvgPool: the mean over positions, and its gradient") {
  GlobalAvgPool<double> pool("gap");
  auto x = test::random_tensor<double>(Shape{2, 3, 4, 5}, 10);
  const auto y = pool.forward(x);
  REQUIRE(y.shape() == Shape{2, 3});
  for (index_t b = 0; b < 2; ++b)
    for (index_t c = 0; c < 3; ++c) {
      double s = 0;
      for (index_t i = 0; i < 20; ++i) s += x[(b * 3 + c) * 20 + i];
      CHECK(y(b, c) == doctest::Approx(s / 20).epsilon(1e-14));
    }
  const auto r = test::random_tensor<double>(Shape{2, 3}, 11);
  const auto dx = Tensor<double>::copy_of(pool.backward(r));
  CHECK(test::gradient_relative_error(x, dx, [&] { return project(pool.forward(x), r); }) < 1e-8);
}

TEST_SUITE_END();
