// The first model that learns on real data: an MLP on a few thousand Fashion-MNIST images.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <numeric>

#include "invar/data/idx.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"

using namespace invar;

TEST_SUITE_BEGIN("nn");

TEST_CASE("an MLP trained on 6000 Fashion-MNIST images reaches at least 80 % test accuracy") {
  const std::string dir = data::default_fashion_mnist_dir();
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("Fashion-MNIST not found in " << dir << " (Debian package dataset-fashion-mnist): skipped");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto train = data::load_fashion_mnist(dir, true, 6000);
  const auto test = data::load_fashion_mnist(dir, false, 2000);
  auto model = nn::make_mlp<float>({784, 256, 10}, nn::MlpOptions{}.with_seed(1));
  model.set_input_gradient(false);
  optim::Sgd<float> sgd(optim::SgdOptions(0.05).with_momentum(0.9));
  auto params = model.parameters();

  const index_t batch = 64, n = train.images.dim(0), steps_per_epoch = n / batch;
  Rng rng(7);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Tensor<index_t> idx(Shape{batch}), y(Shape{batch});
  Tensor<float> x(Shape{batch, 1, 28, 28}), dlogits(Shape{batch, 10});
  for (int epoch = 0; epoch < 6; ++epoch) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (index_t s = 0; s < steps_per_epoch; ++s) {
      for (index_t b = 0; b < batch; ++b) {
        idx[b] = order[std::size_t(s * batch + b)];
        y[b] = train.labels[idx[b]];
      }
      ops::gather_rows(train.images, idx, x);
      model.forward(x);
      softmax_cross_entropy(model.output(), y, dlogits);
      model.zero_grad();
      model.backward(dlogits);
      sgd.step(params);
    }
  }
  model.eval();
  model.forward(test.images);
  const auto v = softmax_cross_entropy(model.output(), test.labels, no_gradient);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("MLP 784-256-10, 6000 train images, 6 epochs: test accuracy " << 100 * v.accuracy() << " % on 2000 images in "
                                                                        << seconds << " s");
  CHECK(v.accuracy() >= 0.80);
}

TEST_SUITE_END();
