// report::Svg: XML escaping, a document with every primitive read back with an XML parser
// (tinyxml2) attribute by attribute, text that round-trips exactly, the number format, the
// errors (non-finite coordinates, negative sizes, unbalanced groups), an embedded image decoded
// from its data URI with stb_image (an independent PNG decoder) pixel by pixel, and atomic saving.
#include <doctest/doctest.h>

#include <tinyxml2.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/report/svg.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

// stb_image (the decoder) once per translation unit, even when several test files share one.
#include "support/svg_inspect.hpp"

using namespace invar;
using report::Anchor;
using report::Svg;

TEST_SUITE_BEGIN("report");

namespace {

constexpr double svg_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double svg_inf = std::numeric_limits<double>::infinity();

std::string svg_read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("report::xml_escape replaces the five specials and control characters") {
  CHECK(report::xml_escape("&") == "&amp;");
  CHECK(report::xml_escape("<") == "&lt;");
  CHECK(report::xml_escape(">") == "&gt;");
  CHECK(report::xml_escape("\"") == "&quot;");
  CHECK(report::xml_escape("'") == "&apos;");
  CHECK(report::xml_escape("a<b & c>\"d\" 'e'") == "a&lt;b &amp; c&gt;&quot;d&quot; &apos;e&apos;");
  CHECK(report::xml_escape("&amp;") == "&amp;amp;");  // no double-unescaping: escaped again
  CHECK(report::xml_escape(std::string("a\x01z")) == "a?z");
  CHECK(report::xml_escape(std::string("\x1f\x0b\r")) == "???");
  CHECK(report::xml_escape(std::string("a\0b", 3)) == "a?b");
  CHECK(report::xml_escape("tab\tnew\nline") == "tab\tnew\nline");  // allowed in XML 1.0
  // Bytes >= 0x80 (UTF-8) are not control characters, whatever the signedness of char.
  CHECK(report::xml_escape("\xc3\xa9t\xc3\xa9 \xe2\x88\x9e") == "\xc3\xa9t\xc3\xa9 \xe2\x88\x9e");
  CHECK(report::xml_escape("") == "");
  CHECK(report::xml_escape("plain text 123") == "plain text 123");
}

TEST_CASE("report::Svg writes every primitive as XML with the given attributes") {
  Svg svg(320.5, 200);
  CHECK(svg.width() == 320.5);
  CHECK(svg.height() == 200);
  svg.rect(1, 2, 30, 40, "white")
      .rect(5, 6, 7, 8, "#ff0000", "#444", 1.5, 0.25)
      .line(0, 0, 100, 50.5, "black", 2, "6 4")
      .polyline({{0, 0}, {10, 20}, {30.25, 40}}, "#1f77b4", 2)
      .circle(50, 60, 3, "red", 0.8)
      .begin_group("class <0>")
      .text(10, 20, "hello", {.size = 14, .anchor = Anchor::middle, .rotate = -90, .bold = true, .fill = "#333"})
      .end_group()
      .image_rgb(0, 0, 20, 10, std::vector<std::uint8_t>(2 * 1 * 3, 7), 2, 1);
  const std::string text = svg.str();
  CHECK(text.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0) == 0);
  const auto doc = test::parse_svg(text);
  const auto* root = doc->RootElement();
  CHECK(std::string(root->Name()) == "svg");
  CHECK(test::svg_attribute(root, "xmlns") == "http://www.w3.org/2000/svg");
  CHECK(test::svg_attribute(root, "width") == "320.5");
  CHECK(test::svg_attribute(root, "height") == "200");
  CHECK(test::svg_attribute(root, "viewBox") == "0 0 320.5 200");

  const auto rects = test::svg_elements(*doc, "rect");
  REQUIRE(rects.size() == 2);
  CHECK(test::svg_attribute(rects[0], "x") == "1");
  CHECK(test::svg_attribute(rects[0], "y") == "2");
  CHECK(test::svg_attribute(rects[0], "width") == "30");
  CHECK(test::svg_attribute(rects[0], "height") == "40");
  CHECK(test::svg_attribute(rects[0], "fill") == "white");
  CHECK(rects[0]->Attribute("stroke") == nullptr);
  CHECK(rects[0]->Attribute("fill-opacity") == nullptr);
  CHECK(test::svg_attribute(rects[1], "fill") == "#ff0000");
  CHECK(test::svg_attribute(rects[1], "stroke") == "#444");
  CHECK(test::svg_attribute(rects[1], "stroke-width") == "1.5");
  CHECK(test::svg_attribute(rects[1], "fill-opacity") == "0.25");

