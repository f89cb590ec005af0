// A slim All-CNN-C learns on real data: a few thousand Fashion-MNIST images, a few hundred steps.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>

#include "invar/cpu.hpp"
#include "invar/data/idx.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/optim/sgd.hpp"
#include "support/skip.hpp"
#include "support/train_classifier.hpp"

using namespace invar;

TEST_SUITE_BEGIN("nn");

namespace {
// Under AddressSanitizer (10-20x slower) the run is shorter and only has to lower the loss: the
// sanitizer checks memory, the release build checks learning.
#if defined(__SANITIZE_ADDRESS__)
constexpr invar::index_t kTrainImages = 500, kTestImages = 200;
constexpr bool kSanitized = true;
#else
constexpr invar::index_t kTrainImages = 3000, kTestImages = 1000;
constexpr bool kSanitized = false;
#endif
}  // namespace

TEST_CASE("a slim All-CNN-C on a few thousand Fashion-MNIST images drives the loss down and learns") {
  const std::string dir = data::default_fashion_mnist_dir();
  if (!INVAR_REQUIRE_FILE(dir + "/train-images-idx3-ubyte.gz", "Fashion-MNIST (Debian package dataset-fashion-mnist)"))
    return;
  const auto t0 = std::chrono::steady_clock::now();
  const auto train = data::load_fashion_mnist(dir, true, kTrainImages);
  const auto test = data::load_fashion_mnist(dir, false, kTestImages);
  auto model = nn::make_all_cnn<float>(nn::AllCnnOptions{}.with_in_channels(1).with_width(1.0 / 6).with_seed(1));
  model.set_input_gradient(false);
  optim::Sgd<float> sgd(optim::SgdOptions(0.05).with_momentum(0.9).with_nesterov());
  const int epochs = 3;
  const auto losses = invar::test::train_classifier(model, sgd, train, 50, epochs, 7);
  const double first_epoch_loss = losses.front(), last_epoch_loss = losses.back();
  model.eval();
  model.forward(test.images);
  const auto v = softmax_cross_entropy(model.output(), test.labels, no_gradient);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("All-CNN-C width 1/6, " << kTrainImages << " train images, " << epochs << " epochs: mean loss " << first_epoch_loss << " -> "
                                                     << last_epoch_loss << ", test accuracy " << 100 * v.accuracy()
                                                     << " % on " << kTestImages << " images in " << seconds << " s");
  if (kSanitized) {
    CHECK(last_epoch_loss < first_epoch_loss);
    return;
  }
  CHECK(last_epoch_loss < 0.6 * first_epoch_loss);
  CHECK(v.accuracy() >= 0.70);
}

TEST_SUITE_END();
