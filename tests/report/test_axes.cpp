// report axes: nice_ticks on many random ranges (cover the range, equal 1/2/5 x 10^k steps, a
// sensible count, the range widened to exactly the ticks), hand-checked tick sets, an exact zero,
// the errors; log_ticks; linear and log Scale; finite_range; tick_label; Frame::inset; and what
// draw_axes and draw_legend draw, read back with an XML parser.
#include <doctest/doctest.h>

#include <tinyxml2.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/report/axes.hpp"
#include "support/error_message.hpp"
#include "support/svg_inspect.hpp"

using namespace invar;
using report::Frame;
using report::Scale;

TEST_SUITE_BEGIN("report");

namespace {

constexpr double axes_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double axes_inf = std::numeric_limits<double>::infinity();

void axes_collect(const tinyxml2::XMLElement* e, const std::string& name,
                  std::vector<const tinyxml2::XMLElement*>& out) {
  for (const auto* c = e->FirstChildElement(); c != nullptr; c = c->NextSiblingElement()) {
    if (name == c->Name()) out.push_back(c);
    axes_collect(c, name, out);
  }
}

double axes_attr(const tinyxml2::XMLElement* e, const char* name) {
  const char* v = e->Attribute(name);
  REQUIRE(v != nullptr);
  return std::stod(v);
}

/// Checks the properties nice_ticks promises for [lo, hi] and about `target` ticks.
void axes_check_nice(double lo, double hi, int target) {
  double a = lo, b = hi;
  const auto ticks = report::nice_ticks(a, b, target);
  INFO("range [", lo, ", ", hi, "], target ", target);
  REQUIRE(ticks.size() >= 2);
  const double step = (ticks.back() - ticks.front()) / double(ticks.size() - 1);
  const double scale = std::max({std::abs(lo), std::abs(hi), step});
  const double tol = 1e-12 * scale;
  // Covers [lo, hi], and the range is widened to exactly the first and last tick.
  CHECK(ticks.front() <= lo + tol);
  CHECK(ticks.back() >= hi - tol);
  CHECK(std::abs(a - ticks.front()) <= tol);
  CHECK(std::abs(b - ticks.back()) <= tol);
  CHECK(a <= lo + tol);
  CHECK(b >= hi - tol);
  // ... and no further than that: the enclosing ticks.
  CHECK(ticks.front() > lo - step);
  CHECK(ticks.back() < hi + step);
  // Equal steps of 1, 2 or 5 x 10^k, each tick a multiple of the step.
  for (std::size_t i = 1; i < ticks.size(); ++i) CHECK(std::abs((ticks[i] - ticks[i - 1]) - step) <= tol);
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  const bool one_two_five = std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
                            std::abs(mantissa - 5) < 1e-9 || std::abs(mantissa - 10) < 1e-8;
  INFO("step ", step, ", mantissa ", mantissa);
  CHECK(one_two_five);
  for (const double t : ticks) {
    const double k = t / step;
    CHECK(std::abs(k - std::round(k)) < 1e-6);
  }
  // About `target` of them.
  CHECK(ticks.size() >= 3);
  CHECK(ticks.size() <= 11);
  CHECK(int(ticks.size()) <= target + 3);
}

}  // namespace

TEST_CASE("report::nice_ticks on random ranges: covering, round, equal steps, sensible count") {
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int trial = 0; trial < 2000; ++trial) {
    const double scale = std::pow(10.0, -6 + 12 * unit(rng));
    const double lo = scale * (-10 + 20 * unit(rng));
    const double width = scale * std::pow(10.0, -1 + 2.3 * unit(rng));
    const int target = trial % 3 == 0 ? 5 : (trial % 3 == 1 ? 6 : 8);
    axes_check_nice(lo, lo + width, target);
  }
}

