// report colours: viridis at matplotlib's values (ends, middle, the samples between), linear
// interpolation between samples, clamping and NaN, increasing lightness; the categorical palette
// (Tableau 10) and its cycling for large and negative indices; the hex format.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "invar/cpu.hpp"
#include "invar/report/colors.hpp"

using namespace invar;
using report::Rgb;

TEST_SUITE_BEGIN("report");

namespace {

/// A colour given as fractions in [0, 1] (matplotlib's table), rounded to bytes.
Rgb colors_bytes(double r, double g, double b) {
  return {std::uint8_t(std::lround(r * 255)), std::uint8_t(std::lround(g * 255)), std::uint8_t(std::lround(b * 255))};
}

/// Relative luminance (Rec. 709 weights) of a colour, 0 .. 255.
double colors_luminance(const Rgb& c) { return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; }

}  // namespace

TEST_CASE("report::viridis equals matplotlib's viridis at 0, 0.5 and 1") {
  CHECK(report::viridis(0.0) == colors_bytes(0.267004, 0.004874, 0.329415));
  CHECK(report::viridis(0.5) == colors_bytes(0.127568, 0.566949, 0.550556));
  CHECK(report::viridis(1.0) == colors_bytes(0.993248, 0.906157, 0.143936));
  // The same as the familiar hex codes.
  CHECK(report::to_hex(report::viridis(0.0)) == "#440154");
  CHECK(report::to_hex(report::viridis(0.5)) == "#21918c");
  CHECK(report::to_hex(report::viridis(1.0)) == "#fde725");
}

TEST_CASE("report::viridis interpolates linearly between its samples") {
  // The samples at t = 0.1, 0.2 and 0.9 are exact.
  CHECK(report::viridis(0.1) == colors_bytes(0.282623, 0.140926, 0.457517));
  CHECK(report::viridis(0.2) == colors_bytes(0.253935, 0.265254, 0.529983));
  CHECK(report::viridis(0.9) == colors_bytes(0.741388, 0.873449, 0.149561));
  // Half-way between the first two samples.
  CHECK(report::viridis(0.05) == colors_bytes((0.267004 + 0.282623) / 2, (0.004874 + 0.140926) / 2,
                                              (0.329415 + 0.457517) / 2));
  // A quarter of the way between the last two samples.
  CHECK(report::viridis(0.925) == colors_bytes(0.741388 * 0.75 + 0.993248 * 0.25, 0.873449 * 0.75 + 0.906157 * 0.25,
                                               0.149561 * 0.75 + 0.143936 * 0.25));
}

TEST_CASE("report::viridis clamps outside [0, 1] and gives grey for NaN") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(report::viridis(-0.5) == report::viridis(0.0));
  CHECK(report::viridis(-1e300) == report::viridis(0.0));
  CHECK(report::viridis(-inf) == report::viridis(0.0));
  CHECK(report::viridis(1.5) == report::viridis(1.0));
  CHECK(report::viridis(1e300) == report::viridis(1.0));
  CHECK(report::viridis(inf) == report::viridis(1.0));
  CHECK(report::viridis(std::nan("")) == Rgb{128, 128, 128});
  CHECK(report::viridis(-std::numeric_limits<double>::quiet_NaN()) == Rgb{128, 128, 128});
  CHECK(report::viridis(std::nextafter(1.0, 0.0)) == report::viridis(1.0));
}

TEST_CASE("report::viridis gets lighter from 0 to 1") {
  double previous = -1;
  for (int i = 0; i <= 100; ++i) {
    const double l = colors_luminance(report::viridis(i / 100.0));
    INFO("t = ", i / 100.0);
    CHECK(l >= previous);
    previous = l;
  }
  for (int i = 1; i <= 20; ++i) {
    INFO("t = ", i / 20.0);
    CHECK(colors_luminance(report::viridis(i / 20.0)) > colors_luminance(report::viridis((i - 1) / 20.0)));
  }
}

TEST_CASE("report::category_color is Tableau 10 and cycles for any index") {
  const char* expected[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::set<std::string> distinct;
  for (index_t i = 0; i < 10; ++i) {
    CHECK(report::category_color(i) == expected[i]);
    distinct.insert(report::category_color(i));
  }
  CHECK(distinct.size() == 10);
  for (index_t i = 0; i < 50; ++i) {
    INFO("i = ", i);
    CHECK(report::category_color(i + 10) == report::category_color(i));
    CHECK(report::category_color(-i) == expected[(10 - i % 10) % 10]);
  }
  CHECK(report::category_color(10) == "#1f77b4");
  CHECK(report::category_color(23) == "#d62728");
  CHECK(report::category_color(-1) == "#17becf");
  CHECK(report::category_color(-10) == "#1f77b4");
  CHECK(report::category_color(-11) == "#17becf");
  CHECK(report::category_color(std::numeric_limits<index_t>::max()) == expected[std::numeric_limits<index_t>::max() % 10]);
  CHECK(report::category_color(std::numeric_limits<index_t>::min()) == "#2ca02c");  // min = ...808, so -8 + 10 = 2
}

TEST_CASE("report::to_hex writes #rrggbb in lower case") {
  CHECK(report::to_hex({0, 0, 0}) == "#000000");
  CHECK(report::to_hex({255, 255, 255}) == "#ffffff");
  CHECK(report::to_hex({1, 171, 205}) == "#01abcd");
  CHECK(report::to_hex({16, 15, 160}) == "#100fa0");
}

TEST_SUITE_END();
