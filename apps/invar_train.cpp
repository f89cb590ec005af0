// invar-train: the paper's training, end to end. Trains one model per objective preset (default:
// baseline and mixed) on Fashion-MNIST, CIFAR-10 or CIFAR-100 with the objective of Eq. 1, and
// ends with a table: test accuracy, the top layer's invariance score on held-out augmentations,
// its PC1 share and effective rank (the collapse monitor), time; with several seeds
// (--seed 1,2,3), also each objective's mean and spread. `invar-train --help` lists every option; docs/training.md shows runs and their numbers.
//
// Output folder (--out, default runs/invar-train), one sub-folder per objective:
//   <out>/<objective>/config.json     the run's configuration (invar-report rebuilds the model from it)
//   <out>/<objective>/checkpoint.invar model, optimiser and training state after the last epoch (atomic)
//   <out>/<objective>/log.jsonl       one JSON line per epoch
//   <out>/<objective>/result.json     the final evaluation
//   <out>/summary.json                every run's result
// With several seeds, each run is in <out>/<objective>/seed-<s>/ instead.
// --resume continues each run from its checkpoint; the result equals an uninterrupted run's.
// A run folder that already holds a run is refused unless --resume or --overwrite says what to do
// with it, and <out>/invar-train.lock (flock, held while the process runs) refuses a second process
// into the same folder (common/run_folder.hpp). --config <run>/config.json trains a run again
// (options on the command line win). Exit status: 0 done; 2 refused before any file was touched
// (a usage error, an option the data cannot satisfy, a folder that holds another run, missing
// data); 1 failed while running (docs/reliability.md).
//
// Under mpirun (built with invar::mpi; docs/distributed.md), `mpirun -np N invar-train ...` trains
// each run data-parallel on N ranks: every rank loads the data and takes its share of every batch,
// rank 0 alone writes the run folder and prints; the results equal one process's on the same
// global batches. A resume needs the same N. A failure on any rank stops every rank.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <variant>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/config_file.hpp"
#include "common/datasets.hpp"
#include "common/json_file.hpp"
#include "common/metric_by_name.hpp"
#include "common/model_zoo.hpp"
#include "common/run_config.hpp"
#include "invar/distributed/communicator.hpp"
#if defined(INVAR_COMPONENT_MPI)
#include <cstdlib>

#include "invar/distributed/mpi_communicator.hpp"
#endif
#include "common/run_folder.hpp"
#include "common/run_setup.hpp"
#include "invar/cpu.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/data/augment/schemes.hpp"
#include "invar/data/class_balanced_sampler.hpp"
#include "invar/data/kxm_sampler.hpp"
#include "invar/data/label_subset.hpp"
#include "invar/nn/safetensors_export.hpp"
#include "invar/objective/presets.hpp"
#include "invar/optim/schedule.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/train/trainer.hpp"

namespace {

using namespace invar;
using apps::RunConfig;
namespace fs = std::filesystem;

/// What one run ends with.
struct RunResult {
  std::string objective;
  std::uint64_t seed = 1;
  std::string top_tap;  // the layer of the invariance score and the probe
  double test_accuracy = std::nan("");   // the model's own classifier (NaN when it was not trained)
  double probe_accuracy = std::nan("");  // linear probe on the frozen top features (NaN when not run)
  double invariance_score = std::nan("");
  double pc1_share = std::nan("");       // collapse monitor at top_tap after the last epoch
  double effective_rank = std::nan("");
  double train_seconds = 0;  // all epochs, including those before a resume
  long epochs = 0;
  bool classifier_trained = false;

