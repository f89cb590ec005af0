#pragma once
/// \file svg.hpp
/// Svg: a small SVG 1.1 document builder for the report's figures (charts, heatmaps, scatter
/// plots). It writes only what browsers and XML parsers agree on: absolute coordinates, plain
/// attributes, text escaped for XML, raster images embedded as base64 PNG data URIs (a 1000 x 1000
/// dissimilarity matrix as one image instead of a million rectangles), so every file is
/// self-contained and parses as XML.
///
///   report::Svg svg(640, 400);
///   svg.rect(0, 0, 640, 400, "white").text(320, 20, "Title", {.size = 14, .anchor = Anchor::middle});
///   svg.save("figure.svg");  // atomic: complete or not at all
///
/// Coordinates must be finite (invar::Error otherwise): a NaN in a chart is the chart's to drop,
/// never something to write into a file.

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/svg.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/io/atomic_file.hpp"
#include "invar/io/base64.hpp"
#include "invar/io/png.hpp"

namespace invar::report {

namespace detail {
/// Length of the valid UTF-8 sequence at s[i] (1 to 4), or 0 when it is not one.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned min_second = 0x80, max_second = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min_second = c == 0xE0 ? 0xA0 : 0x80, max_second = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min_second = c == 0xF0 ? 0x90 : 0x80, max_second = c == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  if (i + len > s.size() || b(i + 1) < min_second || b(i + 1) > max_second) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return len;
}
}  // namespace detail

/// `s` with the five XML special characters replaced by entities; control characters other
/// than tab and newline (not allowed in XML 1.0) and bytes that are not valid UTF-8 become '?'.
inline std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t len = detail::utf8_sequence(s, i);
      if (len == 0) {
        out += '?';
      } else {
        out.append(s.substr(i, len));
        i += len - 1;
      }
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') out += '?';
        else out += c;
    }
  }
  return out;
}

/// Which point of a text its (x, y) gives, horizontally: SVG's text-anchor.
enum class Anchor {
  start,   ///< x is where the text begins (left-aligned)
  middle,  ///< x is the text's centre
  end      ///< x is where the text ends (right-aligned)
};

/// How Svg::text draws a string; designated initializers pick fields: `{.size = 14, .bold = true}`.
struct TextStyle {
  double size = 12;            ///< font size in px
  Anchor anchor = Anchor::start;  ///< horizontal alignment on x; default start (left)
  double rotate = 0;           ///< degrees, about the text's anchor point (-90: reads bottom to top)
  bool bold = false;           ///< bold weight; default normal
  std::string fill = "#222";   ///< text colour, any SVG colour; default near-black
};

/// The SVG document builder (see the file comment). Drawing calls append elements in order (later
/// ones paint over earlier ones) and return *this for chaining; coordinates are px with y
/// growing downwards.
class Svg {
 public:
  /// An empty document of width x height px; both finite and > 0, else invar::Error.
  Svg(double width, double height) : width_(width), height_(height) {
    check(std::isfinite(width) && std::isfinite(height) && width > 0 && height > 0,
          "Svg: width and height must be positive and finite, got ", width, " x ", height);
  }

  /// The document's width, px.
  [[nodiscard]] double width() const { return width_; }
  /// The document's height, px.
  [[nodiscard]] double height() const { return height_; }

  /// A w x h rectangle with top-left corner (x, y), filled with `fill` ("none" for no fill);
  /// outlined with `stroke` at stroke_width px unless stroke is "none". opacity in [0, 1] applies
  /// to the fill. A negative size, a negative stroke width or an opacity outside [0, 1] throws
  /// invar::Error.
  Svg& rect(double x, double y, double w, double h, std::string_view fill, std::string_view stroke = "none",
            double stroke_width = 0, double opacity = 1) {
    check(w >= 0 && h >= 0, "Svg::rect: negative size ", w, " x ", h);
    check_style(stroke_width, opacity, "Svg::rect");
    body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
             "\" fill=\"" + xml_escape(fill) + "\"";
    if (stroke != "none") body_ += " stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"";
    if (opacity < 1) body_ += " fill-opacity=\"" + num(opacity) + "\"";
    body_ += "/>\n";
    return *this;
  }

  /// A straight line from (x1, y1) to (x2, y2) in colour `stroke`, stroke_width px wide; `dash`
  /// as in stroke-dasharray ("6 4"), empty for solid.
  Svg& line(double x1, double y1, double x2, double y2, std::string_view stroke, double stroke_width = 1,
            std::string_view dash = "") {
    check_style(stroke_width, 1, "Svg::line");
    body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
             "\" stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"";
    if (!dash.empty()) body_ += " stroke-dasharray=\"" + xml_escape(dash) + "\"";
    body_ += "/>\n";
    return *this;
  }

