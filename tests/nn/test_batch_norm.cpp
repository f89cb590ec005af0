// BatchNorm: forward against explicit loops (training and eval, [B, C] and NCHW), PyTorch's running
// statistics, central differences in both modes, parameter files, thread-count independence,
// float data far from zero, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/io/archive.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/conv2d.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/nn/sequential.hpp"
#include "support/error_message.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using namespace invar::nn;
using test::project;

TEST_SUITE_BEGIN("nn");

namespace {
struct Sizes {
  index_t batch, channels, spatial;
};
Sizes sizes_of(const Shape& s) {
  return {s.dim(0), s.dim(1), s.rank() == 4 ? s.dim(2) * s.dim(3) : 1};
}
template <class T>
double at(const Tensor<T>& x, const Sizes& z, index_t b, index_t c, index_t s) {
  return double(x[(b * z.channels + c) * z.spatial + s]);
}

/// Per-channel mean and biased variance by explicit loops (two passes, double).
template <class T>
void channel_stats(const Tensor<T>& x, std::vector<double>& mean, std::vector<double>& var) {
  const Sizes z = sizes_of(x.shape());
  const double n = double(z.batch * z.spatial);
  mean.assign(std::size_t(z.channels), 0.0);
  var.assign(std::size_t(z.channels), 0.0);
  for (index_t c = 0; c < z.channels; ++c) {
    for (index_t b = 0; b < z.batch; ++b)
      for (index_t s = 0; s < z.spatial; ++s) mean[std::size_t(c)] += at(x, z, b, c, s);
    mean[std::size_t(c)] /= n;
    for (index_t b = 0; b < z.batch; ++b)
      for (index_t s = 0; s < z.spatial; ++s) {
        const double d = at(x, z, b, c, s) - mean[std::size_t(c)];
        var[std::size_t(c)] += d * d;
      }
    var[std::size_t(c)] /= n;
  }
}

/// y = gamma (x - mean) / sqrt(var + eps) + beta by explicit loops.
Tensor<double> reference(const Tensor<double>& x, const std::vector<double>& mean, const std::vector<double>& var,
                         const Tensor<double>& gamma, const Tensor<double>& beta, double eps) {
  const Sizes z = sizes_of(x.shape());
  Tensor<double> y(x.shape());
  for (index_t b = 0; b < z.batch; ++b)
    for (index_t c = 0; c < z.channels; ++c)
      for (index_t s = 0; s < z.spatial; ++s) {
        const std::size_t k = std::size_t(c);
        y[(b * z.channels + c) * z.spatial + s] =
            gamma[c] * (at(x, z, b, c, s) - mean[k]) / std::sqrt(var[k] + eps) + beta[c];
      }
  return y;
}

bool same_bits(TensorView<const double> a, TensorView<const double> b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.numel()) * sizeof(double)) == 0;
}
}  // namespace

TEST_CASE("BatchNorm training forward equals explicit loops and running statistics follow PyTorch") {
  for (const Shape& shape : {Shape{3, 4, 5, 7}, Shape{6, 4}}) {
    CAPTURE(shape);
    const double momentum = 0.3, eps = 1e-3;
    BatchNorm<double> bn("bn", 4, BatchNormOptions{}.with_momentum(momentum).with_epsilon(eps));
    bn.weight().value = test::random_tensor<double>(Shape{4}, 1, 0.5, 2.0);
    bn.bias().value = test::random_tensor<double>(Shape{4}, 2);
    const auto x1 = test::random_tensor<double>(shape, 3, -2.0, 3.0);
    const auto x2 = test::random_tensor<double>(shape, 4, 1.0, 1.5);

    const auto y1 = Tensor<double>::copy_of(bn.forward(x1));
    std::vector<double> m1, v1, m2, v2;
    channel_stats(x1, m1, v1);
    const auto e1 = reference(x1, m1, v1, bn.weight().value, bn.bias().value, eps);
    REQUIRE(y1.shape() == shape);
    for (index_t i = 0; i < y1.numel(); ++i) CHECK(y1[i] == doctest::Approx(e1[i]).epsilon(1e-12));

    const auto y2 = bn.forward(x2);
    channel_stats(x2, m2, v2);
    const auto e2 = reference(x2, m2, v2, bn.weight().value, bn.bias().value, eps);
    for (index_t i = 0; i < y2.numel(); ++i) CHECK(y2[i] == doctest::Approx(e2[i]).epsilon(1e-12));

    const double n = double(shape.numel() / 4), unbias = n / (n - 1);
    for (index_t c = 0; c < 4; ++c) {
      const std::size_t k = std::size_t(c);
      const double rm = (1 - momentum) * (momentum * m1[k]) + momentum * m2[k];
      const double rv = (1 - momentum) * ((1 - momentum) * 1.0 + momentum * v1[k] * unbias) + momentum * v2[k] * unbias;
      CHECK(bn.running_mean()[c] == doctest::Approx(rm).epsilon(1e-13));
      CHECK(bn.running_var()[c] == doctest::Approx(rv).epsilon(1e-13));
    }
  }
}

