// All-CNN-C and WRN-d-k: exact parameter counts by independent formulas (and the published
// 36,479,194 of WRN-28-10 with 1x1 shortcuts), taps and their shapes, train/eval switching,
// parameter files, and gradients of the whole models by central differences (train mode).
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/layers/max_pool2d.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "invar/nn/parameter_io.hpp"
#include "support/error_message.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using namespace invar::nn;

TEST_SUITE_BEGIN("nn");

namespace {
// All-CNN-C: 3x3 convs C->a, a->a, a->a, a->b, b->b, b->b, b->b; 1x1 b->b, b->classes.
index_t all_cnn_count(index_t c, index_t a, index_t b, index_t classes, bool bn) {
  const index_t weights = 9 * (c * a + 2 * a * a + a * b + 3 * b * b) + b * b + b * classes;
  const index_t outs = 3 * a + 5 * b + classes;
  return weights + (bn ? 2 * outs : outs);  // batch norm: weight and bias; else a conv bias
}

// WRN-d-k: stem, per block bn1 + conv1 + bn2 + conv2 (+ 1x1 shortcut where the shape changes),
// final batch norm and linear.
index_t wrn_count(index_t d, index_t k, bool projection, index_t c = 3, index_t classes = 10) {
  const index_t n = (d - 4) / 6;
  index_t count = 9 * c * 16, in = 16;
  for (index_t g = 0; g < 3; ++g) {
    const index_t w = (16 << g) * k;
    for (index_t i = 0; i < n; ++i) {
      count += 2 * in + 9 * in * w + 2 * w + 9 * w * w;
      if (projection && (in != w || (g > 0 && i == 0))) count += in * w;
      in = w;
    }
  }
  return count + 2 * in + in * classes + classes;
}

template <class Model>
index_t count(Model& m) {
  return m.parameter_count();
}
}  // namespace

TEST_CASE("All-CNN-C parameter counts equal the formula for every variant") {
  auto full = make_all_cnn<float>();
  CHECK(count(full) == all_cnn_count(3, 96, 192, 10, true));
  CHECK(count(full) == 1370996);  // 1.37 M, as the paper says
  auto valid = make_all_cnn<float>(AllCnnOptions{}.with_top_padding(TopConvPadding::valid));
  CHECK(count(valid) == count(full));
  auto no_bn = make_all_cnn<float>(AllCnnOptions{}.with_batch_norm(false));
  CHECK(count(no_bn) == all_cnn_count(3, 96, 192, 10, false));
  auto slim = make_all_cnn<float>(AllCnnOptions{}.with_width(0.25).with_in_channels(1).with_classes(100));
  CHECK(count(slim) == all_cnn_count(1, 24, 48, 100, true));
  CHECK(slim.buffers().size() == 18);
}

TEST_CASE("WRN-d-k parameter counts equal the formula for both shortcuts") {
  auto proj = make_wide_resnet<float>(WideResnetOptions{}.with_depth(28).with_widen(10).with_shortcut(
      ResidualShortcut::projection));
  CHECK(count(proj) == 36479194);  // the published WRN-28-10 count (1x1 shortcuts)
  CHECK(count(proj) == wrn_count(28, 10, true));
  for (auto [d, k] : {std::pair{16, 4}, {10, 1}, {22, 2}}) {
    CAPTURE(d);
    CAPTURE(k);
    for (bool projection : {false, true}) {
      auto m = make_wide_resnet<float>(WideResnetOptions{}.with_depth(d).with_widen(k).with_in_channels(1).with_classes(7).with_shortcut(
          projection ? ResidualShortcut::projection : ResidualShortcut::average_pool_zero_pad));
      CHECK(count(m) == wrn_count(d, k, projection, 1, 7));
    }
  }
  auto wrn164 = make_wide_resnet<float>(WideResnetOptions{}.with_shortcut(ResidualShortcut::projection));
  CHECK(count(wrn164) == 2748890);
  CHECK_ERROR_CONTAINS(make_wide_resnet<float>(WideResnetOptions{}.with_depth(15)), "6 n + 4");
  CHECK_ERROR_CONTAINS(make_wide_resnet<float>(WideResnetOptions{}.with_widen(0)), "widening factor");
  CHECK_ERROR_CONTAINS(make_all_cnn<float>(AllCnnOptions{}.with_width(0)), "width");
  // A width whose channel count overflows (std::lround of 1e300 is undefined) is refused, not turned into 1 channel.
  CHECK_ERROR_CONTAINS(make_all_cnn<float>(AllCnnOptions{}.with_width(1e300)), "asks for 1.92e+302 channels; at most 5461");
}