  [[nodiscard]] double accuracy() const { return classifier_trained ? test_accuracy : probe_accuracy; }
};

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json to_json(const RunResult& r) {
  return {{"objective", r.objective},
          {"seed", r.seed},
          {"test_accuracy", finite_or_null(r.test_accuracy)},
          {"probe_accuracy", finite_or_null(r.probe_accuracy)},
          {"accuracy", finite_or_null(r.accuracy())},
          {"accuracy_from", r.classifier_trained ? "classifier" : "linear probe"},
          {"invariance_score", finite_or_null(r.invariance_score)},
          {"invariance_score_tap", r.top_tap},
          {"pc1_share", finite_or_null(r.pc1_share)},
          {"effective_rank", finite_or_null(r.effective_rank)},
          {"classifier_trained", r.classifier_trained},
          {"train_seconds", r.train_seconds},
          {"epochs", r.epochs},
          {"seconds_per_epoch", r.epochs > 0 ? r.train_seconds / double(r.epochs) : 0.0}};
}

optim::LrSchedule make_lr_schedule(const RunConfig& c, double lr) {
  if (c.lr_schedule == "constant") return optim::ConstantLr(lr);
  if (c.lr_schedule == "cosine") return optim::CosineLr(lr, double(c.epochs));
  if (c.lr_schedule == "step") {
    std::vector<double> milestones;
    for (const auto& m : apps::split_list(c.lr_milestones, "--lr-milestones")) milestones.push_back(std::stod(m));
    return optim::StepLr(lr, milestones, c.lr_factor);
  }
  throw Error("--lr-schedule: expected constant, cosine or step, got '" + c.lr_schedule + "'");
}

/// Training seconds per epoch from log.jsonl (the last line of each epoch wins: a run killed
/// between its checkpoint and its log line repeats that epoch's line after the resume).
double logged_seconds(const std::string& log_path) {
  std::ifstream in(log_path);
  std::map<long, double> per_epoch;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("epoch") && j.contains("seconds"))
      per_epoch[j["epoch"].get<long>()] = j["seconds"].get<double>();
  }
  double total = 0;
  for (const auto& [e, s] : per_epoch) total += s;
  return total;
}

class Run {
 public:
  Run(const RunConfig& c, const apps::Datasets& d, std::string out_dir, bool resume, bool progress,
      bool export_safetensors, const distributed::Communicator* comm)
      : c_(c), d_(d), out_(std::move(out_dir)), resume_(resume), progress_(progress),
        export_safetensors_(export_safetensors), comm_(comm), writer_(comm == nullptr || comm->rank() == 0) {}

  /// Builds and checks everything the run needs (model, taps, objective, labels, augmentation,
  /// sampler, learning-rate schedule) against the data, and writes nothing: main() calls it for
  /// every run before it touches the output folder, so a refused command changes no file.
  void prepare() {
    const auto& shape = d_.train.images.shape();
    const auto classes = static_cast<index_t>(d_.train.class_names.size());
    model_ = std::make_unique<nn::Sequential<float>>(apps::build_model(c_, shape[1], shape[2], shape[3], classes));
    model_->set_input_gradient(false);  // training needs no dL/dx of the images
    taps_ = apps::invariance_taps(c_, *model_);
    top_ = apps::top_tap(c_, *model_);
    const auto preset = objective::parse_preset(c_.objective);
    auto preset_options = apps::preset_options(c_);
    preset_options.with_penalty_taps(apps::penalty_taps(c_, *model_));
    objective_ = apps::with_metric(c_.metric, [&](auto metric) {
      return objective::make_objective<float>(preset, taps_, preset_options, metric);
    });

    labels_ = c_.labels_per_class > 0 ? data::keep_labels_per_class(d_.train.labels, c_.labels_per_class, c_.seed)
                                      : Tensor<index_t>::copy_of(d_.train.labels.view());
    if (c_.augmentation != "none") augmentation_ = apps::make_augmentation(c_);

    check(c_.epoch_length == "paper" || c_.epoch_length == "every-image",
          "--epoch-length: expected paper or every-image, got '", c_.epoch_length, "'");
    const auto length = c_.epoch_length == "paper" ? data::EpochLength::paper : data::EpochLength::every_image;
    const index_t images = d_.train.images.dim(0);
    if (c_.sampler == "kxm") {
      check(c_.k <= images, "-K/--seeds ", c_.k, ": a batch needs K distinct training images and there are ", images,
            " (--train-images, --classes); give -K ", images, " or less");
      sampler_.emplace<data::KxMSampler>(labels_.view(), data::KxMOptions{}
                                                             .with_seeds_per_batch(c_.k)
                                                             .with_augmentations(c_.m)
                                                             .with_seed(c_.seed)
                                                             .with_epoch_length(length));
    } else {
      check(c_.sampler == "balanced", "--sampler: expected kxm or balanced, got '", c_.sampler, "'");
      check(c_.epoch_length == "paper", "--epoch-length every-image applies to the kxm sampler only");
      // Balanced by the true classes; the rows carry the (possibly partial) training labels.
      try {
        sampler_.emplace<data::ClassBalancedSampler>(d_.train.labels.view(), labels_.view(),
                                                     data::ClassBalancedOptions{}
                                                         .with_classes_per_batch(c_.p)
                                                         .with_seeds_per_class(c_.q)
                                                         .with_augmentations(c_.m)
                                                         .with_seed(c_.seed));
      } catch (const Error& e) {  // name the options (the sampler names its own parameters)
        throw Error(invar::detail::concat("--sampler balanced with -P/--classes-per-batch ", c_.p,
                                          " and -Q/--seeds-per-class ", c_.q, ": ",
                                          std::string(e.what()).substr(std::string("invar: ").size())));
      }
    }
    lr_ = c_.lr > 0 ? c_.lr : apps::default_learning_rate(c_);
    schedule_ = make_lr_schedule(c_, lr_);
  }