TEST_CASE("report::nice_ticks hand-checked examples") {
  {
    double lo = 0, hi = 100;
    const auto t = report::nice_ticks(lo, hi, 5);
    CHECK(t == std::vector<double>{0, 20, 40, 60, 80, 100});
    CHECK(lo == 0);
    CHECK(hi == 100);
  }
  {
    double lo = 0.13, hi = 0.87;  // raw step 0.148 -> 0.2; widened to [0, 1]
    const auto t = report::nice_ticks(lo, hi, 5);
    REQUIRE(t.size() == 6);
    for (std::size_t i = 0; i < t.size(); ++i) CHECK(t[i] == doctest::Approx(0.2 * double(i)).epsilon(1e-12));
    CHECK(lo == doctest::Approx(0.0));
    CHECK(hi == doctest::Approx(1.0).epsilon(1e-12));
  }
  {
    double lo = 3, hi = 97;  // raw 18.8 -> 20: [0, 100]
    const auto t = report::nice_ticks(lo, hi, 5);
    CHECK(t == std::vector<double>{0, 20, 40, 60, 80, 100});
  }
  {
    double lo = -1234, hi = -1001;  // raw 46.6 -> 50: [-1250, -1000]
    const auto t = report::nice_ticks(lo, hi, 5);
    CHECK(t == std::vector<double>{-1250, -1200, -1150, -1100, -1050, -1000});
    CHECK(lo == -1250);
    CHECK(hi == -1000);
  }
  {
    double lo = 0, hi = 1;  // target 1: one step of 1
    CHECK(report::nice_ticks(lo, hi, 1) == std::vector<double>{0, 1});
  }
}

TEST_CASE("report::nice_ticks widens ranges a few ulps wide and always covers the data") {
  double lo = 1.0, hi = std::nextafter(1.0, 2.0);
  auto ticks = invar::report::nice_ticks(lo, hi);
  CHECK(ticks.size() >= 3);
  CHECK(ticks.size() <= 12);
  CHECK(lo <= 1.0);
  CHECK(hi >= std::nextafter(1.0, 2.0));
  lo = 0.3, hi = 0.1 + 0.2;  // 0.30000000000000004
  ticks = invar::report::nice_ticks(lo, hi);
  CHECK(ticks.size() >= 3);
  CHECK(ticks.size() <= 12);
  // The slack of the rounding must not move the range inside the data.
  lo = 0.99999999999, hi = 2;
  ticks = invar::report::nice_ticks(lo, hi);
  CHECK(lo <= 0.99999999999);
  CHECK(ticks.front() == lo);
  lo = 1, hi = 2.00000000001;
  invar::report::nice_ticks(lo, hi);
  CHECK(hi >= 2.00000000001);
  double llo = 999.9999999999, lhi = 5000;
  const auto lt = invar::report::log_ticks(llo, lhi);
  CHECK(llo <= 999.9999999999);
  CHECK(lt.front() == llo);
}

TEST_CASE("report::draw_axes checks that there is one category name per tick") {
  invar::report::Svg svg(200, 100);
  const invar::report::Scale s{0, 1, 0, 100};
  CHECK_THROWS_AS(invar::report::draw_axes(svg, {0, 0, 200, 100}, {10, 10, 180, 80}, s, {0, 1}, s, {0, 1}, {}, {"one"}), invar::Error);
}

TEST_CASE("report::nice_ticks puts an exact zero in a range that crosses it") {
  // Step 0.1 from -0.3: -0.3 + 0.1 + 0.1 + 0.1 is -2.8e-17 in floating point, not 0.
  double lo = -0.25, hi = 0.25;
  const auto t = report::nice_ticks(lo, hi, 5);
  REQUIRE(t.size() == 7);
  CHECK(t[3] == 0.0);
  CHECK(!std::signbit(t[3]));
  std::vector<std::string> labels;
  for (const double v : t) labels.push_back(report::tick_label(v));
  CHECK(labels == std::vector<std::string>{"-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3"});
  double lo2 = -0.3, hi2 = 0.7;  // step 0.2
  const auto t2 = report::nice_ticks(lo2, hi2, 5);
  REQUIRE(t2.size() == 7);
  CHECK(t2[2] == 0.0);
}

