#pragma once
/// \file npy.hpp
/// NumPy .npy files: write_npy(path, tensor) and read_npy<T>(path), for float ('<f4'),
/// double ('<f8') and int64 / index_t ('<i8'), C order, any rank (rank 0 is a scalar).
///
/// The file written is format 1.0, exactly what numpy.save writes:
///
///   "\x93NUMPY"  0x01 0x00  HEADER_LEN (uint16, little-endian)
///   {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }   (1-d: "(N,)", 0-d: "()")
///   spaces, then '\n', so that 10 + HEADER_LEN is a multiple of 64
///   the elements, little-endian, row-major
///
/// Writing is atomic (io/atomic_file.hpp): the data go to a temporary file next to `path`, which
/// is renamed over `path` only once it is complete; on any error `path` keeps what it had and no
/// temporary file remains.
///
/// read_npy is strict: the magic string, the version (1.0, 2.0 or 3.0: they differ only in the
/// width of the length field), a dict with exactly the keys 'descr', 'fortran_order' and 'shape',
/// the dtype of T (little-endian; '<f8' is not converted to float), fortran_order False, and a
/// data size equal to the product of the shape times the element size (a truncated file or
/// trailing bytes are errors). Every error is an invar::Error naming the file and the problem.

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/io/atomic_file.hpp"

namespace invar::io {

/// The NumPy dtype string of the element types .npy files can hold here.
template <class T>
struct NpyDtype;
/// float: little-endian binary32.
template <>
struct NpyDtype<float> {
  static constexpr const char* descr = "<f4";  ///< the header's 'descr' value
};
/// double: little-endian binary64.
template <>
struct NpyDtype<double> {
  static constexpr const char* descr = "<f8";  ///< the header's 'descr' value
};
/// int64 (index_t): little-endian two's complement.
template <>
struct NpyDtype<std::int64_t> {
  static constexpr const char* descr = "<i8";  ///< the header's 'descr' value
};

/// An element type (const or not) that .npy files can hold here: float, double, int64.
template <class T>
concept NpyElement = requires { NpyDtype<std::remove_const_t<T>>::descr; };

namespace detail {

inline constexpr char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/// The header of format 1.0 (magic to '\n' included) for a C-order array of `shape`.
inline std::string npy_header(const char* descr, const Shape& shape) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (int a = 0; a < shape.rank(); ++a) {
    if (a > 0) dict += ", ";
    dict += std::to_string(shape[a]);
  }
  if (shape.rank() == 1) dict += ",";
  dict += "), }";
  // magic (6) + version (2) + length (2) + dict + padding + '\n' = a multiple of 64.
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  check(dict.size() <= 65535, "write_npy: the header of shape ", shape, " is too long for format 1.0");
  std::string header(npy_magic, sizeof npy_magic);
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xFF);
  header += static_cast<char>((dict.size() >> 8) & 0xFF);
  return header + dict;
}

/// Writes `count` elements little-endian (byte-swapped in chunks on a big-endian host).
template <class T>
void write_little_endian(AtomicFile& file, const T* data, std::size_t count) {
  if constexpr (std::endian::native == std::endian::little) {
    file.write(data, count * sizeof(T));
  } else {
    constexpr std::size_t chunk = 4096;
    unsigned char buffer[chunk * sizeof(T)];
    for (std::size_t i = 0; i < count; i += chunk) {
      const std::size_t n = std::min(chunk, count - i);
      std::memcpy(buffer, data + i, n * sizeof(T));
      for (std::size_t e = 0; e < n; ++e) {
        unsigned char* p = buffer + e * sizeof(T);
        for (std::size_t b = 0; b < sizeof(T) / 2; ++b) std::swap(p[b], p[sizeof(T) - 1 - b]);
      }
      file.write(buffer, n * sizeof(T));
    }
  }
}

/// A small parser of the header dict: a Python literal {'key': value, ...} whose values are
/// strings, True / False or tuples of non-negative integers.
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  std::string descr;
  bool fortran_order = true;
  std::vector<index_t> shape;

  void parse() {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        fail_if(seen_descr, "the key 'descr' appears twice");
        descr = string_literal();
        seen_descr = true;
      } else if (key == "fortran_order") {
        fail_if(seen_order, "the key 'fortran_order' appears twice");
        fortran_order = boolean_literal();
        seen_order = true;
      } else if (key == "shape") {
        fail_if(seen_shape, "the key 'shape' appears twice");
        shape = tuple_literal();
        seen_shape = true;
      } else {
        fail("unexpected key '" + key + "' in the header");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}' at offset " + std::to_string(pos_) + " of the header dict");
    }
    expect('}');
    skip_space();
    fail_if(pos_ != s_.size(), "unexpected text after the header dict");
    fail_if(!seen_descr || !seen_order || !seen_shape,
            "the header dict lacks one of 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(invar::detail::concat("read_npy: '", path_, "' has a malformed header: ", what));
  }
  void fail_if(bool bad, const std::string& what) const {
    if (bad) fail(what);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "' at offset " + std::to_string(pos_) + " of the header dict");
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    fail_if(quote != '\'' && quote != '"', "expected a quoted string at offset " + std::to_string(pos_));
    const std::size_t end = s_.find(quote, pos_ + 1);
    fail_if(end == std::string::npos, "unterminated string in the header dict");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool boolean_literal() {
    skip_space();
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  std::vector<index_t> tuple_literal() {
    expect('(');
    std::vector<index_t> dims;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      fail_if(peek() < '0' || peek() > '9', "the shape must be a tuple of non-negative integers");
      index_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        fail_if(v > (std::numeric_limits<index_t>::max() - digit) / 10, "a dimension of the shape is too large");
        v = v * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 longs
      dims.push_back(v);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_space();
      fail_if(peek() != ')', "expected ',' or ')' in the shape");
    }
    expect(')');
    return dims;
  }

  const std::string& s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

}  // namespace detail

