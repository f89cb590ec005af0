#pragma once
/// \file params.hpp
/// Ranges of augmentation parameters and the draws from them (docs/data.md, "Augmentation").
///
/// - Range: a closed interval [lo, hi] of finite numbers, lo <= hi (lo == hi: a constant,
///   drawn without consuming randomness).
/// - Draw: how a value is drawn from a Range:
///   - Draw::uniform (the thesis): lo + (hi - lo) u, u uniform in [0, 1) (53 bits);
///   - Draw::truncated_normal (the authors' code, `truncnorm_cent_2std`): a normal centred in
///     the range, sigma = (hi - lo) / 4, truncated to [lo, hi] (so alpha = beta = 2: the range
///     covers +-2 sigma). Drawn by REJECTION, as the authors' code does: draw N(mid, sigma)
///     until the value lies in [lo, hi]. The acceptance rate is Phi(2) - Phi(-2) = 95.45 %, so
///     a draw takes 1.048 normal draws (two 64-bit words each) on average; the number varies,
///     but it is a function of the Rng state, so the same state gives the same value.
/// All draws use invar::Rng, which is portable: the same seed gives the same values everywhere.

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>

#include "invar/core/error.hpp"
#include "invar/core/random.hpp"

namespace invar::data::augment {

/// How parameters are drawn from their ranges.
enum class Draw {
  uniform,           ///< uniform over [lo, hi) (the thesis)
  truncated_normal,  ///< N(mid, (hi - lo) / 4) truncated to [lo, hi], by rejection (the authors' code)
};

/// "uniform" or "truncated_normal" (for describe() texts).
inline const char* to_string(Draw d) { return d == Draw::uniform ? "uniform" : "truncated_normal"; }

/// Degrees to radians (rotation and shear parameters are in radians).
constexpr double deg_to_rad(double degrees) { return degrees * (3.14159265358979323846 / 180.0); }
/// Radians to degrees.
constexpr double rad_to_deg(double radians) { return radians * (180.0 / 3.14159265358979323846); }

/// A closed interval [lo, hi] a parameter is drawn from.
struct Range {
  double lo = 0.0;  ///< lower bound (finite)
  double hi = 0.0;  ///< upper bound (finite, >= lo)

  /// [0, 0].
  constexpr Range() = default;
  /// [lo_, hi_]; not checked here: the transforms call validate().
  constexpr Range(double lo_, double hi_) : lo(lo_), hi(hi_) {}
  /// [-a, a].
  static constexpr Range symmetric(double a) { return {-a, a}; }
  /// [v, v]: always v.
  static constexpr Range constant(double v) { return {v, v}; }

  /// hi - lo.
  [[nodiscard]] constexpr double width() const { return hi - lo; }
  /// The centre (lo + hi) / 2.
  [[nodiscard]] constexpr double mid() const { return 0.5 * (lo + hi); }
  /// Whether lo == hi (a constant: drawing it consumes no randomness).
  [[nodiscard]] constexpr bool degenerate() const { return lo == hi; }
  /// Whether lo <= v <= hi.
  [[nodiscard]] constexpr bool contains(double v) const { return lo <= v && v <= hi; }

  /// Throws invar::Error unless lo and hi are finite and lo <= hi; `what` names the parameter.
  void validate(const std::string& what) const {
    check(std::isfinite(lo) && std::isfinite(hi), what, ": range bounds must be finite, got [", lo, ", ", hi, "]");
    check(lo <= hi, what, ": empty range [", lo, ", ", hi, "] (lo > hi)");
  }

  /// Prints `[lo, hi]`.
  friend std::ostream& operator<<(std::ostream& out, const Range& r) {
    return out << '[' << r.lo << ", " << r.hi << ']';
  }
};

/// Uniform in [lo, hi) (lo for a degenerate range, which consumes no randomness).
inline double draw_uniform(const Range& r, Rng& rng) {
  if (r.degenerate()) return r.lo;
  const double v = r.lo + r.width() * rng.uniform();
  return v < r.hi ? v : r.lo;  // lo + w u can round up to hi; keep the half-open interval
}

/// Normal with mean r.mid() and sigma r.width() / 4, truncated to [lo, hi], by rejection (the
/// authors' truncnorm_cent_2std). A degenerate range gives lo and consumes no randomness.
inline double draw_truncated_normal(const Range& r, Rng& rng) {
  if (r.degenerate()) return r.lo;
  const double mid = r.mid(), sigma = 0.25 * r.width();
  for (;;) {
    const double v = mid + sigma * rng.normal();
    if (r.lo <= v && v <= r.hi) return v;
  }
}

/// A value from `r` drawn as `how` says.
inline double draw(const Range& r, Draw how, Rng& rng) {
  return how == Draw::uniform ? draw_uniform(r, rng) : draw_truncated_normal(r, rng);
}

/// True with probability p (one uniform draw, whatever p is, so the stream does not depend on p).
inline bool draw_bernoulli(double p, Rng& rng) { return rng.uniform() < p; }

}  // namespace invar::data::augment
