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

/// L = N / (R + epsilon), with the same epsilon the gradient uses. R + epsilon == 0 happens only
/// with epsilon = 0 and R = 0 (every reference pair at distance 0, e.g. all rows equal): then
/// N = 0 gives L = 0 (and pair_coefficients a zero gradient), the value every epsilon > 0 gives
/// there; N > 0 (possible when groups pair rows that no reference group does) would make L
/// infinite and is an invar::Error.
inline void finish_value(const char* loss, LossValue& v, const GroupLossOptions& o) {
  const double den = v.denominator + o.epsilon;
  if (den == 0) {
    check(v.numerator == 0, loss, ": the denominator is 0 (every reference pair has distance 0) and epsilon is 0, "
          "but the numerator is ", v.numerator, ": L would be infinite; use epsilon > 0");
    v.value = 0;
    return;
  }
  v.value = v.numerator / den;
}

/// dL/d(pair term) per group, shared by every path: a numerator pair of group k weighs
/// scale * a_k / (R + eps), a reference pair of group r weighs -scale * N * b_r / (R + eps)^2.
struct PairCoefficients {
  std::vector<double> a, b;
};

/// With R + epsilon == 0 (epsilon = 0, N = R = 0: see finish_value) every coefficient is 0.
inline PairCoefficients pair_coefficients(const PairWeights& w, const LossValue& v, const GroupLossOptions& o) {
  const double den = v.denominator + o.epsilon;
  PairCoefficients c{std::vector<double>(w.a.size()), std::vector<double>(w.b.size())};
  if (den == 0) return c;
  for (std::size_t k = 0; k < w.a.size(); ++k) c.a[k] = o.gradient_scale * w.a[k] / den;
  for (std::size_t r = 0; r < w.b.size(); ++r) c.b[r] = -o.gradient_scale * v.numerator * w.b[r] / (den * den);
  return c;
}

}  // namespace invar::detail
