// The generic trainer on a small synthetic task: it learns, resuming from a checkpoint equals
// the uninterrupted run bit for bit, a diverging run stops with a clear error and keeps its last
// checkpoint, hooks and logs see every epoch; on a separate-memory device it gives the CPU run's
// bits, reports and exact resume.
#include <doctest/doctest.h>

#include <fstream>
#include <limits>

#include "invar/cpu.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/pca.hpp"
#include "invar/data/augment/schemes.hpp"
#include "invar/data/kxm_sampler.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/train/trainer.hpp"
#include "support/error_message.hpp"
#include "support/separate_device.hpp"
#include "support/temp_dir.hpp"

using namespace invar;

TEST_SUITE_BEGIN("train");

namespace {
// Two classes of 1 x 6 x 6 images: class 0 brighter in the top half, class 1 in the bottom one
// (not left and right: the light scheme flips horizontally).
data::ImageSet synthetic(index_t n, std::uint64_t seed) {
  data::ImageSet set;
  set.images = Tensor<float>(Shape{n, 1, 6, 6});
  set.labels = Tensor<index_t>(Shape{n});
  set.class_names = {"left", "right"};
  Rng rng(seed);
  for (index_t i = 0; i < n; ++i) {
    const index_t c = i % 2;
    set.labels[i] = c;
    for (index_t y = 0; y < 6; ++y)
      for (index_t x = 0; x < 6; ++x)
        set.images[i * 36 + y * 6 + x] = float(0.3 * rng.uniform() + ((y < 3) == (c == 0) ? 0.5 : 0.1));
  }
  return set;
}

struct TrainerSetup {
  data::ImageSet train = synthetic(64, 1), test = synthetic(40, 2);
  nn::Sequential<float> model = nn::make_mlp<float>({36, 16, 2}, nn::MlpOptions{}.with_seed(3));
  optim::Sgd<float> sgd;
  objective::Objective<float> obj;
  data::KxMSampler sampler{train.labels, data::KxMOptions{}.with_seeds_per_batch(8).with_augmentations(2).with_seed(4)};
  data::Augmentation aug = data::augment::light();
  explicit TrainerSetup(double lr = 0.1) : sgd(optim::SgdOptions(lr).with_momentum(0.9)) {
    obj.augmentation({"hidden1"}, MeanSquaredDifference{}).with_schedule(objective::WeightSchedule::constant(0.1, 0.0));
  }
  auto trainer(const train::TrainerOptions& o) {
    return train::Trainer(model, sgd, obj, train, sampler, &aug, o);
  }
};

std::vector<float> flat_parameters(nn::Sequential<float>& m) {
  std::vector<float> v;
  for (auto* p : m.parameters()) v.insert(v.end(), p->value.begin(), p->value.end());
  return v;
}
}  // namespace

TEST_CASE("the trainer learns a small task and reports every epoch") {
  TrainerSetup s;
  index_t hook_epochs = 0, hook_steps = 0;
  auto t = s.trainer(train::TrainerOptions{}.with_epochs(6).with_seed(5).with_progress(false).with_score("hidden1", 40));
  t.on_epoch_end([&](const train::EpochReport&) { ++hook_epochs; });
  t.on_step_end([&](index_t, index_t, const auto&) { ++hook_steps; });
  const auto reports = t.fit(&s.test);
  REQUIRE(reports.size() == 6);
  CHECK(hook_epochs == 6);
  CHECK(hook_steps == 6 * 4);  // 64 images / (8 x 2) rows = 4 steps
  CHECK(reports.back().train_objective < reports.front().train_objective);
  CHECK(reports.back().test_accuracy >= 0.9);
  CHECK(reports.back().classifier_trained);
  CHECK(reports.back().weights.cross_entropy == doctest::Approx(0.9));
  CHECK(std::isfinite(reports.back().invariance_score));
  CHECK(reports.back().invariance_score <= 1.0);
}

TEST_CASE("resuming from a checkpoint equals the uninterrupted run, bit for bit") {
  test::TempDir dir;
  TrainerSetup straight;
  straight.trainer(train::TrainerOptions{}.with_epochs(3).with_seed(7).with_progress(false).with_out_dir(dir.file("a")))
      .fit(&straight.test);

  TrainerSetup first;  // one epoch, then a new process would start...
  first.trainer(train::TrainerOptions{}.with_epochs(1).with_seed(7).with_progress(false).with_out_dir(dir.file("b")))
      .fit(&first.test);
  TrainerSetup resumed;  // ...with a fresh model and optimiser, and resume
  const auto reports = resumed
                           .trainer(train::TrainerOptions{}.with_epochs(3).with_seed(7).with_progress(false).with_out_dir(
                               dir.file("b")).with_resume())
                           .fit(&resumed.test);
  CHECK(reports.size() == 2);
  CHECK(reports.front().epoch == 1);
  CHECK(flat_parameters(resumed.model) == flat_parameters(straight.model));
  std::ifstream log(dir.file("b") + "/log.jsonl");
  std::string line;
  index_t lines = 0;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j["epoch"] == lines + 1);
    ++lines;
  }
  CHECK(lines == 3);
  // Another seed is another run: refused.
  TrainerSetup other;
  CHECK_ERROR_CONTAINS(other.trainer(train::TrainerOptions{}.with_epochs(3).with_seed(8).with_progress(false)
                                         .with_out_dir(dir.file("b")).with_resume())
                           .fit(),
                       "seed");
}

