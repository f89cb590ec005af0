#pragma once
/// \file kxm_sampler.hpp
/// KxMSampler: batches of K seed images x M augmentations (paper: K = 16, M = 8, B = 128),
/// rows shuffled; M = 1 gives plain batches of K images. docs/data.md, "Samplers and batches".
///
/// Every batch is a pure function of (options.seed, epoch, step):
/// - epoch e deals seeds from a permutation of 0..N-1 drawn from Rng::keyed(seed, {tag, e});
///   step s takes its entries s*K .. s*K+K-1 as the batch's seeds 0..K-1;
/// - the K*M rows (seed k's M copies with augmentation ids 0..M-1) are shuffled by
///   Rng::keyed(seed, {tag', e, s}).
/// So a batch can be regenerated exactly, in any order and by a fresh sampler (resume).
/// The current epoch's permutation is cached (thread-safe); that only saves time.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/batch_rows.hpp"
#include "invar/data/detail/sampler_support.hpp"

namespace invar::data {

/// How many steps an epoch has.
enum class EpochLength {
  /// N / (K M) steps (rounded down), as the authors: an epoch has as many batches of B = K M
  /// rows as a plain epoch of N images, so it sees N / M distinct seed images (no repeats).
  paper,
  /// N / K steps (rounded down): every image is a seed exactly once per epoch (M times as many
  /// steps as `paper`). When K does not divide N, the N mod K images left at the end of the
  /// epoch's permutation are not seeds that epoch (other ones each epoch), unless
  /// `keep_partial_batch` adds a last, smaller batch with them.
  every_image,
};

/// "paper" or "every_image" (for logs and configurations).
inline const char* to_string(EpochLength e) { return e == EpochLength::paper ? "paper" : "every_image"; }

/// Options of KxMSampler, with chainable setters:
/// `KxMOptions{}.with_seeds_per_batch(16).with_augmentations(8).with_seed(1)`.
struct KxMOptions {
  /// K: distinct seed images per batch.
  index_t seeds_per_batch = 16;
  /// M: augmentations (rows) per seed; 1 gives plain batches.
  index_t augmentations = 8;
  /// Keys every random choice (with the epoch and the step).
  std::uint64_t seed = 0;
  /// Steps per epoch: EpochLength::paper (default, N / (K M)) or EpochLength::every_image (N / K).
  EpochLength epoch_length = EpochLength::paper;
  /// EpochLength::every_image only: keep the last batch of the N mod K remaining seeds (fewer
  /// than K seeds, (N mod K) M rows) instead of dropping it, so that every image is a seed
  /// exactly once per epoch for any N.
  bool keep_partial_batch = false;

  /// Sets #seeds_per_batch (K).
  KxMOptions& with_seeds_per_batch(index_t k) { seeds_per_batch = k; return *this; }
  /// Sets #augmentations (M).
  KxMOptions& with_augmentations(index_t m) { augmentations = m; return *this; }
  /// Sets #seed.
  KxMOptions& with_seed(std::uint64_t s) { seed = s; return *this; }
  /// Sets #epoch_length.
  KxMOptions& with_epoch_length(EpochLength e) { epoch_length = e; return *this; }
  /// Sets #keep_partial_batch.
  KxMOptions& keeping_partial_batch(bool keep = true) { keep_partial_batch = keep; return *this; }
};

/// Batches of K seed images x M augmentations, each a pure function of (seed, epoch, step) (file comment).
class KxMSampler {
 public:
  /// `labels`: one class per data-set image (N of them), or invar::no_group for an unlabelled
  /// image (its rows carry no_group). The sampler keeps a copy. Throws invar::Error for bad
  /// labels, K or M below 1, K > N, keep_partial_batch with EpochLength::paper, or a paper-length
  /// epoch of 0 steps (N < K M).
  explicit KxMSampler(TensorView<const index_t> labels, KxMOptions options = {})
      : labels_(Tensor<index_t>::copy_of(labels)), options_(options) {
    detail::check_labels(labels, "KxMSampler", "labels", /*allow_no_group=*/true);
    const index_t n = labels.numel(), k = options.seeds_per_batch, m = options.augmentations;
    check(k > 0, "KxMSampler: seeds_per_batch (K) must be > 0, got ", k);
    check(m > 0, "KxMSampler: augmentations (M) must be > 0 (1 for plain batches), got ", m);
    check(k <= n, "KxMSampler: seeds_per_batch K = ", k, " is larger than the data set (N = ", n,
          " images): a batch needs K distinct images");
    if (options.epoch_length == EpochLength::paper) {
      check(!options.keep_partial_batch,
            "KxMSampler: keep_partial_batch applies to EpochLength::every_image only (the paper length "
            "is N / (K M) whole batches)");
      steps_ = n / (k * m);
      check(steps_ > 0, "KxMSampler: an epoch of the paper length has N / (K M) = ", n, " / ", k * m,
            " = 0 steps (fewer images than rows in a batch); use EpochLength::every_image or a smaller K or M");
    } else {
      steps_ = options.keep_partial_batch ? (n + k - 1) / k : n / k;
    }
  }

