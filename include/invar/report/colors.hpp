#pragma once
/// \file colors.hpp
/// Colours of the report's figures: a categorical palette for classes and runs (Tableau 10, the
/// default of matplotlib, so figures look like the paper's), and the viridis colour map for
/// heatmaps (perceptually uniform, readable in grey and by colour-blind readers).

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/colors.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "invar/core/config.hpp"

namespace invar::report {

/// A colour as red, green, blue bytes (0-255), as image_rgb rasters store them.
using Rgb = std::array<std::uint8_t, 3>;

/// The colour as an SVG/CSS hex string, "#rrggbb" in lower case.
inline std::string to_hex(const Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

/// Colour i of the categorical palette; it repeats after 10 (with 20 classes, say, a class's
/// colour is shared: the legend still names each).
inline std::string category_color(index_t i) {
  static constexpr const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[((i % 10) + 10) % 10];
}

/// viridis(t) for t in [0, 1] (clamped; NaN gives grey): linear interpolation between 11
/// samples of matplotlib's table, exact at the samples, close enough between them for a heatmap.
inline Rgb viridis(double t) {
  static constexpr std::array<std::array<double, 3>, 11> table{{
      {0.267004, 0.004874, 0.329415}, {0.282623, 0.140926, 0.457517}, {0.253935, 0.265254, 0.529983},
      {0.206756, 0.371758, 0.553117}, {0.163625, 0.471133, 0.558148}, {0.127568, 0.566949, 0.550556},
      {0.134692, 0.658636, 0.517649}, {0.266941, 0.748751, 0.440573}, {0.477504, 0.821444, 0.318195},
      {0.741388, 0.873449, 0.149561}, {0.993248, 0.906157, 0.143936}}};
  if (std::isnan(t)) return {128, 128, 128};
  constexpr int segments = 10;  // 11 distinct samples at t = 0, 0.1, ..., 1
  const double u = std::clamp(t, 0.0, 1.0) * segments;
  const int k = std::min(static_cast<int>(u), segments - 1);
  const double f = u - k;
  Rgb c{};
  for (int ch = 0; ch < 3; ++ch) {
    const double v = table[std::size_t(k)][std::size_t(ch)] * (1 - f) + table[std::size_t(k + 1)][std::size_t(ch)] * f;
    c[std::size_t(ch)] = static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255));
  }
  return c;
}

}  // namespace invar::report