/// Writes `x` (a Tensor or a view of float, double or int64 on the host) to `path` as a .npy
/// file (format 1.0, C order), atomically.
template <Viewable X>
  requires NpyElement<typename view_t<X>::value_type>
void write_npy(const std::string& path, X&& x) {
  using T = typename view_t<X>::value_type;
  const TensorView<const T> v = to_view(x);
  const std::string header = detail::npy_header(NpyDtype<T>::descr, v.shape());
  AtomicFile file(path);
  file.write(header.data(), header.size());
  detail::write_little_endian(file, v.data(), static_cast<std::size_t>(v.numel()));
  file.commit();
}

/// Reads a .npy file holding T (float '<f4', double '<f8' or int64 '<i8'), C order.
template <NpyElement T>
Tensor<T> read_npy(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  check(fs::exists(status), "read_npy: cannot read '", path, "': no such file");
  check(!fs::is_directory(status), "read_npy: cannot read '", path, "': it is a directory");
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, Close> file(std::fopen(path.c_str(), "rb"));
  check(file != nullptr, "read_npy: cannot open '", path, "': ", std::strerror(errno));
  auto read = [&](void* out, std::size_t bytes) { return std::fread(out, 1, bytes, file.get()) == bytes; };

  unsigned char prefix[8];
  const bool have_prefix = read(prefix, sizeof prefix);
  check(have_prefix && std::memcmp(prefix, detail::npy_magic, sizeof detail::npy_magic) == 0, "read_npy: '", path,
        "' is not a .npy file (wrong magic string; expected \\x93NUMPY)");
  const int major = prefix[6], minor = prefix[7];
  check((major == 1 || major == 2 || major == 3) && minor == 0, "read_npy: '", path, "' has format version ", major,
        ".", minor, "; supported: 1.0, 2.0, 3.0");
  std::uint32_t header_len = 0;
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  unsigned char len[4] = {0, 0, 0, 0};
  check(read(len, len_bytes), "read_npy: '", path, "' is truncated: the header length is missing");
  for (std::size_t b = 0; b < len_bytes; ++b) header_len |= std::uint32_t(len[b]) << (8 * b);
  const std::uintmax_t file_size = fs::file_size(path, ec);
  check(!ec, "read_npy: cannot read the size of '", path, "': ", ec.message());
  const std::uintmax_t data_offset = 6 + 2 + len_bytes + std::uintmax_t(header_len);
  check(file_size >= data_offset, "read_npy: '", path, "' is truncated: its header declares ", header_len,
        " bytes, the file has ", file_size, " in all");
  std::string header(header_len, '\0');
  check(read(header.data(), header_len), "read_npy: cannot read the header of '", path, "'");

  detail::NpyHeaderParser p(header, path);
  p.parse();
  const std::string expected = NpyDtype<T>::descr;
  check(p.descr == expected, "read_npy: '", path, "' holds dtype '", p.descr, "', expected '", expected,
        "' (read_npy does not convert between dtypes)");
  check(!p.fortran_order, "read_npy: '", path, "' is in Fortran order (fortran_order True); only C order is supported");
  check(p.shape.size() <= std::size_t(Shape::max_rank), "read_npy: '", path, "' has ", p.shape.size(),
        " dimensions; at most ", Shape::max_rank, " are supported");
  std::uintmax_t count = 1;
  for (index_t d : p.shape) {
    check(d == 0 || count <= std::uintmax_t(std::numeric_limits<index_t>::max()) / sizeof(T) / std::uintmax_t(d),
          "read_npy: '", path, "' declares a shape too large to hold");
    count *= std::uintmax_t(d);
  }
  const std::uintmax_t data_bytes = count * sizeof(T);
  const std::uintmax_t found = file_size - data_offset;
  check(found >= data_bytes, "read_npy: '", path, "' is truncated: its shape needs ", data_bytes,
        " bytes of data, the file has ", found);
  check(found == data_bytes, "read_npy: '", path, "' has ", found - data_bytes, " unexpected bytes after its ",
        data_bytes, " bytes of data");

  const Shape shape(std::span<const index_t>(p.shape.data(), p.shape.size()));
  auto out = Tensor<T>::uninitialized(shape);
  check(read(out.data(), static_cast<std::size_t>(data_bytes)), "read_npy: '", path,
        "' is truncated: reading its data failed");
  if constexpr (std::endian::native == std::endian::big) {
    for (auto& e : out) {
      auto* b = reinterpret_cast<unsigned char*>(&e);
      for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    }
  }
  return out;
}

}  // namespace invar::io