  RunResult operator()() {
    prepare();
    if (writer_) {
      fs::create_directories(out_);
      apps::remove_run_temporaries(out_);  // of a killed run (main holds the folder's lock)
      apps::write_json_file((fs::path(out_) / "config.json").string(), c_);
    }
    return std::visit([&](const auto& sampler) -> RunResult {
      if constexpr (std::is_same_v<std::decay_t<decltype(sampler)>, std::monostate>) throw Error("invar-train: no sampler");
      else return train(sampler);
    }, sampler_);
  }

 private:
  template <class Sampler>
  RunResult train(const Sampler& sampler) {
    const double lr = lr_;
    optim::Sgd<float> sgd(optim::SgdOptions(lr).with_momentum(c_.momentum).with_nesterov(c_.momentum > 0).with_weight_decay(
        c_.weight_decay));
    auto options = train::TrainerOptions{}
                       .with_epochs(c_.epochs)
                       .with_seed(c_.seed)
                       .with_out_dir(out_)
                       .with_resume(resume_)
                       .with_progress(progress_ && writer_)
                       .with_score(top_, c_.score_images)
                       .with_monitor(top_, c_.score_images)
                       .with_config(c_.identity().dump())
                       .with_lr_schedule(*schedule_);
    if (comm_ != nullptr) options.across(*comm_).with_sync_batch_norm(c_.sync_batch_norm);
    train::Trainer trainer(*model_, sgd, objective_, d_.train, sampler,
                           augmentation_ ? &*augmentation_ : nullptr, options);
    train::EpochReport last;
    trainer.on_epoch_end([&](const train::EpochReport& r) {
      last = r;
      if (!writer_) return;
      std::fprintf(stderr,
                   "  %-10s epoch %3ld/%ld  objective %.4f  CE %.4f  test acc %6.2f%%  score %.3f  PC1 %.3f  erank %.1f"
                   "  %6.0f img/s  %.1fs\n",
                   c_.objective.c_str(), long(r.epoch + 1), c_.epochs, r.train_objective, r.train_cross_entropy,
                   100 * r.test_accuracy, r.invariance_score, r.pc1_share, r.effective_rank, r.images_per_second,
                   r.seconds);
    });
    trainer.fit(&d_.test);

    // The final evaluation, also when a resumed run had no epoch left to train.
    train::EpochReport final;
    trainer.evaluate(d_.test, final);
    RunResult result;
    result.objective = c_.objective;
    result.seed = c_.seed;
    result.top_tap = top_;
    result.epochs = c_.epochs;
    result.invariance_score = final.invariance_score;
    result.pc1_share = last.pc1_share;  // NaN when a resumed run had no epoch left (log.jsonl has it)
    result.effective_rank = last.effective_rank;
    result.classifier_trained = apps::trains_classifier(c_, taps_);
    if (result.classifier_trained) result.test_accuracy = final.test_accuracy;
    if (c_.probe == "always" || (c_.probe == "auto" && !result.classifier_trained)) result.probe_accuracy = probe();
    result.train_seconds = writer_ ? logged_seconds(trainer.log_path()) : 0.0;
    // The trained weights in a format PyTorch reads (docs/export.md), written atomically.
    if (export_safetensors_ && writer_)
      nn::save_safetensors(*model_, (fs::path(out_) / "model.safetensors").string(),
                           {{"objective", c_.objective}, {"config", c_.identity().dump()}});
    return result;
  }