  /// N: the number of images in the data set.
  [[nodiscard]] index_t images() const { return labels_.numel(); }
  /// The sampler's copy of the N labels.
  [[nodiscard]] const Tensor<index_t>& labels() const { return labels_; }
  /// The options it was built with.
  [[nodiscard]] const KxMOptions& options() const { return options_; }
  /// B = K M: rows of a (full) batch.
  [[nodiscard]] index_t batch_size() const { return options_.seeds_per_batch * options_.augmentations; }
  /// Batches per epoch, fixed by EpochLength (and keep_partial_batch); the same every epoch.
  [[nodiscard]] index_t steps_per_epoch() const { return steps_; }

  /// Seeds in batch `step`: K, except for a kept partial last batch (N mod K).
  [[nodiscard]] index_t seeds_in_batch(index_t step) const {
    check_step("KxMSampler::seeds_in_batch", step);
    return std::min(options_.seeds_per_batch, images() - step * options_.seeds_per_batch);
  }

  /// The rows of batch `step` of `epoch`: a pure function of (options.seed, epoch, step).
  [[nodiscard]] BatchRows batch(index_t epoch, index_t step) const {
    check(epoch >= 0, "KxMSampler::batch: epoch must be >= 0, got ", epoch);
    check_step("KxMSampler::batch", step);
    const auto perm = cache_.get(epoch, [this](index_t e) { return epoch_permutation(e); });
    const index_t k = seeds_in_batch(step);
    Rng rng = Rng::keyed(options_.seed, {detail::tag_kxm_rows, detail::as_key(epoch), detail::as_key(step)});
    return detail::rows_from_seeds(perm->data() + step * options_.seeds_per_batch, k, options_.augmentations,
                                   labels_, rng);
  }

  /// The order in which epoch `epoch` deals its seeds (a permutation of 0..N-1; step s takes
  /// entries s*K .. s*K+K-1).
  [[nodiscard]] std::vector<index_t> epoch_permutation(index_t epoch) const {
    check(epoch >= 0, "KxMSampler::epoch_permutation: epoch must be >= 0, got ", epoch);
    Rng rng = Rng::keyed(options_.seed, {detail::tag_kxm_epoch, detail::as_key(epoch)});
    return detail::permutation(images(), rng);
  }

 private:
  void check_step(const char* who, index_t step) const {
    check(step >= 0 && step < steps_, who, ": step ", step, " is out of range: an epoch has ", steps_,
          " steps (0..", steps_ - 1, ")");
  }

  Tensor<index_t> labels_;
  KxMOptions options_;
  index_t steps_ = 0;
  detail::EpochCache<std::vector<index_t>> cache_;
};

}  // namespace invar::data