TEST_CASE("All-CNN-C taps and their shapes, 'same' and 'valid' top convolution") {
  for (auto [pad, size, top] : {std::tuple{TopConvPadding::same, 32, 8}, {TopConvPadding::valid, 32, 6},
                                {TopConvPadding::same, 28, 7}, {TopConvPadding::valid, 28, 5}}) {
    CAPTURE(size);
    auto m = make_all_cnn<float>(AllCnnOptions{}.with_width(1.0 / 24).with_top_padding(pad));
    const auto x = test::random_tensor<float>(Shape{2, 3, size, size}, 1);
    m.forward(x);
    CHECK(m.tap_names() == std::vector<std::string>{"conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7",
                                                    "conv8", "conv9", "pool"});
    CHECK(m.tap("conv1").shape() == Shape{2, 4, size, size});
    CHECK(m.tap("conv3").shape() == Shape{2, 4, (size + 1) / 2, (size + 1) / 2});
    CHECK(m.tap("conv7").shape() == Shape{2, 8, top, top});
    CHECK(m.tap("conv9").shape() == Shape{2, 10, top, top});
    CHECK(m.output().shape() == Shape{2, 10});
    for (index_t i = 0; i < m.output().numel(); ++i) CHECK(m.output()[i] >= 0);  // ReLU before the pooling
  }
}

TEST_CASE("WRN taps: one after every residual addition, the pooled features and the logits") {
  auto m = make_wide_resnet<float>(WideResnetOptions{}.with_depth(16).with_widen(1));
  m.forward(test::random_tensor<float>(Shape{2, 3, 16, 16}, 2));
  CHECK(m.tap_names() == std::vector<std::string>{"block1", "block2", "block3", "block4", "block5", "block6", "pool",
                                                  "logits"});
  CHECK(m.tap("block2").shape() == Shape{2, 16, 16, 16});
  CHECK(m.tap("block3").shape() == Shape{2, 32, 8, 8});
  CHECK(m.tap("block6").shape() == Shape{2, 64, 4, 4});
  CHECK(m.tap("pool").shape() == Shape{2, 64});
  CHECK(m.output().shape() == Shape{2, 10});
}

namespace {
// CE on the output + 0.5 augmentation invariance (MSD) at a middle tap; gradients on request.
struct ModelProblem {
  Sequential<double> model;
  std::string tap;
  Tensor<double> x;
  Tensor<index_t> labels{Shape{4}}, seeds{Shape{4}};
  Tensor<double> dx;
  ModelProblem(Sequential<double> m, std::string t, Shape input) : model(std::move(m)), tap(std::move(t)) {
    x = test::random_tensor<double>(input, 21);
    for (index_t i = 0; i < 4; ++i) {
      labels[i] = i % 3;
      seeds[i] = i / 2;
    }
  }
  double run(bool gradients) {
    model.forward(x);
    if (!gradients) {
      return softmax_cross_entropy(model.output(), labels, no_gradient).loss +
             0.5 * augmentation_invariance(MeanSquaredDifference{}, model.tap(tap), seeds, no_gradient).value;
    }
    Tensor<double> dlogits(model.output().shape());
    double total = softmax_cross_entropy(model.output(), labels, dlogits).loss;
    total += 0.5 * augmentation_invariance(MeanSquaredDifference{}, model.tap(tap), seeds, model.tap_grad(tap),
                                           GroupLossOptions{}.with_gradient_scale(0.5).accumulating())
                       .value;
    model.zero_grad();
    dx = Tensor<double>::copy_of(model.backward(dlogits));
    return total;
  }
  void check_gradients(index_t samples_per_tensor) {
    run(true);
    auto loss = [&] { return run(false); };
    std::uint64_t seed = 100;
    for (auto* p : model.parameters()) {
      CAPTURE(p->name);
      const auto grad = Tensor<double>::copy_of(p->grad.view());
      CHECK(test::sampled_gradient_relative_error(p->value, grad, loss, samples_per_tensor, ++seed) < 1e-6);
    }
    const auto dx0 = Tensor<double>::copy_of(dx.view());
    CHECK(test::sampled_gradient_relative_error(x, dx0, loss, 60, 7) < 1e-6);
  }
};
}  // namespace