  const auto lines = test::svg_elements(*doc, "line");
  REQUIRE(lines.size() == 1);
  CHECK(test::svg_attribute(lines[0], "x1") == "0");
  CHECK(test::svg_attribute(lines[0], "y1") == "0");
  CHECK(test::svg_attribute(lines[0], "x2") == "100");
  CHECK(test::svg_attribute(lines[0], "y2") == "50.5");
  CHECK(test::svg_attribute(lines[0], "stroke") == "black");
  CHECK(test::svg_attribute(lines[0], "stroke-width") == "2");
  CHECK(test::svg_attribute(lines[0], "stroke-dasharray") == "6 4");

  const auto polylines = test::svg_elements(*doc, "polyline");
  REQUIRE(polylines.size() == 1);
  CHECK(test::svg_attribute(polylines[0], "points") == "0,0 10,20 30.25,40");
  CHECK(test::svg_attribute(polylines[0], "fill") == "none");
  CHECK(test::svg_attribute(polylines[0], "stroke") == "#1f77b4");
  CHECK(polylines[0]->Attribute("stroke-dasharray") == nullptr);

  const auto circles = test::svg_elements(*doc, "circle");
  REQUIRE(circles.size() == 1);
  CHECK(test::svg_attribute(circles[0], "cx") == "50");
  CHECK(test::svg_attribute(circles[0], "cy") == "60");
  CHECK(test::svg_attribute(circles[0], "r") == "3");
  CHECK(test::svg_attribute(circles[0], "fill") == "red");
  CHECK(test::svg_attribute(circles[0], "fill-opacity") == "0.8");

  const auto groups = test::svg_elements(*doc, "g");
  REQUIRE(groups.size() == 1);
  REQUIRE(groups[0]->FirstChildElement("title") != nullptr);
  CHECK(std::string(groups[0]->FirstChildElement("title")->GetText()) == "class <0>");
  const auto texts = test::svg_elements(*doc, "text");
  REQUIRE(texts.size() == 1);
  CHECK(texts[0]->Parent() == groups[0]);  // drawn inside the group
  CHECK(std::string(texts[0]->GetText()) == "hello");
  CHECK(test::svg_attribute(texts[0], "x") == "10");
  CHECK(test::svg_attribute(texts[0], "y") == "20");
  CHECK(test::svg_attribute(texts[0], "font-size") == "14");
  CHECK(test::svg_attribute(texts[0], "text-anchor") == "middle");
  CHECK(test::svg_attribute(texts[0], "fill") == "#333");
  CHECK(test::svg_attribute(texts[0], "font-weight") == "bold");
  CHECK(test::svg_attribute(texts[0], "transform") == "rotate(-90 10 20)");

  const auto images = test::svg_elements(*doc, "image");
  REQUIRE(images.size() == 1);
  CHECK(test::svg_attribute(images[0], "width") == "20");
  CHECK(test::svg_attribute(images[0], "height") == "10");
  CHECK(test::svg_attribute(images[0], "preserveAspectRatio") == "none");
}

TEST_CASE("report::Svg text defaults and anchors") {
  Svg svg(100, 100);
  svg.text(1, 2, "a").text(1, 2, "b", {.anchor = Anchor::end});
  const auto doc = test::parse_svg(svg.str());
  const auto texts = test::svg_elements(*doc, "text");
  REQUIRE(texts.size() == 2);
  CHECK(test::svg_attribute(texts[0], "text-anchor") == "start");
  CHECK(test::svg_attribute(texts[0], "font-size") == "12");
  CHECK(test::svg_attribute(texts[0], "fill") == "#222");
  CHECK(texts[0]->Attribute("transform") == nullptr);
  CHECK(texts[0]->Attribute("font-weight") == nullptr);
  CHECK(test::svg_attribute(texts[1], "text-anchor") == "end");
}

