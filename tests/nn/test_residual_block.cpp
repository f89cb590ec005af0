// The pre-activation residual block: its wiring against the same computation assembled from the
// separately tested layers (and the zero-padded shortcut by explicit loops), gradients by central
// differences for every shortcut kind, stride and mode.
#include <doctest/doctest.h>

#include <tuple>

#include "invar/cpu.hpp"
#include "invar/nn/layers/residual_block.hpp"
#include "support/error_message.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

using namespace invar;
using namespace invar::nn;
using test::project;

TEST_SUITE_BEGIN("nn");

namespace {
struct Config {
  index_t in, out, stride;
  ResidualShortcut shortcut;
};
const Config configs[] = {{4, 4, 1, ResidualShortcut::average_pool_zero_pad},
                          {2, 4, 1, ResidualShortcut::average_pool_zero_pad},
                          {2, 4, 2, ResidualShortcut::average_pool_zero_pad},
                          {2, 4, 1, ResidualShortcut::projection},
                          {3, 4, 2, ResidualShortcut::projection},
                          {4, 4, 1, ResidualShortcut::projection}};

Parameter<double>& find(ResidualBlock<double>& block, const std::string& name) {
  for (auto* p : block.parameters())
    if (p->name == name) return *p;
  FAIL("no parameter " << name);
  throw;
}

ResidualBlock<double> make_block(const Config& c, std::uint64_t seed) {
  ResidualBlock<double> block("b", c.in, c.out, c.stride, c.shortcut);
  Rng rng(seed);
  block.initialize(init::Initializer::he_normal, rng);
  // Non-trivial batch-norm affine parameters, so their gradients are exercised.
  std::uint64_t s = seed;
  for (auto* p : block.parameters())
    if (p->name.find(".bn") != std::string::npos) p->value = test::random_tensor<double>(p->value.shape(), ++s, 0.5, 1.5);
  return block;
}
}  // namespace

TEST_CASE("ResidualBlock forward equals its parts assembled by hand") {
  for (const auto& c : configs) {
    CAPTURE(c.in);
    CAPTURE(c.out);
    CAPTURE(c.stride);
    CAPTURE(to_string(c.shortcut));
    auto block = make_block(c, 3);
    const auto x = test::random_tensor<double>(Shape{3, c.in, 6, 6}, 4);
    const auto y = Tensor<double>::copy_of(block.forward(x));

    BatchNorm<double> bn1("bn1", c.in), bn2("bn2", c.out);
    Relu<double> relu1("r1"), relu2("r2");
    Conv2d<double> conv1("c1", c.in, c.out, Conv2dOptions{}.with_stride(c.stride).with_padding(1).with_bias(false));
    Conv2d<double> conv2("c2", c.out, c.out, Conv2dOptions{}.with_padding(1).with_bias(false));
    bn1.parameters()[0]->value = find(block, "b.bn1.weight").value;
    bn1.parameters()[1]->value = find(block, "b.bn1.bias").value;
    bn2.parameters()[0]->value = find(block, "b.bn2.weight").value;
    bn2.parameters()[1]->value = find(block, "b.bn2.bias").value;
    conv1.weight().value = find(block, "b.conv1.weight").value;
    conv2.weight().value = find(block, "b.conv2.weight").value;
    const auto o1 = Tensor<double>::copy_of(relu1.forward(bn1.forward(x)));
    auto expected = Tensor<double>::copy_of(conv2.forward(relu2.forward(bn2.forward(conv1.forward(o1)))));
    const index_t ho = expected.dim(2), wo = expected.dim(3);
    if (c.in == c.out && c.stride == 1) {
      for (index_t i = 0; i < expected.numel(); ++i) expected[i] += x[i];
    } else if (c.shortcut == ResidualShortcut::projection) {
      Conv2d<double> proj("p", c.in, c.out, Conv2dOptions{}.with_kernel(1).with_stride(c.stride).with_bias(false));
      proj.weight().value = find(block, "b.shortcut.weight").value;
      const auto s = proj.forward(o1);
      for (index_t i = 0; i < expected.numel(); ++i) expected[i] += s[i];
    } else {
      // Average of each stride x stride window of x, into the first c.in channels.
      for (index_t b = 0; b < 3; ++b)
        for (index_t ch = 0; ch < c.in; ++ch)
          for (index_t oy = 0; oy < ho; ++oy)
            for (index_t ox = 0; ox < wo; ++ox) {
              double acc = 0;
              for (index_t i = 0; i < c.stride; ++i)
                for (index_t j = 0; j < c.stride; ++j) acc += x(b, ch, oy * c.stride + i, ox * c.stride + j);
              expected(b, ch, oy, ox) += acc / double(c.stride * c.stride);
            }
    }
    REQUIRE(y.shape() == expected.shape());
    for (index_t i = 0; i < y.numel(); ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-12));
  }
}

TEST_CASE("ResidualBlock gradients by central differences for every shortcut, in training and evaluation") {
  for (bool training : {true, false}) {
    for (const auto& c : configs) {
      CAPTURE(training);
      CAPTURE(c.in);
      CAPTURE(c.out);
      CAPTURE(c.stride);
      CAPTURE(to_string(c.shortcut));
      auto block = make_block(c, 7);
      auto x = test::random_tensor<double>(Shape{3, c.in, 4, 6}, 8);
      if (!training) {
        block.forward(x);  // running statistics away from their initial values
        block.set_training(false);
      }
      const auto r = test::random_tensor<double>(block.forward(x).shape(), 9);
      for (auto* p : block.parameters()) p->zero_grad();
      const auto dx = Tensor<double>::copy_of(block.backward(r));
      auto loss = [&] { return project(block.forward(x), r); };
      for (auto* p : block.parameters()) {
        CAPTURE(p->name);
        CHECK(test::gradient_relative_error(p->value, p->grad, loss) < 1e-7);
      }
      CHECK(test::gradient_relative_error(x, dx, loss) < 1e-7);
    }
  }
}

TEST_CASE("ResidualBlock parameters, buffers and bad input") {
  ResidualBlock<double> pad("b", 16, 64, 1), proj("b", 16, 64, 2, ResidualShortcut::projection);
  auto count = [](ResidualBlock<double>& b) {
    index_t n = 0;
    for (auto* p : b.parameters()) n += p->value.numel();
    return n;
  };
  const index_t main_path = 2 * 16 + 9 * 16 * 64 + 2 * 64 + 9 * 64 * 64;
  CHECK(count(pad) == main_path);
  CHECK(count(proj) == main_path + 16 * 64);
  CHECK(pad.buffers().size() == 4);
  CHECK_ERROR_CONTAINS((ResidualBlock<double>("b", 8, 4, 1)), "cannot reduce channels");
  CHECK_ERROR_CONTAINS(pad.forward(test::random_tensor<double>(Shape{2, 8, 4, 4}, 1)), "expected input [B, 16");
  ResidualBlock<double> odd("odd", 2, 4, 2);
  CHECK_ERROR_CONTAINS(odd.forward(test::random_tensor<double>(Shape{2, 2, 5, 5}, 1)), "odd input size");
}

TEST_SUITE_END();
