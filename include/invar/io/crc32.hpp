#pragma once
/// \file crc32.hpp
/// CRC-32 (the gzip / PNG / zip polynomial, as zlib's crc32 computes it) over byte ranges of
/// any length: zlib takes 32-bit lengths, so long ranges go in pieces.

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace invar::io {

/// A running CRC-32: update() with consecutive pieces, value() at any point.
/// Crc32{}.update("123456789", 9).value() == 0xCBF43926 (the standard check value).
class Crc32 {
 public:
  /// Continues the CRC over `bytes` bytes at `data` (any length); returns *this for chaining.
  Crc32& update(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const Bytef*>(data);
    while (bytes > 0) {
      const std::size_t piece = std::min<std::size_t>(bytes, std::size_t{1} << 30);
      crc_ = ::crc32(crc_, p, static_cast<uInt>(piece));
      p += piece;
      bytes -= piece;
    }
    return *this;
  }
  /// The CRC-32 of all bytes so far (0 before any).
  [[nodiscard]] std::uint32_t value() const { return static_cast<std::uint32_t>(crc_); }

 private:
  uLong crc_ = ::crc32(0L, Z_NULL, 0);
};

/// The CRC-32 of one byte range.
inline std::uint32_t crc32_of(const void* data, std::size_t bytes) { return Crc32{}.update(data, bytes).value(); }

}  // namespace invar::io