  /// Test accuracy of a linear probe fitted on the frozen top features of the first probe_images
  /// training images, without augmentation; with --labels-per-class, on every labelled image
  /// (the probe sees the training labels, never the hidden ones).
  double probe() {
    const index_t n = c_.labels_per_class > 0 ? d_.train.images.dim(0)
                                              : std::min<index_t>(c_.probe_images, d_.train.images.dim(0));
    if (writer_)
      std::fprintf(stderr, "  %-10s linear probe on '%s' (%ld training images)\n", c_.objective.c_str(), top_.c_str(),
                   long(n));
    const auto train_features = analysis::extract_features(*model_, d_.train.images.view().slice_rows(0, n), top_);
    const auto test_features = analysis::extract_features(*model_, d_.test.images.view(), top_);
    const auto probe = analysis::fit_linear_probe(train_features.view(), labels_.view().slice_rows(0, n));
    return probe.accuracy(test_features.view(), d_.test.labels.view());
  }

  const RunConfig& c_;
  const apps::Datasets& d_;
  std::string out_;
  bool resume_, progress_, export_safetensors_;
  const distributed::Communicator* comm_;  // null: one process
  bool writer_;                            // rank 0 (or the only process): writes files, prints
  std::unique_ptr<nn::Sequential<float>> model_;
  std::vector<std::string> taps_;
  std::string top_;
  objective::Objective<float> objective_;
  Tensor<index_t> labels_;
  std::optional<data::Augmentation> augmentation_;
  std::variant<std::monostate, data::KxMSampler, data::ClassBalancedSampler> sampler_;
  double lr_ = 0;
  std::optional<optim::LrSchedule> schedule_;
};

