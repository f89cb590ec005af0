#pragma once
/// \file trainer.hpp
/// A generic trainer: any nn::TrainableModel (nn/model.hpp), the objective of Eq. 1, any optimiser
/// with step(params), any sampler with steps_per_epoch() and batch(epoch, step) (data/), and an
/// optional augmentation. Float32 images (data::ImageSet). The model may live on any device
/// (its parameters' device, nn::model_device_t): batches are assembled and augmented on the host
/// and copied over once per step; the objective (objective::Objective<float, D>), the optimiser's
/// state and every gradient stay on the device; evaluation reads host images a batch at a time.
///
///   train::Trainer trainer(model, sgd, objective, train_set, sampler, &augmentation,
///                          train::TrainerOptions{}.with_epochs(10).with_seed(1).with_out_dir("run"));
///   trainer.on_epoch_end([](const train::EpochReport& r) { ... });
///   auto reports = trainer.fit(&test_set);
///
/// Per epoch: the schedule's weights, the batches (pure functions of (seed, epoch, step)), one
/// optimiser step per batch (the learning rate from TrainerOptions::lr_schedule, when given, set
/// before every step), then an evaluation in eval mode: test accuracy and cross-entropy,
/// and the authors' invariance score of `score_tap` on held-out augmentations of test images,
/// and the collapse monitor: the PC1 share and effective rank (analysis/pca.hpp) of
/// `monitor_tap`'s features on the first `monitor_images` test images (training images when there
/// is no test set), so that a collapse shows as it happens.
/// With an output folder, after every epoch: its JSON line appended to log.jsonl (flushed and
/// fsynced), then checkpoint.invar replaced atomically (written beside it, fsynced, renamed).
/// with_resume() continues from checkpoint.invar exactly (same batches, same augmentations, same
/// optimiser state). The folder is always resumable and its log lists every finished epoch once:
/// a kill between an epoch's log line and its checkpoint leaves a line for an epoch the
/// checkpoint does not hold, and fit() drops the lines beyond the checkpoint's epoch (and torn
/// or repeated lines) before it goes on; it also removes the temporary files a killed save left
/// (checkpoint.invar.tmp.PID, log.jsonl.tmp.PID). docs/reliability.md. A non-finite loss
/// stops the run with an invar::Error naming the epoch and step and the last good checkpoint, if
/// there is one; that checkpoint (of the previous epoch) stays untouched.
///
/// Across ranks (TrainerOptions::across, docs/distributed.md): every rank runs the same program
/// with the same model, seed and sampler; each takes its contiguous share of every batch (groups
/// may straddle ranks: the objective is that of the whole batch), the gradients are summed over
/// the ranks in rank order before each step, so the replicas stay identical, and batch norm's
/// running statistics are averaged at the end of each epoch (its batch statistics are per rank,
/// or those of every rank's rows together with TrainerOptions::sync_batch_norm).
/// The test accuracy is computed on shards of the test set and summed. Rank 0 alone writes the
/// checkpoint and the log; a resume reads the checkpoint on every rank (a folder all ranks see)
/// and needs the same number of ranks.
///
/// Accuracy is the model's own classifier. For a model trained without cross-entropy that head
/// is untrained: EpochReport::classifier_trained says so (use a probe on frozen features).

#if !defined(INVAR_COMPONENT_TRAIN)
#error "invar: <invar/train/trainer.hpp> is part of the component invar::train: find_package(invar COMPONENTS train) and link the target invar::train"
#endif

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/classifier_accuracy.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/invariance_score.hpp"
#include "invar/analysis/pca.hpp"
#include "invar/data/assemble_batch.hpp"
#include "invar/data/augment/augmentation.hpp"
#include "invar/data/batch_rows.hpp"
#include "invar/data/image_set.hpp"
#include "invar/distributed/communicator.hpp"
#include "invar/distributed/gradients.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/objective/objective.hpp"
#include "invar/optim/schedule.hpp"
#include "invar/io/atomic_file.hpp"
#include "invar/train/checkpoint.hpp"
#include "invar/nn/model.hpp"
#include "invar/train/progress.hpp"

