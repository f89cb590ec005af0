#pragma once
/// \file sampler_support.hpp
/// What the batch samplers share: a portable Fisher-Yates shuffle, the one-epoch cache of a
/// sampler's plan, the checks of a label vector, and the construction of a batch's rows from
/// its seed images (K seeds x M copies, then shuffled).

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/batch_rows.hpp"
#include "invar/core/no_group.hpp"

namespace invar::data::detail {

/// Key tags: the first key of every stream a sampler draws, so that no two of its streams
/// (and no augmentation stream, keyed by (epoch, step, image, augmentation)) coincide.
inline constexpr std::uint64_t tag_kxm_epoch = 0x4B784D2D65706F63ull;       // "KxM-epoc"
inline constexpr std::uint64_t tag_kxm_rows = 0x4B784D2D726F7773ull;        // "KxM-rows"
inline constexpr std::uint64_t tag_balanced_classes = 0x43422D636C617373ull;  // "CB-class"
inline constexpr std::uint64_t tag_balanced_deal = 0x43422D6465616C30ull;     // "CB-deal0"
inline constexpr std::uint64_t tag_balanced_rows = 0x43422D726F777330ull;     // "CB-rows0"

inline std::uint64_t as_key(index_t v) { return static_cast<std::uint64_t>(v); }

/// Shuffles [first, first + n) in place: Fisher-Yates from the back, j = rng.below(i + 1).
/// Portable (Rng is), unlike std::shuffle whose algorithm the standard leaves open.
template <class T>
void shuffle(T* first, index_t n, Rng& rng) {
  for (index_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(i + 1)));
    std::swap(first[i], first[j]);
  }
}

/// 0, 1, ..., n-1 in the order of `shuffle` with `rng`.
inline std::vector<index_t> permutation(index_t n, Rng& rng) {
  std::vector<index_t> p(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  shuffle(p.data(), n, rng);
  return p;
}

/// The plan of one epoch (whatever a sampler computes once per epoch), for the most recent
/// epoch asked for. Only a cache: a sampler's batches are a pure function of (seed, epoch,
/// step) whether it hits or not. Thread-safe; a copy starts empty.
template <class Plan>
class EpochCache {
 public:
  EpochCache() = default;
  EpochCache(const EpochCache&) {}
  EpochCache& operator=(const EpochCache&) {
    const std::lock_guard lock(mutex_);
    epoch_ = -1;
    plan_.reset();
    return *this;
  }

  /// The plan of `epoch`: the cached one, or make(epoch) (which then replaces it).
  template <class Make>
  std::shared_ptr<const Plan> get(index_t epoch, Make&& make) const {
    const std::lock_guard lock(mutex_);
    if (plan_ == nullptr || epoch_ != epoch) {
      plan_ = std::make_shared<const Plan>(make(epoch));
      epoch_ = epoch;
    }
    return plan_;
  }

 private:
  mutable std::mutex mutex_;
  mutable index_t epoch_ = -1;
  mutable std::shared_ptr<const Plan> plan_;
};

/// Checks a label vector: rank 1, not empty, every value >= 0 or (when allowed) no_group.
inline void check_labels(TensorView<const index_t> labels, const char* who, const char* what,
                         bool allow_no_group) {
  check(labels.rank() == 1, who, ": ", what, " must be a vector with one label per image, got shape ",
        labels.shape());
  check(labels.numel() > 0, who, ": ", what, " is empty (no images to sample)");
  for (index_t i = 0; i < labels.numel(); ++i) {
    const index_t l = labels[i];
    if (allow_no_group)
      check(l >= 0 || l == no_group, who, ": ", what, "[", i, "] = ", l,
            " is negative; labels are classes >= 0, or invar::no_group (-1) for an unlabelled image");
    else
      check(l >= 0, who, ": ", what, "[", i, "] = ", l, " is not a class (>= 0)",
            l == no_group ? "; an unlabelled image cannot be sampled by class: pass the true classes as "
                            "sampling labels and the partial ones as training labels"
                          : "");
  }
}

/// The rows of a batch whose K seeds are `seed_images[0..K)`: seed k's M copies carry seed id k,
/// its image, label labels[image] and augmentation ids 0..M-1; the K*M rows are then shuffled
/// with `rng` (row r of the result is row perm[r] of the unshuffled order).
inline BatchRows rows_from_seeds(const index_t* seed_images, index_t k, index_t m,
                                 TensorView<const index_t> labels, Rng& rng) {
  const index_t b = k * m;
  std::vector<index_t> order(static_cast<std::size_t>(b));
  for (index_t r = 0; r < b; ++r) order[static_cast<std::size_t>(r)] = r;
  shuffle(order.data(), b, rng);
  BatchRows rows;
  rows.image = Tensor<index_t>(Shape{b});
  rows.seed = Tensor<index_t>(Shape{b});
  rows.label = Tensor<index_t>(Shape{b});
  rows.augmentation = Tensor<index_t>(Shape{b});
  for (index_t r = 0; r < b; ++r) {
    const index_t u = order[static_cast<std::size_t>(r)];  // unshuffled row: seed u / m, copy u % m
    const index_t image = seed_images[u / m];
    rows.image[r] = image;
    rows.seed[r] = u / m;
    rows.label[r] = labels[image];
    rows.augmentation[r] = u % m;
  }
  return rows;
}

}  // namespace invar::data::detail
