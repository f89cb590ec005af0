#pragma once
/// \file archive_format.hpp
/// The byte layout of invar parameter files (docs/parameter-files.md documents it byte by byte)
/// and the bounds-checked little-endian reader the loader parses it with. io/archive.hpp is the
/// user-facing side.
///
///   offset  size  field
///   0       8     magic "INVARCK\0"
///   8       4     uint32 format version (1)
///   12      4     uint32 entry count E
///   16      8     uint64 file size S in bytes, checksum included
///   24      ...   E entries: uint32 name length L, L name bytes, uint8 type, uint8 rank R,
///                 R int64 extents, then the elements (row-major, little-endian)
///   S - 4   4     uint32 CRC-32 (zlib's crc32) of bytes [0, S - 4)

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar::io {

static_assert(std::endian::native == std::endian::little,
              "invar parameter files are little-endian and the reader/writer copy bytes as they are: "
              "a big-endian port needs byte swaps in io/archive_format.hpp");

/// What an archive entry holds. The values are the type codes in the file.
enum class DType : std::uint8_t {
  float32 = 1,  ///< tensor (or scalar) of IEEE-754 binary32
  float64 = 2,  ///< tensor (or scalar) of IEEE-754 binary64
  int64 = 3,    ///< tensor (or scalar) of two's-complement int64
  text = 4,     ///< a UTF-8 string: rank 1, one byte per element
};

/// The type's name in messages and docs: "float32", "float64", "int64" or "text" ("unknown" for other codes).
[[nodiscard]] inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
    case DType::text: return "text";
  }
  return "unknown";
}

/// Bytes per element of the type (text: 1); 0 for a code that is no DType.
[[nodiscard]] inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int64: return 8;
    case DType::text: return 1;
  }
  return 0;
}

namespace format {

/// The first 8 bytes of every parameter file: "INVARCK" and a NUL.
inline constexpr std::array<unsigned char, 8> magic = {'I', 'N', 'V', 'A', 'R', 'C', 'K', '\0'};
/// The version this build writes, and the newest it reads.
inline constexpr std::uint32_t current_version = 1;
/// The oldest version this build reads.
inline constexpr std::uint32_t oldest_version = 1;
inline constexpr std::size_t header_size = 24;     ///< bytes before the first entry: magic, version, count, size
inline constexpr std::size_t checksum_size = 4;    ///< the trailing CRC-32
inline constexpr std::size_t version_offset = 8;   ///< offset of the uint32 format version
inline constexpr std::size_t count_offset = 12;    ///< offset of the uint32 entry count
inline constexpr std::size_t size_offset = 16;     ///< offset of the uint64 file size (checksum included)
/// Longest entry name, in bytes (a sanity bound that also keeps messages readable).
inline constexpr std::size_t max_name_length = 65535;
/// Highest tensor rank (the same as invar::Shape's).
inline constexpr int max_rank = 8;

/// Bytes one entry takes in the file.
[[nodiscard]] inline std::size_t entry_size(std::size_t name_length, int rank, std::size_t data_bytes) {
  return 4 + name_length + 1 + 1 + 8 * static_cast<std::size_t>(rank) + data_bytes;
}

/// Reads little-endian fields from [data, data + end) and throws invar::Error naming the source
/// and the offset when a field would run past `end`.
class Reader {
 public:
  /// Reads from offset `pos` (<= end) of `data`. `source` (the file's name, for messages) is held
  /// by reference and must outlive the reader.
  Reader(const unsigned char* data, std::size_t end, std::size_t pos, const std::string& source)
      : data_(data), end_(end), pos_(pos), source_(source) {}

  /// Reads a T (trivially copyable, little-endian) and moves past it; `what` names the field in errors.
  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  /// Points at the next `bytes` bytes and skips them.
  const unsigned char* take(std::size_t bytes, const char* what) {
    need(bytes, what);
    const unsigned char* p = data_ + pos_;
    pos_ += bytes;
    return p;
  }

  /// Throws invar::Error (naming source, offset and `what`) unless `bytes` bytes remain.
  void need(std::size_t bytes, const char* what) const {
    check(bytes <= end_ - pos_, "'", source_, "' is malformed at offset ", pos_, ": ", what, " needs ", bytes,
          " bytes, only ", end_ - pos_, " remain before the checksum");
  }

  /// The current offset in data.
  [[nodiscard]] std::size_t pos() const { return pos_; }
  /// Bytes left before `end`.
  [[nodiscard]] std::size_t remaining() const { return end_ - pos_; }

 private:
  const unsigned char* data_;
  std::size_t end_;
  std::size_t pos_;
  const std::string& source_;
};

/// Little-endian field into a byte buffer at `at`.
template <class T>
void store(unsigned char* at, T value) {
  std::memcpy(at, &value, sizeof(T));
}

/// Little-endian field read from a byte buffer at `at` (no bounds check: see Reader).
template <class T>
[[nodiscard]] T load(const unsigned char* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

}  // namespace format
}  // namespace invar::io
