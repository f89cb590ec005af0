#pragma once
// The invariance losses written the slow, obvious way: explicit loops over pairs in long
// double, straight from the formulas in docs/losses.md. Independent of include/invar/losses
// (only the enum PairConvention and no_group are shared) and of the metric headers (distances
// come from the metric tests' naive_distance).

#include <map>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/losses/group_loss_options.hpp"
#include "invar/losses/grouping.hpp"
#include "metrics/metric_test_support.hpp"

namespace invar::test {

struct NaiveLoss {
  long double value = 0, numerator = 0, denominator = 0;
};

/// x: B rows; groups: one id per row (no_group allowed); reference: one id per row, or empty
/// for all pairs of the batch.
template <class M>
NaiveLoss naive_loss(const std::vector<Row>& x, const std::vector<index_t>& groups,
                     const std::vector<index_t>& reference, PairConvention convention, long double epsilon) {
  const std::size_t n = x.size();
  auto same = [](const std::vector<index_t>& ids, std::size_t i, std::size_t j) {
    return ids[i] != no_group && ids[i] == ids[j];
  };
  auto same_ref = [&](std::size_t i, std::size_t j) {
    return reference.empty() ? true : (reference[i] != no_group && reference[i] == reference[j]);
  };
  NaiveLoss out;
  if (convention == PairConvention::paper) {
    std::map<index_t, long double> size;
    for (std::size_t i = 0; i < n; ++i)
      if (groups[i] != no_group) size[groups[i]] += 1;
    long double ref_pairs = 0, ref_sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {  // ordered pairs, self-pairs included
        const long double d = naive_distance<M>(x[i], x[j]);
        if (same(groups, i, j)) out.numerator += d / (size[groups[i]] * size[groups[i]]);
        if (same_ref(i, j)) {
          ref_sum += d;
          ref_pairs += 1;
        }
      }
    out.denominator = ref_pairs > 0 ? ref_sum / ref_pairs : 0;
  } else {
    long double pairs = 0, sum = 0, ref_pairs = 0, ref_sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {  // distinct pairs
        const long double d = naive_distance<M>(x[i], x[j]);
        if (same(groups, i, j)) {
          sum += d;
          pairs += 1;
        }
        if (same_ref(i, j)) {
          ref_sum += d;
          ref_pairs += 1;
        }
      }
    out.numerator = pairs > 0 ? sum / pairs : 0;
    out.denominator = ref_pairs > 0 ? ref_sum / ref_pairs : 0;
  }
  out.value = out.numerator / (out.denominator + epsilon);
  return out;
}

/// Rows of a tensor as long double rows.
template <class T>
std::vector<Row> rows_of(const Tensor<T>& x) {
  const index_t b = x.dim(0), d = x.numel() / x.dim(0);
  std::vector<Row> r(static_cast<std::size_t>(b), Row(static_cast<std::size_t>(d)));
  for (index_t i = 0; i < b; ++i)
    for (index_t k = 0; k < d; ++k) r[std::size_t(i)][std::size_t(k)] = x[i * d + k];
  return r;
}

inline std::vector<index_t> ids_of(const Tensor<index_t>& t) { return std::vector<index_t>(t.begin(), t.end()); }

inline Tensor<index_t> id_tensor(const std::vector<index_t>& ids) {
  Tensor<index_t> t(Shape{index_t(ids.size())});
  for (std::size_t i = 0; i < ids.size(); ++i) t[index_t(i)] = ids[i];
  return t;
}

}  // namespace invar::test
