#pragma once
/// \file bar_chart.hpp
/// BarChart: grouped bars, one group per category (a run, say) and one bar per series inside it
/// (classifier, linear probe, MLP probe), each with its value written above it. A NaN value
/// draws no bar and writes "n/a" (an invariance-only model has no trained classifier).

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/bar_chart.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <string>
#include <vector>

#include "invar/report/axes.hpp"
#include "invar/report/colors.hpp"

namespace invar::report {

/// One kind of bar (a classifier, a probe): one value per category, drawn in one colour.
struct BarSeries {
  std::string name;            ///< the legend's label
  std::vector<double> values;  ///< one per category; NaN: no bar
};

/// A grouped bar chart (see the file comment): fill the fields, then draw() or to_svg().
struct BarChart {
  AxesText text;                        ///< title and axis labels
  std::vector<std::string> categories;  ///< one group of bars each, labelled on the x axis; not empty
  std::vector<BarSeries> series;        ///< one bar per category each, coloured by position
  double y_min = 0,    ///< bottom of the y axis (default 0; widened to a round tick)
      y_max = NAN;     ///< top of the y axis; NaN (default): the largest finite value
  int decimals = 1;               ///< of the value labels

  /// Draws the chart, with its legend on the right, into the panel `outer` of svg. Throws
  /// invar::Error when there are no categories or a series has not one value per category.
  void draw(Svg& svg, const Frame& outer) const {
    check(!categories.empty(), "BarChart '", text.title, "': no categories");
    std::vector<double> all;
    std::size_t longest = 0;
    for (const auto& s : series) {
      check(s.values.size() == categories.size(), "BarChart '", text.title, "': series '", s.name, "' has ",
            s.values.size(), " values for ", categories.size(), " categories");
      all.insert(all.end(), s.values.begin(), s.values.end());
      longest = std::max(longest, s.name.size());
    }
    const double legend = series.empty() ? 0 : 38 + 6.5 * double(longest);
    const Frame plot = outer.inset(62, text.title.empty() ? 12 : 30, legend + 14, 44);
    double ylo = y_min, yhi = std::isfinite(y_max) ? y_max : finite_range(all).second;
    if (!(yhi > ylo)) yhi = ylo + 1;
    const auto y_ticks = nice_ticks(ylo, yhi, 5);
    std::vector<double> x_ticks;
    for (std::size_t i = 0; i < categories.size(); ++i) x_ticks.push_back(double(i));
    const Scale sx{-0.5, double(categories.size()) - 0.5, plot.x, plot.right()};
    const Scale sy{ylo, yhi, plot.bottom(), plot.y};
    draw_axes(svg, outer, plot, sx, x_ticks, sy, y_ticks, text, categories);

    const double group = plot.width / double(categories.size()) * 0.8;
    const double bar = group / double(std::max<std::size_t>(1, series.size()));
    std::vector<std::string> names, colors;
    for (std::size_t k = 0; k < series.size(); ++k) {
      names.push_back(series[k].name);
      colors.push_back(category_color(index_t(k)));
      for (std::size_t i = 0; i < categories.size(); ++i) {
        const double x0 = sx(double(i)) - group / 2 + bar * double(k);
        const double v = series[k].values[i];
        if (!std::isfinite(v)) {
          svg.text(x0 + bar / 2, plot.bottom() - 4, "n/a", {.size = 10, .anchor = Anchor::middle, .fill = "#888"});
          continue;
        }
        const double top = sy(std::clamp(v, ylo, yhi)), base = sy(std::clamp(0.0, ylo, yhi));
        svg.rect(x0 + 1, std::min(top, base), std::max(0.0, bar - 2), std::abs(base - top), colors.back());
        char label[32];
        std::snprintf(label, sizeof label, "%.*f", decimals, v);
        svg.text(x0 + bar / 2, std::min(top, base) - 3, label, {.size = 10, .anchor = Anchor::middle});
      }
    }
    draw_legend(svg, plot.right() + 8, plot.y, names, colors, LegendMark::square);
  }

  /// The chart alone in a new width x height px document.
  [[nodiscard]] Svg to_svg(double width = 640, double height = 400) const {
    Svg svg(width, height);
    draw(svg, {0, 0, width, height});
    return svg;
  }
};

}  // namespace invar::report