TEST_CASE("BatchNorm eval uses the running statistics and leaves them unchanged") {
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{5, 3}}) {
    CAPTURE(shape);
    BatchNorm<double> bn("bn", 3);
    bn.weight().value = test::random_tensor<double>(Shape{3}, 5, 0.5, 2.0);
    bn.bias().value = test::random_tensor<double>(Shape{3}, 6);
    bn.running_mean() = test::random_tensor<double>(Shape{3}, 7);
    bn.running_var() = test::random_tensor<double>(Shape{3}, 8, 0.2, 3.0);
    const auto rm = bn.running_mean(), rv = bn.running_var();
    bn.set_training(false);
    const auto x = test::random_tensor<double>(shape, 9, -2.0, 2.0);
    const auto y = bn.forward(x);
    const std::vector<double> mean(rm.begin(), rm.end()), var(rv.begin(), rv.end());
    const auto e = reference(x, mean, var, bn.weight().value, bn.bias().value, 1e-5);
    for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == doctest::Approx(e[i]).epsilon(1e-13));
    CHECK(same_bits(bn.running_mean(), rm));
    CHECK(same_bits(bn.running_var(), rv));
    // One value per channel is fine in eval.
    CHECK(bn.forward(test::random_tensor<double>(Shape{1, 3}, 10)).shape() == Shape{1, 3});
  }
}

TEST_CASE("Relu::fuse_into sets both sides together, and only where the producer can fuse") {
  nn::BatchNorm<double> bn("bn", 3);
  nn::Linear<double> linear("linear", 3, 3);
  nn::Relu<double> relu("relu");
  relu.fuse_into(bn, true);
  CHECK(bn.fused_relu());
  CHECK(relu.input_rectified());
  relu.fuse_into(bn, false);
  CHECK_FALSE(bn.fused_relu());
  CHECK_FALSE(relu.input_rectified());
  // A producer that cannot rectify its output: the ReLU keeps its own pass.
  relu.fuse_into(linear, true);
  CHECK_FALSE(linear.fused_relu());
  CHECK_FALSE(relu.input_rectified());
  const auto x = test::random_tensor<double>(Shape{4, 3}, 9);
  relu.set_in_place(false);
  const auto y = relu.forward(x);
  for (index_t i = 0; i < x.numel(); ++i) CHECK(y.data()[i] == std::max(x[i], 0.0));
}

