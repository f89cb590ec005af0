#pragma once
// Reading back what invar's report headers write, for the tests: parsing SVG with tinyxml2 (an
// independent XML parser), finding elements and attributes, strict base64 decoding by table
// lookup, and decoding an embedded PNG raster with stb_image (an independent decoder).
#include <doctest/doctest.h>
#include <tinyxml2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/stb_image.hpp"

namespace invar::test {

using SvgElements = std::vector<const tinyxml2::XMLElement*>;

/// `text` parsed as XML whose root is <svg> (REQUIREd).
inline std::unique_ptr<tinyxml2::XMLDocument> parse_svg(const std::string& text) {
  auto doc = std::make_unique<tinyxml2::XMLDocument>();
  const auto rc = doc->Parse(text.c_str(), text.size());
  INFO("tinyxml2: ", doc->ErrorStr());
  REQUIRE(rc == tinyxml2::XML_SUCCESS);
  REQUIRE(doc->RootElement() != nullptr);
  REQUIRE(std::string(doc->RootElement()->Name()) == "svg");
  return doc;
}

/// Every descendant of `e` named `name`, in document order.
inline void collect_elements(const tinyxml2::XMLElement* e, const std::string& name, SvgElements& out) {
  for (const auto* c = e->FirstChildElement(); c != nullptr; c = c->NextSiblingElement()) {
    if (name == c->Name()) out.push_back(c);
    collect_elements(c, name, out);
  }
}
inline SvgElements svg_elements(const tinyxml2::XMLElement* root, const std::string& name) {
  SvgElements out;
  collect_elements(root, name, out);
  return out;
}
inline SvgElements svg_elements(const tinyxml2::XMLDocument& doc, const std::string& name) {
  return svg_elements(doc.RootElement(), name);
}

/// An attribute's text, or "(missing)".
inline std::string svg_attribute(const tinyxml2::XMLElement* e, const char* name) {
  const char* v = e->Attribute(name);
  return v == nullptr ? std::string("(missing)") : std::string(v);
}

/// The contents of every <text>, in document order.
inline std::vector<std::string> svg_texts(const tinyxml2::XMLDocument& doc) {
  std::vector<std::string> out;
  for (const auto* t : svg_elements(doc, "text")) out.emplace_back(t->GetText() ? t->GetText() : "");
  return out;
}

/// Strict base64 decoding (RFC 4648 alphabet, '=' padding), written apart from io/base64.hpp.
inline std::vector<unsigned char> base64_decode_strict(const std::string& s) {
  std::array<int, 256> table{};
  table.fill(-1);
  for (int c = 'A'; c <= 'Z'; ++c) table[std::size_t(c)] = c - 'A';
  for (int c = 'a'; c <= 'z'; ++c) table[std::size_t(c)] = c - 'a' + 26;
  for (int c = '0'; c <= '9'; ++c) table[std::size_t(c)] = c - '0' + 52;
  table[std::size_t('+')] = 62;
  table[std::size_t('/')] = 63;
  REQUIRE(s.size() % 4 == 0);
  std::vector<unsigned char> out;
  bool valid = true;  // every character in the alphabet (one REQUIRE, not one per character)
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int pad = 0;
    if (i + 4 == s.size()) pad = (s[i + 3] == '=') + (s[i + 2] == '=');
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const int d = k < 4 - std::size_t(pad) ? table[static_cast<unsigned char>(s[i + k])] : 0;
      valid = valid && d >= 0;
      v = (v << 6) | std::uint32_t(d < 0 ? 0 : d);
    }
    out.push_back(static_cast<unsigned char>(v >> 16));
    if (pad < 2) out.push_back(static_cast<unsigned char>(v >> 8));
    if (pad < 1) out.push_back(static_cast<unsigned char>(v));
  }
  REQUIRE(valid);
  return out;
}

/// An <image> whose href is a PNG data URI, decoded to RGB.
struct EmbeddedImage {
  int width = 0, height = 0, channels = 0;  ///< channels: as stored in the PNG
  std::vector<unsigned char> rgb;           ///< width x height x 3
  [[nodiscard]] std::array<unsigned char, 3> at(int x, int y) const {
    const std::size_t i = (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

inline EmbeddedImage decode_embedded_png(const tinyxml2::XMLElement* image) {
  const std::string href = svg_attribute(image, "href");
  const std::string prefix = "data:image/png;base64,";
  REQUIRE(href.compare(0, prefix.size(), prefix) == 0);
  const auto png = base64_decode_strict(href.substr(prefix.size()));
  EmbeddedImage d;
  unsigned char* p = stbi_load_from_memory(png.data(), int(png.size()), &d.width, &d.height, &d.channels, 3);
  REQUIRE(p != nullptr);
  d.rgb.assign(p, p + std::size_t(d.width) * std::size_t(d.height) * 3);
  stbi_image_free(p);
  return d;
}

}  // namespace invar::test
