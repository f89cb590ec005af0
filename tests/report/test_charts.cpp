// report charts read back with an XML parser (tinyxml2): LineChart (gaps at NaN, log x axis
// without x <= 0, category names, exact pixel positions, fixed y range), BarChart (n/a for NaN,
// bar heights proportional to the values), ScatterPlot (one circle per finite point, at the
// right place), Heatmap (its embedded image decoded with stb_image, cell colours equal to
// viridis, class names and blocks) and draw_colorbar; and the errors of each.
#include <doctest/doctest.h>

#include <tinyxml2.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/core/tensor.hpp"
#include "invar/report/bar_chart.hpp"
#include "invar/report/heatmap.hpp"
#include "invar/report/line_chart.hpp"
#include "invar/report/scatter_plot.hpp"
#include "support/error_message.hpp"

// stb_image (the decoder) once per translation unit, even when several test files share one.
#include "support/svg_inspect.hpp"

using namespace invar;
using report::BarChart;
using report::Heatmap;
using report::LineChart;
using report::ScatterPlot;

TEST_SUITE_BEGIN("report");

namespace {

constexpr double charts_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double charts_inf = std::numeric_limits<double>::infinity();

using ChartsElements = test::SvgElements;

double charts_num(const tinyxml2::XMLElement* e, const char* name) {
  const char* v = e->Attribute(name);
  REQUIRE(v != nullptr);
  return std::stod(v);
}

int charts_count_text(const tinyxml2::XMLDocument& doc, const std::string& s) {
  int n = 0;
  for (const auto& t : test::svg_texts(doc)) n += t == s;
  return n;
}
/// Elements named `name` whose attribute `attr` equals `value`.
ChartsElements charts_with(const tinyxml2::XMLDocument& doc, const std::string& name, const char* attr,
                           const std::string& value) {
  ChartsElements out;
  for (const auto* e : test::svg_elements(doc, name))
    if (test::svg_attribute(e, attr) == value) out.push_back(e);
  return out;
}
/// The <g> whose <title> is `title` (REQUIREd to exist once).
const tinyxml2::XMLElement* charts_group(const tinyxml2::XMLDocument& doc, const std::string& title) {
  const tinyxml2::XMLElement* found = nullptr;
  int n = 0;
  for (const auto* g : test::svg_elements(doc, "g")) {
    const auto* t = g->FirstChildElement("title");
    if (t != nullptr && t->GetText() != nullptr && title == t->GetText()) found = g, ++n;
  }
  INFO("group ", title);
  REQUIRE(n == 1);
  return found;
}
/// The points of a polyline, as written.
std::vector<std::string> charts_points(const tinyxml2::XMLElement* polyline) {
  std::istringstream in(test::svg_attribute(polyline, "points"));
  std::vector<std::string> out;
  for (std::string p; in >> p;) out.push_back(p);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LineChart

TEST_CASE("report::LineChart breaks a series at a NaN into two polylines") {
  LineChart c;
  c.text = {"Loss & accuracy", "epoch", "value"};
  c.series.emplace_back("train", std::vector<double>{1, 2, 3, 4, 5}, std::vector<double>{1, 2, charts_nan, 4, 5});
  report::Series other("test", {1, 2, 3}, {3, 2, 1});
  other.color = "#abcdef";
  other.markers = false;
  other.dash = "6 4";
  c.series.push_back(other);
  const auto doc = test::parse_svg(c.to_svg().str());
  const auto* train = charts_group(*doc, "train");
  const auto lines = test::svg_elements(train, "polyline");
  REQUIRE(lines.size() == 2);
  CHECK(charts_points(lines[0]).size() == 2);
  CHECK(charts_points(lines[1]).size() == 2);
  CHECK(test::svg_attribute(lines[0], "stroke") == report::category_color(0));
  CHECK(test::svg_elements(train, "circle").size() == 4);  // a marker at each finite point
  const auto* test = charts_group(*doc, "test");
  const auto test_lines = test::svg_elements(test, "polyline");
  REQUIRE(test_lines.size() == 1);
  CHECK(charts_points(test_lines[0]).size() == 3);
  CHECK(test::svg_attribute(test_lines[0], "stroke") == "#abcdef");
  CHECK(test::svg_attribute(test_lines[0], "stroke-dasharray") == "6 4");
  CHECK(test::svg_elements(test, "circle").empty());
  CHECK(test::svg_elements(*doc, "polyline").size() == 3);
  // Title, axis labels and the legend's names.
  CHECK(charts_count_text(*doc, "Loss & accuracy") == 1);
  CHECK(charts_count_text(*doc, "epoch") == 1);
  CHECK(charts_count_text(*doc, "value") == 1);
  CHECK(charts_count_text(*doc, "train") == 1);
  CHECK(charts_count_text(*doc, "test") == 1);
}

TEST_CASE("report::LineChart draws no line through a lone point between gaps") {
  LineChart c;
  c.series.emplace_back("s", std::vector<double>{1, 2, 3, 4, 5, 6},
                        std::vector<double>{1, charts_nan, 3, charts_inf, 5, 6});
  const auto doc = test::parse_svg(c.to_svg().str());
  const auto lines = test::svg_elements(*doc, "polyline");
  REQUIRE(lines.size() == 1);  // only 5 -> 6; 1 and 3 stand alone
  CHECK(charts_points(lines[0]).size() == 2);
  CHECK(test::svg_elements(*doc, "circle").size() == 4);
}

TEST_CASE("report::LineChart on a log x axis leaves out x <= 0 and places points by log10") {
  LineChart c;
  c.log_x = true;
  c.series.emplace_back("s", std::vector<double>{-1, 0, 1, 10, 100}, std::vector<double>{1, 2, 3, 4, 5});
  const auto doc = test::parse_svg(c.to_svg(640, 400).str());
  const auto lines = test::svg_elements(*doc, "polyline");
  REQUIRE(lines.size() == 1);
  // Plot frame: x from 62 to 640 - (38 + 6.5) - 14 = 581.5, y from 12 to 400 - 44 = 356; the
  // y range is that of the points drawn (3 .. 5), x is 1 .. 100 on a log scale.
  CHECK(charts_points(lines[0]) == std::vector<std::string>{"62,356", "321.75,184", "581.5,12"});
  CHECK(test::svg_elements(*doc, "circle").size() == 3);
  CHECK(charts_count_text(*doc, "1") == 1);
  CHECK(charts_count_text(*doc, "10") == 1);
  CHECK(charts_count_text(*doc, "100") == 1);
  CHECK(charts_count_text(*doc, "0") == 0);
  CHECK(charts_count_text(*doc, "3.5") == 1);  // y ticks 3, 3.5, ..., 5
  CHECK(charts_count_text(*doc, "2") == 0);
}

TEST_CASE("report::LineChart on a log x axis with no positive x still draws axes") {
  LineChart c;
  c.log_x = true;
  c.series.emplace_back("s", std::vector<double>{-1, 0}, std::vector<double>{1, 2});
  const auto doc = test::parse_svg(c.to_svg().str());
  CHECK(test::svg_elements(*doc, "polyline").empty());
  CHECK(test::svg_elements(*doc, "circle").empty());
  CHECK(test::svg_elements(*doc, "g").size() == 1);
}

TEST_CASE("report::LineChart labels category ticks with the given names") {
  LineChart c;
  c.categories = {"conv1", "conv2", "fc"};
  c.series.emplace_back("run", std::vector<double>{0, 1, 2}, std::vector<double>{0.1, 0.5, 0.9});
  const auto doc = test::parse_svg(c.to_svg().str());
  const auto lines = test::svg_elements(*doc, "polyline");
  REQUIRE(lines.size() == 1);
  const auto points = charts_points(lines[0]);
  REQUIRE(points.size() == 3);
  for (std::size_t i = 0; i < c.categories.size(); ++i) {
    INFO("category ", c.categories[i]);
    const auto named = test::svg_elements(*doc, "text");
    int found = 0;
    for (const auto* t : named)
      if (t->GetText() != nullptr && c.categories[i] == t->GetText()) {
        ++found;
        // Under its point: the label's x is the point's x.
        CHECK(test::svg_attribute(t, "x") == points[i].substr(0, points[i].find(',')));
      }
    CHECK(found == 1);
  }
  // No numeric x tick labels: the only other texts are the y ticks (0 .. 1) and the legend.
  CHECK(charts_count_text(*doc, "0.5") == 0);
  CHECK(charts_count_text(*doc, "run") == 1);
}

TEST_CASE("report::LineChart with a fixed y range leaves out points outside it") {
  LineChart c;
  c.y_min = 0;
  c.y_max = 1;
  c.series.emplace_back("s", std::vector<double>{10, 20, 30, 40}, std::vector<double>{0.5, 2, 0.5, 0.6});
  const auto doc = test::parse_svg(c.to_svg().str());
  const auto lines = test::svg_elements(*doc, "polyline");
  REQUIRE(lines.size() == 1);
  CHECK(charts_points(lines[0]).size() == 2);
  CHECK(test::svg_elements(*doc, "circle").size() == 3);
  CHECK(charts_count_text(*doc, "2") == 0);  // y ticks 0, 0.2, ..., 1 (x ticks 10, 15, ..., 40)
  CHECK(charts_count_text(*doc, "1") == 1);
  CHECK(charts_count_text(*doc, "0.8") == 1);
}

TEST_CASE("report::LineChart without series is an empty, valid chart") {
  LineChart c;
  c.text.title = "empty";
  const auto doc = test::parse_svg(c.to_svg().str());
  CHECK(test::svg_elements(*doc, "polyline").empty());
  CHECK(charts_count_text(*doc, "empty") == 1);
}

TEST_CASE("report::LineChart rejects series whose x and y sizes differ") {
  LineChart c;
  c.text.title = "bad";
  c.series.emplace_back("s", std::vector<double>{1, 2}, std::vector<double>{1, 2, 3});
  CHECK_ERROR_CONTAINS((void)c.to_svg(), "2 x values but 3 y values");
}

// ---------------------------------------------------------------------------------------------
// BarChart

TEST_CASE("report::BarChart draws bars proportional to the values and n/a for NaN") {
  BarChart c;
  c.categories = {"a", "b", "c"};
  c.series = {{"A", {25, 50, charts_nan}}, {"B", {10, 20, 30}}};
  c.y_max = 100;
  const auto doc = test::parse_svg(c.to_svg(640, 400).str());
  const std::string color_a = report::category_color(0), color_b = report::category_color(1);
  // Bars and one legend square per series.
  CHECK(charts_with(*doc, "rect", "fill", color_a).size() == 2 + 1);
  CHECK(charts_with(*doc, "rect", "fill", color_b).size() == 3 + 1);
  CHECK(charts_count_text(*doc, "n/a") == 1);
  // The plot frame (the one rect with fill none) gives the base line of the bars.
  const auto frames = charts_with(*doc, "rect", "fill", "none");
  REQUIRE(frames.size() == 1);
  const double top = charts_num(frames[0], "y"), bottom = top + charts_num(frames[0], "height");
  CHECK(top == 12);
  CHECK(bottom == 356);
  std::vector<double> heights;
  for (const auto* r : charts_with(*doc, "rect", "fill", color_a))
    if (std::abs(charts_num(r, "y") + charts_num(r, "height") - bottom) < 0.01) heights.push_back(charts_num(r, "height"));
  REQUIRE(heights.size() == 2);
  CHECK(heights[1] / heights[0] == doctest::Approx(2.0).epsilon(1e-3));
  CHECK(heights[0] == doctest::Approx(0.25 * (bottom - top)).epsilon(1e-3));
  // The value labels.
  for (const char* label : {"25.0", "50.0", "10.0", "20.0", "30.0"}) CHECK(charts_count_text(*doc, label) == 1);
  // Category names under the groups, series names in the legend.
  for (const char* name : {"a", "b", "c", "A", "B"}) CHECK(charts_count_text(*doc, name) == 1);

  // The same chart without the NaN has one more bar of A's colour and no n/a.
  c.series[0].values[2] = 40;
  const auto full = test::parse_svg(c.to_svg(640, 400).str());
  CHECK(charts_with(*full, "rect", "fill", color_a).size() == 3 + 1);
  CHECK(charts_count_text(*full, "n/a") == 0);
}

TEST_CASE("report::BarChart value labels follow decimals and bars are clamped to the range") {
  BarChart c;
  c.categories = {"x"};
  c.series = {{"s", {150.0}}};
  c.y_max = 100;
  c.decimals = 2;
  const auto doc = test::parse_svg(c.to_svg().str());
  CHECK(charts_count_text(*doc, "150.00") == 1);
  const auto frames = charts_with(*doc, "rect", "fill", "none");
  REQUIRE(frames.size() == 1);
  const auto bars = charts_with(*doc, "rect", "fill", report::category_color(0));
  REQUIRE(bars.size() == 2);  // the bar and the legend square
  CHECK(charts_num(bars[0], "y") == charts_num(frames[0], "y"));
  CHECK(charts_num(bars[0], "height") == charts_num(frames[0], "height"));
}

TEST_CASE("report::BarChart rejects a wrong number of values and no categories") {
  BarChart c;
  c.text.title = "acc";
  c.categories = {"a", "b"};
  c.series = {{"A", {1, 2, 3}}};
  CHECK_ERROR_CONTAINS((void)c.to_svg(), "series 'A' has 3 values for 2 categories");
  c.series = {{"A", {1}}};
  CHECK_ERROR_CONTAINS((void)c.to_svg(), "series 'A' has 1 values for 2 categories");
  c.categories.clear();
  c.series.clear();
  CHECK_ERROR_CONTAINS((void)c.to_svg(), "no categories");
}

// ---------------------------------------------------------------------------------------------
// ScatterPlot

TEST_CASE("report::ScatterPlot draws one circle per finite point in its class group") {
  ScatterPlot p;
  p.x = {0, 1, 2, charts_nan, 4, 5};
  p.y = {0, 1, 2, 3, charts_inf, 5};
  p.classes = {0, 1, 0, 1, 0, 1};
  p.class_names = {"cat", "dog"};
  p.text.title = "t-SNE";
  const auto doc = test::parse_svg(p.to_svg(560, 440).str());
  const auto cats = test::svg_elements(charts_group(*doc, "cat"), "circle");
  const auto dogs = test::svg_elements(charts_group(*doc, "dog"), "circle");
  REQUIRE(cats.size() == 2);
  REQUIRE(dogs.size() == 2);
  for (const auto* c : cats) CHECK(test::svg_attribute(c, "fill") == report::category_color(0));
  for (const auto* c : dogs) CHECK(test::svg_attribute(c, "fill") == report::category_color(1));
  CHECK(test::svg_elements(*doc, "circle").size() == 4 + 2);  // + the legend's marks
  // Both axes 0 .. 5; the frame from x = 62 to 560 - (38 + 6.5 * 3) - 14 = 488.5, y = 30 to 396.
  CHECK(test::svg_attribute(cats[0], "cx") == "62");
  CHECK(test::svg_attribute(cats[0], "cy") == "396");
  CHECK(test::svg_attribute(dogs[1], "cx") == "488.5");
  CHECK(test::svg_attribute(dogs[1], "cy") == "30");
  CHECK(test::svg_attribute(cats[1], "cx") == "232.6");  // x = 2: 62 + 0.4 * 426.5
  CHECK(charts_count_text(*doc, "cat") == 1);
  CHECK(charts_count_text(*doc, "dog") == 1);
  CHECK(charts_count_text(*doc, "t-SNE") == 1);
}

TEST_CASE("report::ScatterPlot without a legend has only the points' circles") {
  ScatterPlot p;
  p.x = {1, 2, 3};
  p.y = {3, 1, 2};
  p.classes = {0, 0, 0};
  p.class_names = {"only"};
  p.legend = false;
  const auto doc = test::parse_svg(p.to_svg().str());
  CHECK(test::svg_elements(*doc, "circle").size() == 3);
  CHECK(charts_count_text(*doc, "only") == 0);
}

TEST_CASE("report::ScatterPlot rejects class indices without a name and size mismatches") {
  ScatterPlot p;
  p.x = {0, 1};
  p.y = {0, 1};
  p.classes = {0, 2};
  p.class_names = {"a", "b"};
  CHECK_ERROR_CONTAINS((void)p.to_svg(), "class 2 has no name");
  p.classes = {-1, 0};
  CHECK_ERROR_CONTAINS((void)p.to_svg(), "class -1 has no name");
  p.classes = {0};
  CHECK_ERROR_CONTAINS((void)p.to_svg(), "2 x, 2 y and 1 classes");
  p.classes = {0, 1};
  p.y = {0};
  CHECK_ERROR_CONTAINS((void)p.to_svg(), "2 x, 1 y and 2 classes");
}

// ---------------------------------------------------------------------------------------------
// Heatmap and colour bar

TEST_CASE("report::Heatmap embeds an n x n image of viridis colours with class blocks") {
  const index_t n = 5;
  Tensor<double> m(Shape{n, n});
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) m(i, j) = -1 + 0.17 * double(i) + 0.31 * double(j);
  m(0, 1) = charts_nan;  // grey
  m(1, 1) = 5;           // above hi: the top colour
  m(2, 2) = -3;          // below lo: the bottom colour
  Heatmap h;
  h.title = "dissimilarity";
  h.matrix = m;
  h.labels = {0, 0, 1, 1, 1};
  h.class_names = {"cat", "dog"};
  h.lo = -1;
  h.hi = 1.5;
  report::Svg svg(400, 400);
  h.draw(svg, {0, 0, 400, 400});
  const auto doc = test::parse_svg(svg.str());
  const auto images = test::svg_elements(*doc, "image");
  REQUIRE(images.size() == 1);
  const auto img = test::decode_embedded_png(images[0]);
  REQUIRE(img.width > 0);
  REQUIRE(img.width % n == 0);
  REQUIRE(img.height == img.width);
  const int k = img.width / int(n);  // pixels per cell
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      INFO("cell (", i, ", ", j, ")");
      const report::Rgb expected = report::viridis((m(i, j) - h.lo) / (h.hi - h.lo));
      CHECK(img.at(int(j) * k, int(i) * k) == expected);  // row i is image row i, column j is x
      CHECK(img.at(int(j) * k + k - 1, int(i) * k + k - 1) == expected);
    }
  CHECK(img.at(1 * k, 0) == report::Rgb{128, 128, 128});
  CHECK(img.at(1 * k, 1 * k) == report::viridis(1));
  CHECK(img.at(2 * k, 2 * k) == report::viridis(0));
  // A square image; names along both axes; one white boundary line each way.
  CHECK(test::svg_attribute(images[0], "width") == test::svg_attribute(images[0], "height"));
  CHECK(charts_count_text(*doc, "dissimilarity") == 1);
  CHECK(charts_count_text(*doc, "cat") == 2);
  CHECK(charts_count_text(*doc, "dog") == 2);
  const auto lines = charts_with(*doc, "line", "stroke", "white");
  REQUIRE(lines.size() == 2);
  // The boundary after row 2 of 5: 2/5 of the way along the image.
  const double x0 = charts_num(images[0], "x"), side = charts_num(images[0], "width");
  CHECK(std::abs(charts_num(lines[0], "x1") - (x0 + side * 2 / 5)) < 0.006);
}