TEST_CASE("All-CNN-C gradients w.r.t. parameters, input and a tap loss (train mode)") {
  for (auto pad : {TopConvPadding::same, TopConvPadding::valid}) {
    ModelProblem p(make_all_cnn<double>(AllCnnOptions{}.with_width(1.0 / 24).with_classes(3).with_top_padding(pad).with_seed(5)),
                   "conv4", Shape{4, 3, 9, 9});
    p.check_gradients(12);
  }
}

TEST_CASE("WRN gradients w.r.t. parameters, input and a tap loss, both shortcuts (train mode)") {
  for (auto s : {ResidualShortcut::average_pool_zero_pad, ResidualShortcut::projection}) {
    CAPTURE(to_string(s));
    ModelProblem p(make_wide_resnet<double>(
                       WideResnetOptions{}.with_depth(10).with_widen(1).with_classes(3).with_shortcut(s).with_seed(6)),
                   "block2", Shape{4, 3, 8, 8});
    p.check_gradients(8);
  }
}

TEST_CASE("Model train/eval: evaluation uses running statistics, so a sample's output does not depend on its batch") {
  auto m = make_all_cnn<float>(AllCnnOptions{}.with_width(1.0 / 24).with_seed(3));
  const auto x = test::random_tensor<float>(Shape{4, 3, 8, 8}, 5);
  const auto one = test::random_tensor<float>(Shape{1, 3, 8, 8}, 5);  // the same values as x's first image
  m.forward(x);  // moves the running statistics
  m.eval();
  const auto batch = Tensor<float>::copy_of(m.forward(x));
  const auto alone = Tensor<float>::copy_of(m.forward(one));
  for (index_t j = 0; j < 10; ++j) CHECK(alone[j] == doctest::Approx(batch[j]).epsilon(1e-5));
  m.train();
  const auto batch_train = Tensor<float>::copy_of(m.forward(x));
  double diff = 0;
  for (index_t j = 0; j < 10; ++j) diff += std::abs(batch_train[j] - batch[j]);
  CHECK(diff > 1e-4);
}

TEST_CASE("Models round-trip through parameter files with their batch-norm statistics") {
  test::TempDir dir;
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    auto make = [&](std::uint64_t seed) {
      return which == 0 ? make_all_cnn<float>(AllCnnOptions{}.with_width(1.0 / 24).with_seed(seed))
                        : make_wide_resnet<float>(WideResnetOptions{}.with_depth(10).with_widen(1).with_seed(seed));
    };
    auto a = make(1);
    const auto x = test::random_tensor<float>(Shape{3, 3, 8, 8}, 9);
    a.forward(x);
    a.forward(x);  // running statistics now differ from their initial values
    a.eval();
    const auto expected = Tensor<float>::copy_of(a.forward(x));
    const auto path = dir.file("model.invar");
    save_parameters(a, path);
    auto b = make(2);
    load_parameters(b, path);
    b.eval();
    const auto got = b.forward(x);
    for (index_t i = 0; i < got.numel(); ++i) CHECK(got[i] == expected[i]);
  }
}

TEST_CASE("a model of one's own, as docs/models.md builds it, has its taps and gradients") {
  // The snippet of docs/models.md, in double for the gradient check.
  Sequential<double> m("small_cnn");
  Rng rng(1);
  m.emplace<Conv2d<double>>("conv1", 1, 4, Conv2dOptions{}.with_padding(1).with_bias(false))
      .initialize(init::Initializer::he_normal, rng);
  m.emplace<BatchNorm<double>>("bn1", 4);
  m.emplace<Relu<double>>("relu1");
  m.add_tap("conv1");
  m.emplace<MaxPool2d<double>>("pool1", Pool2dOptions{}.with_kernel(2));
  m.emplace<ResidualBlock<double>>("block1", 4, 6, 2).initialize(init::Initializer::he_normal, rng);
  m.add_tap("block1");
  m.emplace<GlobalAvgPool<double>>("gap");
  m.emplace<Linear<double>>("fc", 6, 3).initialize(init::Initializer::glorot_uniform, rng);
  m.add_tap("logits");
  ModelProblem p(std::move(m), "conv1", Shape{4, 1, 8, 8});
  p.check_gradients(10);
  CHECK(p.model.tap("block1").shape() == Shape{4, 6, 2, 2});
}

TEST_SUITE_END();