TEST_CASE("a kill between an epoch's log line and its checkpoint: the resumed folder lists every epoch once") {
  test::TempDir dir;
  TrainerSetup straight;
  straight.trainer(train::TrainerOptions{}.with_epochs(3).with_seed(7).with_progress(false).with_out_dir(dir.file("a")))
      .fit(&straight.test);
  TrainerSetup first;
  first.trainer(train::TrainerOptions{}.with_epochs(2).with_seed(7).with_progress(false).with_out_dir(dir.file("b")))
      .fit(&first.test);
  // What a kill leaves: epoch 3's line written (it comes first) but not its checkpoint, a line torn
  // mid-write by an earlier kill, and the temporary files of interrupted saves.
  const std::string log_path = dir.file("b") + "/log.jsonl";
  {
    std::ofstream log(log_path, std::ios::app);
    log << R"({"epoch": 3, "steps": 4, "train_objective": 9.0})" << "\n" << R"({"epoch": 3, "ste)";
  }
  for (const char* tmp : {"/checkpoint.invar.tmp.4242", "/log.jsonl.tmp.77"}) std::ofstream(dir.file("b") + tmp) << "partial";
  TrainerSetup resumed;
  resumed.trainer(train::TrainerOptions{}.with_epochs(3).with_seed(7).with_progress(false).with_out_dir(dir.file("b")).with_resume())
      .fit(&resumed.test);
  CHECK(flat_parameters(resumed.model) == flat_parameters(straight.model));
  std::ifstream log(log_path);
  std::vector<long> epochs;
  for (std::string line; std::getline(log, line);) epochs.push_back(nlohmann::json::parse(line)["epoch"].get<long>());
  CHECK(epochs == std::vector<long>{1, 2, 3});
  CHECK(!std::filesystem::exists(dir.file("b") + "/checkpoint.invar.tmp.4242"));
  CHECK(!std::filesystem::exists(dir.file("b") + "/log.jsonl.tmp.77"));
}

TEST_CASE("a resume from a checkpoint whose counters do not fit the run is refused, naming them") {
  test::TempDir dir;
  TrainerSetup first;
  first.trainer(train::TrainerOptions{}.with_epochs(2).with_seed(7).with_progress(false).with_out_dir(dir.file("r"))).fit();
  const std::string path = dir.file("r") + "/checkpoint.invar";
  // Rewritten with a valid CRC: 99 epochs done in a 20-epoch run; then 8 epochs with 8 steps.
  train::save_checkpoint(path, first.model, first.sgd, train::TrainingState{99, 396, 7, ""});
  TrainerSetup again;
  CHECK_ERROR_CONTAINS(again.trainer(train::TrainerOptions{}.with_epochs(20).with_seed(7).with_progress(false)
                                         .with_out_dir(dir.file("r")).with_resume()).fit(),
                       "says 99 epochs are done, more than this run's 20");
  train::save_checkpoint(path, first.model, first.sgd, train::TrainingState{8, 8, 7, ""});
  CHECK_ERROR_CONTAINS(again.trainer(train::TrainerOptions{}.with_epochs(20).with_seed(7).with_progress(false)
                                         .with_out_dir(dir.file("r")).with_resume()).fit(),
                       "says 8 steps were taken in 8 epochs; this run takes 4 steps per epoch, so 32");
}

TEST_CASE("a run that diverges in its first epoch says that no checkpoint was written") {
  test::TempDir dir;
  TrainerSetup s;
  auto t = s.trainer(train::TrainerOptions{}.with_epochs(3).with_seed(9).with_progress(false).with_out_dir(dir.file("run")));
  t.on_step_end([&](index_t epoch, index_t step, const auto&) {
    if (epoch == 0 && step == 0) s.model.parameters().back()->value[0] = std::numeric_limits<float>::quiet_NaN();
  });
  const std::string message = test::error_of([&] { t.fit(); });
  INFO("message: ", message);
  CHECK(message.find("training diverged at epoch 1, step 2") != std::string::npos);
  CHECK(message.find("No checkpoint was written yet") != std::string::npos);
  CHECK(message.find("last good checkpoint") == std::string::npos);
  CHECK(!std::filesystem::exists(t.checkpoint_path()));
}