void add_options(CLI::App& app, RunConfig& c, std::vector<std::uint64_t>& seeds) {
  using apps::integer_in;
  using apps::real_at_least;
  using apps::real_in;
  auto* data = app.add_option_group("data");
  data->add_option("--dataset", c.dataset, "fashion-mnist, cifar10 or cifar100 (default: from --data's files, else fashion-mnist)")
      ->check(CLI::IsMember({"fashion-mnist", "cifar10", "cifar100"}));
  data->add_option("--data", c.data_dir,
                   "folder of the data set (Fashion-MNIST IDX files, or CIFAR-10/100 binary files); default: "
                   "/usr/share/datasets/fashion-mnist, $INVAR_CIFAR10_DIR or ../shared/data/cifar-10-batches-bin");
  data->add_option("--train-images", c.train_images, "use the first N training images (0: all)")->check(integer_in(0));
  data->add_option("--test-images", c.test_images, "use the first N test images (0: all)")->check(integer_in(0));
  data->add_option("--labels-per-class", c.labels_per_class,
                   "keep N labelled training images per class, the rest unlabelled (0: all labelled); "
                   "cross-entropy and L_C see labelled rows only")
      ->check(integer_in(0));
  data->add_option("--classes", c.classes,
                   "train on these classes only, relabelled 0..k-1 in the order given: indices or names, "
                   "comma-separated (the paper's binary task: automobile,dog); default: all");
  data->add_option("--augmentation", c.augmentation, "none, light (flip + translation) or heavier (method.md)")
      ->check(CLI::IsMember({"none", "light", "heavier"}));
  data->add_option("--draw", c.draw, "augmentation draws: normal (truncated, the authors' code) or uniform (the thesis)")
      ->check(CLI::IsMember({"normal", "uniform"}));

  auto* model = app.add_option_group("model");
  model->add_option("--model", c.model, "mlp, all-cnn or wrn")->check(CLI::IsMember({"mlp", "all-cnn", "wrn"}));
  model->add_option("--mlp-hidden", c.mlp_hidden, "MLP hidden widths, comma-separated");
  model->add_option("--width", c.width, "All-CNN width multiplier (0.25: a slim All-CNN)")
      ->check(real_in(0, 64, /*lo_open=*/true));
  model->add_option("--top-padding", c.top_padding, "All-CNN's seventh conv: same (authors' code) or valid (original)")
      ->check(CLI::IsMember({"same", "valid"}));
  model->add_option("--depth", c.depth, "WRN depth d = 6 n + 4")->check(integer_in(1, 1000));
  model->add_option("--widen", c.widen, "WRN widening factor k")->check(integer_in(1, 64));
  model->add_option("--shortcut", c.shortcut, "WRN shortcut: zero-pad (authors) or projection (1x1 conv)")
      ->check(CLI::IsMember({"zero-pad", "projection"}));

  auto* obj = app.add_option_group("objective (Eq. 1)");
  obj->add_option("--alpha", c.alpha, "sum of the L_DA weights (default: the preset's)")
      ->check(real_in(0, 1))
      ->default_str("preset");
  obj->add_option("--beta", c.beta, "sum of the L_C weights (default: the preset's); cross-entropy gets 1 - alpha - beta")
      ->check(real_in(0, 1))
      ->default_str("preset");
  obj->add_option("--taps", c.taps, "comma-separated taps of the invariance terms, or all (MLP hidden layers, "
                                    "All-CNN conv1..conv9, WRN block1..block3n)");
  obj->add_option("--weights", c.weights,
                  "per-layer weights: a profile, uniform, linear (1..r) or exponential (r^(i/(L-1))), or given "
                  "shares, one per tap, comma-separated (normalised to the totals)");
  obj->add_option("--ratio", c.ratio, "r of the linear and exponential profiles")->check(real_at_least(0, /*open=*/true));
  obj->add_option("--metric", c.metric, std::string("distance metric: ") + apps::metric_names)
      ->check(CLI::IsMember({"mse", "squared-euclidean", "euclidean", "manhattan", "cosine", "correlation"}));
  obj->add_option("--convention", c.convention, "pair convention: pooled (authors' code) or paper (Eq. 2/3 as printed)")
      ->check(CLI::IsMember({"pooled", "paper"}));
  obj->add_option("--reference", c.reference,
                  "L_DA's denominator: preset (same-class for authors, else all), all pairs, or same-class pairs")
      ->check(CLI::IsMember({"preset", "all", "same-class"}));
  obj->add_option("--schedule", c.schedule, "weights over training: constant, ramp (beta from 0 up) or curriculum "
                                            "(the authors' step curriculum)")
      ->check(CLI::IsMember({"constant", "ramp", "curriculum"}));
  obj->add_option("--ramp-epochs", c.ramp_epochs, "epochs of the beta ramp (0: half the run)")->check(integer_in(0));

  auto* pen = app.add_option_group("anti-collapse penalties (docs/anti_collapse.md)");
  pen->add_option("--variance", c.variance, "total weight of the variance hinge (default: the preset's; anticollapse 3)")
      ->check(real_at_least(0))
      ->default_str("preset");
  pen->add_option("--covariance", c.covariance,
                  "total weight of the covariance penalty (default: the preset's; anticollapse 0.12)")
      ->check(real_at_least(0))
      ->default_str("preset");
  pen->add_option("--pc1", c.pc1, "total weight of the PC1-share penalty (default: the preset's; anticollapse 1)")
      ->check(real_at_least(0))
      ->default_str("preset");
  pen->add_option("--penalty-taps", c.penalty_taps,
                  "taps of the penalties: same (the invariance taps), top (the evaluated top layer) or comma-separated");
  pen->add_option("--variance-target", c.variance_target, "the variance hinge's target standard deviation")
      ->check(real_at_least(0, /*open=*/true));
  pen->add_option("--pc1-threshold", c.pc1_threshold, "the PC1 share above which its penalty acts")
      ->check(real_in(0, 1, false, /*hi_open=*/true));
  pen->add_option("--penalty-features", c.penalty_features,
                  "what the penalties see of a conv tap: automatic (channel means), flat or channel-mean")
      ->check(CLI::IsMember({"automatic", "flat", "channel-mean"}));

  auto* batches = app.add_option_group("batches");
  batches->add_option("--sampler", c.sampler, "kxm (K seeds x M augmentations) or balanced (P classes x Q seeds x M)")
      ->check(CLI::IsMember({"kxm", "balanced"}));
  batches->add_option("-K,--seeds", c.k, "K: seed images per batch (kxm)")->check(integer_in(1));
  batches->add_option("-M,--augmentations", c.m, "M: augmentations per seed image (1: plain batches)")
      ->check(integer_in(1));
  batches->add_option("-P,--classes-per-batch", c.p, "P: classes per batch (balanced)")->check(integer_in(1));
  batches->add_option("-Q,--seeds-per-class", c.q, "Q: seed images per class (balanced)")->check(integer_in(1));
  batches->add_option("--epoch-length", c.epoch_length,
                      "paper (N / (K M) steps, N / M distinct images per epoch) or every-image (N / K steps)")
      ->check(CLI::IsMember({"paper", "every-image"}));

  auto* opt = app.add_option_group("optimisation");
  opt->add_option("--epochs", c.epochs, "epochs per run")->check(integer_in(1, 100000));
  opt->add_option("--lr", c.lr, "SGD learning rate (0: the model's default, 0.05 for mlp, 0.01 for all-cnn, 0.1 for wrn)")
      ->check(real_in(0, 10));
  opt->add_option("--momentum", c.momentum, "Nesterov momentum (0: plain SGD)")->check(real_in(0, 0.999));
  opt->add_option("--weight-decay", c.weight_decay, "L2 weight decay")->check(real_in(0, 1));
  opt->add_flag("--sync-batch-norm", c.sync_batch_norm,
                "under mpirun: batch norm statistics over every rank's rows (default: each rank's own; docs/distributed.md)");
  opt->add_option("--lr-schedule", c.lr_schedule, "constant, cosine (to 0 at the last epoch) or step")
      ->check(CLI::IsMember({"constant", "cosine", "step"}));
  opt->add_option("--lr-milestones", c.lr_milestones, "step schedule: comma-separated epochs, e.g. 200,250,300")
      ->check(apps::list_of_reals_at_least(0));
  opt->add_option("--lr-factor", c.lr_factor, "step schedule: factor at each milestone")
      ->check(real_at_least(0, /*open=*/true));
  opt->add_option("--seed", seeds,
                  "seed of initialisation, batches, augmentations and label subsets; a comma-separated list "
                  "trains each objective once per seed, into <out>/<objective>/seed-<s>/")
      ->delimiter(',')
      ->check(apps::seed_value())
      ->default_str("1");

  auto* eval = app.add_option_group("evaluation");
  eval->add_option("--score-images", c.score_images,
                   "test images of the invariance score (the first ones, one held-out augmentation each)")
      ->check(integer_in(2, 100000));
  eval->add_option("--probe", c.probe,
                   "linear probe on the frozen top features: auto (when the model's classifier was not trained), "
                   "always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  eval->add_option("--probe-images", c.probe_images, "training images the probe is fitted on (the first ones)")
      ->check(integer_in(1));
}

void print_table(const RunConfig& c, const std::vector<RunResult>& results) {
  const std::string top = results.empty() ? "" : results.front().top_tap;
  std::printf("\n%s on %s, %ld epochs, K %ld x M %ld, %s augmentation; invariance score of '%s' on %ld held-out "
              "augmented test images\n\n",
              c.model.c_str(), c.dataset.c_str(), c.epochs, c.k, c.m, c.augmentation.c_str(), top.c_str(),
              c.score_images);
  std::printf("%-12s %6s %10s  %-12s %10s %6s %6s %9s %9s\n", "objective", "seed", "accuracy", "from", "invariance",
              "PC1", "erank", "s/epoch", "total");
  for (const auto& r : results)
    std::printf("%-12s %6llu %9.2f%%  %-12s %10.4f %6.3f %6.1f %9.1f %8.1fs\n", r.objective.c_str(),
                static_cast<unsigned long long>(r.seed), 100 * r.accuracy(),
                r.classifier_trained ? "classifier" : "linear probe", r.invariance_score, r.pc1_share, r.effective_rank,
                r.epochs > 0 ? r.train_seconds / double(r.epochs) : 0.0, r.train_seconds);
  // Several seeds: mean and sample standard deviation per objective.
  std::map<std::string, std::vector<const RunResult*>> by_objective;
  std::vector<std::string> order;
  for (const auto& r : results) {
    if (by_objective[r.objective].empty()) order.push_back(r.objective);
    by_objective[r.objective].push_back(&r);
  }
  bool header = false;
  for (const auto& name : order) {
    const auto& runs = by_objective[name];
    if (runs.size() < 2) continue;
    if (!header) std::printf("\nover seeds: mean +- sample standard deviation\n");
    header = true;
    const auto stat = [&](auto get) {
      double mean = 0, sq = 0;
      for (const auto* r : runs) mean += get(*r);
      mean /= double(runs.size());
      for (const auto* r : runs) sq += (get(*r) - mean) * (get(*r) - mean);
      return std::pair{mean, std::sqrt(sq / double(runs.size() - 1))};
    };
    const auto acc = stat([](const RunResult& r) { return 100 * r.accuracy(); });
    const auto inv = stat([](const RunResult& r) { return r.invariance_score; });
    const auto pc1 = stat([](const RunResult& r) { return r.pc1_share; });
    const auto erank = stat([](const RunResult& r) { return r.effective_rank; });
    std::printf("%-12s %zu seeds: accuracy %.2f +- %.2f %%, invariance %.4f +- %.4f, PC1 %.3f +- %.3f, erank %.1f +- %.1f\n",
                name.c_str(), runs.size(), acc.first, acc.second, inv.first, inv.second, pc1.first, pc1.second,
                erank.first, erank.second);
  }
  std::printf("\nPC1, erank: the PC1 share and effective rank of '%s' on the score's test images (collapse: PC1 -> 1, "
              "erank -> 1).\n", top.c_str());
  std::printf("invariance: the authors' score S = 1 - N d(x, g(x)) / sum_j d(x, x_j) (mean squared difference), "
              "eval mode;\n1 = augmentations do not move the features, 0 = they move them as far as another image.\n");
}

/// A run's folder: <out>/<objective> for one seed, <out>/<objective>/seed-<s> for several.
fs::path run_folder(const std::string& out, const std::string& objective, std::uint64_t seed, std::size_t seeds) {
  const fs::path p = fs::path(out) / objective;
  return seeds > 1 ? p / ("seed-" + std::to_string(seed)) : p;
}

/// The run folders of this command: checked before anything is loaded or written (a refused
/// command changes no file), and again under the output folder's lock.
void check_run_folders(const std::string& out, const RunConfig& c, const std::vector<std::string>& names,
                       const std::vector<std::uint64_t>& seeds, apps::ExistingRun mode) {
  for (const auto& n : names)
    for (const auto seed : seeds) {
      RunConfig rc = c;
      rc.objective = n;
      rc.seed = seed;
      apps::check_run_folder(run_folder(out, n, seed, seeds.size()), rc, mode);
    }
}

}  // namespace

