#pragma once
/// \file base64.hpp
/// base64_encode: the standard alphabet of RFC 4648 with '=' padding, for data URIs (a PNG
/// embedded in an SVG figure). Encoding only: invar never reads base64.

#include <cstddef>
#include <cstdint>
#include <string>

namespace invar::io {

/// The base64 text of `size` bytes at `data` (4 characters per 3 bytes, '=' padded).
inline std::string base64_encode(const unsigned char* data, std::size_t size) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t v = (std::uint32_t(data[i]) << 16) | (std::uint32_t(data[i + 1]) << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (const std::size_t rest = size - i; rest > 0) {
    std::uint32_t v = std::uint32_t(data[i]) << 16;
    if (rest == 2) v |= std::uint32_t(data[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace invar::io
