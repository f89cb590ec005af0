#pragma once
/// \file axes.hpp
/// What every chart of the report shares: the plot frame, linear and log scales, "nice" tick
/// values (1, 2, 5 x 10^k steps), tick labels, axes with grid lines, titles and axis labels, and
/// legends.

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/axes.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/report/svg.hpp"

namespace invar::report {

/// A rectangle in SVG coordinates (y grows downwards).
struct Frame {
  double x = 0,    ///< left edge, px
      y = 0,       ///< top edge, px
      width = 0,   ///< px
      height = 0;  ///< px
  /// The right edge, x + width.
  [[nodiscard]] double right() const { return x + width; }
  /// The bottom edge, y + height.
  [[nodiscard]] double bottom() const { return y + height; }
  /// The frame shrunk by the given margins.
  [[nodiscard]] Frame inset(double left, double top, double right_margin, double bottom_margin) const {
    return {x + left, y + top, std::max(1.0, width - left - right_margin), std::max(1.0, height - top - bottom_margin)};
  }
};

/// Maps data values in [lo, hi] onto pixels [from, to] (to < from for a y axis), linearly or on
/// a log10 scale (then lo > 0).
struct Scale {
  double lo = 0,  ///< data value drawn at `from`
      hi = 1,     ///< data value drawn at `to` (!= lo)
      from = 0,   ///< pixel coordinate of lo
      to = 1;     ///< pixel coordinate of hi
  bool log = false;  ///< map log10(v) linearly instead of v (lo, hi and the values > 0)
  /// The pixel coordinate of data value v; values outside [lo, hi] extrapolate (not clamped).
  [[nodiscard]] double operator()(double v) const {
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi;
    const double u = log ? std::log10(v) : v;
    return from + (u - a) / (b - a) * (to - from);
  }
};

/// [lo, hi] of the finite values, widened when they are all equal (a flat line still gets an
/// axis); {0, 1} when there is none.
inline std::pair<double, double> finite_range(const std::vector<double>& values) {
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const double v : values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) return {0, 1};
  if (lo == hi) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    return {lo - pad, hi + pad};
  }
  return {lo, hi};
}

