// extract_features against direct eval-mode forwards (an MLP, and All-CNN-C with batch norm whose
// running statistics differ from its batch statistics), batch sizes that do not divide N, a
// user's own model without has_tap(), the errors, and (with evaluate_classifier) a model on a
// separate-memory device reading host images.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/classifier_accuracy.hpp"
#include "invar/analysis/features.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"
#include "support/separate_device.hpp"

using namespace invar;

TEST_SUITE_BEGIN("analysis");

namespace {

/// The tap after one eval-mode forward of `images` (flattened to rows x D), copied.
template <class Model>
std::vector<float> direct_tap(Model& model, TensorView<const float> images, const std::string& tap) {
  model.set_training(false);
  model.forward(images);
  const auto t = model.tap(tap);
  return std::vector<float>(t.begin(), t.end());
}

/// A user's model (no invar layer): its tap "twice" is 2 x, and it has no has_tap().
struct Twice {
  Tensor<float> x2, grad;
  std::vector<bool> modes;
  TensorView<const float> forward(TensorView<const float> x) {
    x2 = Tensor<float>::copy_of(x);
    for (auto& v : x2) v *= 2;
    grad = Tensor<float>(x.shape());
    return x2;
  }
  TensorView<const float> output() const { return x2; }
  TensorView<const float> tap(const std::string& name) const {
    check(name == "twice", "Twice: no tap '", name, "'");
    return x2;
  }
  TensorView<float> tap_grad(const std::string&) { return grad; }
  void backward(TensorView<const float>) {}
  void backward_from_taps() {}
  std::vector<Parameter<float>*> parameters() { return {}; }
  void set_training(bool t) { modes.push_back(t); }
};
static_assert(nn::TrainableModel<Twice, float>);

}  // namespace

TEST_CASE("extract_features of an MLP equals its tap after direct forwards, for any batch size") {
  auto model = nn::make_mlp<float>({64, 16, 12, 10}, nn::MlpOptions{}.with_seed(3));
  const index_t n = 23;
  const auto images = test::random_tensor<float>(Shape{n, 1, 8, 8}, 1);
  for (const index_t batch : {index_t(1), index_t(5), index_t(7), index_t(23), index_t(500)}) {
    CAPTURE(batch);
    model.set_training(true);
    const auto f = analysis::extract_features(model, images, "hidden2", batch);
    REQUIRE(f.shape() == Shape{n, 12});
    // Reference: the same chunks forwarded directly, row by row of the copy.
    for (index_t b0 = 0; b0 < n; b0 += batch) {
      const index_t b1 = std::min(n, b0 + batch);
      const auto ref = direct_tap(model, images.view().slice_rows(b0, b1), "hidden2");
      for (index_t i = b0; i < b1; ++i)
        for (index_t j = 0; j < 12; ++j) CHECK(f(i, j) == ref[std::size_t((i - b0) * 12 + j)]);
    }
    // And one image at a time: a row's features do not depend on its batch.
    for (index_t i = 0; i < n; i += 4) {
      const auto ref = direct_tap(model, images.view().slice_rows(i, i + 1), "hidden2");
      for (index_t j = 0; j < 12; ++j) CHECK(f(i, j) == doctest::Approx(ref[std::size_t(j)]).epsilon(1e-5));
    }
  }
}

TEST_CASE("extract_features puts a batch-norm model in eval mode (running statistics)") {
  auto model = nn::make_all_cnn<float>(nn::AllCnnOptions{}.with_in_channels(1).with_width(0.1).with_seed(2));
  const auto train_images = test::random_tensor<float>(Shape{16, 1, 8, 8}, 3, 0.0, 2.0);
  model.set_training(true);
  for (int k = 0; k < 3; ++k) model.forward(train_images);  // running statistics move away from (0, 1)
  const index_t n = 10;
  const auto images = test::random_tensor<float>(Shape{n, 1, 8, 8}, 4, -1.0, 3.0);

  const auto f = analysis::extract_features(model, images, "conv7", 4);  // batches of 4, 4, 2
  CHECK_FALSE(model.training());
  const index_t d = 19 * 2 * 2;  // width 0.1: 192 -> 19 channels; 8x8 -> 4x4 -> 2x2
  REQUIRE(f.shape() == Shape{n, d});
  const auto ref = direct_tap(model, images, "conv7");  // all 10 images in one eval-mode batch
  REQUIRE(ref.size() == std::size_t(n * d));
  // Convolutions of other batch sizes may round differently: compare within float precision of
  // the layer's magnitude.
  double magnitude = 0;
  for (float v : ref) magnitude = std::max(magnitude, double(std::abs(v)));
  index_t nonzero = 0;
  for (index_t i = 0; i < n * d; ++i) {
    CHECK(std::abs(double(f[i]) - double(ref[std::size_t(i)])) <= 1e-5 * magnitude);
    nonzero += f[i] != 0;
  }
  CHECK(nonzero > n * d / 10);  // not a trivially zero layer
  for (index_t b0 = 0; b0 < n; b0 += 4) {  // bit for bit against the same chunks
    const auto chunk = direct_tap(model, images.view().slice_rows(b0, std::min(n, b0 + 4)), "conv7");
    CHECK(std::memcmp(chunk.data(), f.data() + b0 * d, chunk.size() * sizeof(float)) == 0);
  }
  // Training-mode features (batch statistics) differ: the test would see a missing eval().
  model.set_training(true);
  model.forward(images.view().slice_rows(0, 4));
  const auto t = model.tap("conv7");
  double diff = 0;
  for (index_t i = 0; i < t.numel(); ++i) diff = std::max(diff, double(std::abs(t[i] - f[i])));
  CHECK(diff > 1e-3);
  // The pooled top ("pool", N x 10 logits) too.
  const auto pooled = analysis::extract_features(model, images, "pool", 3);
  CHECK(pooled.shape() == Shape{n, 10});
}