  /// A connected line through `points` (at least 2); `dash` as in stroke-dasharray ("6 4").
  Svg& polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke, double stroke_width = 1.5,
                std::string_view dash = "") {
    check(points.size() >= 2, "Svg::polyline: needs at least 2 points, got ", points.size());
    check_style(stroke_width, 1, "Svg::polyline");
    body_ += "<polyline fill=\"none\" stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"";
    if (!dash.empty()) body_ += " stroke-dasharray=\"" + xml_escape(dash) + "\"";
    body_ += " stroke-linejoin=\"round\" points=\"";
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (i > 0) body_ += ' ';
      body_ += num(points[i].first);
      body_ += ',';
      body_ += num(points[i].second);
    }
    body_ += "\"/>\n";
    return *this;
  }

  /// A filled circle of radius r (>= 0) at (cx, cy); opacity in [0, 1] applies to the fill.
  Svg& circle(double cx, double cy, double r, std::string_view fill, double opacity = 1) {
    check(r >= 0, "Svg::circle: negative radius ", r);
    check_style(0, opacity, "Svg::circle");
    body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"" + xml_escape(fill) +
             "\"";
    if (opacity < 1) body_ += " fill-opacity=\"" + num(opacity) + "\"";
    body_ += "/>\n";
    return *this;
  }

  /// The string s (UTF-8, escaped for XML) with its baseline at y and its anchor point at x.
  Svg& text(double x, double y, std::string_view s, const TextStyle& style = {}) {
    static constexpr const char* anchors[] = {"start", "middle", "end"};
    body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(style.size) + "\" text-anchor=\"" +
             anchors[static_cast<int>(style.anchor)] + "\" fill=\"" + xml_escape(style.fill) + "\"";
    if (style.bold) body_ += " font-weight=\"bold\"";
    if (style.rotate != 0) body_ += " transform=\"rotate(" + num(style.rotate) + " " + num(x) + " " + num(y) + ")\"";
    body_ += ">" + xml_escape(s) + "</text>\n";
    return *this;
  }

  /// An RGB raster (height rows of width x 3 bytes) embedded as a PNG data URI and drawn into
  /// the box (x, y, w, h) without smoothing (each matrix cell stays a sharp square).
  Svg& image_rgb(double x, double y, double w, double h, const std::vector<std::uint8_t>& rgb, index_t width,
                 index_t height) {
    check(static_cast<index_t>(rgb.size()) == width * height * 3, "Svg::image_rgb: ", rgb.size(),
          " bytes for a ", width, " x ", height, " RGB image (expected ", width * height * 3, ")");
    const auto png = io::encode_png(rgb.data(), width, height, 3, "Svg::image_rgb");
    body_ += "<image x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
             "\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64," +
             io::base64_encode(png.data(), png.size()) + "\"/>\n";
    return *this;
  }

  /// A tooltip-titled group: everything drawn until end_group() belongs to it.
  Svg& begin_group(std::string_view title = "") {
    body_ += "<g>";
    if (!title.empty()) body_ += "<title>" + xml_escape(title) + "</title>";
    body_ += "\n";
    ++open_groups_;
    return *this;
  }
  /// Closes the innermost group begin_group() opened; with none open, throws invar::Error.
  Svg& end_group() {
    check(open_groups_ > 0, "Svg::end_group: no group is open");
    body_ += "</g>\n";
    --open_groups_;
    return *this;
  }

  /// The whole document.
  [[nodiscard]] std::string str() const {
    check(open_groups_ == 0, "Svg: ", open_groups_, " group(s) left open");
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
           num(width_) + "\" height=\"" + num(height_) + "\" viewBox=\"0 0 " + num(width_) + " " + num(height_) +
           "\" font-family=\"Helvetica, Arial, sans-serif\">\n" + body_ + "</svg>\n";
  }

  /// Writes the document to `path` atomically.
  void save(const std::string& path) const { io::write_file_atomically(path, str()); }

 private:
  static void check_style(double stroke_width, double opacity, const char* who) {
    check(std::isfinite(stroke_width) && stroke_width >= 0, who, ": stroke width must be finite and >= 0, got ",
          stroke_width);
    check(opacity >= 0 && opacity <= 1, who, ": opacity must be in [0, 1], got ", opacity);
  }

  /// A coordinate with 2 decimals (sub-pixel enough, small files); refuses NaN, infinity and
  /// magnitudes no drawing has (beyond 1e9 px: a scale gone wrong, not a figure).
  static std::string num(double v) {
    check(std::isfinite(v) && std::abs(v) <= 1e9, "Svg: a coordinate or size is not finite or beyond 1e9 (", v, ")");
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s(buf);
    // Trim trailing zeros ("12.50" -> "12.5", "3.00" -> "3"); "-0" -> "0".
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
    if (s == "-0") s = "0";
    return s;
  }

  double width_, height_;
  std::string body_;
  int open_groups_ = 0;
};

}  // namespace invar::report
