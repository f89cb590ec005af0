#pragma once
/// \file heatmap.hpp
/// Heatmap: a square matrix (a dissimilarity matrix of images sorted by class) drawn as one
/// embedded image in the viridis colour map, with the class blocks outlined and named along both
/// axes, as in the paper's Figure 2; draw_colorbar adds the scale. Several heatmaps side by side
/// share one value range (lo, hi) so that their colours compare.

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/heatmap.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "invar/core/tensor.hpp"
#include "invar/report/axes.hpp"
#include "invar/report/colors.hpp"

namespace invar::report {

/// A dissimilarity-matrix heatmap (see the file comment): fill the fields, then draw().
struct Heatmap {
  std::string title;                  ///< drawn bold above the matrix
  TensorView<const double> matrix;   ///< n x n
  std::vector<index_t> labels;        ///< class of each row, sorted (rows of a class together); empty: no blocks
  std::vector<std::string> class_names;  ///< names of classes 0, 1, ...; a class without one shows its number
  double lo = 0,  ///< the value at the dark end of the colour map (default 0)
      hi = 2;     ///< the value at the bright end (default 2); values outside are clamped, NaN (undefined) is grey

  /// Draws the title and the matrix as a square in `outer`, with the class blocks outlined and
  /// named when labels are given. Throws invar::Error for a matrix that is not square and
  /// non-empty, lo >= hi or non-finite, or labels of the wrong count or unsorted. `matrix` is a
  /// view: the data must be alive while draw runs.
  void draw(Svg& svg, const Frame& outer) const {
    check(matrix.rank() == 2 && matrix.dim(0) == matrix.dim(1) && matrix.dim(0) > 0, "Heatmap '", title,
          "': expected a non-empty square matrix, got ", matrix.shape());
    check(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "Heatmap '", title, "': need finite lo < hi, got ", lo,
          ", ", hi);
    const index_t n = matrix.dim(0);
    check(labels.empty() || static_cast<index_t>(labels.size()) == n, "Heatmap '", title, "': ", labels.size(),
          " labels for ", n, " rows");
    // Small matrices are drawn with `up` x `up` pixels per cell, so that viewers which smooth
    // scaled images (some ignore image-rendering) still show sharp cells.
    const index_t up = std::max<index_t>(1, (400 + n - 1) / n), px = n * up;
    for (std::size_t i = 1; i < labels.size(); ++i)
      check(labels[i] >= labels[i - 1], "Heatmap '", title, "': labels must be sorted (rows of a class together)");
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(px * px * 3));
    for (index_t y = 0; y < px; ++y)
      for (index_t x = 0; x < px; ++x) {
        const Rgb c = viridis((matrix[(y / up) * n + x / up] - lo) / (hi - lo));
        for (int ch = 0; ch < 3; ++ch) rgb[std::size_t((y * px + x) * 3 + ch)] = c[std::size_t(ch)];
      }
    std::size_t longest = 0;
    for (const auto& s : class_names) longest = std::max(longest, s.size());
    const double margin = labels.empty() ? 8 : 12 + 6 * double(longest);
    const double side = std::max(10.0, std::min(outer.width - margin - 8, outer.height - margin - 30));
    const Frame box{outer.x + margin, outer.y + 26, side, side};
    svg.text(box.x + side / 2, outer.y + 18, title, {.size = 14, .anchor = Anchor::middle, .bold = true});
    svg.image_rgb(box.x, box.y, side, side, rgb, px, px);
    svg.rect(box.x, box.y, side, side, "none", "#444", 1);
    if (labels.empty()) return;
    // Class blocks: boundaries where the label changes, the name at the block's centre.
    const double cell = side / double(n);
    index_t start = 0;
    for (index_t i = 1; i <= n; ++i) {
      if (i < n && labels[std::size_t(i)] == labels[std::size_t(start)]) continue;
      if (i < n) {
        svg.line(box.x + cell * double(i), box.y, box.x + cell * double(i), box.bottom(), "white", 0.6);
        svg.line(box.x, box.y + cell * double(i), box.right(), box.y + cell * double(i), "white", 0.6);
      }
      const index_t c = labels[std::size_t(start)];
      const std::string name = c >= 0 && c < static_cast<index_t>(class_names.size()) ? class_names[std::size_t(c)]
                                                                                     : std::to_string(c);
      const double mid = cell * (double(start + i) / 2);
      svg.text(box.x - 4, box.y + mid + 4, name, {.size = 10, .anchor = Anchor::end});
      svg.text(box.x + mid + 3, box.bottom() + 6, name, {.size = 10, .anchor = Anchor::end, .rotate = -60});
      start = i;
    }
  }
};

/// A vertical colour bar for values lo .. hi in `frame`, with ticks and a label.
inline void draw_colorbar(Svg& svg, const Frame& frame, double lo, double hi, const std::string& label) {
  check(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "draw_colorbar: need finite lo < hi, got ", lo, ", ", hi);
  constexpr index_t steps = 128;
  std::vector<std::uint8_t> rgb(steps * 3);
  for (index_t i = 0; i < steps; ++i) {
    const Rgb c = viridis(1.0 - double(i) / double(steps - 1));  // top row: hi
    for (int ch = 0; ch < 3; ++ch) rgb[std::size_t(i * 3 + ch)] = c[std::size_t(ch)];
  }
  const double bar_w = 14;
  svg.image_rgb(frame.x, frame.y, bar_w, frame.height, rgb, 1, steps);
  svg.rect(frame.x, frame.y, bar_w, frame.height, "none", "#444", 1);
  double a = lo, b = hi;
  const auto ticks = nice_ticks(a, b, 5);
  const Scale s{lo, hi, frame.bottom(), frame.y};
  for (const double t : ticks) {
    if (t < lo - 1e-12 || t > hi + 1e-12) continue;
    svg.line(frame.x + bar_w, s(t), frame.x + bar_w + 4, s(t), "#444", 1);
    svg.text(frame.x + bar_w + 6, s(t) + 4, tick_label(t), {.size = 10});
  }
  svg.text(frame.x + bar_w + 40, frame.y + frame.height / 2, label, {.size = 11, .anchor = Anchor::middle, .rotate = -90});
}

}  // namespace invar::report
