#pragma once
// Batches for the loss tests: unequal groups with ids that are neither contiguous nor sorted,
// a coarser "class" grouping, unlabelled rows, and features whose pairwise coordinate
// differences stay >= 0.02 (so that finite differences never straddle the kinks of L1 and
// Euclidean, and no row is zero or constant for cosine and correlation).

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "losses/loss_reference.hpp"

namespace invar::test {

struct LossBatch {
  Tensor<double> x;
  std::vector<index_t> seeds;    // numerator groups of L_DA
  std::vector<index_t> classes;  // classes: L_C groups and the same-class reference
};

/// 13 rows, d features: seeds {4 x 3, 9 x 4, 1 x 2, 30 x 1, 12 x 3}; classes group seeds, row 12 unlabelled.
inline LossBatch loss_batch(index_t d, std::uint64_t seed) {
  LossBatch b;
  b.seeds = {9, 4, 9, 12, 4, 30, 9, 1, 12, 4, 1, 9, 12};
  b.classes = {0, 2, 0, 5, 2, 5, 0, 2, 5, 2, 2, 0, no_group};
  const index_t rows = index_t(b.seeds.size());
  b.x = Tensor<double>(Shape{rows, d});
  std::mt19937_64 rng(seed);
  for (index_t k = 0; k < d; ++k) {
    std::vector<index_t> perm(static_cast<std::size_t>(rows));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (index_t i = 0; i < rows; ++i)
      b.x(i, k) = -0.6 + 0.1 * double(perm[std::size_t(i)]) + 0.01 * uniform(rng, 0, 1) + 0.05 * double(k % 3);
  }
  return b;
}

template <class T>
Tensor<T> cast(const Tensor<double>& x) {
  Tensor<T> out(x.shape());
  for (index_t i = 0; i < x.numel(); ++i) out[i] = static_cast<T>(x[i]);
  return out;
}

inline double rel(double a, double b) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300}); }

}  // namespace invar::test