/// About `target` round tick values covering [lo, hi]: steps of 1, 2 or 5 x 10^k; the range is
/// widened outwards to the enclosing ticks (`lo` and `hi` are updated). A range too narrow for
/// ticks to tell apart (a few ulps: 0.3 and 0.1 + 0.2) is first widened by 10 % of its magnitude.
inline std::vector<double> nice_ticks(double& lo, double& hi, int target = 5) {
  check(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "nice_ticks: need finite lo < hi, got ", lo, ", ", hi);
  const double magnitude_of_values = std::max(std::abs(lo), std::abs(hi));
  if (hi - lo < magnitude_of_values * 1e-9) {
    const double pad = magnitude_of_values * 0.1;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  // The slack keeps 0.30000000000000004 / 0.1 from becoming 4 steps; the range must still
  // cover the data, so a rounding that went past it takes one step back.
  double a = std::floor(lo / step + 1e-9), b = std::ceil(hi / step - 1e-9);
  if (a * step > lo) a -= 1;
  if (b * step < hi) b += 1;
  lo = a * step;
  hi = b * step;
  std::vector<double> ticks;
  for (double i = 0; a + i <= b; i += 1) {
    const double t = (a + i) * step;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

/// Powers of ten covering [lo, hi] (lo > 0), the range widened to them.
inline std::vector<double> log_ticks(double& lo, double& hi) {
  check(lo > 0 && hi > lo && std::isfinite(hi), "log_ticks: need 0 < lo < hi, got ", lo, ", ", hi);
  int a = static_cast<int>(std::floor(std::log10(lo) + 1e-9)), b = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (std::pow(10.0, a) > lo) --a;  // the slack must not move the range inside the data
  if (std::pow(10.0, b) < hi) ++b;
  lo = std::pow(10.0, a);
  hi = std::pow(10.0, std::max(b, a + 1));
  std::vector<double> ticks;
  for (int e = a; e <= std::max(b, a + 1); ++e) ticks.push_back(std::pow(10.0, e));
  return ticks;
}

/// A short label for a tick value: "0.25", "100", "1e-05".
inline std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

/// Text of a chart around its plot frame.
struct AxesText {
  std::string title,  ///< bold, centred above the plot; empty: none
      x_label,        ///< centred below the x axis; empty: none
      y_label;        ///< rotated, left of the y axis; empty: none
};

/// Draws a white background, light grid lines at the ticks, the frame, tick labels (or the
/// category names at x = 0, 1, ... when `x_names` is given, rotated when they would collide),
/// the axis labels and the title. `outer` is the whole panel; `plot` the frame inside it.
inline void draw_axes(Svg& svg, const Frame& outer, const Frame& plot, const Scale& x, const std::vector<double>& x_ticks,
                      const Scale& y, const std::vector<double>& y_ticks, const AxesText& text,
                      const std::vector<std::string>& x_names = {}) {
  check(x_names.empty() || x_names.size() == x_ticks.size(), "draw_axes: ", x_names.size(), " category names for ",
        x_ticks.size(), " ticks");
  svg.rect(outer.x, outer.y, outer.width, outer.height, "white");
  for (const double t : y_ticks) {
    const double py = y(t);
    svg.line(plot.x, py, plot.right(), py, "#e5e5e5", 1);
    svg.text(plot.x - 6, py + 4, tick_label(t), {.size = 11, .anchor = Anchor::end});
  }
  bool rotate = false;
  if (!x_names.empty()) {
    std::size_t longest = 0;
    for (const auto& n : x_names) longest = std::max(longest, n.size());
    rotate = double(longest) * 6.5 > plot.width / double(x_names.size());
  }
  for (std::size_t i = 0; i < x_ticks.size(); ++i) {
    const double px = x(x_ticks[i]);
    svg.line(px, plot.y, px, plot.bottom(), "#efefef", 1);
    const std::string label = x_names.empty() ? tick_label(x_ticks[i]) : x_names[i];
    if (rotate) svg.text(px + 4, plot.bottom() + 10, label, {.size = 11, .anchor = Anchor::end, .rotate = -45});
    else svg.text(px, plot.bottom() + 16, label, {.size = 11, .anchor = Anchor::middle});
  }
  svg.rect(plot.x, plot.y, plot.width, plot.height, "none", "#444", 1);
  if (!text.title.empty())
    svg.text(outer.x + outer.width / 2, outer.y + 18, text.title, {.size = 14, .anchor = Anchor::middle, .bold = true});
  if (!text.x_label.empty())
    svg.text(plot.x + plot.width / 2, outer.bottom() - 8, text.x_label, {.size = 12, .anchor = Anchor::middle});
  if (!text.y_label.empty())
    svg.text(outer.x + 16, plot.y + plot.height / 2, text.y_label, {.size = 12, .anchor = Anchor::middle, .rotate = -90});
}

/// The symbol drawn before each name of a legend, matching how the series is drawn.
enum class LegendMark {
  line,    ///< a short line (line charts; takes the series' dash pattern)
  square,  ///< a filled square (bar charts)
  circle   ///< a filled dot (scatter plots)
};

/// A legend box at (x, y) (its top-left corner), one row per name; `dashes` (line marks, one
/// per name, or none) gives each line's dash pattern.
inline void draw_legend(Svg& svg, double x, double y, const std::vector<std::string>& names,
                        const std::vector<std::string>& colors, LegendMark mark,
                        const std::vector<std::string>& dashes = {}) {
  check(names.size() == colors.size(), "draw_legend: ", names.size(), " names but ", colors.size(), " colours");
  check(dashes.empty() || dashes.size() == names.size(), "draw_legend: ", dashes.size(), " dash patterns for ",
        names.size(), " names");
  if (names.empty()) return;
  std::size_t longest = 0;
  for (const auto& n : names) longest = std::max(longest, n.size());
  const double row = 16, width = 30 + 6.5 * double(longest);
  svg.rect(x, y, width, row * double(names.size()) + 6, "white", "#bbb", 1, 0.9);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double cy = y + 3 + row * (double(i) + 0.5);
    if (mark == LegendMark::line) svg.line(x + 5, cy, x + 21, cy, colors[i], 2.5, dashes.empty() ? "" : dashes[i]);
    else if (mark == LegendMark::square) svg.rect(x + 7, cy - 5, 10, 10, colors[i]);
    else svg.circle(x + 12, cy, 4, colors[i]);
    svg.text(x + 26, cy + 4, names[i], {.size = 11});
  }
}

}  // namespace invar::report
