#pragma once
/// \file layer_weights.hpp
/// Per-layer weights of the invariance terms of Eq. 1 (alpha_l, beta_l over the taps, lowest
/// first), normalised to a total:
///   uniform      w_i = total / L
///   linear       w_i proportional to 1 + (r - 1) i / (L - 1)      (1 .. r)
///   exponential  w_i proportional to r^(i / (L - 1))              (numpy's logspace(0, 1, L, base=r))
/// The authors' published setting is exponential with total 0.1 and r = 10: over All-CNN's 9 taps
/// .0027 .0036 .0048 .0064 .0086 .0114 .0152 .0203 .0270 (method.md). Higher layers weigh more.

#include <cmath>
#include <string>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar::objective {

/// How the per-layer weights grow from the lowest tap to the highest (formulas in the file comment):
/// uniform (all equal), linear (1 .. r) or exponential (geometric, 1 .. r).
enum class WeightProfile { uniform, linear, exponential };

/// "uniform", "linear" or "exponential" (what parse_weight_profile() reads).
[[nodiscard]] inline const char* to_string(WeightProfile p) {
  switch (p) {
    case WeightProfile::uniform: return "uniform";
    case WeightProfile::linear: return "linear";
    case WeightProfile::exponential: return "exponential";
  }
  return "?";
}

/// Parses "uniform", "linear" or "exponential" (for command lines and configs); anything else
/// throws invar::Error.
[[nodiscard]] inline WeightProfile parse_weight_profile(const std::string& s) {
  if (s == "uniform") return WeightProfile::uniform;
  if (s == "linear") return WeightProfile::linear;
  if (s == "exponential") return WeightProfile::exponential;
  throw Error("unknown layer-weight profile '" + s + "' (expected uniform, linear or exponential)");
}

/// L weights of the given profile summing to `total` (ratio r = last / first; ignored by uniform).
/// Throws invar::Error unless layers >= 1, total is finite and >= 0, and ratio is finite and > 0.
[[nodiscard]] inline std::vector<double> layer_weights(WeightProfile profile, index_t layers, double total,
                                                       double ratio = 10.0) {
  check(layers >= 1, "layer_weights: need at least one layer, got ", layers);
  check(std::isfinite(total) && total >= 0, "layer_weights: the total must be finite and >= 0, got ", total);
  check(std::isfinite(ratio) && ratio > 0, "layer_weights: the ratio must be finite and > 0, got ", ratio);
  std::vector<double> w(static_cast<std::size_t>(layers), 1.0);
  for (index_t i = 0; i < layers && layers > 1; ++i) {
    const double t = double(i) / double(layers - 1);
    if (profile == WeightProfile::linear) w[std::size_t(i)] = 1.0 + (ratio - 1.0) * t;
    if (profile == WeightProfile::exponential) w[std::size_t(i)] = std::pow(ratio, t);
  }
  double sum = 0;
  for (double v : w) sum += v;
  for (double& v : w) v *= total / sum;
  return w;
}

}  // namespace invar::objective