TEST_CASE("report::Heatmap without labels draws no blocks and names classes without names by number") {
  Tensor<double> m(Shape{3, 3});
  Heatmap h;
  h.matrix = m;
  {
    report::Svg svg(200, 200);
    h.draw(svg, {0, 0, 200, 200});
    const auto doc = test::parse_svg(svg.str());
    CHECK(test::svg_elements(*doc, "line").empty());
    CHECK(test::svg_elements(*doc, "image").size() == 1);
    const auto img = test::decode_embedded_png(test::svg_elements(*doc, "image")[0]);
    CHECK(img.at(0, 0) == report::viridis(0));  // 0 in [0, 2]
  }
  h.labels = {0, 1, 7};
  h.class_names = {"zero"};
  report::Svg svg(200, 200);
  h.draw(svg, {0, 0, 200, 200});
  const auto doc = test::parse_svg(svg.str());
  CHECK(charts_count_text(*doc, "zero") == 2);
  CHECK(charts_count_text(*doc, "1") == 2);
  CHECK(charts_count_text(*doc, "7") == 2);
  CHECK(charts_with(*doc, "line", "stroke", "white").size() == 4);
}

TEST_CASE("report::Heatmap rejects non-square matrices, bad ranges and unsorted labels") {
  Heatmap h;
  h.title = "H";
  report::Svg svg(200, 200);
  const report::Frame f{0, 0, 200, 200};
  Tensor<double> rect(Shape{3, 4});
  h.matrix = rect;
  CHECK_ERROR_CONTAINS(h.draw(svg, f), "square matrix");
  Tensor<double> vec(Shape{9});
  h.matrix = vec;
  CHECK_ERROR_CONTAINS(h.draw(svg, f), "square matrix");
  Tensor<double> empty(Shape{0, 0});
  h.matrix = empty;
  CHECK_ERROR_CONTAINS(h.draw(svg, f), "square matrix");
  Tensor<double> sq(Shape{4, 4});
  h.matrix = sq;
  h.lo = 1;
  h.hi = 1;
  CHECK_ERROR_CONTAINS(h.draw(svg, f), "finite lo < hi");
  h.hi = charts_nan;
  CHECK_ERROR_CONTAINS(h.draw(svg, f), "finite lo < hi");
  h.lo = 0;
  h.hi = 2;
  h.labels = {0, 0, 1};
  CHECK_ERROR_CONTAINS(h.draw(svg, f), "3 labels for 4 rows");
  for (const auto& labels : {std::vector<index_t>{0, 1, 0, 1}, std::vector<index_t>{1, 1, 0, 0},
                             std::vector<index_t>{0, 2, 2, 1}}) {
    h.labels = labels;
    report::Svg fresh(200, 200);
    CHECK_ERROR_CONTAINS(h.draw(fresh, f), "labels must be sorted");
  }
}