TEST_CASE("a diverging run stops with a clear error and keeps its last good checkpoint") {
  // Epoch 1 trains normally and is checkpointed; in epoch 2 a step hook poisons a weight (as an
  // exploding update would), so the next forward's logits are NaN and the run must stop there.
  test::TempDir dir;
  TrainerSetup s;
  auto t = s.trainer(train::TrainerOptions{}.with_epochs(5).with_seed(9).with_progress(false).with_out_dir(dir.file("run")));
  std::vector<float> after_epoch1;
  index_t epochs_ended = 0;
  t.on_epoch_end([&](const train::EpochReport& r) {
    ++epochs_ended;
    if (r.epoch == 0) after_epoch1 = flat_parameters(s.model);
  });
  t.on_step_end([&](index_t epoch, index_t step, const auto&) {
    if (epoch == 1 && step == 1) s.model.parameters().back()->value[0] = std::numeric_limits<float>::quiet_NaN();  // a logit's bias
  });
  const std::string message = test::error_of([&] { t.fit(); });
  INFO("message: ", message);
  CHECK(message.find("training diverged at epoch 2, step 3") != std::string::npos);
  CHECK(message.find("The last good checkpoint (end of epoch 1) is " + t.checkpoint_path()) != std::string::npos);
  CHECK(epochs_ended == 1);
  REQUIRE(after_epoch1.size() == flat_parameters(s.model).size());

  // The checkpoint on disk is epoch 1's: it loads, says one epoch is done, and holds exactly the
  // weights the model had when epoch 1 ended (all finite).
  REQUIRE(std::filesystem::exists(t.checkpoint_path()));
  TrainerSetup fresh;
  train::TrainingState state;
  REQUIRE_NOTHROW(state = train::load_checkpoint(t.checkpoint_path(), fresh.model, fresh.sgd));
  CHECK(state.epochs_done == 1);
  CHECK(state.global_step == 4);  // 64 images / (8 x 2) rows per step
  const auto loaded = flat_parameters(fresh.model);
  CHECK(loaded == after_epoch1);
  for (float v : loaded) REQUIRE(std::isfinite(v));
  // ...and the log holds epoch 1 only.
  std::ifstream log(t.log_path());
  std::string line;
  index_t lines = 0;
  while (std::getline(log, line)) ++lines;
  CHECK(lines == 1);
}

TEST_SUITE_END();

TEST_CASE("the collapse monitor: the PC1 share and effective rank of the tap's test features, logged per epoch") {
  test::TempDir dir;
  TrainerSetup s;
  s.obj.penalize(objective::Penalty::variance, {"hidden1"}, 0.5).penalize(objective::Penalty::pc1_share, {"hidden1"}, 0.5);
  auto t = s.trainer(
      train::TrainerOptions{}.with_epochs(2).with_seed(5).with_progress(false).with_monitor("hidden1", 30).with_out_dir(
          dir.file("run")));
  const auto reports = t.fit(&s.test);
  // The same numbers, computed independently: features by analysis::extract_features, then pca().
  const auto f = analysis::extract_features(s.model, s.test.images.view().slice_rows(0, 30), "hidden1");
  const auto p = analysis::pca(f);
  CHECK(reports.back().pc1_share == doctest::Approx(p.pc1_share).epsilon(1e-6));
  CHECK(reports.back().effective_rank == doctest::Approx(p.effective_rank).epsilon(1e-6));
  CHECK(reports.back().pc1_share > 0);
  CHECK(reports.back().pc1_share <= 1);
  REQUIRE(reports.back().train_penalties.size() == 2);
  CHECK(reports.back().train_penalty_statistics[1] > 0);  // the batch PC1 share
  std::ifstream log(dir.file("run") + "/log.jsonl");
  std::string line;
  index_t lines = 0;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j["collapse"]["tap"] == "hidden1");
    CHECK(j["collapse"]["pc1_share"].is_number());
    CHECK(j["collapse"]["effective_rank"].is_number());
    REQUIRE(j["train_penalties"].size() == 2);
    CHECK(j["train_penalties"][0]["penalty"] == "variance");
    CHECK(j["train_penalties"][1]["penalty"] == "pc1");
    CHECK(j["train_penalties"][1]["weight"] == doctest::Approx(0.5));
    ++lines;
  }
  CHECK(lines == 2);
}

