#pragma once
/// \file label_subset.hpp
/// Label subsets for semi-supervised training: keep the labels of a few randomly chosen images
/// per class and mark the rest unlabelled (invar::no_group), which the class-wise invariance
/// loss and the cross-entropy skip.
///
/// The choice is portable and reproducible: class c draws from Rng::keyed(seed, {c}) (a partial
/// Fisher-Yates shuffle of its images in data set order), so it depends only on the seed, the
/// class and which images carry that label, never on other classes, the platform or the
/// standard library. With the same seed, the images kept for per_class = k are among those
/// kept for any larger per_class.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/no_group.hpp"

namespace invar::data {

/// The number of images of each class: element c counts the labels equal to c, for c from 0 to
/// the largest label (a class absent in between counts 0; no labels give an empty vector).
/// Labels equal to invar::no_group are not counted; other negative labels are an error.
inline std::vector<index_t> count_per_class(const Tensor<index_t>& labels) {
  check(labels.rank() == 1, "count_per_class: labels must be a vector (one label per image), got shape ",
        labels.shape());
  const index_t n = labels.numel();
  index_t largest = -1;
  for (index_t i = 0; i < n; ++i) {
    const index_t y = labels[i];
    check(y >= 0 || y == no_group, "count_per_class: label ", y, " of image ", i,
          " is negative; labels are >= 0, or invar::no_group (-1) for an unlabelled image");
    largest = std::max(largest, y);
  }
  std::vector<index_t> counts(static_cast<std::size_t>(largest + 1), 0);
  for (index_t i = 0; i < n; ++i)
    if (labels[i] != no_group) ++counts[static_cast<std::size_t>(labels[i])];
  return counts;
}

/// A copy of `labels` in which only `per_class` randomly chosen images of each class keep their
/// label; every other image becomes invar::no_group (images already no_group stay so). The
/// classes are the label values present. Deterministic for a seed (see the file comment);
/// per_class = 0 unlabels everything. Errors: per_class < 0, a class with fewer than per_class
/// images (named with its count), negative labels other than no_group, labels not a vector.
inline Tensor<index_t> keep_labels_per_class(const Tensor<index_t>& labels, index_t per_class, std::uint64_t seed) {
  check(per_class >= 0, "keep_labels_per_class: per_class must be >= 0, got ", per_class);
  const std::vector<index_t> counts = count_per_class(labels);
  for (std::size_t c = 0; c < counts.size(); ++c)
    check(counts[c] == 0 || counts[c] >= per_class, "keep_labels_per_class: class ", c, " has only ", counts[c],
          " images; cannot keep ", per_class, " per class");

  // The images of each class, in data set order.
  std::vector<std::vector<index_t>> members(counts.size());
  for (std::size_t c = 0; c < counts.size(); ++c) members[c].reserve(static_cast<std::size_t>(counts[c]));
  const index_t n = labels.numel();
  for (index_t i = 0; i < n; ++i)
    if (labels[i] != no_group) members[static_cast<std::size_t>(labels[i])].push_back(i);

  Tensor<index_t> out(labels.shape());
  for (index_t i = 0; i < n; ++i) out[i] = no_group;
  for (std::size_t c = 0; c < members.size(); ++c) {
    std::vector<index_t>& idx = members[c];
    if (idx.empty()) continue;
    Rng rng = Rng::keyed(seed, {static_cast<std::uint64_t>(c)});
    const auto size = static_cast<std::uint64_t>(idx.size());
    for (std::uint64_t k = 0; k < static_cast<std::uint64_t>(per_class); ++k) {
      const std::uint64_t j = k + rng.below(size - k);
      std::swap(idx[k], idx[j]);
      out[idx[k]] = static_cast<index_t>(c);
    }
  }
  return out;
}

}  // namespace invar::data
