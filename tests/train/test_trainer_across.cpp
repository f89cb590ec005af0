// Data-parallel training (TrainerOptions::across) on ranks as threads: 2 and 3 ranks train the
// same parameters as one process on the same global batches (the objective of Eq. 1 with L_DA and
// cross-entropy, groups straddling ranks), with and without batch norm; rank 0 alone writes the
// checkpoint and the log; a resume on another number of ranks is refused, naming both.
#include <doctest/doctest.h>

#include <fstream>

#include "invar/cpu.hpp"
#include "invar/data/augment/schemes.hpp"
#include "invar/data/kxm_sampler.hpp"
#include "invar/distributed/thread_team.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/train/trainer.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using distributed::Communicator;

TEST_SUITE_BEGIN("train");

namespace {
data::ImageSet across_images(index_t n, std::uint64_t seed) {
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
AcrossRun train_across(const Communicator* comm, index_t epochs, bool batch_norm, const std::string& out = {},
                       bool resume = false) {
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
  if (comm) o.across(*comm);
  train::Trainer trainer(model, sgd, obj, train, sampler, &aug, o);
  AcrossRun run;
  run.reports = trainer.fit(&test);
  for (auto* p : model.parameters()) run.parameters.insert(run.parameters.end(), p->value.begin(), p->value.end());
  for (auto& [name, b] : model.buffers()) run.parameters.insert(run.parameters.end(), b->begin(), b->end());
  return run;
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}
}  // namespace

TEST_CASE("training on 2 and 3 ranks gives the parameters of one process on the same global batches") {
  const AcrossRun one = train_across(nullptr, 2, false);
  for (int n : {2, 3}) {
    CAPTURE(n);
    std::vector<AcrossRun> runs(static_cast<std::size_t>(n));
    distributed::ThreadTeam(n).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 2, false); });
    for (const auto& r : runs) {
      CHECK(max_difference(r.parameters, one.parameters) < 1e-5);
      CHECK(r.parameters == runs[0].parameters);  // the replicas stay identical, to the bit
      REQUIRE(r.reports.size() == 2);
      CHECK(r.reports[1].train_objective == doctest::Approx(one.reports[1].train_objective).epsilon(1e-5));
      CHECK(r.reports[1].test_accuracy == doctest::Approx(one.reports[1].test_accuracy));
      CHECK(r.reports[1].test_cross_entropy == doctest::Approx(one.reports[1].test_cross_entropy).epsilon(1e-5));
    }
  }
}

TEST_CASE("with batch norm, ranks normalise their own rows and end with the same averaged running statistics") {
  std::vector<AcrossRun> runs(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 1, true); });
  CHECK(runs[0].parameters == runs[1].parameters);
  CHECK(runs[0].reports[0].test_accuracy == runs[1].reports[0].test_accuracy);
  CHECK(std::isfinite(runs[0].reports[0].train_objective));
}

TEST_CASE("rank 0 alone writes the run folder, and a resume needs the same number of ranks") {
  const test::TempDir dir("across");
  const std::string out = (dir.path / "run").string();
  std::vector<AcrossRun> runs(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 1, false, out); });
  std::ifstream log(dir.path / "run" / "log.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) ++lines;
  CHECK(lines == 1);
  // Resumed on 2 ranks: the second epoch equals an uninterrupted 2-rank run.
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 2, false, out, true); });
  std::vector<AcrossRun> straight(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { straight[std::size_t(comm.rank())] = train_across(&comm, 2, false); });
  CHECK(runs[0].reports.size() == 1);
  CHECK(runs[0].parameters == straight[0].parameters);
  // The checkpoint says 2 ranks: one process and 3 ranks are refused.
  CHECK_ERROR_CONTAINS(train_across(nullptr, 3, false, out, true), "was written by a run on 2 ranks; resume it on as many (this run has 1)");
  CHECK_THROWS_WITH(distributed::ThreadTeam(3).run([&](const Communicator& comm) { train_across(&comm, 3, false, out, true); }),
                    doctest::Contains("was written by a run on 2 ranks; resume it on as many (this run has 3)"));
}
