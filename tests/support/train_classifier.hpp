#pragma once
// A plain cross-entropy training loop for the tests that learn on real data: shuffled
// mini-batches (seeded), one optimiser step per batch. Returns the mean loss of every epoch.

#include <numeric>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/random.hpp"
#include "invar/data/idx.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/sequential.hpp"

namespace invar::test {

template <class Optimizer>
std::vector<double> train_classifier(nn::Sequential<float>& model, Optimizer& optimizer, const data::ImageSet& train,
                                     index_t batch, int epochs, std::uint64_t seed) {
  const index_t n = train.images.dim(0), steps_per_epoch = n / batch;
  const index_t classes = static_cast<index_t>(train.class_names.size());
  auto params = model.parameters();
  Rng rng(seed);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const Shape x_shape{batch, train.images.dim(1), train.images.dim(2), train.images.dim(3)};
  Tensor<index_t> idx(Shape{batch}), y(Shape{batch});
  Tensor<float> x(x_shape), dlogits(Shape{batch, classes});
  std::vector<double> losses;
  model.train();
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    double total = 0;
    for (index_t s = 0; s < steps_per_epoch; ++s) {
      for (index_t b = 0; b < batch; ++b) {
        idx[b] = order[std::size_t(s * batch + b)];
        y[b] = train.labels[idx[b]];
      }
      ops::gather_rows(train.images, idx, x);
      model.forward(x);
      total += softmax_cross_entropy(model.output(), y, dlogits).loss;
      model.zero_grad();
      model.backward(dlogits);
      optimizer.step(params);
    }
    losses.push_back(total / double(steps_per_epoch));
  }
  return losses;
}

}  // namespace invar::test
