#pragma once
/// \file pair_weights.hpp
/// Per-group pair weights of the numerator (groups) and the denominator (reference) for a
/// convention: the one place where "paper" and "pooled" differ. Both computation paths use them.

#include <vector>

#include "invar/losses/group_loss_options.hpp"
#include "invar/losses/grouping.hpp"

namespace invar::detail {

struct PairWeights {
  std::vector<double> a;  ///< weight of a pair in group k of the numerator
  std::vector<double> b;  ///< weight of a pair in reference group r of the denominator
};

inline PairWeights pair_weights(const Grouping& groups, const Grouping& reference, PairConvention convention) {
  PairWeights w;
  w.a.resize(static_cast<std::size_t>(groups.groups()));
  w.b.resize(static_cast<std::size_t>(reference.groups()));
  if (convention == PairConvention::paper) {
    // numerator: sum_k (1/n_k^2) sum_{ordered pairs}; denominator: mean over ordered pairs.
    for (index_t k = 0; k < groups.groups(); ++k)
      w.a[static_cast<std::size_t>(k)] = 1.0 / (double(groups.size(k)) * double(groups.size(k)));
    const double ordered = reference.ordered_pairs();
    for (auto& v : w.b) v = ordered > 0 ? 1.0 / ordered : 0.0;
  } else {
    // both: mean over distinct pairs; no pairs -> weight 0 (the term is defined as 0).
    const double pa = groups.distinct_pairs(), pb = reference.distinct_pairs();
    for (auto& v : w.a) v = pa > 0 ? 1.0 / pa : 0.0;
    for (auto& v : w.b) v = pb > 0 ? 1.0 / pb : 0.0;
  }
  return w;
}

}  // namespace invar::detail
