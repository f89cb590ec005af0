#pragma once
/// \file penalty_options.hpp
/// What the anti-collapse penalties (variance_hinge.hpp, covariance_penalty.hpp,
/// pc1_share_penalty.hpp) share: which features of a tap they see, how they write their
/// gradient, and the value they return. docs/anti_collapse.md has the formulas and defaults.

#include <cmath>

#include "invar/core/error.hpp"

namespace invar {

/// Which matrix a penalty sees at a tap of shape B x C x H x W (B x D taps are always flat).
enum class PenaltyFeatures {
  /// Channel means for rank-4 taps (B x C, what global average pooling gives), flat otherwise:
  /// the penalty's cost stays O(B C) on wide convolutional taps whatever H x W is.
  automatic,
  flat,          ///< every feature of the flattened tap, B x (C H W)
  channel_mean,  ///< B x C channel means of a rank-4 tap (an error on other ranks)
};

/// "automatic", "flat" or "channel_mean".
inline const char* to_string(PenaltyFeatures f) {
  switch (f) {
    case PenaltyFeatures::automatic: return "automatic";
    case PenaltyFeatures::flat: return "flat";
    case PenaltyFeatures::channel_mean: return "channel_mean";
  }
  return "?";
}

/// What a penalty returns (in double, whatever the feature type).
struct PenaltyValue {
  double value = 0;  ///< the penalty (what training descends, before its weight)
  /// The quantity the penalty controls, for logging: the mean standard deviation (variance
  /// hinge), the same as value (covariance), the PC1 share of the variance (PC1 penalty).
  double statistic = 0;
  int iterations = 0;  ///< power iterations used (PC1 penalty only)
};

/// The options every penalty has, with chainable setters that return the derived options.
template <class Derived>
struct PenaltyOptionsBase {
  PenaltyFeatures features = PenaltyFeatures::automatic;  ///< which matrix of the tap the penalty sees
  double gradient_scale = 1.0;  ///< the gradient written is gradient_scale * dP/dx (the term's weight)
  bool accumulate = false;      ///< add to the gradient buffer instead of overwriting it

  /// Sets #features.
  Derived& with_features(PenaltyFeatures f) { features = f; return self(); }
  /// Sets #gradient_scale.
  Derived& with_gradient_scale(double s) { gradient_scale = s; return self(); }
  /// Sets #accumulate.
  Derived& accumulating(bool a = true) { accumulate = a; return self(); }

  /// Throws invar::Error naming the penalty when an option is out of range.
  void validate_common(const char* penalty) const {
    check(std::isfinite(gradient_scale), penalty, ": gradient_scale must be finite, got ", gradient_scale);
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace invar