TEST_CASE("BatchNorm with a fused ReLU rectifies its output and changes nothing else") {
  // In training and eval, [B, C] and NCHW: y = max(explicit loops, 0), the same bits as the
  // unfused output rectified, NaN to 0 as the ReLU layer does, the same backward, and the same
  // running statistics.
  for (const bool training : {true, false})
    for (const Shape& shape : {Shape{3, 4, 3, 5}, Shape{6, 4}}) {
      CAPTURE(training);
      CAPTURE(shape);
      const auto make = [] {
        BatchNorm<double> bn("bn", 4);
        bn.weight().value = test::random_tensor<double>(Shape{4}, 5, -1.5, 2.0);
        bn.bias().value = test::random_tensor<double>(Shape{4}, 6);
        bn.running_mean() = test::random_tensor<double>(Shape{4}, 7);
        bn.running_var() = test::random_tensor<double>(Shape{4}, 8, 0.2, 3.0);
        return bn;
      };
      BatchNorm<double> plain = make(), fused = make();
      plain.set_training(training);
      fused.set_training(training);
      fused.set_fused_relu(true);
      REQUIRE(fused.fused_relu());
      auto x = test::random_tensor<double>(shape, 9, -2.0, 2.0);
      if (!training) x[5] = std::numeric_limits<double>::quiet_NaN();  // eval lets NaN through
      const std::vector<double> rm(fused.running_mean().begin(), fused.running_mean().end());
      const std::vector<double> rv(fused.running_var().begin(), fused.running_var().end());
      const auto y_plain = plain.forward(x);
      const auto y = fused.forward(x);
      std::vector<double> mean(4, 0.0), var(4, 0.0);
      if (training) {
        const index_t n = x.numel() / 4, spatial = x.numel() / (x.dim(0) * 4);
        for (index_t i = 0; i < x.numel(); ++i) mean[std::size_t((i / spatial) % 4)] += x[i] / double(n);
        for (index_t i = 0; i < x.numel(); ++i) {
          const double d = x[i] - mean[std::size_t((i / spatial) % 4)];
          var[std::size_t((i / spatial) % 4)] += d * d / double(n);
        }
      } else {
        mean = rm;
        var = rv;
      }
      const auto e = reference(x, mean, var, fused.weight().value, fused.bias().value, 1e-5);
      int negative = 0;
      for (index_t i = 0; i < y.numel(); ++i) {
        CAPTURE(i);
        if (std::isnan(e[i])) {
          CHECK(y[i] == 0.0);
          continue;
        }
        negative += e[i] < 0;
        CHECK(y[i] == doctest::Approx(std::max(e[i], 0.0)).epsilon(1e-12));
        CHECK(y[i] == std::max(y_plain[i], 0.0));
      }
      CHECK(negative > 0);  // the ReLU had something to do
      CHECK(same_bits(fused.running_mean(), plain.running_mean()));
      CHECK(same_bits(fused.running_var(), plain.running_var()));
      if (!training) x[5] = 0.0;
      const auto dy = test::random_tensor<double>(shape, 10);
      plain.forward(x);
      fused.forward(x);
      CHECK(same_bits(fused.backward(dy), plain.backward(dy)));
      CHECK(same_bits(fused.weight().grad, plain.weight().grad));
      CHECK(same_bits(fused.bias().grad, plain.bias().grad));
    }
}

TEST_CASE("BatchNorm gradients in training mode by central differences") {
  for (const Shape& shape : {Shape{3, 4, 5, 7}, Shape{7, 4}, Shape{3, 4, 1, 1}}) {
    CAPTURE(shape);
    BatchNorm<double> bn("bn", 4);
    bn.weight().value = test::random_tensor<double>(Shape{4}, 11, 0.5, 2.0);
    bn.bias().value = test::random_tensor<double>(Shape{4}, 12);
    auto x = test::random_tensor<double>(shape, 13, -2.0, 3.0);
    const auto r = test::random_tensor<double>(shape, 14);
    bn.forward(x);
    bn.weight().zero_grad();
    bn.bias().zero_grad();
    const auto dx = Tensor<double>::copy_of(bn.backward(r));
    // The finite-difference forwards move the running statistics; the training output ignores them.
    auto loss = [&] { return project(bn.forward(x), r); };
    CHECK(test::gradient_relative_error(x, dx, loss) < 1e-7);
    CHECK(test::gradient_relative_error(bn.weight().value, bn.weight().grad, loss) < 1e-7);
    CHECK(test::gradient_relative_error(bn.bias().value, bn.bias().grad, loss) < 1e-7);
  }
  SUBCASE("without affine parameters") {
    BatchNorm<double> bn("bn", 3, BatchNormOptions{}.with_affine(false));
    CHECK(bn.parameters().empty());
    auto x = test::random_tensor<double>(Shape{4, 3, 3, 2}, 15);
    const auto r = test::random_tensor<double>(x.shape(), 16);
    bn.forward(x);
    const auto dx = Tensor<double>::copy_of(bn.backward(r));
    CHECK(test::gradient_relative_error(x, dx, [&] { return project(bn.forward(x), r); }) < 1e-7);
  }
}

