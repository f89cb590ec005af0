#pragma once
/// \file projection.hpp
/// Keeping adversarial images valid: within epsilon of the clean image (L-infinity or L2) and
/// inside [0, 1]. The bounds are enforced exactly in the images' float values: a float that a
/// rounding put a hair outside the ball is moved back, so "never leaves the ball" holds when
/// checked in double, not only up to a tolerance.

#include <algorithm>
#include <cmath>

#include "invar/core/config.hpp"

namespace invar::attacks {

/// The norm of an attack's epsilon ball: `linf` (max over pixels) or `l2` (Euclidean over the image).
enum class Norm { linf, l2 };

namespace detail {

/// The float bounds of pixel x0 under an L-infinity ball of radius eps, intersected with [0, 1].
inline void linf_bounds(float x0, double eps, float& lo, float& hi) {
  const double l = std::max(0.0, double(x0) - eps), h = std::min(1.0, double(x0) + eps);
  lo = static_cast<float>(l);
  hi = static_cast<float>(h);
  if (double(lo) < l) lo = std::nextafter(lo, 2.0f);
  if (double(hi) > h) hi = std::nextafter(hi, -1.0f);
}

/// x (n values) moved into the L-infinity ball of radius eps around x0 and into [0, 1].
inline void project_linf(const float* x0, float* x, index_t n, double eps) {
  for (index_t i = 0; i < n; ++i) {
    float lo, hi;
    linf_bounds(x0[i], eps, lo, hi);
    x[i] = std::clamp(x[i], lo, hi);
  }
}

inline double l2_distance(const float* x0, const float* x, index_t n) {
  double s = 0;
  for (index_t i = 0; i < n; ++i) s += (double(x[i]) - double(x0[i])) * (double(x[i]) - double(x0[i]));
  return std::sqrt(s);
}

/// x moved into the L2 ball of radius eps around x0 (scaling x - x0) and into [0, 1]. Each scaled
/// coordinate is rounded to the float on x0's side of its exact value, so no coordinate moves
/// further from x0 than the exact scaling puts it: the float point is inside the ball up to the
/// rounding of the norm itself, which the 1e-12 margin covers. Clipping to [0, 1] only shortens
/// x - x0 (x0 is in [0, 1]).
inline void project_l2(const float* x0, float* x, index_t n, double eps) {
  for (index_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], 0.0f, 1.0f);
  double margin = 1 - 1e-12;
  for (int round = 0; round < 4; ++round) {
    const double norm = l2_distance(x0, x, n);
    if (norm <= eps) return;
    const double f = eps / norm * margin;
    for (index_t i = 0; i < n; ++i) {
      const double v = double(x0[i]) + (double(x[i]) - double(x0[i])) * f;
      float r = static_cast<float>(v);
      if (std::abs(double(r) - double(x0[i])) > std::abs(v - double(x0[i]))) r = std::nextafter(r, x0[i]);
      x[i] = std::clamp(r, 0.0f, 1.0f);
    }
    margin *= 1 - 1e-9;
  }
  if (l2_distance(x0, x, n) > eps)  // not reached: the rounding above never lengthens x - x0
    for (index_t i = 0; i < n; ++i) x[i] = x0[i];
}

}  // namespace detail
}  // namespace invar::attacks
