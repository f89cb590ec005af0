#pragma once
/// \file class_balanced_sampler.hpp
/// ClassBalancedSampler: batches of P classes x Q seed images per class x M augmentations,
/// rows shuffled. Every class in a batch has exactly Q seeds, so with Q >= 2 the class-wise
/// loss L_C always has pairs of rows from different images of a class (with K x M batches of 16
/// seeds and 10 classes, about 3 of the 16 seeds are alone in their class, and their class
/// group is just their seed group: L_C degenerates towards L_DA). docs/data.md.
///
/// Epoch e, step s (a pure function of (options.seed, e, s)):
/// - the step's P distinct classes: a uniform random P-subset of the classes, drawn (in draw
///   order) from Rng::keyed(seed, {tag, e, s}) by a partial Fisher-Yates shuffle;
/// - each class deals its images in chunks of Q from a permutation of its n_c images; round r
///   of class c in epoch e uses Rng::keyed(seed, {tag', e, c, r}) (c the class label). A round
///   yields floor(n_c / Q) chunks; the n_c mod Q images left at its end are skipped that round
///   (so the Q seeds of a chunk are always distinct); when a round's chunks are used up the
///   class is reshuffled (round r + 1) and dealing goes on. Every epoch starts every class at
///   round 0. The chunk a class gives at step s is the number of times it was chosen at steps
///   0..s-1 of the epoch: rare classes cycle through their images more often than common ones;
/// - seed ids: class j of the step (in draw order) has seeds j Q .. j Q + Q - 1; the P Q M rows
///   are shuffled by Rng::keyed(seed, {tag'', e, s}).
/// The epoch's plan (all steps' seed images) is computed once per epoch and cached
/// (thread-safe); that only saves time.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/batch_rows.hpp"
#include "invar/data/detail/sampler_support.hpp"

namespace invar::data {

/// Options of ClassBalancedSampler, with chainable setters:
/// `ClassBalancedOptions{}.with_classes_per_batch(8).with_seeds_per_class(2).with_augmentations(8)`.
struct ClassBalancedOptions {
  /// P: distinct classes per batch.
  index_t classes_per_batch = 8;
  /// Q: distinct seed images per class in a batch (each class needs at least Q images).
  index_t seeds_per_class = 2;
  /// M: augmentations (rows) per seed; 1 gives plain batches.
  index_t augmentations = 8;
  /// Keys every random choice (with the epoch and the step).
  std::uint64_t seed = 0;
  /// Steps per epoch; 0 (default) means N / (P Q M), rounded down (as many batches as a plain
  /// epoch of N images).
  index_t steps_per_epoch = 0;

  /// Sets #classes_per_batch (P).
  ClassBalancedOptions& with_classes_per_batch(index_t p) { classes_per_batch = p; return *this; }
  /// Sets #seeds_per_class (Q).
  ClassBalancedOptions& with_seeds_per_class(index_t q) { seeds_per_class = q; return *this; }
  /// Sets #augmentations (M).
  ClassBalancedOptions& with_augmentations(index_t m) { augmentations = m; return *this; }
  /// Sets #seed.
  ClassBalancedOptions& with_seed(std::uint64_t s) { seed = s; return *this; }
  /// Sets #steps_per_epoch (0: N / (P Q M)).
  ClassBalancedOptions& with_steps_per_epoch(index_t steps) { steps_per_epoch = steps; return *this; }
};

/// Batches of P classes x Q seeds per class x M augmentations, each a pure function of
/// (seed, epoch, step) (file comment).
class ClassBalancedSampler {
 public:
  /// Balances by `sampling_labels` (one class >= 0 per image) and the rows carry them too.
  explicit ClassBalancedSampler(TensorView<const index_t> sampling_labels, ClassBalancedOptions options = {})
      : ClassBalancedSampler(sampling_labels, sampling_labels, options) {}