TEST_CASE("report::nice_ticks refuses empty, reversed and non-finite ranges") {
  auto call = [](double lo, double hi) { return report::nice_ticks(lo, hi, 5); };
  CHECK_ERROR_CONTAINS(call(1, 1), "finite lo < hi");
  CHECK_ERROR_CONTAINS(call(2, 1), "finite lo < hi");
  CHECK_ERROR_CONTAINS(call(axes_nan, 1), "finite lo < hi");
  CHECK_ERROR_CONTAINS(call(0, axes_nan), "finite lo < hi");
  CHECK_ERROR_CONTAINS(call(-axes_inf, 1), "finite lo < hi");
  CHECK_ERROR_CONTAINS(call(0, axes_inf), "finite lo < hi");
}

TEST_CASE("report::log_ticks gives the powers of ten around the range") {
  {
    double lo = 3, hi = 4000;
    const auto t = report::log_ticks(lo, hi);
    REQUIRE(t.size() == 5);
    const double expected[] = {1, 10, 100, 1000, 10000};
    for (std::size_t i = 0; i < 5; ++i) CHECK(t[i] == doctest::Approx(expected[i]).epsilon(1e-14));
    CHECK(lo == doctest::Approx(1).epsilon(1e-14));
    CHECK(hi == doctest::Approx(10000).epsilon(1e-14));
  }
  {
    double lo = 1, hi = 100;  // powers themselves: not widened further
    const auto t = report::log_ticks(lo, hi);
    REQUIRE(t.size() == 3);
    CHECK(t[0] == doctest::Approx(1).epsilon(1e-14));
    CHECK(t[2] == doctest::Approx(100).epsilon(1e-14));
    CHECK(lo == doctest::Approx(1).epsilon(1e-14));
    CHECK(hi == doctest::Approx(100).epsilon(1e-14));
  }
  {
    double lo = 2e-5, hi = 3e-3;
    const auto t = report::log_ticks(lo, hi);
    REQUIRE(t.size() == 4);
    CHECK(t[0] == doctest::Approx(1e-5).epsilon(1e-14));
    CHECK(t[3] == doctest::Approx(1e-2).epsilon(1e-14));
  }
  {
    double lo = 2, hi = 3;  // within one decade: still two ticks
    const auto t = report::log_ticks(lo, hi);
    REQUIRE(t.size() == 2);
    CHECK(t[0] == doctest::Approx(1).epsilon(1e-14));
    CHECK(t[1] == doctest::Approx(10).epsilon(1e-14));
    CHECK(hi == doctest::Approx(10).epsilon(1e-14));
  }
  auto call = [](double lo, double hi) { return report::log_ticks(lo, hi); };
  CHECK_ERROR_CONTAINS(call(0, 10), "0 < lo < hi");
  CHECK_ERROR_CONTAINS(call(-1, 10), "0 < lo < hi");
  CHECK_ERROR_CONTAINS(call(10, 10), "0 < lo < hi");
  CHECK_ERROR_CONTAINS(call(10, 1), "0 < lo < hi");
  CHECK_ERROR_CONTAINS(call(axes_nan, 10), "0 < lo < hi");
  CHECK_ERROR_CONTAINS(call(1, axes_inf), "0 < lo < hi");
}

