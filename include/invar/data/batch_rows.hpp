#pragma once
/// \file batch_rows.hpp
/// BatchRows: what a batch sampler returns — for every row of a batch, the data-set image it
/// shows, its seed group, its label and its augmentation id. assemble_batch turns it into
/// pixels; the invariance losses take `seed` (L_DA) and `label` (L_C) as group ids.

#include "invar/core/tensor.hpp"

namespace invar::data {

/// The B rows of one batch (K seeds x M augmentations, shuffled). All four tensors have B
/// elements; row r shows image `image[r]` of the data set under augmentation
/// `augmentation[r]`, belongs to seed group `seed[r]` and carries class `label[r]`.
struct BatchRows {
  /// The data-set index of the image each row shows (0..N-1).
  Tensor<index_t> image;
  /// The seed group of each row within the batch, 0..K-1: the M rows of a seed share it (the
  /// group ids of the augmentation-invariance loss). Ids number the seeds in the order the
  /// sampler drew them, not the order of the rows.
  Tensor<index_t> seed;
  /// The class of each row's image (the group ids of the class-wise loss), or invar::no_group
  /// for an unlabelled image.
  Tensor<index_t> label;
  /// Which of its seed's M augmentations the row is, 0..M-1 (M = 1: always 0). With the image,
  /// the epoch and the step it keys the row's augmentation (see assemble_batch).
  Tensor<index_t> augmentation;

  /// The number of rows B.
  [[nodiscard]] index_t size() const { return image.numel(); }
};

/// Rows [begin, end) of a batch, e.g. one rank's shard in data-parallel training (a row keeps
/// its image, seed, label and augmentation id, so it is assembled with the same pixels).
/// Throws invar::Error unless 0 <= begin <= end <= b.size().
inline BatchRows slice_rows(const BatchRows& b, index_t begin, index_t end) {
  check(begin >= 0 && begin <= end && end <= b.size(), "slice_rows: rows [", begin, ", ", end,
        ") are not inside a batch of ", b.size());
  auto part = [&](const Tensor<index_t>& t) {
    Tensor<index_t> out(Shape{end - begin});
    for (index_t i = begin; i < end; ++i) out[i - begin] = t[i];
    return out;
  };
  return {part(b.image), part(b.seed), part(b.label), part(b.augmentation)};
}

}  // namespace invar::data
