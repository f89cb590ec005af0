// report::HtmlPage: the page's skeleton and the order of its parts, escaping of every text
// (title, headings, paragraphs, table cells, figure paths and captions), table and heading
// errors, figure paths that must stay inside the report's folder, referenced_files(), no
// script or remote resource, and atomic saving.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/report/html_page.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using report::HtmlPage;

TEST_SUITE_BEGIN("report");

namespace {

std::size_t html_count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + needle.size())) ++n;
  return n;
}

std::string html_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string html_read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("report::HtmlPage writes an HTML5 page with its parts in order") {
  HtmlPage page("Run 7");
  page.heading("Results").paragraph("Some text.").table({"model", "acc"}, {{"mlp", "0.91"}}).figure("figs/a.svg", "A");
  const std::string s = page.str();
  CHECK(s.rfind("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", 0) == 0);
  CHECK(s.size() >= 16);
  CHECK(s.substr(s.size() - 16) == "</body>\n</html>\n");
  CHECK(html_count(s, "<title>Run 7</title>") == 1);
  CHECK(html_count(s, "<h1>Run 7</h1>") == 1);
  const std::vector<std::string> parts = {"<h1>Run 7</h1>", "<h2>Results</h2>", "<p>Some text.</p>",
                                          "<table>\n<tr><th>model</th><th>acc</th></tr>\n<tr><td>mlp</td><td>0.91</td></tr>\n</table>",
                                          "<figure><img src=\"figs/a.svg\" alt=\"A\"><figcaption>A</figcaption></figure>"};
  std::size_t at = 0;
  for (const auto& part : parts) {
    INFO("part ", part);
    const std::size_t p = s.find(part, at);
    REQUIRE(p != std::string::npos);
    at = p + part.size();
  }
  // Balanced tags for everything that is not a void element.
  for (const char* tag : {"html", "head", "body", "style", "title", "h1", "h2", "p", "table", "tr", "th", "td", "figure",
                          "figcaption"}) {
    INFO("tag ", tag);
    CHECK(html_count(s, std::string("<") + tag + ">") + html_count(s, std::string("<") + tag + " ") ==
          html_count(s, std::string("</") + tag + ">"));
  }
}

TEST_CASE("report::HtmlPage escapes the title, headings, paragraphs and table cells") {
  HtmlPage page("A <b> & \"c\"");
  page.heading("x < y", 3)
      .paragraph("<script>alert('hi')</script> & more")
      .table({"<h>", "a&b"}, {{"\"q\"", "it's"}, {"</td>", "<tr>"}});
  const std::string s = page.str();
  CHECK(html_count(s, "<title>A &lt;b&gt; &amp; &quot;c&quot;</title>") == 1);
  CHECK(html_count(s, "<h1>A &lt;b&gt; &amp; &quot;c&quot;</h1>") == 1);
  CHECK(html_count(s, "<h3>x &lt; y</h3>") == 1);
  CHECK(html_count(s, "<p>&lt;script&gt;alert(&apos;hi&apos;)&lt;/script&gt; &amp; more</p>") == 1);
  CHECK(html_count(s, "<tr><th>&lt;h&gt;</th><th>a&amp;b</th></tr>") == 1);
  CHECK(html_count(s, "<tr><td>&quot;q&quot;</td><td>it&apos;s</td></tr>") == 1);
  CHECK(html_count(s, "<tr><td>&lt;/td&gt;</td><td>&lt;tr&gt;</td></tr>") == 1);
  CHECK(html_count(s, "<tr>") == 3);  // no row injected by a cell
  CHECK(html_count(s, "<b>") == 0);
  CHECK(html_lower(s).find("<script") == std::string::npos);
}

TEST_CASE("report::HtmlPage headings of level 1 to 4 only") {
  HtmlPage page("t");
  page.heading("one", 1).heading("four", 4);
  CHECK(html_count(page.str(), "<h1>one</h1>") == 1);
  CHECK(html_count(page.str(), "<h4>four</h4>") == 1);
  CHECK_ERROR_CONTAINS(page.heading("x", 0), "level must be 1..4, got 0");
  CHECK_ERROR_CONTAINS(page.heading("x", 5), "level must be 1..4, got 5");
}

