#pragma once
/// \file html_page.hpp
/// HtmlPage: a self-contained HTML5 report page: headings, paragraphs, tables and figures, with
/// its style sheet inline and no script, font or library fetched from anywhere. Figures are
/// referenced by relative path (the SVG files beside the page), so the folder can be moved or
/// archived as a whole; `referenced_files()` lists them so a caller can check they exist.
/// Every text is escaped.

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/report/html_page.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <string>
#include <string_view>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/io/atomic_file.hpp"
#include "invar/report/svg.hpp"

namespace invar::report {

/// A report page built in order (see the file comment); every method returns *this for chaining.
class HtmlPage {
 public:
  /// An empty page; `title` is the browser title and the page's h1.
  explicit HtmlPage(std::string title) : title_(std::move(title)) {}

  /// A heading of `level` 1 to 4 (h1 to h4; else invar::Error). The page's title is already h1.
  HtmlPage& heading(std::string_view text, int level = 2) {
    check(level >= 1 && level <= 4, "HtmlPage::heading: level must be 1..4, got ", level);
    const std::string tag = "h" + std::to_string(level);
    body_ += "<" + tag + ">" + xml_escape(text) + "</" + tag + ">\n";
    return *this;
  }

  /// A paragraph of plain text (escaped: no markup).
  HtmlPage& paragraph(std::string_view text) {
    body_ += "<p>" + xml_escape(text) + "</p>\n";
    return *this;
  }

  /// A table: `header` cells, then rows of as many cells.
  HtmlPage& table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    body_ += "<table>\n<tr>";
    for (const auto& h : header) body_ += "<th>" + xml_escape(h) + "</th>";
    body_ += "</tr>\n";
    for (const auto& row : rows) {
      check(row.size() == header.size(), "HtmlPage::table: a row has ", row.size(), " cells for ", header.size(),
            " columns");
      body_ += "<tr>";
      for (const auto& cell : row) body_ += "<td>" + xml_escape(cell) + "</td>";
      body_ += "</tr>\n";
    }
    body_ += "</table>\n";
    return *this;
  }

  /// A figure: the image at `relative_path` (from the page's folder) with a caption.
  HtmlPage& figure(const std::string& relative_path, std::string_view caption) {
    check(is_inside_path(relative_path), "HtmlPage::figure: '", relative_path,
          "' must be a relative path inside the report's folder (no '/' at the start, no '..' part, no ':' or '\\')");
    files_.push_back(relative_path);
    body_ += "<figure><img src=\"" + xml_escape(relative_path) + "\" alt=\"" + xml_escape(caption) +
             "\"><figcaption>" + xml_escape(caption) + "</figcaption></figure>\n";
    return *this;
  }

  /// Files the page refers to, relative to its folder.
  [[nodiscard]] const std::vector<std::string>& referenced_files() const { return files_; }

  /// The whole HTML document, style sheet included.
  [[nodiscard]] std::string str() const {
    return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + xml_escape(title_) +
           "</title>\n<style>\n"
           "body{font-family:Helvetica,Arial,sans-serif;max-width:1280px;margin:2em auto;padding:0 1em;color:#222}\n"
           "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}\n"
           "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\n"
           "figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:90%}\n"
           "</style>\n</head>\n<body>\n<h1>" +
           xml_escape(title_) + "</h1>\n" + body_ + "</body>\n</html>\n";
  }

  /// Writes the page to `path` atomically.
  void save(const std::string& path) const { io::write_file_atomically(path, str()); }

 private:
  /// Relative, without a scheme (javascript:, data:, C:), backslash or a ".." component.
  static bool is_inside_path(const std::string& p) {
    if (p.empty() || p.front() == '/' || p.find(':') != std::string::npos || p.find('\\') != std::string::npos)
      return false;
    std::size_t start = 0;
    while (start <= p.size()) {
      const std::size_t end = std::min(p.find('/', start), p.size());
      if (p.compare(start, end - start, "..") == 0 && end - start == 2) return false;
      start = end + 1;
    }
    return true;
  }

  std::string title_;
  std::string body_;
  std::vector<std::string> files_;
};

}  // namespace invar::report