TEST_CASE("report::draw_colorbar draws viridis from hi at the top to lo at the bottom with ticks") {
  report::Svg svg(200, 300);
  report::draw_colorbar(svg, {20, 30, 40, 200}, 0, 2, "distance");
  const auto doc = test::parse_svg(svg.str());
  const auto images = test::svg_elements(*doc, "image");
  REQUIRE(images.size() == 1);
  CHECK(test::svg_attribute(images[0], "x") == "20");
  CHECK(test::svg_attribute(images[0], "y") == "30");
  CHECK(test::svg_attribute(images[0], "height") == "200");
  const auto img = test::decode_embedded_png(images[0]);
  REQUIRE(img.width == 1);
  REQUIRE(img.height == 128);
  CHECK(img.at(0, 0) == report::viridis(1));
  CHECK(img.at(0, 127) == report::viridis(0));
  for (int y = 0; y < 128; ++y) CHECK(img.at(0, y) == report::viridis(1.0 - y / 127.0));
  const std::vector<std::string> expected = {"0", "0.5", "1", "1.5", "2", "distance"};
  CHECK(test::svg_texts(*doc) == expected);
  const auto ticks = test::svg_elements(*doc, "line");
  REQUIRE(ticks.size() == 5);
  CHECK(charts_num(ticks[0], "y1") == 230);  // lo at the bottom
  CHECK(charts_num(ticks[4], "y1") == 30);   // hi at the top
}

