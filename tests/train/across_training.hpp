#pragma once
// A small data-parallel training run for the tests of TrainerOptions::across (tests/train with
// ThreadTeam ranks, tests/mpi with MPI ranks): the same run on any Communicator, or in one process.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/data/augment/schemes.hpp"
#include "invar/data/kxm_sampler.hpp"
#include "invar/distributed/communicator.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/train/trainer.hpp"

namespace invar::test {

inline data::ImageSet across_images(index_t n, std::uint64_t seed) {
  data::ImageSet set;
  set.images = Tensor<float>(Shape{n, 1, 6, 6});
  set.labels = Tensor<index_t>(Shape{n});
  set.class_names = {"top", "bottom", "flat"};
  Rng rng(seed);
  for (index_t i = 0; i < n; ++i) {
    const index_t c = i % 3;
    set.labels[i] = c;
    for (index_t y = 0; y < 6; ++y)
      for (index_t x = 0; x < 6; ++x)
        set.images[i * 36 + y * 6 + x] = float(0.3 * rng.uniform() + (c == 2 ? 0.3 : ((y < 3) == (c == 0) ? 0.5 : 0.1)));
  }
  return set;
}

struct AcrossRun {
  std::vector<float> parameters;
  std::vector<train::EpochReport> reports;
};

// One run of `epochs` epochs: the MLP (optionally with batch norm after the first layer), SGD with
// momentum, 0.1 L_DA at hidden1 + 0.9 cross-entropy, K = 6 seeds x M = 3 (18 rows: shards of 9 or 6).
inline AcrossRun train_across(const distributed::Communicator* comm, index_t epochs, bool batch_norm, const std::string& out = {},
                       bool resume = false, bool sync_batch_norm = false) {
  const data::ImageSet train = across_images(72, 1), test = across_images(31, 2);
  nn::Sequential<float> model = nn::make_mlp<float>({36, 12, 3}, nn::MlpOptions{}.with_seed(3));
  if (batch_norm) {
    nn::Sequential<float> m("bn_mlp");
    Rng rng(3);
    m.emplace<nn::Flatten<float>>("flatten");
    m.emplace<nn::Linear<float>>("fc1", 36, 12).initialize(nn::init::Initializer::glorot_uniform, rng);
    m.emplace<nn::BatchNorm<float>>("bn1", 12);
    m.emplace<nn::Relu<float>>("relu1");
    m.add_tap("hidden1");
    m.emplace<nn::Linear<float>>("fc2", 12, 3).initialize(nn::init::Initializer::glorot_uniform, rng);
    m.add_tap("logits");
    model = std::move(m);
  }
  optim::Sgd<float> sgd(optim::SgdOptions(0.05).with_momentum(0.9));
  objective::Objective<float> obj;
  obj.augmentation({"hidden1"}, MeanSquaredDifference{}).with_schedule(objective::WeightSchedule::constant(0.1, 0.0));
  const data::KxMSampler sampler{train.labels,
                                 data::KxMOptions{}.with_seeds_per_batch(6).with_augmentations(3).with_seed(4)};
  const data::Augmentation aug = data::augment::light();
  auto o = train::TrainerOptions{}.with_epochs(epochs).with_seed(5).with_progress(false).with_out_dir(out).with_resume(resume);
  if (comm) o.across(*comm).with_sync_batch_norm(sync_batch_norm);
  train::Trainer trainer(model, sgd, obj, train, sampler, &aug, o);
  AcrossRun run;
  run.reports = trainer.fit(&test);
  for (auto* p : model.parameters()) run.parameters.insert(run.parameters.end(), p->value.begin(), p->value.end());
  for (auto& [name, b] : model.buffers()) run.parameters.insert(run.parameters.end(), b->begin(), b->end());
  return run;
}

inline double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}
}  // namespace invar::test
