#pragma once
/// \file scatter_plot.hpp
/// ScatterPlot: 2-d points coloured by class (a t-SNE embedding, say), with a legend of the class
/// names. Points with a non-finite coordinate are left out.

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/scatter_plot.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <string>
#include <vector>

#include "invar/report/axes.hpp"
#include "invar/report/colors.hpp"

namespace invar::report {

/// A scatter plot of classed points (see the file comment): fill the fields, then draw() or to_svg().
struct ScatterPlot {
  AxesText text;                         ///< title and axis labels
  std::vector<double> x,                 ///< x of each point
      y;                                 ///< y of each point; as many as x
  std::vector<index_t> classes;          ///< class of each point, 0 .. class_names.size() - 1
  std::vector<std::string> class_names;  ///< one per class: the legend's labels and colour order
  bool legend = true;                    ///< draw the legend of class names on the right
  double radius = 2.5;                   ///< of each dot, px

  /// Draws the plot into the panel `outer` of svg, one SVG group per class. Throws invar::Error
  /// when x, y and classes differ in length or a class has no name.
  void draw(Svg& svg, const Frame& outer) const {
    check(x.size() == y.size() && x.size() == classes.size(), "ScatterPlot '", text.title, "': ", x.size(), " x, ",
          y.size(), " y and ", classes.size(), " classes");
    for (const index_t c : classes)
      check(c >= 0 && c < static_cast<index_t>(class_names.size()), "ScatterPlot '", text.title, "': class ", c,
            " has no name (", class_names.size(), " names)");
    std::size_t longest = 0;
    for (const auto& n : class_names) longest = std::max(longest, n.size());
    const double legend_w = legend ? 38 + 6.5 * double(longest) : 0;
    const Frame plot = outer.inset(62, text.title.empty() ? 12 : 30, legend_w + 14, 44);
    auto [xlo, xhi] = finite_range(x);
    auto [ylo, yhi] = finite_range(y);
    const auto x_ticks = nice_ticks(xlo, xhi, 5);
    const auto y_ticks = nice_ticks(ylo, yhi, 5);
    const Scale sx{xlo, xhi, plot.x, plot.right()}, sy{ylo, yhi, plot.bottom(), plot.y};
    draw_axes(svg, outer, plot, sx, x_ticks, sy, y_ticks, text);
    // One group per class, so a viewer's tooltip names the class under the cursor.
    for (std::size_t c = 0; c < class_names.size(); ++c) {
      svg.begin_group(class_names[c]);
      for (std::size_t i = 0; i < x.size(); ++i)
        if (classes[i] == index_t(c) && std::isfinite(x[i]) && std::isfinite(y[i]))
          svg.circle(sx(x[i]), sy(y[i]), radius, category_color(index_t(c)), 0.8);
      svg.end_group();
    }
    if (legend) {
      std::vector<std::string> colors;
      for (std::size_t c = 0; c < class_names.size(); ++c) colors.push_back(category_color(index_t(c)));
      draw_legend(svg, plot.right() + 8, plot.y, class_names, colors, LegendMark::circle);
    }
  }

  /// The plot alone in a new width x height px document.
  [[nodiscard]] Svg to_svg(double width = 560, double height = 440) const {
    Svg svg(width, height);
    draw(svg, {0, 0, width, height});
    return svg;
  }
};

}  // namespace invar::report