TEST_CASE("the collapse monitor on fully collapsed features: no spectrum, NaN in the report, null in the log") {
  test::TempDir dir;
  TrainerSetup s;
  // A dead hidden layer: zero weights and a negative bias, so every test image gives the same (zero) features.
  auto params = s.model.parameters();
  REQUIRE(params[0]->name == "fc1.weight");
  REQUIRE(params[1]->name == "fc1.bias");
  ops::fill(params[0]->value, 0.0f);
  ops::fill(params[1]->value, -1.0f);
  s.obj = objective::Objective<float>{};  // cross-entropy only: the dead layer stays dead
  s.obj.with_schedule(objective::WeightSchedule::constant(0.0, 0.0));
  auto t = s.trainer(
      train::TrainerOptions{}.with_epochs(1).with_seed(5).with_progress(false).with_monitor("hidden1", 30).with_out_dir(
          dir.file("run")));
  const auto reports = t.fit(&s.test);
  CHECK(std::isnan(reports.back().pc1_share));
  CHECK(std::isnan(reports.back().effective_rank));
  std::ifstream log(dir.file("run") + "/log.jsonl");
  std::string line;
  REQUIRE(std::getline(log, line));
  CHECK(nlohmann::json::parse(line)["collapse"]["pc1_share"].is_null());
}

namespace trainer_device_test {

/// The setup of TrainerSetup with the model, optimiser and objective on device D, L_DA and L_C
/// at the tap (one call of the objective), the score and the collapse monitor on.
template <Device D>
struct DeviceSetup {
  data::ImageSet train = synthetic(64, 1), test = synthetic(40, 2);
  nn::Sequential<float, D> model = nn::make_mlp<float, D>({36, 16, 2}, nn::MlpOptions{}.with_seed(3));
  optim::Sgd<float, D> sgd{optim::SgdOptions(0.1).with_momentum(0.9)};
  objective::Objective<float, D> obj;
  data::KxMSampler sampler{train.labels, data::KxMOptions{}.with_seeds_per_batch(8).with_augmentations(2).with_seed(4)};
  data::Augmentation aug = data::augment::light();
  DeviceSetup() {
    obj.augmentation({"hidden1"}, MeanSquaredDifference{})
        .class_wise({"hidden1"}, MeanSquaredDifference{})
        .with_schedule(objective::WeightSchedule::constant(0.1, 0.05));
  }
  std::vector<train::EpochReport> fit(const train::TrainerOptions& o) {
    return train::Trainer(model, sgd, obj, train, sampler, &aug, o).fit(&test);
  }
  std::vector<float> parameters() {
    std::vector<float> v;
    for (auto* p : model.parameters()) {
      const auto host = Tensor<float>::copy_of(p->value.view());
      v.insert(v.end(), host.begin(), host.end());
    }
    return v;
  }
};

}  // namespace trainer_device_test

TEST_CASE("the trainer on a separate-memory device: the CPU run's bits, reports and an exact resume") {
  using trainer_device_test::DeviceSetup;
  test::TempDir dir;
  const auto options = train::TrainerOptions{}.with_epochs(3).with_seed(5).with_progress(false).with_score("hidden1", 40)
                           .with_monitor("hidden1", 40);
  DeviceSetup<Cpu> cpu;
  const auto want = cpu.fit(options);
  DeviceSetup<test::SeparateHost> device;
  const auto got = device.fit(train::TrainerOptions{options}.with_out_dir(dir.file("device")));
  REQUIRE(got.size() == want.size());
  for (std::size_t e = 0; e < got.size(); ++e) {
    CAPTURE(e);
    CHECK(got[e].train_objective == want[e].train_objective);
    CHECK(got[e].train_terms == want[e].train_terms);
    CHECK(got[e].test_accuracy == want[e].test_accuracy);
    CHECK(got[e].test_cross_entropy == want[e].test_cross_entropy);
    CHECK(got[e].invariance_score == want[e].invariance_score);
    CHECK(got[e].pc1_share == want[e].pc1_share);
  }
  CHECK(device.parameters() == cpu.parameters());
  // One epoch on the device, then a fresh device model resumes from its checkpoint.
  DeviceSetup<test::SeparateHost> first;
  first.fit(train::TrainerOptions{options}.with_epochs(1).with_out_dir(dir.file("resumed")));
  DeviceSetup<test::SeparateHost> resumed;
  CHECK(resumed.fit(train::TrainerOptions{options}.with_out_dir(dir.file("resumed")).with_resume()).size() == 2);
  CHECK(resumed.parameters() == cpu.parameters());
  // A NaN weight on the device: the logits, read back on the host, stop the run at the next step.
  DeviceSetup<test::SeparateHost> poisoned;
  train::Trainer t(poisoned.model, poisoned.sgd, poisoned.obj, poisoned.train, poisoned.sampler, &poisoned.aug,
                   train::TrainerOptions{options}.with_epochs(1));
  t.on_step_end([&](index_t, index_t step, const auto&) {
    if (step != 0) return;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    test::SeparateHost::copy_from_host(poisoned.model.parameters().back()->value.data(), &nan, sizeof(float));
  });
  CHECK_ERROR_CONTAINS(t.fit(), "training diverged at epoch 1, step 2 (the logits hold nan)");
}