namespace invar::train {

/// Options of a Trainer (see the file comment); each field has a chainable `with_...` setter.
struct TrainerOptions {
  index_t epochs = 10;         ///< total epochs of the run (>= 1); a resumed run trains the rest
  std::uint64_t seed = 0;      ///< keys batches and augmentations (with epoch and step)
  std::string out_dir;         ///< checkpoint.invar and log.jsonl; empty: no files
  bool resume = false;         ///< continue from out_dir/checkpoint.invar when it exists
  bool progress = true;        ///< a progress bar on stderr (only when it is a terminal)
  index_t eval_batch = 500;    ///< images per evaluation forward
  std::string score_tap;       ///< tap of the invariance score; empty: not computed
  index_t score_images = 500;  ///< held-out test images for the score (the first ones)
  std::string monitor_tap;     ///< tap of the collapse monitor (PC1 share, effective rank); empty: not computed
  index_t monitor_images = 1000;  ///< images of the collapse monitor (the first test images)
  std::string config;          ///< the run's configuration, stored in checkpoints, checked on resume
  /// Sets the optimiser's learning rate before every step to at(epoch + step / steps) (a pure
  /// function of the position, so a resumed run gets the same rates). Empty: the optimiser's own.
  std::optional<optim::LrSchedule> lr_schedule;
  /// The ranks that train together, each on its share of every batch (see the file comment);
  /// null: this process alone. Must outlive the Trainer.
  const distributed::Communicator* communicator = nullptr;
  /// Across ranks: batch norm normalises with the statistics of every rank's rows together (its
  /// layers get the communicator: nn::Layer::set_communicator) instead of each rank's own.
  bool sync_batch_norm = false;

  /// Sets #epochs.
  TrainerOptions& with_epochs(index_t e) { epochs = e; return *this; }
  /// Sets #seed.
  TrainerOptions& with_seed(std::uint64_t s) { seed = s; return *this; }
  /// Sets #out_dir (created by the Trainer's constructor).
  TrainerOptions& with_out_dir(std::string d) { out_dir = std::move(d); return *this; }
  /// Sets #resume.
  TrainerOptions& with_resume(bool r = true) { resume = r; return *this; }
  /// Sets #progress.
  TrainerOptions& with_progress(bool p) { progress = p; return *this; }
  /// Sets #eval_batch.
  TrainerOptions& with_eval_batch(index_t b) { eval_batch = b; return *this; }
  /// Computes the invariance score at `tap` on the first `images` test images (#score_tap, #score_images).
  TrainerOptions& with_score(std::string tap, index_t images = 500) {
    score_tap = std::move(tap);
    score_images = images;
    return *this;
  }
  /// Monitors collapse at `tap` on the first `images` test images (#monitor_tap, #monitor_images).
  TrainerOptions& with_monitor(std::string tap, index_t images = 1000) {
    monitor_tap = std::move(tap);
    monitor_images = images;
    return *this;
  }
  /// Sets #config.
  TrainerOptions& with_config(std::string c) { config = std::move(c); return *this; }
  /// Sets #lr_schedule.
  TrainerOptions& with_lr_schedule(optim::LrSchedule s) { lr_schedule = std::move(s); return *this; }
  /// Sets #communicator: data-parallel training across `comm`'s ranks.
  TrainerOptions& across(const distributed::Communicator& comm) { communicator = &comm; return *this; }
  /// Sets #sync_batch_norm.
  TrainerOptions& with_sync_batch_norm(bool s = true) { sync_batch_norm = s; return *this; }
};

/// What one epoch did.
struct EpochReport {
  index_t epoch = 0;  ///< 0-based
  index_t steps = 0;  ///< optimiser steps (the sampler's steps_per_epoch())
  double seconds = 0;             ///< training steps only
  double images_per_second = 0;   ///< rows per second
  double train_objective = 0;     ///< mean of the weighted total over the epoch's batches
  double train_cross_entropy = 0; ///< mean over batches (unweighted)
  std::vector<double> train_terms;  ///< mean value of each invariance term (unweighted)
  std::vector<double> train_penalties;  ///< mean value of each penalty term (unweighted)
  std::vector<double> train_penalty_statistics;  ///< mean statistic of each penalty term (PenaltyValue::statistic)
  objective::TermWeights weights;   ///< the schedule's totals during the epoch
  double learning_rate = std::nan("");  ///< the schedule's rate at the epoch's first step (NaN: no schedule)
  double test_accuracy = std::nan("");       ///< fraction in [0, 1] of the model's classifier on the test set (NaN: no test set or no labels)
  double test_cross_entropy = std::nan("");  ///< mean test cross-entropy (NaN: as test_accuracy)
  double invariance_score = std::nan("");    ///< mean invariance score at TrainerOptions::score_tap (NaN: not configured, no augmentation or no test set)
  double pc1_share = std::nan("");       ///< collapse monitor: PC1 share at monitor_tap (NaN: not configured, or every feature constant)
  double effective_rank = std::nan("");  ///< collapse monitor: effective rank at monitor_tap (NaN: as pc1_share)
  bool classifier_trained = false;  ///< cross-entropy had weight in some epoch so far
};

/// Trains a model with an objective, an optimiser, a sampler and an augmentation (see the file comment).
/// Holds references: the model, optimiser, objective, training set, sampler and augmentation must
/// outlive the Trainer.
template <class Model, class Opt, class Sampler, class Aug = data::augment::Augmentation>
class Trainer {
 public:
  using T = float;  ///< the element type of images, features and gradients
  /// The device the model computes on (that of its parameters): batches are assembled on the
  /// host and go there by one copy; the objective, optimiser and gradients live there too.
  using D = nn::model_device_t<Model>;
  static_assert(nn::TrainableModel<Model, T, D>, "Trainer: the model must satisfy invar::nn::TrainableModel");