TEST_CASE("report::HtmlPage table rows must have as many cells as the header") {
  HtmlPage page("t");
  CHECK_ERROR_CONTAINS(page.table({"a", "b"}, {{"1", "2"}, {"3"}}), "a row has 1 cells for 2 columns");
  CHECK_ERROR_CONTAINS(page.table({"a"}, {{"1", "2"}}), "a row has 2 cells for 1 columns");
  HtmlPage ok("t");
  ok.table({"a", "b"}, {});
  CHECK(html_count(ok.str(), "<table>\n<tr><th>a</th><th>b</th></tr>\n</table>") == 1);
}

TEST_CASE("report::HtmlPage figures stay inside the report folder and are listed") {
  HtmlPage page("t");
  page.figure("pca.svg", "PCA").figure("figs/run 1/heat\"map\".svg", "Heatmap <A> & B");
  CHECK(page.referenced_files() == std::vector<std::string>{"pca.svg", "figs/run 1/heat\"map\".svg"});
  const std::string s = page.str();
  CHECK(html_count(s, "<img src=\"figs/run 1/heat&quot;map&quot;.svg\" alt=\"Heatmap &lt;A&gt; &amp; B\">") == 1);
  CHECK(html_count(s, "<figcaption>Heatmap &lt;A&gt; &amp; B</figcaption>") == 1);
  for (const std::string bad : {"", "/etc/passwd", "/tmp/a.svg", "../a.svg", "figs/../../a.svg", "figs/..",
                                "http://example.com/a.svg", "https://example.com/a.svg", "file:///tmp/a.svg",
                                "//example.com/a.svg", "javascript:alert(1)", "data:image/svg+xml,<svg/>",
                                "mailto:a@b", "C:\\x.svg", "\\\\server\\x.svg", "a\\..\\..\\b.svg"}) {
    INFO("path '", bad, "'");
    CHECK_ERROR_CONTAINS(page.figure(bad, "x"), "must be a relative path inside the report's folder");
  }
  CHECK(page.referenced_files().size() == 2);  // the refused ones are not listed
  CHECK(html_count(page.str(), "<figure>") == 2);
  // ".." only as a whole path part: names that contain two dots are fine.
  page.figure("run..1.svg", "x").figure("figs/a..b/c.svg", "y").figure("./x.svg", "z");
  CHECK(page.referenced_files().size() == 5);
}

TEST_CASE("report::HtmlPage fetches nothing: no script and no remote address") {
  HtmlPage page("Report");
  page.heading("h").paragraph("p").table({"a"}, {{"b"}}).figure("a.svg", "c");
  const std::string s = html_lower(page.str());
  CHECK(s.find("http") == std::string::npos);
  CHECK(s.find("<script") == std::string::npos);
  CHECK(s.find("<link") == std::string::npos);
  CHECK(s.find("@import") == std::string::npos);
  CHECK(s.find("url(") == std::string::npos);
}

TEST_CASE("report::HtmlPage save writes str() atomically") {
  test::TempDir dir("html");
  HtmlPage page("Saved & sound");
  page.paragraph("text").figure("a.svg", "A");
  const auto path = dir.file("index.html");
  page.save(path);
  CHECK(html_read_file(path) == page.str());
  CHECK(dir.listing() == std::vector<std::string>{"index.html"});
  page.paragraph("more");
  page.save(path);
  CHECK(html_read_file(path) == page.str());
  CHECK(dir.listing() == std::vector<std::string>{"index.html"});
  CHECK_ERROR_CONTAINS(page.save(dir.file("missing/index.html")), "missing/index.html");
  CHECK(dir.listing() == std::vector<std::string>{"index.html"});
}

TEST_SUITE_END();
