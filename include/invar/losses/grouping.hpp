#pragma once
/// \file grouping.hpp
/// Grouping: one group id per row, mapped to dense indices 0..K-1 on the host.
///
/// Ids may be any non-negative integers, in any order, not contiguous (seed indices of a data
/// set, class labels). The reserved id `invar::no_group` (-1) marks a row that belongs to no
/// group: an unlabelled row in semi-supervised use. Such a row takes part in no within-group
/// pair; with an all-pairs reference it still counts in the denominator.

#include <algorithm>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/no_group.hpp"
#include "invar/core/tensor.hpp"

namespace invar {

/// Group ids of the rows mapped to dense groups 0..K-1, with their sizes and a group-contiguous
/// row order (see the file comment).
class Grouping {
 public:
  Grouping() = default;

  /// Maps `ids` (one per row, >= 0 or no_group) to dense indices in order of first appearance
  /// of the sorted ids, i.e. dense index k is the k-th smallest id. `what` names the argument
  /// in error messages ("groups", "reference"). Throws invar::Error if `ids` is not a vector or
  /// holds an id below -1.
  Grouping(TensorView<const index_t> ids, const char* what) {
    check(ids.rank() == 1, what, ": group ids must be a vector with one id per row, got shape ", ids.shape());
    const index_t n = ids.numel();
    std::vector<std::pair<index_t, index_t>> sorted;  // (id, row)
    sorted.reserve(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
      const index_t id = ids[i];
      check(id >= 0 || id == no_group, what, ": id ", id, " of row ", i,
            " is negative; ids are >= 0, or invar::no_group (-1) for a row in no group");
      if (id != no_group) sorted.emplace_back(id, i);
    }
    std::sort(sorted.begin(), sorted.end());
    dense_.assign(static_cast<std::size_t>(n), no_group);
    order_.reserve(static_cast<std::size_t>(n));
    for (std::size_t s = 0; s < sorted.size(); ++s) {
      if (s == 0 || sorted[s].first != sorted[s - 1].first) sizes_.push_back(0);
      dense_[static_cast<std::size_t>(sorted[s].second)] = static_cast<index_t>(sizes_.size()) - 1;
      ++sizes_.back();
      order_.push_back(sorted[s].second);
    }
    for (index_t i = 0; i < n; ++i)
      if (dense_[static_cast<std::size_t>(i)] == no_group) order_.push_back(i);
    offsets_.assign(1, 0);
    for (index_t size : sizes_) offsets_.push_back(offsets_.back() + size);
  }

  /// The grouping with every row in one group (the all-pairs reference).
  static Grouping all(index_t rows) {
    Grouping g;
    g.dense_.assign(static_cast<std::size_t>(rows), 0);
    if (rows > 0) g.sizes_.push_back(rows);
    g.order_.resize(static_cast<std::size_t>(rows));
    for (index_t i = 0; i < rows; ++i) g.order_[static_cast<std::size_t>(i)] = i;
    g.offsets_ = rows > 0 ? std::vector<index_t>{0, rows} : std::vector<index_t>{0};
    return g;
  }

  /// Number of rows B, those in no group included.
  [[nodiscard]] index_t rows() const { return static_cast<index_t>(dense_.size()); }
  /// Number of groups K (distinct ids other than no_group).
  [[nodiscard]] index_t groups() const { return static_cast<index_t>(sizes_.size()); }
  /// Dense group of row i, or no_group.
  [[nodiscard]] index_t of(index_t row) const { return dense_[static_cast<std::size_t>(row)]; }
  /// Number of rows in dense group `group` (0 <= group \< groups(), unchecked).
  [[nodiscard]] index_t size(index_t group) const { return sizes_[static_cast<std::size_t>(group)]; }
  /// Dense group of every row (of() for all rows), no_group for rows in no group.
  [[nodiscard]] const std::vector<index_t>& dense() const { return dense_; }
  /// Row count of each dense group, K entries, each >= 1.
  [[nodiscard]] const std::vector<index_t>& sizes() const { return sizes_; }
  /// All rows, those of group 0 first (in row order), then group 1, ..., then rows in no group:
  /// an order in which rows that share a group are adjacent.
  [[nodiscard]] const std::vector<index_t>& order() const { return order_; }
  /// Group k occupies positions offsets()[k] .. offsets()[k+1] of order(); K + 1 entries.
  [[nodiscard]] const std::vector<index_t>& offsets() const { return offsets_; }

  /// Rows that belong to some group.
  [[nodiscard]] index_t members() const {
    index_t m = 0;
    for (index_t s : sizes_) m += s;
    return m;
  }
  /// Ordered pairs (i, j) in a common group, self-pairs included: sum of n_k^2.
  [[nodiscard]] double ordered_pairs() const {
    double p = 0;
    for (index_t s : sizes_) p += double(s) * double(s);
    return p;
  }
  /// Distinct unordered pairs {i, j}, i != j, in a common group: sum of n_k (n_k - 1) / 2.
  [[nodiscard]] double distinct_pairs() const {
    double p = 0;
    for (index_t s : sizes_) p += double(s) * double(s - 1) / 2;
    return p;
  }

 private:
  std::vector<index_t> dense_;
  std::vector<index_t> sizes_;
  std::vector<index_t> order_;
  std::vector<index_t> offsets_{0};
};

}  // namespace invar