  /// `augmentation` may be null (no augmentation, and no invariance score). Creates
  /// options.out_dir when given. Throws invar::Error when epochs or eval_batch is below 1, when
  /// `train` is not N x C x H x W images with N labels, or when the folder cannot be created.
  Trainer(Model& model, Opt& optimizer, objective::Objective<T, D>& objective, const data::ImageSet& train,
          const Sampler& sampler, const Aug* augmentation, TrainerOptions options)
      : model_(model),
        opt_(optimizer),
        obj_(objective),
        train_(train),
        sampler_(sampler),
        aug_(augmentation),
        o_(std::move(options)) {
    check(o_.epochs >= 1, "Trainer: epochs must be >= 1, got ", o_.epochs);
    check(o_.eval_batch >= 1, "Trainer: eval_batch must be >= 1, got ", o_.eval_batch);
    check(train.images.rank() == 4 && train.images.dim(0) == train.labels.numel(), "Trainer: the training set must be N x C x H x W images with N labels, got ",
          train.images.shape(), " and ", train.labels.numel(), " labels");
    if (across()) objective.across(*o_.communicator);
    if (across() && o_.sync_batch_norm) {
      if constexpr (requires { model.set_communicator(o_.communicator); }) model.set_communicator(o_.communicator);
      else throw Error("Trainer: sync_batch_norm needs a model with set_communicator() (nn::Sequential has it)");
    }
    on_writer([&] {
      if (o_.out_dir.empty()) return;
      std::error_code ec;
      std::filesystem::create_directories(o_.out_dir, ec);
      check(!ec, "Trainer: cannot create the output folder '", o_.out_dir, "': ", ec.message());
    });
  }

  /// Called after every epoch (after its checkpoint and log line) with its report.
  void on_epoch_end(std::function<void(const EpochReport&)> f) { epoch_hooks_.push_back(std::move(f)); }
  /// Called after every optimiser step with (epoch, step, the objective's value on the batch).
  void on_step_end(std::function<void(index_t, index_t, const typename objective::Objective<T, D>::Value&)> f) {
    step_hooks_.push_back(std::move(f));
  }

  /// out_dir/checkpoint.invar, written after every epoch.
  [[nodiscard]] std::string checkpoint_path() const { return (std::filesystem::path(o_.out_dir) / "checkpoint.invar").string(); }
  /// out_dir/log.jsonl, one JSON line appended per epoch.
  [[nodiscard]] std::string log_path() const { return (std::filesystem::path(o_.out_dir) / "log.jsonl").string(); }