TEST_CASE("report::draw_colorbar leaves out ticks outside lo .. hi and checks the range") {
  report::Svg svg(200, 300);
  report::draw_colorbar(svg, {0, 0, 40, 100}, 0.1, 1.9, "d");
  const auto doc = test::parse_svg(svg.str());
  CHECK(test::svg_texts(*doc) == std::vector<std::string>{"0.5", "1", "1.5", "d"});
  CHECK_ERROR_CONTAINS(report::draw_colorbar(svg, {0, 0, 40, 100}, 1, 1, "d"), "finite lo < hi");
  CHECK_ERROR_CONTAINS(report::draw_colorbar(svg, {0, 0, 40, 100}, 0, charts_inf, "d"), "finite lo < hi");
}

TEST_CASE("report::Heatmap and colour bar side by side parse as one document") {
  Tensor<double> m(Shape{2, 2});
  m(0, 1) = 1;
  m(1, 0) = 1;
  Heatmap h;
  h.title = "A & B <1>";
  h.matrix = m;
  h.labels = {0, 1};
  h.class_names = {"t-shirt/top", "trouser"};
  report::Svg svg(500, 300);
  h.draw(svg, {0, 0, 300, 300});
  report::draw_colorbar(svg, {320, 26, 60, 240}, h.lo, h.hi, "distance");
  const auto doc = test::parse_svg(svg.str());
  CHECK(test::svg_elements(*doc, "image").size() == 2);
  CHECK(charts_count_text(*doc, "A & B <1>") == 1);
  CHECK(charts_count_text(*doc, "t-shirt/top") == 2);
}

TEST_SUITE_END();
