#pragma once
/// \file line_chart.hpp
/// LineChart: one or more named series of (x, y) points, on a linear or log x axis, or over named
/// categories (x = 0, 1, ... labelled with layer names, say). Points with a non-finite x or y
/// are left out and break the line there (a run with no value at a layer shows a gap, never a
/// made-up point).
///
///   report::LineChart c;
///   c.text = {"PC explained variance", "component", "ratio"};
///   c.series.emplace_back("baseline", std::vector<double>{1, 2, 3}, std::vector<double>{0.5, 0.3, 0.2});
///   c.to_svg().save("pca.svg");

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/line_chart.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <string>
#include <utility>
#include <vector>

#include "invar/report/axes.hpp"
#include "invar/report/colors.hpp"

namespace invar::report {

/// One line of a LineChart: points (x[i], y[i]) joined in order, with its style.
struct Series {
  std::string name;       ///< the legend's label and the tooltip of its group in the SVG
  std::vector<double> x,  ///< x of each point (a category index when the chart has categories)
      y;                  ///< y of each point; as many as x
  std::string color;     ///< empty: the palette's colour of the series' position
  bool markers = true;   ///< a dot at each point
  std::string dash;      ///< empty: solid; else an SVG dash pattern, e.g. "6 4"

  Series() = default;
  /// A series named series_name with the points (xs[i], ys[i]) and the default style.
  explicit Series(std::string series_name, std::vector<double> xs = {}, std::vector<double> ys = {})
      : name(std::move(series_name)), x(std::move(xs)), y(std::move(ys)) {}
};

/// A line chart (see the file comment): fill the fields, then draw() or to_svg().
struct LineChart {
  AxesText text;                        ///< title and axis labels
  std::vector<Series> series;           ///< drawn in order, each in its colour
  bool log_x = false;                   ///< log10 x axis (x > 0; other points are left out)
  std::vector<std::string> categories;  ///< when given: x values are 0 .. n-1, labelled with these
  double y_min = NAN,  ///< fixed bottom of the y axis; NaN (default): from the data
      y_max = NAN;     ///< fixed top of the y axis; NaN (default): from the data. Points outside
                       ///< the (rounded) range are left out

  /// Draws the chart, with its legend on the right, into the panel `outer` of svg. Throws
  /// invar::Error when a series has not as many y values as x values.
  void draw(Svg& svg, const Frame& outer) const {
    for (const auto& s : series)
      check(s.x.size() == s.y.size(), "LineChart '", text.title, "': series '", s.name, "' has ", s.x.size(),
            " x values but ", s.y.size(), " y values");
    const Frame plot = outer.inset(62, text.title.empty() ? 12 : 30, legend_width() + 14,
                                   categories.empty() ? 44 : 44 + 4.5 * double(longest_category()));
    std::vector<double> xs, ys;
    for (const auto& s : series)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (usable(s.x[i], s.y[i])) xs.push_back(s.x[i]), ys.push_back(s.y[i]);
    auto [ylo, yhi] = finite_range(ys);
    if (std::isfinite(y_min)) ylo = y_min;
    if (std::isfinite(y_max)) yhi = y_max;
    if (ylo >= yhi) yhi = ylo + 1;
    const auto y_ticks = nice_ticks(ylo, yhi, 5);
    double xlo = 0, xhi = 1;
    std::vector<double> x_ticks;
    if (!categories.empty()) {
      xlo = -0.5, xhi = double(categories.size()) - 0.5;
      for (std::size_t i = 0; i < categories.size(); ++i) x_ticks.push_back(double(i));
    } else {
      std::tie(xlo, xhi) = finite_range(xs);
      if (log_x) {
        if (xlo <= 0) xlo = xhi / 10;
        x_ticks = log_ticks(xlo, xhi);
      } else {
        x_ticks = nice_ticks(xlo, xhi, 6);
      }
    }
    const Scale sx{xlo, xhi, plot.x, plot.right(), log_x && categories.empty()};
    const Scale sy{ylo, yhi, plot.bottom(), plot.y};
    draw_axes(svg, outer, plot, sx, x_ticks, sy, y_ticks, text, categories);

    std::vector<std::string> names, colors, dashes;
    for (std::size_t k = 0; k < series.size(); ++k) {
      const auto& s = series[k];
      const std::string color = s.color.empty() ? category_color(index_t(k)) : s.color;
      names.push_back(s.name);
      colors.push_back(color);
      dashes.push_back(s.dash);
      svg.begin_group(s.name);
      std::vector<std::pair<double, double>> run;  // the current unbroken stretch
      auto flush = [&] {
        if (run.size() >= 2) svg.polyline(run, color, 2, s.dash);
        run.clear();
      };
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!usable(s.x[i], s.y[i]) || s.y[i] < ylo || s.y[i] > yhi) {
          flush();
          continue;
        }
        run.emplace_back(sx(s.x[i]), sy(s.y[i]));
        if (s.markers) svg.circle(run.back().first, run.back().second, 3, color);
      }
      flush();
      svg.end_group();
    }
    draw_legend(svg, plot.right() + 8, plot.y, names, colors, LegendMark::line, dashes);
  }

  /// The chart alone in a new width x height px document.
  [[nodiscard]] Svg to_svg(double width = 640, double height = 400) const {
    Svg svg(width, height);
    draw(svg, {0, 0, width, height});
    return svg;
  }

 private:
  [[nodiscard]] bool usable(double x, double y) const {
    return std::isfinite(x) && std::isfinite(y) && (!log_x || !categories.empty() || x > 0);
  }
  [[nodiscard]] double legend_width() const {
    std::size_t longest = 0;
    for (const auto& s : series) longest = std::max(longest, s.name.size());
    return series.empty() ? 0 : 38 + 6.5 * double(longest);
  }
  [[nodiscard]] std::size_t longest_category() const {
    std::size_t longest = 0;
    for (const auto& c : categories) longest = std::max(longest, c.size());
    return longest;
  }
};

}  // namespace invar::report