TEST_CASE("BatchNorm gradients in eval mode by central differences") {
  for (const Shape& shape : {Shape{3, 4, 5, 7}, Shape{7, 4}}) {
    CAPTURE(shape);
    BatchNorm<double> bn("bn", 4);
    bn.weight().value = test::random_tensor<double>(Shape{4}, 17, 0.5, 2.0);
    bn.bias().value = test::random_tensor<double>(Shape{4}, 18);
    bn.running_mean() = test::random_tensor<double>(Shape{4}, 19);
    bn.running_var() = test::random_tensor<double>(Shape{4}, 20, 0.2, 3.0);
    bn.set_training(false);
    auto x = test::random_tensor<double>(shape, 21, -2.0, 3.0);
    const auto r = test::random_tensor<double>(shape, 22);
    bn.forward(x);
    bn.weight().zero_grad();
    bn.bias().zero_grad();
    const auto dx = Tensor<double>::copy_of(bn.backward(r));
    auto loss = [&] { return project(bn.forward(x), r); };
    CHECK(test::gradient_relative_error(x, dx, loss) < 1e-7);
    CHECK(test::gradient_relative_error(bn.weight().value, bn.weight().grad, loss) < 1e-7);
    CHECK(test::gradient_relative_error(bn.bias().value, bn.bias().grad, loss) < 1e-7);
  }
}

TEST_CASE("BatchNorm without the input gradient still accumulates the parameter gradients") {
  for (const bool training : {true, false}) {
    CAPTURE(training);
    BatchNorm<double> bn("bn", 3);
    bn.set_training(training);
    bn.weight().value = test::random_tensor<double>(Shape{3}, 23, 0.5, 2.0);
    const auto x = test::random_tensor<double>(Shape{4, 3, 2, 3}, 24);
    const auto r = test::random_tensor<double>(x.shape(), 25);
    bn.forward(x);
    bn.backward(r);
    const auto dg = bn.weight().grad, db = bn.bias().grad;
    bn.set_input_gradient(false);
    CHECK(bn.backward(r).empty());
    for (index_t c = 0; c < 3; ++c) {  // added, not overwritten
      CHECK(bn.weight().grad[c] == doctest::Approx(2 * dg[c]).epsilon(1e-14));
      CHECK(bn.bias().grad[c] == doctest::Approx(2 * db[c]).epsilon(1e-14));
    }
  }
}

TEST_CASE("BatchNorm running statistics survive save and load") {
  test::TempDir dir;
  const auto file = dir.file("bn.invar");
  auto make = [](std::uint64_t seed) {
    Sequential<float> model;
    auto& conv = model.emplace<Conv2d<float>>("conv", 3, 4, Conv2dOptions{}.with_kernel(3).with_padding(1));
    Rng rng(seed);
    conv.initialize(init::Initializer::he_normal, rng);
    model.emplace<BatchNorm<float>>("bn", 4);
    model.emplace<Linear<float>>("fc", 4 * 5 * 5, 2);  // rank-4 activation seen as rows
    model.emplace<BatchNorm<float>>("bn1d", 2, BatchNormOptions{}.with_momentum(0.5));
    return model;
  };
  auto model = make(1);
  for (std::uint64_t s = 0; s < 3; ++s) model.forward(test::random_tensor<float>(Shape{6, 3, 5, 5}, 30 + s));
  auto& bn = static_cast<BatchNorm<float>&>(model.layer(1));
  bn.weight().value = test::random_tensor<float>(Shape{4}, 34, 0.5, 2.0);
  CHECK(bn.running_mean()[0] != 0.0f);
  CHECK(bn.running_var()[0] != 1.0f);
  nn::save_parameters(model, file);
  const auto archive = io::Archive::load(file);
  for (const char* name : {"model/bn.running_mean", "model/bn.running_var", "model/bn1d.running_var", "model/bn.weight"})
    CHECK_MESSAGE(archive.contains(name), name);

  auto restored = make(2);
  nn::load_parameters(restored, file);
  model.eval();
  restored.eval();
  const auto x = test::random_tensor<float>(Shape{2, 3, 5, 5}, 35);
  const auto y1 = Tensor<float>::copy_of(model.forward(x));
  const auto y2 = Tensor<float>::copy_of(restored.forward(x));
  REQUIRE(y1.shape() == y2.shape());
  CHECK(std::memcmp(y1.data(), y2.data(), y1.bytes()) == 0);
}