TEST_CASE("report::Scale maps linearly or on a log scale") {
  const Scale x{0, 10, 100, 200};
  CHECK(x(0) == 100);
  CHECK(x(10) == 200);
  CHECK(x(5) == 150);
  CHECK(x(-10) == 0);  // not clamped
  const Scale y{0, 1, 300, 50};  // y axis: pixels grow downwards
  CHECK(y(0) == 300);
  CHECK(y(1) == 50);
  CHECK(y(0.5) == 175);
  const Scale lx{1, 1000, 0, 300, true};
  CHECK(lx(1) == doctest::Approx(0));
  CHECK(lx(1000) == doctest::Approx(300));
  CHECK(lx(10) == doctest::Approx(100));
  CHECK(lx(std::sqrt(1000.0)) == doctest::Approx(150));  // the geometric midpoint in the middle
  const Scale ly{0.01, 100, 400, 0, true};
  CHECK(ly(0.01) == doctest::Approx(400));
  CHECK(ly(1) == doctest::Approx(200));
  CHECK(ly(100) == doctest::Approx(0));
}

TEST_CASE("report::finite_range ignores NaN and infinities and widens a constant") {
  const double nan = axes_nan, inf = axes_inf;
  CHECK(report::finite_range({1, nan, 5, -inf, 3, inf}) == std::pair<double, double>{1, 5});
  CHECK(report::finite_range({-2.5, 7}) == std::pair<double, double>{-2.5, 7});
  CHECK(report::finite_range({}) == std::pair<double, double>{0, 1});
  CHECK(report::finite_range({nan, inf, -inf}) == std::pair<double, double>{0, 1});
  const auto c = report::finite_range({2, 2, nan});
  CHECK(c.first == doctest::Approx(1.8));
  CHECK(c.second == doctest::Approx(2.2));
  CHECK(report::finite_range({0, 0}) == std::pair<double, double>{-1, 1});
  const auto n = report::finite_range({-5});
  CHECK(n.first == doctest::Approx(-5.5));
  CHECK(n.second == doctest::Approx(-4.5));
}

TEST_CASE("report::tick_label writes short labels") {
  CHECK(report::tick_label(0) == "0");
  CHECK(report::tick_label(0.25) == "0.25");
  CHECK(report::tick_label(100) == "100");
  CHECK(report::tick_label(1000) == "1000");
  CHECK(report::tick_label(1e-5) == "1e-05");
  CHECK(report::tick_label(1e6) == "1e+06");
  CHECK(report::tick_label(-2.5) == "-2.5");
  CHECK(report::tick_label(0.1 + 0.2) == "0.3");
  CHECK(report::tick_label(1.0 / 3) == "0.3333");
}

TEST_CASE("report::Frame inset and edges") {
  const Frame f{10, 20, 300, 200};
  CHECK(f.right() == 310);
  CHECK(f.bottom() == 220);
  const Frame g = f.inset(5, 6, 7, 8);
  CHECK(g.x == 15);
  CHECK(g.y == 26);
  CHECK(g.width == 288);
  CHECK(g.height == 186);
  const Frame tiny = f.inset(200, 150, 200, 150);  // never below 1 pixel
  CHECK(tiny.width == 1);
  CHECK(tiny.height == 1);
}

TEST_CASE("report::draw_axes draws grid lines, tick labels, names and titles") {
  report::Svg svg(400, 300);
  const Frame outer{0, 0, 400, 300};
  const Frame plot = outer.inset(60, 30, 20, 40);  // x 60 .. 380, y 30 .. 260
  double ylo = 0, yhi = 1;
  const auto y_ticks = report::nice_ticks(ylo, yhi, 5);  // 0, 0.2, ..., 1
  const Scale sx{-0.5, 2.5, plot.x, plot.right()}, sy{ylo, yhi, plot.bottom(), plot.y};
  report::draw_axes(svg, outer, plot, sx, {0, 1, 2}, sy, y_ticks, {"The <title>", "layer", "score & more"},
                    {"conv1", "conv2", "fc"});
  const auto doc = test::parse_svg(svg.str());
  const auto texts = test::svg_texts(*doc);
  const std::vector<std::string> expected = {"0",     "0.2", "0.4",         "0.6",   "0.8",         "1",
                                             "conv1", "conv2", "fc", "The <title>", "layer", "score & more"};
  CHECK(texts == expected);
  // One grid line per tick; the horizontal ones at the y ticks.
  const auto lines = test::svg_elements(*doc, "line");
  REQUIRE(lines.size() == 6 + 3);
  CHECK(axes_attr(lines[0], "y1") == doctest::Approx(260));
  CHECK(axes_attr(lines[5], "y1") == doctest::Approx(30));
  CHECK(std::abs(axes_attr(lines[6], "x1") - (60 + 320.0 / 6)) < 0.006);  // x = 0 of [-0.5, 2.5], 2 decimals
  // Background and frame.
  const auto rects = test::svg_elements(*doc, "rect");
  REQUIRE(rects.size() == 2);
  CHECK(axes_attr(rects[0], "width") == 400);
  CHECK(std::string(rects[1]->Attribute("fill")) == "none");
  CHECK(axes_attr(rects[1], "x") == 60);
  CHECK(axes_attr(rects[1], "width") == 320);
}