  /// Trains the remaining epochs; `test` (may be null) is evaluated after each. Returns the
  /// reports of the epochs run by this call.
  std::vector<EpochReport> fit(const data::ImageSet* test = nullptr) {
    TrainingState state{0, 0, o_.seed, o_.config};
    state.ranks = ranks();
    bool resume = o_.resume && !o_.out_dir.empty() && std::filesystem::exists(checkpoint_path());
    if (across()) {  // rank 0's view of the folder decides for every rank
      unsigned char r = resume ? 1 : 0;
      distributed::broadcast(*o_.communicator, std::span<unsigned char>(&r, 1), 0);
      resume = r != 0;
    }
    if (resume) {
      on_every_rank([&] {
        state = load_checkpoint(checkpoint_path(), model_, opt_, &o_.config);
        check(state.seed == o_.seed, "Trainer: the checkpoint's seed ", state.seed, " differs from this run's ", o_.seed);
        // The counters must describe this run: a CRC-valid file can still say something impossible.
        check(state.epochs_done <= o_.epochs, "Trainer: the checkpoint ", checkpoint_path(), " says ", state.epochs_done,
              " epochs are done, more than this run's ", o_.epochs);
        check(state.global_step == state.epochs_done * sampler_.steps_per_epoch(), "Trainer: the checkpoint ",
              checkpoint_path(), " says ", state.global_step, " steps were taken in ", state.epochs_done,
              " epochs; this run takes ", sampler_.steps_per_epoch(), " steps per epoch, so ",
              state.epochs_done * sampler_.steps_per_epoch());
        check(state.ranks == ranks(), "Trainer: the checkpoint ", checkpoint_path(), " was written by a run on ",
              state.ranks, state.ranks == 1 ? " process" : " ranks", "; resume it on as many (this run has ", ranks(),
              ")");
      });
    }
    on_writer([&] { tidy_run_folder(state.epochs_done); });
    auto params = model_.parameters();
    std::vector<EpochReport> reports;
    Tensor<T> x;                   // the batch, assembled on the host
    Tensor<T, D> x_device, dlogits;  // the batch on the model's device (unused on the host)
    for (index_t epoch = state.epochs_done; epoch < o_.epochs; ++epoch) {
      obj_.set_epoch(epoch, o_.epochs);
      classifier_trained_ = classifier_trained_ || obj_.weights().cross_entropy > 0 || epoch_had_ce(epoch);
      model_.set_training(true);
      EpochReport r;
      r.epoch = epoch;
      r.weights = obj_.weights();
      r.steps = sampler_.steps_per_epoch();
      r.train_terms.assign(obj_.size(), 0.0);
      r.train_penalties.assign(obj_.penalty_count(), 0.0);
      r.train_penalty_statistics.assign(obj_.penalty_count(), 0.0);
      ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o_.epochs), r.steps, 1,
                      o_.progress);
      const auto t0 = std::chrono::steady_clock::now();
      index_t rows_seen = 0;
      for (index_t step = 0; step < r.steps; ++step) {
        if (o_.lr_schedule) {
          const double lr = o_.lr_schedule->at(double(epoch) + double(step) / double(r.steps));
          set_learning_rate(lr);
          if (step == 0) r.learning_rate = lr;
        }
        const data::BatchRows batch = sampler_.batch(epoch, step);
        const data::BatchRows rows = across() ? my_rows(batch) : batch;
        data::assemble_batch(train_.images, rows, aug_, o_.seed, epoch, step, x);
        nn::forward_host_batch(model_, TensorView<const T>(x.view()), x_device);
        // Divergence guard: the losses refuse non-finite features, so look at the logits first
        // and say what happened (the checks are on the host: B x classes values).
        on_every_rank([&] { check_finite(model_.output(), epoch, step); });
        const auto v = obj_.evaluate(model_, rows.seed, rows.label, &dlogits);
        if (!std::isfinite(v.total)) diverged(std::to_string(v.total), epoch, step);
        nn::zero_grad(model_);
        obj_.backward(model_, dlogits);
        if (across()) distributed::allreduce_gradients(*o_.communicator, params);
        opt_.step(params);
        ++state.global_step;
        rows_seen += batch.size();
        r.train_objective += v.total;
        r.train_cross_entropy += v.cross_entropy.loss;
        for (std::size_t i = 0; i < v.terms.size(); ++i) r.train_terms[i] += v.terms[i].loss.value;
        for (std::size_t i = 0; i < v.penalties.size(); ++i) {
          r.train_penalties[i] += v.penalties[i].value;
          r.train_penalty_statistics[i] += v.penalties[i].statistic;
        }
        for (auto& h : step_hooks_) h(epoch, step, v);
        bar.update(step + 1, {{"loss", r.train_objective / double(step + 1)}});
      }
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      r.images_per_second = r.seconds > 0 ? double(rows_seen) / r.seconds : 0;
      if (r.steps > 0) {
        r.train_objective /= double(r.steps);
        r.train_cross_entropy /= double(r.steps);
        for (double& t : r.train_terms) t /= double(r.steps);
        for (double& t : r.train_penalties) t /= double(r.steps);
        for (double& t : r.train_penalty_statistics) t /= double(r.steps);
      }
      bar.finish();
      if (across()) distributed::average_buffers(*o_.communicator, nn::detail::model_buffers(model_));
      r.classifier_trained = classifier_trained_;
      if (test != nullptr) evaluate(*test, r);
      if (!o_.monitor_tap.empty()) monitor_collapse(test != nullptr ? *test : train_, r);
      state.epochs_done = epoch + 1;
      on_writer([&] {
        if (o_.out_dir.empty()) return;
        append_log(r);  // first: a kill before the checkpoint's rename leaves a line fit() drops on resume
        save_checkpoint(checkpoint_path(), model_, opt_, state);
      });
      for (auto& h : epoch_hooks_) h(r);
      reports.push_back(r);
    }
    model_.set_training(false);
    return reports;
  }

  /// Test accuracy and cross-entropy (eval mode), and the invariance score when configured.
  void evaluate(const data::ImageSet& test, EpochReport& r) {
    const auto e = evaluate_classifier(test);
    if (e.labelled > 0) {
      r.test_accuracy = e.accuracy();
      r.test_cross_entropy = e.cross_entropy;
    }
    if (!o_.score_tap.empty() && aug_ != nullptr) r.invariance_score = invariance_score(test);
  }

 private:
  [[nodiscard]] bool across() const { return distributed::is_distributed(o_.communicator); }
  [[nodiscard]] index_t ranks() const { return across() ? o_.communicator->size() : 1; }

  /// Runs f on every rank; an invar::Error on some ranks becomes the same error on every rank.
  template <class F>
  void on_every_rank(F&& f) {
    if (across()) distributed::agreed(*o_.communicator, f);
    else f();
  }
  /// Runs f on the rank that writes files (rank 0, or this process); its error reaches every rank.
  template <class F>
  void on_writer(F&& f) {
    on_every_rank([&] {
      if (!across() || o_.communicator->rank() == 0) f();
    });
  }

  /// This rank's contiguous share of a batch.
  [[nodiscard]] data::BatchRows my_rows(const data::BatchRows& batch) const {
    const auto s = distributed::shard_range(batch.size(), o_.communicator->rank(), o_.communicator->size());
    return data::slice_rows(batch, s.begin, s.end);
  }

  /// The model's classifier on `test`; across ranks each rank evaluates its shard and the counts
  /// and the loss sums are summed (rank order).
  analysis::ClassifierEvaluation evaluate_classifier(const data::ImageSet& test) {
    if (!across()) return analysis::evaluate_classifier(model_, test.images, test.labels, o_.eval_batch);
    const auto s = distributed::shard_range(test.images.dim(0), o_.communicator->rank(), o_.communicator->size());
    analysis::ClassifierEvaluation e;
    distributed::agreed(*o_.communicator, [&] {
      if (s.size() == 0) return;
      std::vector<index_t> labels(test.labels.data() + s.begin, test.labels.data() + s.end);
      e = analysis::evaluate_classifier(model_, test.images.view().slice_rows(s.begin, s.end),
                                        TensorView<const index_t>(labels.data(), Shape{s.size()}), o_.eval_batch);
    });
    double sums[4] = {double(e.rows), double(e.labelled), double(e.correct),
                      e.labelled > 0 ? e.cross_entropy * double(e.labelled) : 0.0};
    o_.communicator->allreduce_sum(std::span<double>(sums, 4));
    analysis::ClassifierEvaluation all;
    all.rows = index_t(sums[0]);
    all.labelled = index_t(sums[1]);
    all.correct = index_t(sums[2]);
    if (all.labelled > 0) all.cross_entropy = sums[3] / sums[1];
    return all;
  }

  void set_learning_rate(double lr) {
    if constexpr (requires { opt_.set_learning_rate(lr); }) opt_.set_learning_rate(lr);
    else throw Error("Trainer: a learning-rate schedule was given but the optimiser has no set_learning_rate(double)");
  }

  /// The collapse monitor: PC1 share and effective rank of monitor_tap on the first
  /// monitor_images images of `set` (eval mode, no augmentation). Features that are all constant
  /// have no spectrum: both stay NaN.
  void monitor_collapse(const data::ImageSet& set, EpochReport& r) {
    const index_t n = std::min(o_.monitor_images, set.images.dim(0));
    check(n >= 2, "Trainer: the collapse monitor needs at least 2 images");
    model_.set_training(false);
    const auto f = tap_features(set.images.view().slice_rows(0, n), o_.monitor_tap);
    const auto p = analysis::pca(f);  // every feature constant: not defined(), NaN share and rank
    r.pc1_share = p.pc1_share;
    r.effective_rank = p.effective_rank;
  }

  /// The features of `tap` for `images` (host rows), in eval_batch chunks, as an N x D host matrix.
  Tensor<T> tap_features(TensorView<const T> images, const std::string& tap) {
    return analysis::extract_features(model_, images, tap, o_.eval_batch);
  }

  /// The authors' score at score_tap: the first score_images test images against one
  /// augmentation each, drawn with a fixed key, so epochs are compared on the same images.
  double invariance_score(const data::ImageSet& test) {
    const index_t n = std::min(o_.score_images, test.images.dim(0));
    check(n >= 2, "Trainer: the invariance score needs at least 2 test images");
    const auto images = test.images.view().slice_rows(0, n);
    Tensor<T> augmented(images.shape());
    data::augment_batch(*aug_, images, augmented, o_.seed, /*key=*/0x5C0BE);
    const auto fx = tap_features(images, o_.score_tap);
    const auto fg = tap_features(augmented.view(), o_.score_tap);
    return analysis::invariance_score(MeanSquaredDifference{}, fx, fg).mean;
  }

  /// The logits (B x classes values) are read on the host: copied there from another device.
  void check_finite(TensorView<const T, D> logits, index_t epoch, index_t step) const {
    if constexpr (HostDevice<D>) check_finite_on_host(logits, epoch, step);
    else check_finite_on_host(Tensor<T>::copy_of(logits).view(), epoch, step);
  }
  void check_finite_on_host(TensorView<const T> logits, index_t epoch, index_t step) const {
    for (index_t i = 0; i < logits.numel(); ++i)
      if (!std::isfinite(logits[i])) diverged("the logits hold " + std::to_string(logits[i]), epoch, step);
  }
  [[noreturn]] void diverged(const std::string& what, index_t epoch, index_t step) const {
    std::string where;
    if (o_.out_dir.empty()) where = " No output folder, so no checkpoint.";
    else if (!std::filesystem::exists(checkpoint_path()))
      where = " No checkpoint was written yet (the first epoch of the run did not finish).";
    else where = " The last good checkpoint (end of epoch " + std::to_string(epoch) + ") is " + checkpoint_path() + ".";
    throw Error(invar::detail::concat("Trainer: training diverged at epoch ", epoch + 1, ", step ", step + 1, " (", what,
                                      ").", where));
  }

  /// Whether an earlier epoch (before a resume) gave cross-entropy weight.
  bool epoch_had_ce(index_t epoch) {
    objective::Objective<T, D> probe = obj_;
    for (index_t e = 0; e < epoch; ++e) {
      probe.set_epoch(e, o_.epochs);
      if (probe.weights().cross_entropy > 0) return true;
    }
    return false;
  }

  void append_log(const EpochReport& r) const {
    nlohmann::json j;
    j["epoch"] = r.epoch + 1;
    j["steps"] = r.steps;
    j["seconds"] = r.seconds;
    j["images_per_second"] = r.images_per_second;
    auto number_or_null = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    j["learning_rate"] = number_or_null(r.learning_rate);
    j["train_objective"] = r.train_objective;
    j["train_cross_entropy"] = r.train_cross_entropy;
    j["weights"] = {{"alpha", r.weights.alpha}, {"beta", r.weights.beta}, {"cross_entropy", r.weights.cross_entropy}};
    auto taps = obj_.taps();
    nlohmann::json terms = nlohmann::json::array();
    for (std::size_t i = 0; i < r.train_terms.size(); ++i)
      terms.push_back({{"tap", taps[i]}, {"value", r.train_terms[i]}});
    j["train_terms"] = terms;
    nlohmann::json penalties = nlohmann::json::array();
    for (std::size_t i = 0; i < r.train_penalties.size(); ++i)
      penalties.push_back({{"tap", obj_.penalty_tap(i)},
                           {"penalty", objective::to_string(obj_.penalty(i))},
                           {"weight", obj_.penalty_weight(i)},
                           {"value", r.train_penalties[i]},
                           {"statistic", number_or_null(r.train_penalty_statistics[i])}});
    j["train_penalties"] = penalties;
    if (!o_.monitor_tap.empty())
      j["collapse"] = {{"tap", o_.monitor_tap},
                       {"pc1_share", number_or_null(r.pc1_share)},
                       {"effective_rank", number_or_null(r.effective_rank)}};
    j["test_accuracy"] = number_or_null(r.test_accuracy);
    j["test_cross_entropy"] = number_or_null(r.test_cross_entropy);
    j["invariance_score"] = number_or_null(r.invariance_score);
    j["classifier_trained"] = r.classifier_trained;
    const std::string line = j.dump() + "\n";
    std::FILE* f = std::fopen(log_path().c_str(), "a");
    check(f != nullptr, "Trainer: cannot append to ", log_path(), ": ", std::strerror(errno));
    const bool written = std::fwrite(line.data(), 1, line.size(), f) == line.size() && std::fflush(f) == 0 &&
                         ::fsync(::fileno(f)) == 0;
    const int error = errno;
    const bool closed = std::fclose(f) == 0;
    check(written && closed, "Trainer: writing ", log_path(), " failed: ", std::strerror(written ? errno : error));
  }

  /// The run folder made consistent with a checkpoint of `epochs_done` epochs (0: none): log
  /// lines of later epochs, torn lines and repeated epochs dropped (the last line of an epoch
  /// kept), log.jsonl rewritten atomically only when that changed it; the temporary files of
  /// killed saves removed.
  void tidy_run_folder(index_t epochs_done) {
    if (o_.out_dir.empty()) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(o_.out_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("checkpoint.invar.tmp.", 0) == 0 || name.rfind("log.jsonl.tmp.", 0) == 0) fs::remove(entry.path(), ec);
    }
    if (!fs::exists(log_path())) return;
    std::ifstream in(log_path());
    std::vector<std::string> lines;
    std::map<long, std::size_t> last_of_epoch;
    bool changed = false;
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer() ||
          j["epoch"].get<long>() < 1 || j["epoch"].get<long>() > long(epochs_done)) {
        changed = true;  // torn, foreign, or of an epoch the checkpoint does not hold
        continue;
      }
      const long e = j["epoch"].get<long>();
      if (last_of_epoch.count(e)) changed = true;
      last_of_epoch[e] = lines.size();
      lines.push_back(line);
    }
    if (!in.eof()) changed = true;
    if (!changed) return;
    std::string kept;
    for (const auto& [e, at] : last_of_epoch) kept += lines[at] + "\n";  // epoch order
    io::AtomicFile out(log_path());
    out.write(kept.data(), kept.size());
    out.commit();
  }

  Model& model_;
  Opt& opt_;
  objective::Objective<T, D>& obj_;
  const data::ImageSet& train_;
  const Sampler& sampler_;
  const Aug* aug_;
  TrainerOptions o_;
  bool classifier_trained_ = false;
  std::vector<std::function<void(const EpochReport&)>> epoch_hooks_;
  std::vector<std::function<void(index_t, index_t, const typename objective::Objective<T, D>::Value&)>> step_hooks_;
};

}  // namespace invar::train