TEST_CASE("BatchNorm output and gradients are the same bits at 1 and 2 threads") {
  for (const Shape& shape : {Shape{8, 16, 32, 32}, Shape{512, 160}}) {
    CAPTURE(shape);
    const index_t c = shape.dim(1);
    const auto x = test::random_tensor<double>(shape, 40, -1.0, 2.0);
    const auto r = test::random_tensor<double>(shape, 41);
    struct Result {
      Tensor<double> y, dx, dgamma, dbeta, rm, rv, y_eval, dx_eval;
    };
    auto run = [&](int threads) {
      ThreadScope scope(threads);
      BatchNorm<double> bn("bn", c);
      bn.weight().value = test::random_tensor<double>(Shape{c}, 42, 0.5, 2.0);
      Result out;
      out.y = Tensor<double>::copy_of(bn.forward(x));
      out.dx = Tensor<double>::copy_of(bn.backward(r));
      out.dgamma = bn.weight().grad;
      out.dbeta = bn.bias().grad;
      out.rm = bn.running_mean();
      out.rv = bn.running_var();
      bn.set_training(false);
      out.y_eval = Tensor<double>::copy_of(bn.forward(x));
      out.dx_eval = Tensor<double>::copy_of(bn.backward(r));
      return out;
    };
    const Result a = run(1), b = run(2);
    CHECK(same_bits(a.y, b.y));
    CHECK(same_bits(a.dx, b.dx));
    CHECK(same_bits(a.dgamma, b.dgamma));
    CHECK(same_bits(a.dbeta, b.dbeta));
    CHECK(same_bits(a.rm, b.rm));
    CHECK(same_bits(a.rv, b.rv));
    CHECK(same_bits(a.y_eval, b.y_eval));
    CHECK(same_bits(a.dx_eval, b.dx_eval));
  }
}

TEST_CASE("BatchNorm in float normalises a channel far from zero where E[x^2] - E[x]^2 would not") {
  // Channel 0: 1000 + noise of standard deviation ~0.006; channel 1: ordinary data.
  const index_t b = 64, hw = 16, n = b * hw;
  auto x = test::random_tensor<float>(Shape{b, 2, 4, 4}, 50);
  for (index_t i = 0; i < b; ++i)
    for (index_t s = 0; s < hw; ++s) x[(i * 2) * hw + s] = 1000.0f + 0.01f * x[(i * 2) * hw + s];
  // The naive formula in float is useless here (the data's variance is ~3e-5, E[x^2] ~1e6).
  float sum = 0, sum_sq = 0;
  for (index_t i = 0; i < b; ++i)
    for (index_t s = 0; s < hw; ++s) {
      const float v = x[(i * 2) * hw + s];
      sum += v;
      sum_sq += v * v;
    }
  const float naive = sum_sq / float(n) - (sum / float(n)) * (sum / float(n));
  std::vector<double> mean, var;
  channel_stats(x, mean, var);
  CHECK(std::abs(double(naive) / var[0] - 1) > 0.5);

  BatchNorm<float> bn("bn", 2, BatchNormOptions{}.with_momentum(1.0));
  const auto y = Tensor<float>::copy_of(bn.forward(x));
  for (index_t c = 0; c < 2; ++c) {
    CAPTURE(c);
    double m = 0, v = 0;
    for (index_t i = 0; i < b; ++i)
      for (index_t s = 0; s < hw; ++s) m += double(y[(i * 2 + c) * hw + s]);
    m /= double(n);
    for (index_t i = 0; i < b; ++i)
      for (index_t s = 0; s < hw; ++s) {
        const double d = double(y[(i * 2 + c) * hw + s]) - m;
        v += d * d;
      }
    v /= double(n);
    const double eps_ratio = var[std::size_t(c)] / (var[std::size_t(c)] + 1e-5);  // eps shrinks the variance
    CHECK(std::abs(m) < 2e-2);
    CHECK(v == doctest::Approx(eps_ratio).epsilon(1e-2));
    // momentum 1: the running statistics are the batch's (variance unbiased), to float precision.
    CHECK(double(bn.running_mean()[c]) == doctest::Approx(mean[std::size_t(c)]).epsilon(1e-6));
    CHECK(double(bn.running_var()[c]) ==
          doctest::Approx(var[std::size_t(c)] * double(n) / double(n - 1)).epsilon(1e-6));
  }
}