TEST_CASE("report::draw_axes rotates long category names") {
  report::Svg svg(200, 200);
  const Frame outer{0, 0, 200, 200};
  const Frame plot = outer.inset(40, 10, 10, 40);
  const Scale sx{-0.5, 2.5, plot.x, plot.right()}, sy{0, 1, plot.bottom(), plot.y};
  report::draw_axes(svg, outer, plot, sx, {0, 1, 2}, sy, {0, 1}, {},
                    {"a very long layer name", "another long layer name", "and a third one"});
  const auto doc = test::parse_svg(svg.str());
  int rotated = 0;
  for (const auto* t : test::svg_elements(*doc, "text"))
    if (t->Attribute("transform") != nullptr && std::string(t->Attribute("transform")).rfind("rotate(-45 ", 0) == 0)
      ++rotated;
  CHECK(rotated == 3);
}

TEST_CASE("report::draw_legend draws one mark and name per entry and checks its inputs") {
  report::Svg svg(300, 200);
  report::draw_legend(svg, 10, 20, {"base", "a & b"}, {"#111111", "#222222"}, report::LegendMark::line, {"", "6 4"});
  report::draw_legend(svg, 10, 100, {"x"}, {"#333333"}, report::LegendMark::square);
  report::draw_legend(svg, 10, 150, {"c0", "c1", "c2"}, {"#444444", "#555555", "#666666"}, report::LegendMark::circle);
  report::draw_legend(svg, 10, 190, {}, {}, report::LegendMark::circle);  // nothing at all
  const auto doc = test::parse_svg(svg.str());
  CHECK(test::svg_texts(*doc) == std::vector<std::string>{"base", "a & b", "x", "c0", "c1", "c2"});
  const auto lines = test::svg_elements(*doc, "line");
  REQUIRE(lines.size() == 2);
  CHECK(std::string(lines[0]->Attribute("stroke")) == "#111111");
  CHECK(lines[0]->Attribute("stroke-dasharray") == nullptr);
  CHECK(std::string(lines[1]->Attribute("stroke-dasharray")) == "6 4");
  CHECK(test::svg_elements(*doc, "rect").size() == 3 + 1);  // 3 boxes, 1 square mark
  const auto circles = test::svg_elements(*doc, "circle");
  REQUIRE(circles.size() == 3);
  CHECK(std::string(circles[2]->Attribute("fill")) == "#666666");
  CHECK(axes_attr(circles[1], "cy") > axes_attr(circles[0], "cy"));  // rows downwards

  CHECK_ERROR_CONTAINS(report::draw_legend(svg, 0, 0, {"a", "b"}, {"red"}, report::LegendMark::line), "2 names but 1");
  CHECK_ERROR_CONTAINS(report::draw_legend(svg, 0, 0, {"a", "b"}, {"red", "blue"}, report::LegendMark::line, {"1 1"}),
                       "1 dash patterns for 2 names");
}

TEST_SUITE_END();
