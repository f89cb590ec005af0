// The first model that learns on real data: an MLP on a few thousand Fashion-MNIST images.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>

#include "invar/cpu.hpp"
#include "invar/data/idx.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "support/skip.hpp"
#include "support/train_classifier.hpp"

using namespace invar;

TEST_SUITE_BEGIN("nn");

TEST_CASE("an MLP trained on 6000 Fashion-MNIST images reaches at least 80 % test accuracy") {
  const std::string dir = data::default_fashion_mnist_dir();
  if (!INVAR_REQUIRE_FILE(dir + "/train-images-idx3-ubyte.gz", "Fashion-MNIST (Debian package dataset-fashion-mnist)"))
    return;
  const auto t0 = std::chrono::steady_clock::now();
  const auto train = data::load_fashion_mnist(dir, true, 6000);
  const auto test = data::load_fashion_mnist(dir, false, 2000);
  auto model = nn::make_mlp<float>({784, 256, 10}, nn::MlpOptions{}.with_seed(1));
  model.set_input_gradient(false);
  optim::Sgd<float> sgd(optim::SgdOptions(0.05).with_momentum(0.9));
  invar::test::train_classifier(model, sgd, train, 64, 6, 7);
  model.eval();
  model.forward(test.images);
  const auto v = softmax_cross_entropy(model.output(), test.labels, no_gradient);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("MLP 784-256-10, 6000 train images, 6 epochs: test accuracy " << 100 * v.accuracy() << " % on 2000 images in "
                                                                        << seconds << " s");
  CHECK(v.accuracy() >= 0.80);
}

TEST_SUITE_END();