  /// Balances by `sampling_labels` (the true classes, >= 0) while the rows carry
  /// `training_labels` (same size; a class, or invar::no_group for an image whose label the
  /// training may not use). With a labelled subset, batches stay balanced by the true classes
  /// and the unlabelled images' rows take part in no class group of L_C. Keeps copies of both.
  /// Throws invar::Error for bad labels or sizes, P, Q or M below 1, P above the number of
  /// classes, a class with fewer than Q images, or an epoch of 0 steps.
  ClassBalancedSampler(TensorView<const index_t> sampling_labels, TensorView<const index_t> training_labels,
                       ClassBalancedOptions options = {})
      : sampling_(Tensor<index_t>::copy_of(sampling_labels)),
        training_(Tensor<index_t>::copy_of(training_labels)),
        options_(options) {
    const char* who = "ClassBalancedSampler";
    detail::check_labels(sampling_labels, who, "sampling_labels", /*allow_no_group=*/false);
    detail::check_labels(training_labels, who, "training_labels", /*allow_no_group=*/true);
    check(training_labels.numel() == sampling_labels.numel(), who, ": training_labels has ",
          training_labels.numel(), " entries and sampling_labels ", sampling_labels.numel(),
          ": both need one label per image");
    const index_t p = options.classes_per_batch, q = options.seeds_per_class, m = options.augmentations;
    check(p > 0, who, ": classes_per_batch (P) must be > 0, got ", p);
    check(q > 0, who, ": seeds_per_class (Q) must be > 0, got ", q);
    check(m > 0, who, ": augmentations (M) must be > 0 (1 for plain batches), got ", m);
    check(options.steps_per_epoch >= 0, who, ": steps_per_epoch must be >= 0 (0: N / (P Q M)), got ",
          options.steps_per_epoch);

    // Classes in increasing order, each with its images in increasing index order.
    const index_t n = sampling_labels.numel();
    std::vector<std::pair<index_t, index_t>> by_class;  // (class, image)
    by_class.reserve(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) by_class.emplace_back(sampling_labels[i], i);
    std::sort(by_class.begin(), by_class.end());
    for (std::size_t i = 0; i < by_class.size(); ++i) {
      if (i == 0 || by_class[i].first != by_class[i - 1].first) {
        class_ids_.push_back(by_class[i].first);
        members_.emplace_back();
      }
      members_.back().push_back(by_class[i].second);
    }
    const auto classes = static_cast<index_t>(class_ids_.size());
    check(p <= classes, who, ": classes_per_batch P = ", p, " is larger than the number of classes (", classes,
          ") in sampling_labels");
    for (std::size_t c = 0; c < class_ids_.size(); ++c) {
      const auto size = static_cast<index_t>(members_[c].size());
      check(size >= q, who, ": class ", class_ids_[c], " has ", size, size == 1 ? " image" : " images",
            "; seeds_per_class Q = ", q, " needs at least Q distinct images in every class");
    }
    steps_ = options.steps_per_epoch > 0 ? options.steps_per_epoch : n / (p * q * m);
    check(steps_ > 0, who, ": an epoch of N / (P Q M) = ", n, " / ", p * q * m,
          " = 0 steps (fewer images than rows in a batch); set steps_per_epoch");
  }

  /// N: the number of images in the data set.
  [[nodiscard]] index_t images() const { return sampling_.numel(); }
  /// The distinct classes of sampling_labels, in increasing order.
  [[nodiscard]] const std::vector<index_t>& class_ids() const { return class_ids_; }
  /// The number of distinct classes in sampling_labels.
  [[nodiscard]] index_t classes() const { return static_cast<index_t>(class_ids_.size()); }
  /// The sampler's copy of the labels it balances by.
  [[nodiscard]] const Tensor<index_t>& sampling_labels() const { return sampling_; }
  /// The sampler's copy of the labels the rows carry.
  [[nodiscard]] const Tensor<index_t>& training_labels() const { return training_; }
  /// The options it was built with.
  [[nodiscard]] const ClassBalancedOptions& options() const { return options_; }
  /// K = P Q: seed images per batch.
  [[nodiscard]] index_t seeds_per_batch() const { return options_.classes_per_batch * options_.seeds_per_class; }
  /// B = P Q M: rows per batch.
  [[nodiscard]] index_t batch_size() const { return seeds_per_batch() * options_.augmentations; }
  /// Batches per epoch: options.steps_per_epoch, or N / (P Q M) when that is 0.
  [[nodiscard]] index_t steps_per_epoch() const { return steps_; }

  /// The rows of batch `step` of `epoch`: a pure function of (options.seed, epoch, step). Rows
  /// carry training_labels.
  [[nodiscard]] BatchRows batch(index_t epoch, index_t step) const {
    check(epoch >= 0, "ClassBalancedSampler::batch: epoch must be >= 0, got ", epoch);
    check(step >= 0 && step < steps_, "ClassBalancedSampler::batch: step ", step,
          " is out of range: an epoch has ", steps_, " steps (0..", steps_ - 1, ")");
    const auto plan = cache_.get(epoch, [this](index_t e) { return epoch_plan(e); });
    const index_t k = seeds_per_batch();
    Rng rng = Rng::keyed(options_.seed, {detail::tag_balanced_rows, detail::as_key(epoch), detail::as_key(step)});
    return detail::rows_from_seeds(plan->data() + step * k, k, options_.augmentations, training_, rng);
  }