TEST_CASE("BatchNorm errors name the layer and the shapes") {
  BatchNorm<double> bn("bn3", 4);
  CHECK_ERROR_CONTAINS(bn.forward(Tensor<double>(Shape{2, 3, 5, 5})),
                       "BatchNorm bn3: expected input [B, 4] or [B, 4, H, W], got [2, 3, 5, 5]");
  CHECK_ERROR_CONTAINS(bn.forward(Tensor<double>(Shape{2, 3})), "got [2, 3]");
  CHECK_ERROR_CONTAINS(bn.forward(Tensor<double>(Shape{2, 4, 5})), "got [2, 4, 5]");
  CHECK_ERROR_CONTAINS(bn.backward(Tensor<double>(Shape{2, 4})), "backward() without a successful forward()");
  CHECK_ERROR_CONTAINS(bn.forward(Tensor<double>(Shape{1, 4})),
                       "BatchNorm bn3: needs more than one value per channel in training");
  CHECK_ERROR_CONTAINS(bn.forward(Tensor<double>(Shape{1, 4, 1, 1})), "needs more than one value per channel");
  CHECK_ERROR_CONTAINS(bn.forward(Tensor<double>(Shape{3, 4, 0, 2})), "needs more than one value per channel");

  // NaN or Inf in training: an error, and the running statistics are not touched.
  auto x = test::random_tensor<double>(Shape{3, 4, 2, 2}, 60);
  bn.forward(x);
  const auto rm = bn.running_mean(), rv = bn.running_var();
  x[2 * 4 * 4 + 5] = std::numeric_limits<double>::quiet_NaN();  // sample 2, channel 1
  CHECK_ERROR_CONTAINS(bn.forward(x), "BatchNorm bn3: the batch statistics of channel 1 are not finite");
  x[2 * 4 * 4 + 5] = std::numeric_limits<double>::infinity();
  CHECK_ERROR_CONTAINS(bn.forward(x), "channel 1 are not finite");
  CHECK(same_bits(bn.running_mean(), rm));
  CHECK(same_bits(bn.running_var(), rv));
  CHECK_ERROR_CONTAINS(bn.backward(Tensor<double>(x.shape())), "without a successful forward()");

  x[2 * 4 * 4 + 5] = 0;
  bn.forward(x);
  CHECK_ERROR_CONTAINS(bn.backward(Tensor<double>(Shape{3, 4, 4, 1})),
                       "BatchNorm bn3: dy has shape [3, 4, 4, 1], expected [3, 4, 2, 2]");

  CHECK_ERROR_CONTAINS(BatchNorm<double>("bad", 0), "channels must be positive");
  CHECK_ERROR_CONTAINS(BatchNorm<double>("bad", 2, BatchNormOptions{}.with_momentum(1.5)), "momentum");
  CHECK_ERROR_CONTAINS(BatchNorm<double>("bad", 2, BatchNormOptions{}.with_epsilon(0)), "epsilon");
}

TEST_SUITE_END();