TEST_CASE("report::Svg numbers have at most 2 decimals, no trailing zeros and no negative zero") {
  Svg svg(100, 100);
  svg.rect(-0.001, 12.5, 3, 0.126, "a").rect(-7.25, 1234567.891, 0.004, 99.999, "b");
  const auto doc = test::parse_svg(svg.str());
  const auto rects = test::svg_elements(*doc, "rect");
  REQUIRE(rects.size() == 2);
  CHECK(test::svg_attribute(rects[0], "x") == "0");
  CHECK(test::svg_attribute(rects[0], "y") == "12.5");
  CHECK(test::svg_attribute(rects[0], "width") == "3");
  CHECK(test::svg_attribute(rects[0], "height") == "0.13");
  CHECK(test::svg_attribute(rects[1], "x") == "-7.25");
  CHECK(test::svg_attribute(rects[1], "y") == "1234567.89");
  CHECK(test::svg_attribute(rects[1], "width") == "0");
  CHECK(test::svg_attribute(rects[1], "height") == "100");
}

TEST_CASE("report::Svg text and attributes round-trip exactly through an XML parser") {
  const std::vector<std::string> strings = {"a < b",       "x > y",           "Tom & Jerry", "say \"hi\"",
                                            "it's",        "<&>\"'",          "&amp; &lt;",  "]]> <!-- -->",
                                            "<script>x</script>", "caf\xc3\xa9 \xce\xbb=0.5", "a\tb"};
  Svg svg(100, 100);
  for (const auto& s : strings) {
    svg.begin_group(s);
    svg.text(0, 0, s, {.fill = s});
    svg.end_group();
  }
  const auto doc = test::parse_svg(svg.str());
  const auto texts = test::svg_elements(*doc, "text");
  const auto titles = test::svg_elements(*doc, "title");
  REQUIRE(texts.size() == strings.size());
  REQUIRE(titles.size() == strings.size());
  for (std::size_t i = 0; i < strings.size(); ++i) {
    INFO("string: ", strings[i]);
    REQUIRE(texts[i]->GetText() != nullptr);
    CHECK(std::string(texts[i]->GetText()) == strings[i]);
    CHECK(std::string(titles[i]->GetText()) == strings[i]);
    CHECK(test::svg_attribute(texts[i], "fill") == strings[i]);
    CHECK(texts[i]->FirstChildElement() == nullptr);  // no markup injected
  }
}

TEST_CASE("report::Svg refuses non-finite coordinates and sizes") {
  CHECK_THROWS_AS(Svg(svg_nan, 10), Error);
  CHECK_THROWS_AS(Svg(10, svg_inf), Error);
  CHECK_THROWS_AS(Svg(0, 10), Error);
  CHECK_THROWS_AS(Svg(10, -1), Error);
  Svg svg(100, 100);
  CHECK_ERROR_CONTAINS(svg.rect(svg_nan, 0, 1, 1, "red"), "not finite");
  CHECK_ERROR_CONTAINS(svg.rect(0, svg_inf, 1, 1, "red"), "not finite");
  CHECK_THROWS_AS(svg.rect(0, 0, svg_nan, 1, "red"), Error);
  CHECK_THROWS_AS(svg.rect(0, 0, 1, svg_inf, "red"), Error);
  CHECK_ERROR_CONTAINS(svg.line(0, 0, 1, svg_nan, "red"), "not finite");
  CHECK_ERROR_CONTAINS(svg.line(-svg_inf, 0, 1, 1, "red"), "not finite");
  CHECK_ERROR_CONTAINS(svg.line(0, 0, 1, 1, "red", svg_nan), "stroke width must be finite");
  CHECK_ERROR_CONTAINS(svg.polyline({{0, 0}, {1, svg_nan}}, "red"), "not finite");
  CHECK_ERROR_CONTAINS(svg.polyline({{svg_inf, 0}, {1, 1}}, "red"), "not finite");
  CHECK_ERROR_CONTAINS(svg.circle(svg_nan, 0, 1, "red"), "not finite");
  CHECK_ERROR_CONTAINS(svg.circle(0, -svg_inf, 1, "red"), "not finite");
  CHECK_THROWS_AS(svg.circle(0, 0, svg_nan, "red"), Error);
  CHECK_ERROR_CONTAINS(svg.text(svg_nan, 0, "a"), "not finite");
  CHECK_ERROR_CONTAINS(svg.text(0, svg_inf, "a"), "not finite");
  CHECK_ERROR_CONTAINS(svg.text(0, 0, "a", {.size = svg_nan}), "not finite");
  CHECK_ERROR_CONTAINS(svg.image_rgb(svg_nan, 0, 1, 1, std::vector<std::uint8_t>(3), 1, 1), "not finite");
  CHECK_ERROR_CONTAINS(svg.image_rgb(0, 0, svg_inf, 1, std::vector<std::uint8_t>(3), 1, 1), "not finite");
}