  /// The classes of batch `step` of `epoch` (labels, in draw order: class j holds seeds
  /// j Q .. j Q + Q - 1). Depends on nothing but (seed, epoch, step).
  [[nodiscard]] std::vector<index_t> batch_classes(index_t epoch, index_t step) const {
    check(epoch >= 0, "ClassBalancedSampler::batch_classes: epoch must be >= 0, got ", epoch);
    check(step >= 0 && step < steps_, "ClassBalancedSampler::batch_classes: step ", step,
          " is out of range: an epoch has ", steps_, " steps (0..", steps_ - 1, ")");
    std::vector<index_t> all;
    chosen_classes(epoch, step, all);
    std::vector<index_t> chosen;
    chosen.reserve(static_cast<std::size_t>(options_.classes_per_batch));
    for (index_t j = 0; j < options_.classes_per_batch; ++j)
      chosen.push_back(class_ids_[static_cast<std::size_t>(all[static_cast<std::size_t>(j)])]);
    return chosen;
  }

 private:
  /// The P classes of a step as indices into class_ids_, in the first P entries of `all` (C
  /// entries, overwritten): a partial Fisher-Yates shuffle from the front of 0..C-1. The caller
  /// owns the buffer, so epoch_plan allocates once per epoch, not once per step.
  void chosen_classes(index_t epoch, index_t step, std::vector<index_t>& all) const {
    Rng rng = Rng::keyed(options_.seed, {detail::tag_balanced_classes, detail::as_key(epoch), detail::as_key(step)});
    all.resize(class_ids_.size());
    for (std::size_t c = 0; c < all.size(); ++c) all[c] = static_cast<index_t>(c);
    const auto classes = static_cast<index_t>(all.size());
    for (index_t i = 0; i < options_.classes_per_batch; ++i) {
      const auto j = i + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(classes - i)));
      std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
    }
  }

  /// The seed images of every step of `epoch`: steps x (P Q), step-major.
  [[nodiscard]] std::vector<index_t> epoch_plan(index_t epoch) const {
    const index_t q = options_.seeds_per_class, k = seeds_per_batch();
    const std::size_t classes = class_ids_.size();
    std::vector<index_t> chunks_dealt(classes, 0);  // chunks class c has given this epoch
    std::vector<index_t> round(classes, -1);        // the round whose permutation deal[c] holds
    std::vector<std::vector<index_t>> deal(classes);
    std::vector<index_t> plan(static_cast<std::size_t>(steps_ * k));
    std::vector<index_t> chosen;
    for (index_t s = 0; s < steps_; ++s) {
      chosen_classes(epoch, s, chosen);
      for (std::size_t j = 0; j < static_cast<std::size_t>(options_.classes_per_batch); ++j) {
        const auto c = static_cast<std::size_t>(chosen[j]);
        const auto n_c = static_cast<index_t>(members_[c].size());
        const index_t per_round = n_c / q;
        const index_t chunk = chunks_dealt[c]++;
        const index_t r = chunk / per_round, first = (chunk % per_round) * q;
        if (round[c] != r) {
          Rng rng = Rng::keyed(options_.seed, {detail::tag_balanced_deal, detail::as_key(epoch),
                                               detail::as_key(class_ids_[c]), detail::as_key(r)});
          deal[c] = detail::permutation(n_c, rng);
          round[c] = r;
        }
        for (index_t i = 0; i < q; ++i)
          plan[static_cast<std::size_t>(s * k + static_cast<index_t>(j) * q + i)] =
              members_[c][static_cast<std::size_t>(deal[c][static_cast<std::size_t>(first + i)])];
      }
    }
    return plan;
  }

  Tensor<index_t> sampling_;
  Tensor<index_t> training_;
  ClassBalancedOptions options_;
  std::vector<index_t> class_ids_;
  std::vector<std::vector<index_t>> members_;
  index_t steps_ = 0;
  detail::EpochCache<std::vector<index_t>> cache_;
};

}  // namespace invar::data