#if defined(INVAR_COMPONENT_MPI)
/// Whether an MPI launcher (mpirun, mpiexec, srun) started this process: then MPI is initialised.
/// A plain start never touches MPI.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}
#endif

int main(int argc, char** argv) {
#if defined(INVAR_COMPONENT_MPI)
  std::optional<distributed::MpiSession> mpi;
  std::optional<distributed::MpiCommunicator> world;
  if (launched_by_mpi()) {
    mpi.emplace(argc, argv);
    world.emplace();
  }
  const distributed::Communicator* comm = world && world->size() > 1 ? &*world : nullptr;
#else
  const distributed::Communicator* comm = nullptr;
#endif
  const bool writer = comm == nullptr || comm->rank() == 0;
  CLI::App app{"invar-train: train networks with the paper's group-wise invariance objective (Eq. 1) and compare\n"
               "objectives on test accuracy and the top layer's invariance score. Default: an MLP on Fashion-MNIST,\n"
               "baseline and mixed, a few minutes on 2 cores."};
  apps::setup_app(app, "invar-train");
  app.set_help_all_flag("--help-all", "every option, with its group");
  RunConfig c;
  std::string objectives = "baseline,mixed", out = "runs/invar-train";
  bool resume = false, overwrite = false, quiet = false;
  int threads = 0;
  app.add_option("-o,--objective", objectives,
                 "comma-separated presets, one run each: baseline (cross-entropy), invariance (alpha 0.1, beta 0.9, "
                 "no cross-entropy), mixed (alpha 0.01, beta 0.09, cross-entropy 0.9), authors (alpha 0.1, "
                 "cross-entropy 0.9), anticollapse (invariance + the anti-collapse penalties)");
  app.add_option("--out", out, "output folder; one sub-folder per objective");
  apps::add_config_option(app);
  auto* resume_flag = app.add_flag("--resume", resume, "continue every run from its checkpoint in --out (exactly)");
  app.add_flag("--overwrite", overwrite, "replace the runs that --out already holds")->excludes(resume_flag);
  app.add_option("--threads", threads, "threads (0: OMP_NUM_THREADS or every core)")->check(apps::integer_in(0, 1024));
  app.add_flag("-q,--quiet", quiet, "no progress bar");
  std::string export_format;
  app.add_option("--export", export_format,
                 "also write the trained weights: safetensors (<out>/<objective>/model.safetensors, PyTorch's names "
                 "and layouts; docs/export.md)")
      ->check(CLI::IsMember({"safetensors"}));
  std::vector<std::uint64_t> seeds{1};
  add_options(app, c, seeds);
  if (const int status = apps::parse_command_line(app, "invar-train", argc, argv); status >= 0) return status;

  bool started = false;  // whether the output folder has been touched (exit status 1 after, 2 before)
  try {
    if (threads > 0) set_num_threads(threads);
    if (!c.data_dir.empty() && app.get_option_group("data")->get_option("--dataset")->count() == 0) {
      const std::string detected = apps::detect_dataset(c.data_dir);
      check(!detected.empty(), "--data '", c.data_dir, "': no CIFAR-10, CIFAR-100 or Fashion-MNIST files found there");
      c.dataset = detected;
    }
    std::vector<std::string> names;
    for (const auto& n : apps::split_list(objectives, "--objective"))  // fail before loading anything
      names.push_back(objective::to_string(objective::parse_preset(n)));
    const auto mode = overwrite ? apps::ExistingRun::overwrite : resume ? apps::ExistingRun::resume : apps::ExistingRun::refuse;
    if (std::string holder; writer && apps::OutputLock::held_by_another(out, &holder))
      throw Error(apps::OutputLock::in_use_message(out, holder));
    {  // distinct seeds
      auto sorted = seeds;
      std::sort(sorted.begin(), sorted.end());
      check(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "--seed: a seed is given twice");
    }
    check_run_folders(out, c, names, seeds, mode);

    const auto t0 = std::chrono::steady_clock::now();
    const apps::Datasets d = apps::load_datasets(c);
    for (const auto& w : d.warnings)
      if (writer) std::fprintf(stderr, "invar-train: warning: %s\n", w.c_str());
    // Every run's options against the data (sizes, K against N, taps, schedules), before any file
    // is touched: a refused command changes nothing and exits 2.
    try {
      for (const auto& n : names)
        for (const auto seed : seeds) {
          RunConfig rc = c;
          rc.objective = n;
          rc.seed = seed;
          Run(rc, d, run_folder(out, n, seed, seeds.size()).string(), resume, false, false, nullptr).prepare();
        }
    } catch (const Error& e) {
      if (writer) apps::print_error("invar-train", e);
      return 2;
    }
    std::optional<apps::OutputLock> lock;  // rank 0's, held until the end: no second run writes here meanwhile
    if (writer) lock.emplace(out);
    started = true;  // from here on files change: a failure is exit status 1
    check_run_folders(out, c, names, seeds, mode);  // again, now that nobody else can write
    if (comm) comm->barrier();  // the other ranks check only once rank 0 holds the lock
    if (overwrite && writer)
      for (const auto& n : names)
        for (const auto seed : seeds) apps::remove_run_files(run_folder(out, n, seed, seeds.size()));
    if (comm) comm->barrier();  // no rank looks for a checkpoint before the old ones are gone
    if (writer)
      std::fprintf(stderr, "invar-train: %s from %s: %ld training, %ld test images; %s; %d threads%s; output %s\n",
                   c.dataset.c_str(), d.dir.c_str(), long(d.train.size()), long(d.test.size()), c.model.c_str(),
                   num_threads(),
                   comm ? (" x " + std::to_string(comm->size()) + " ranks").c_str() : "", out.c_str());
    std::vector<RunResult> results;
    nlohmann::json summary = {{"config", c}, {"seeds", seeds}, {"runs", nlohmann::json::array()}};
    for (const auto& n : names)
      for (const auto seed : seeds) {
        RunConfig rc = c;
        rc.objective = n;
        rc.seed = seed;
        const fs::path folder = run_folder(out, n, seed, seeds.size());
        Run run(rc, d, folder.string(), resume, !quiet, export_format == "safetensors", comm);
        results.push_back(run());
        if (writer) apps::write_json_file((folder / "result.json").string(), to_json(results.back()));
        summary["runs"].push_back(to_json(results.back()));
      }
    summary["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (writer) {
      apps::write_json_file((fs::path(out) / "summary.json").string(), summary);
      print_table(c, results);
    }
  } catch (const std::exception& e) {
    apps::print_error("invar-train", e);
#if defined(INVAR_COMPONENT_MPI)
    // The other ranks may wait in a collective this rank never reaches: stop them all.
    if (comm) MPI_Abort(MPI_COMM_WORLD, started ? 1 : 2);
#endif
    return started ? 1 : 2;  // refused before any file was touched: 2, as a usage error
  }
  return 0;
}