TEST_CASE("report::Svg refuses coordinates beyond 1e9, negative stroke widths and bad opacities") {
  invar::report::Svg svg(100, 100);
  CHECK_ERROR_CONTAINS(svg.rect(0, 0, 1e40, 1, "red"), "beyond 1e9");
  CHECK_ERROR_CONTAINS(svg.line(-1e30, 0, 1, 1, "red"), "beyond 1e9");
  CHECK_ERROR_CONTAINS(svg.rect(0, 0, 1, 1, "red", "blue", -1), "stroke width");
  CHECK_ERROR_CONTAINS(svg.polyline({{0, 0}, {1, 1}}, "red", -2), "stroke width");
  CHECK_ERROR_CONTAINS(svg.circle(0, 0, 1, "red", svg_nan), "opacity");
  CHECK_ERROR_CONTAINS(svg.rect(0, 0, 1, 1, "red", "none", 0, 1.5), "opacity");
  svg.rect(0, 0, 1e9, 1, "red");  // the limit itself is fine
  CHECK(svg.str().find("width=\"1000000000\"") != std::string::npos);
}

TEST_CASE("report::xml_escape keeps valid UTF-8 and replaces invalid bytes") {
  CHECK(invar::report::xml_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(invar::report::xml_escape("a\xff b") == "a? b");                 // never valid
  CHECK(invar::report::xml_escape("\xc3") == "?");                      // truncated sequence
  CHECK(invar::report::xml_escape("\xc0\xaf") == "??");                // overlong encoding of '/'
  CHECK(invar::report::xml_escape("\xed\xa0\x80") == "???");          // a UTF-16 surrogate
  CHECK(invar::report::xml_escape("\xe2\x82") == "??");                // cut short
  invar::report::Svg svg(10, 10);
  svg.text(1, 1, "bad \xff\xfe bytes & \xc3\xa9");
  tinyxml2::XMLDocument doc;
  REQUIRE(doc.Parse(svg.str().c_str()) == tinyxml2::XML_SUCCESS);
  CHECK(std::string(doc.RootElement()->FirstChildElement("text")->GetText()) == "bad ?? bytes & \xc3\xa9");
}

TEST_CASE("report::Svg refuses negative sizes and short polylines") {
  Svg svg(100, 100);
  CHECK_ERROR_CONTAINS(svg.rect(0, 0, -1, 5, "red"), "negative size");
  CHECK_ERROR_CONTAINS(svg.rect(0, 0, 5, -0.5, "red"), "negative size");
  CHECK_ERROR_CONTAINS(svg.circle(0, 0, -2, "red"), "negative radius");
  CHECK_ERROR_CONTAINS(svg.polyline({{0, 0}}, "red"), "at least 2 points");
  CHECK_ERROR_CONTAINS(svg.polyline({}, "red"), "at least 2 points");
  svg.rect(0, 0, 0, 0, "red").circle(0, 0, 0, "red");  // zero is a size
  const auto doc = test::parse_svg(svg.str());
  CHECK(test::svg_elements(*doc, "rect").size() == 1);
  CHECK(test::svg_elements(*doc, "circle").size() == 1);
}

TEST_CASE("report::Svg groups must be balanced") {
  Svg svg(100, 100);
  CHECK_ERROR_CONTAINS(svg.end_group(), "no group is open");
  svg.begin_group("outer").begin_group();
  CHECK_ERROR_CONTAINS((void)svg.str(), "2 group(s) left open");
  svg.end_group();
  CHECK_ERROR_CONTAINS((void)svg.str(), "1 group(s) left open");
  svg.end_group();
  CHECK_ERROR_CONTAINS(svg.end_group(), "no group is open");
  const auto doc = test::parse_svg(svg.str());
  const auto groups = test::svg_elements(*doc, "g");
  REQUIRE(groups.size() == 2);
  CHECK(groups[1]->Parent() == groups[0]);
  CHECK(std::string(groups[0]->FirstChildElement("title")->GetText()) == "outer");
  CHECK(groups[1]->FirstChildElement("title") == nullptr);  // no title: no element
}

TEST_CASE("report::Svg image_rgb embeds a PNG whose pixels equal the input") {
  const int w = 7, h = 5;
  std::vector<std::uint8_t> rgb(std::size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) rgb[std::size_t((y * w + x) * 3 + c)] = std::uint8_t((x * 37 + y * 53 + c * 91) % 256);
  rgb[0] = 0, rgb[1] = 255, rgb[2] = 128;
  Svg svg(200, 100);
  svg.image_rgb(10, 20, 70, 50, rgb, w, h);
  const auto doc = test::parse_svg(svg.str());
  const auto images = test::svg_elements(*doc, "image");
  REQUIRE(images.size() == 1);
  CHECK(test::svg_attribute(images[0], "x") == "10");
  CHECK(test::svg_attribute(images[0], "y") == "20");
  CHECK(test::svg_attribute(images[0], "width") == "70");
  CHECK(test::svg_attribute(images[0], "height") == "50");
  const auto d = test::decode_embedded_png(images[0]);
  CHECK(d.width == w);
  CHECK(d.height == h);
  CHECK(d.channels == 3);
  REQUIRE(d.rgb.size() == rgb.size());
  for (std::size_t i = 0; i < rgb.size(); ++i) {
    INFO("byte ", i);
    CHECK(int(d.rgb[i]) == int(rgb[i]));
  }
}

TEST_CASE("report::Svg image_rgb rejects a wrong byte count or an empty image") {
  Svg svg(100, 100);
  CHECK_ERROR_CONTAINS(svg.image_rgb(0, 0, 1, 1, std::vector<std::uint8_t>(11), 2, 2), "expected 12");
  CHECK_ERROR_CONTAINS(svg.image_rgb(0, 0, 1, 1, std::vector<std::uint8_t>(13), 2, 2), "expected 12");
  CHECK_ERROR_CONTAINS(svg.image_rgb(0, 0, 1, 1, std::vector<std::uint8_t>(4), 2, 2), "expected 12");
  CHECK_THROWS_AS(svg.image_rgb(0, 0, 1, 1, std::vector<std::uint8_t>{}, 0, 0), Error);
  CHECK(test::svg_elements(*test::parse_svg(svg.str()), "image").empty());
}

TEST_CASE("report::Svg save writes str() atomically") {
  test::TempDir dir("svg");
  Svg svg(64, 32);
  svg.rect(0, 0, 64, 32, "white").text(2, 14, "a & b");
  const auto path = dir.file("figure.svg");
  svg.save(path);
  CHECK(svg_read_file(path) == svg.str());
  CHECK(dir.listing() == std::vector<std::string>{"figure.svg"});
  // Saving again replaces the file.
  svg.circle(1, 1, 1, "red");
  svg.save(path);
  CHECK(svg_read_file(path) == svg.str());
  CHECK(dir.listing() == std::vector<std::string>{"figure.svg"});
  // An open group: nothing is written, the old file stays.
  const std::string before = svg.str();
  svg.begin_group("open");
  CHECK_THROWS_AS(svg.save(dir.file("other.svg")), Error);
  CHECK_THROWS_AS(svg.save(path), Error);
  CHECK(svg_read_file(path) == before);
  // A missing folder: an error naming the path, and no file.
  svg.end_group();
  CHECK_ERROR_CONTAINS(svg.save(dir.file("missing/figure.svg")), "missing/figure.svg");
  CHECK(dir.listing() == std::vector<std::string>{"figure.svg"});
}

TEST_SUITE_END();