TEST_CASE("extract_features works with a user's model and reports errors") {
  Twice twice;
  const auto images = test::random_tensor<float>(Shape{5, 2, 3}, 5);
  const auto f = analysis::extract_features(twice, images, "twice", 2);
  REQUIRE(f.shape() == Shape{5, 6});
  for (index_t i = 0; i < 30; ++i) CHECK(f[i] == 2 * images[i]);
  CHECK(twice.modes == std::vector<bool>{false});
  CHECK_ERROR_CONTAINS(analysis::extract_features(twice, images, "thrice"), "thrice");  // the model's own error

  auto model = nn::make_mlp<float>({6, 4, 3});
  CHECK_ERROR_CONTAINS(analysis::extract_features(model, images, "hidden7"), "no tap named 'hidden7'");
  CHECK_ERROR_CONTAINS(analysis::extract_features(model, images, "hidden1", 0), "batch must be >= 1");
  CHECK_ERROR_CONTAINS(analysis::extract_features(model, Tensor<float>(Shape{0, 2, 3}), "hidden1"), "empty");
  CHECK_ERROR_CONTAINS(analysis::extract_features(model, Tensor<float>(Shape{4, 0}), "hidden1"), "empty");
}

TEST_SUITE_END();

TEST_CASE("extract_features and evaluate_classifier with a model on a separate-memory device: the CPU model's bits") {
  // Host images, the model on a device whose memory the host cannot touch: each batch goes over
  // through the device interface and each tap comes back; the same model on the CPU gives the
  // same bits. Batches of 3 for 7 images: the last one smaller, so the staging buffer changes shape.
  const auto options = nn::AllCnnOptions{}.with_width(0.1).with_seed(4).with_classes(4);
  auto cpu_model = nn::make_all_cnn<float>(options);
  auto device_model = nn::make_all_cnn<float, test::SeparateHost>(options);
  const auto images = test::random_tensor<float>(Shape{7, 3, 12, 12}, 8, 0.0, 1.0);
  Tensor<index_t> labels(Shape{7});
  for (index_t i = 0; i < 7; ++i) labels[i] = i % 4;
  labels[5] = no_group;
  for (const char* tap : {"conv3", "conv9"}) {
    CAPTURE(tap);
    const auto want = analysis::extract_features(cpu_model, images, tap, 3);
    const auto got = analysis::extract_features(device_model, images, tap, 3);
    REQUIRE(got.shape() == want.shape());
    CHECK(std::equal(got.begin(), got.end(), want.begin()));
  }
  const auto e_cpu = analysis::evaluate_classifier(cpu_model, images, labels, 3);
  const auto e_device = analysis::evaluate_classifier(device_model, images, labels, 3);
  CHECK(e_device.labelled == 6);
  CHECK(e_device.correct == e_cpu.correct);
  CHECK(e_device.cross_entropy == e_cpu.cross_entropy);
  // A second evaluation and extraction hold no more device memory than the first: the staging
  // buffers are freed.
  const auto blocks = test::SeparateHost::live_blocks();
  analysis::evaluate_classifier(device_model, images, labels, 3);
  CHECK(test::SeparateHost::live_blocks() == blocks);
  analysis::extract_features(device_model, images, "conv3", 3);
  const auto after_features = test::SeparateHost::live_blocks();
  analysis::extract_features(device_model, images, "conv3", 3);
  CHECK(test::SeparateHost::live_blocks() == after_features);
}
