#pragma once
/// \file group_loss_options.hpp
/// Conventions and options of the group-wise invariance losses (paper Eq. 2 and 3), and the
/// value they return. docs/losses.md gives the formulas, the scales and the numerics.

#include <cmath>

#include "invar/backend/backend.hpp"
#include "invar/core/error.hpp"

namespace invar {

namespace distributed {
class Communicator;  // <invar/distributed/communicator.hpp>
}

/// Which pairs the numerator and the denominator average over. Their values differ in scale:
/// state which one a number was computed with.
enum class PairConvention {
  /// Eq. 2/3 as printed: numerator = sum over groups k of (1/|S_k|^2) * sum over ordered pairs of
  /// S_k, self-pairs included; denominator = mean over ordered pairs (self-pairs included) that
  /// share a reference group — (1/B^2) * sum over all pairs for the all-pairs reference.
  /// Groups are summed, so the value grows with the number of groups K (about K (M-1)/M times
  /// the pooled value for K groups of M rows).
  paper,
  /// The authors' code: mean of d over the distinct pairs {i < j} that share a group, divided by
  /// the mean of d over the distinct pairs that share a reference group. No self-pairs. Values
  /// near 1 mean "no more alike than any two rows", near 0 "invariant".
  pooled,
};

/// Which way the value and gradient are computed.
enum class LossPath {
  automatic,  ///< linear for squared-difference metrics, gram for metrics with a Gram kind, else pairwise
  linear,     ///< O(B D) from per-group sums; squared-difference metrics only
  gram,       ///< two GEMMs (B^2 D); metrics with a Gram kind only (cosine, correlation, Euclidean: gram_path_traits)
  pairwise,   ///< O(B^2 D) over pairs through the metric's value and gradient; any metric
};

/// "paper" or "pooled", for logs and result files.
inline const char* to_string(PairConvention c) { return c == PairConvention::paper ? "paper" : "pooled"; }

/// Options, with chainable setters: `GroupLossOptions{}.with_convention(PairConvention::pooled)`.
struct GroupLossOptions {
  PairConvention convention = PairConvention::paper;  ///< which pairs are averaged; default: Eq. 2/3 as printed
  /// L = numerator / (denominator + epsilon), in the value and in the gradient alike. It keeps
  /// the loss and its gradient finite when all rows are equal (denominator 0): then L = 0 and
  /// the gradient is the numerator's gradient / epsilon, which is 0 for invar's metrics there.
  /// epsilon = 0 (exact ratios) is allowed: a zero denominator with a zero numerator then gives
  /// L = 0 and a zero gradient as well (what every epsilon > 0 gives there), and a zero
  /// denominator with a nonzero numerator (L infinite) is an invar::Error.
  double epsilon = 1e-12;
  /// The gradient written is gradient_scale * dL/dX (the layer weight alpha_l of Eq. 1).
  double gradient_scale = 1.0;
  /// Add to the gradient buffer instead of overwriting it (several losses at one tap).
  bool accumulate = false;
  /// How to compute (default: automatic, the fastest path the metric allows). Forcing a path the
  /// metric does not support is an invar::Error at the call.
  LossPath path = LossPath::automatic;
  /// The ranks that hold the batch, each its own rows (null: this process holds the whole
  /// batch). With a communicator of N > 1 ranks, x and the ids are this rank's rows, the rows of
  /// rank 0 first, then rank 1's, ...; the value is that of the whole batch (the same on every
  /// rank) and grad gets dL/dx of this rank's rows. Every rank makes the call. The linear path
  /// all-reduces O(K D) per-group sums; the Gram and pairwise paths gather the rows
  /// (docs/distributed.md). The communicator must outlive the call.
  const distributed::Communicator* communicator = nullptr;

  /// Sets #convention; returns *this for chaining.
  GroupLossOptions& with_convention(PairConvention c) { convention = c; return *this; }
  /// Sets #epsilon (finite, >= 0); returns *this.
  GroupLossOptions& with_epsilon(double e) { epsilon = e; return *this; }
  /// Sets #gradient_scale (finite); returns *this.
  GroupLossOptions& with_gradient_scale(double s) { gradient_scale = s; return *this; }
  /// Sets #accumulate (add to the gradient buffer); returns *this.
  GroupLossOptions& accumulating(bool a = true) { accumulate = a; return *this; }
  /// Sets #path; returns *this.
  GroupLossOptions& with_path(LossPath p) { path = p; return *this; }
  /// Sets #communicator: the loss of the batch that `comm`'s ranks hold together; returns *this.
  GroupLossOptions& across(const distributed::Communicator& comm) { communicator = &comm; return *this; }

  /// Throws invar::Error unless epsilon is finite and >= 0 and gradient_scale is finite.
  /// Every loss call runs it.
  void validate() const {
    check(std::isfinite(epsilon) && epsilon >= 0, "GroupLossOptions: epsilon must be finite and >= 0, got ", epsilon);
    check(std::isfinite(gradient_scale), "GroupLossOptions: gradient_scale must be finite, got ", gradient_scale);
  }
};

/// What a loss call returns (always in double, whatever the feature type).
struct LossValue {
  double value = 0;        ///< numerator / (denominator + epsilon)
  double numerator = 0;    ///< the within-group term
  double denominator = 0;  ///< the reference term
};

namespace detail {
inline PairSet pair_set_of(PairConvention c) {
  return c == PairConvention::paper ? PairSet::ordered_with_self : PairSet::distinct;
}
}  // namespace detail

}  // namespace invar
