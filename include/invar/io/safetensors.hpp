#pragma once
/// \file safetensors.hpp
/// invar::io::Safetensors: named tensors in the safetensors format (Hugging Face), the format
/// PyTorch, JAX and NumPy users load weights from. nn/safetensors_export.hpp writes a model's
/// parameters and buffers with it; docs/export.md has the names, the layouts and the Python side.
///
/// \code
/// invar::io::Safetensors st;
/// st.put("fc1.weight", w);                       // float -> F32, double -> F64, index_t -> I64
/// st.set_metadata("format", "pt");               // string -> string, under "__metadata__"
/// st.save("run/model.safetensors");              // atomic: the old file or the new one, never half
///
/// auto back = invar::io::Safetensors::load("run/model.safetensors");   // validates everything
/// Tensor<float> w2 = back.get<float>("fc1.weight");
/// \endcode
///
/// The format (https://github.com/huggingface/safetensors), all integers little-endian:
///
///   8 bytes   N, uint64: the length of the header
///   N bytes   the header: a JSON object, UTF-8, padded with spaces (0x20) to a multiple of 8 bytes
///             (so the data start at an offset that is a multiple of 8). One member per tensor,
///               "name": {"dtype": "F32", "shape": [256, 784], "data_offsets": [begin, end]}
///             and optionally "__metadata__": {"key": "value", ...} (strings only)
///   the rest  the data: each tensor's elements row-major (C order), little-endian, at
///             [begin, end) relative to the start of the data; the tensors tile the data exactly
///             (no gap, no overlap, nothing after the last one)
///
/// What this writer does within the format: tensors in the order they were first put, except
/// that 8-byte dtypes (F64, I64) come before 4-byte ones (F32), so that every tensor starts at a
/// multiple of its element size; header members in that same order, "__metadata__" first, its
/// keys sorted; JSON without spaces except the padding; names escaped as JSON requires (`"`,
/// backslash, control characters as six-character u00XX escapes; names must be valid UTF-8). Same
/// tensors, same bytes.
///
/// What the reader checks, with an invar::Error naming the file and the problem: the 8-byte
/// length is there and the header fits in the file (and in 100 MB, safetensors' own limit); the
/// header is one JSON object starting with '{'; every tensor has a dtype of F32, F64 or I64
/// (others are named and refused), a shape of at most 8 non-negative extents and two
/// data_offsets with begin <= end <= the data's size; end - begin = the elements x the dtype's
/// size; no name twice; the tensors cover the data exactly (a gap, an overlap or trailing bytes
/// are named); the metadata's values are strings. No size read from the file is trusted for an
/// allocation before it is checked against the file's own size.

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/shape.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/tensor_view.hpp"
#include "invar/io/archive_format.hpp"
#include "invar/io/atomic_file.hpp"
#include "invar/io/read_file.hpp"

namespace invar::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data are little-endian and are copied as they are: a big-endian port needs byte swaps");

namespace safetensors {

/// safetensors' dtype string of an invar dtype ("F32", "F64", "I64").
[[nodiscard]] inline const char* dtype_string(DType t) {
  switch (t) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int64: return "I64";
    case DType::text: break;
  }
  return "?";
}

/// The longest header the reader accepts (the limit of the reference implementation).
inline constexpr std::uint64_t max_header_size = 100'000'000;
/// JSON nesting the reader follows at most (the format needs 3).
inline constexpr int max_json_depth = 32;

namespace detail {

/// Whether `s` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
inline bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

/// `s` as a JSON string literal (quotes included).
inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

/// A parsed JSON value: the subset a safetensors header needs (objects keep their members in
/// file order; numbers are kept as non-negative integers when they are, else flagged).
struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  bool integer = false;    ///< a number that is a non-negative integer fitting in uint64
  std::uint64_t value = 0;  ///< that integer
  std::string text;         ///< a string's value, or a number's source text
  std::vector<Json> items;  ///< array elements
  std::vector<std::pair<std::string, Json>> members;  ///< object members, in file order
};

/// A recursive-descent JSON parser with positions in its messages, bounded nesting, and no
/// allocation beyond the text it reads.
class JsonParser {
 public:
  JsonParser(std::string_view text, std::string source, std::size_t base)
      : s_(text), source_(std::move(source)), base_(base) {}

  Json parse_document() {
    skip_space();
    Json v = parse_value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected '", printable(s_[pos_]), "' after the header's JSON object");
    return v;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error(invar::detail::concat("'", source_, "' is not a valid safetensors file: its JSON header is malformed at "
                                      "offset ", base_ + pos_, ": ", parts...));
  }
  static std::string printable(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", u);
    return buf;
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  char peek() {
    if (pos_ >= s_.size()) fail("the JSON ends early");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail("expected '", c, "', found '", printable(s_[pos_]), "'");
    ++pos_;
  }

  Json parse_value(int depth) {
    if (depth > max_json_depth) fail("JSON nested deeper than ", max_json_depth, " levels");
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') {
      Json v;
      v.kind = Json::Kind::string;
      v.text = parse_string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    for (const char* word : {"true", "false", "null"}) {
      const std::size_t len = std::strlen(word);
      if (s_.substr(pos_, len) == word) {
        pos_ += len;
        Json v;
        v.kind = word[0] == 'n' ? Json::Kind::null : Json::Kind::boolean;
        v.boolean = word[0] == 't';
        return v;
      }
    }
    fail("unexpected '", printable(c), "' where a JSON value starts");
  }

  Json parse_object(int depth) {
    Json v;
    v.kind = Json::Kind::object;
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') fail("expected a member name in quotes, found '", printable(s_[pos_]), "'");
      std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      Json value = parse_value(depth + 1);
      v.members.emplace_back(std::move(key), std::move(value));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  Json parse_array(int depth) {
    Json v;
    v.kind = Json::Kind::array;
    expect('[');
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_space();
      v.items.push_back(parse_value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  Json parse_number() {
    const std::size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    const std::size_t digits = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == digits) fail("a number without digits");
    if (s_[digits] == '0' && pos_ - digits > 1) fail("a number with a leading zero");
    bool fraction = false;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      fraction = true;
      ++pos_;
      const std::size_t f = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == f) fail("a number without digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      fraction = true;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      const std::size_t e = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == e) fail("a number without digits in its exponent");
    }
    Json v;
    v.kind = Json::Kind::number;
    v.text = std::string(s_.substr(start, pos_ - start));
    if (!fraction && s_[start] != '-') {
      v.integer = true;
      for (std::size_t i = start; i < pos_; ++i) {
        const auto d = static_cast<std::uint64_t>(s_[i] - '0');
        if (v.value > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
          v.integer = false;  // too large for uint64: refused where an integer is needed
          break;
        }
        v.value = v.value * 10 + d;
      }
    }
    return v;
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("a \\u escape with fewer than 4 hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else fail("'", printable(c), "' in a \\u escape (4 hex digits expected)");
    }
    return v;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("a string without its closing quote");
      const char c = s_[pos_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character (", printable(c), ") inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("a string without its closing quote");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') fail("an unpaired surrogate in a \\u escape");
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("an unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("an unpaired surrogate in a \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("an unknown escape '\\", printable(e), "' in a string");
      }
    }
    if (!valid_utf8(out)) fail("a string that is not valid UTF-8");
    return out;
  }

  std::string_view s_;
  std::string source_;
  std::size_t base_;  // the file offset of s_[0], for messages
  std::size_t pos_ = 0;
};

}  // namespace detail
}  // namespace safetensors

/// Named tensors (F32, F64, I64) and string metadata in the safetensors format: build and save
/// one, or load and validate one (the file comment above gives the layout and the checks).
class Safetensors {
 public:
  Safetensors() = default;

  /// Stores a copy of a tensor (rank 0 to 8, any size, zero included) under `name`: float as F32,
  /// double as F64, index_t as I64. Putting an existing name replaces it in place. The name is
  /// not empty, valid UTF-8, and not "__metadata__".
  void put(const std::string& name, TensorView<const float> values) { put_tensor(name, DType::float32, values); }
  /// As put(name, float values), stored as F64.
  void put(const std::string& name, TensorView<const double> values) { put_tensor(name, DType::float64, values); }
  /// As put(name, float values), stored as I64.
  void put(const std::string& name, TensorView<const index_t> values) { put_tensor(name, DType::int64, values); }

  /// A "__metadata__" entry (free-form strings: format, producer, model, configuration...).
  void set_metadata(const std::string& key, const std::string& value) {
    check(safetensors::detail::valid_utf8(key) && safetensors::detail::valid_utf8(value),
          "Safetensors::set_metadata: key and value must be valid UTF-8 (key '", key, "')");
    metadata_[key] = value;
  }
  /// The "__metadata__" entries, by key.
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// A copy of tensor `name` as T: F32 and F64 read as float or double (converted on request),
  /// I64 only as index_t.
  template <class T>
  [[nodiscard]] Tensor<T> get(const std::string& name) const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, index_t>,
                  "Safetensors::get<T>: T is float, double or invar::index_t");
    const Entry& e = find(name, "get");
    const bool fits = std::is_same_v<T, index_t> ? e.dtype == DType::int64 : e.dtype != DType::int64;
    check(fits, "Safetensors::get: tensor '", name, "' in ", where(), " is ", safetensors::dtype_string(e.dtype), " ",
          e.shape, e.dtype == DType::int64 ? "; read it with get<index_t>()" : "; read it with get<float>() or get<double>()");
    auto out = Tensor<T>::uninitialized(e.shape);
    if constexpr (std::is_same_v<T, index_t>) {
      copy_as<std::int64_t>(e, out.data());
    } else {
      if (e.dtype == DType::float32) copy_as<float>(e, out.data());
      else copy_as<double>(e, out.data());
    }
    return out;
  }

  /// The raw little-endian bytes of tensor `name`, as in the file.
  [[nodiscard]] std::span<const unsigned char> bytes(const std::string& name) const { return find(name, "bytes").data; }

  /// Whether a tensor is named `name`.
  [[nodiscard]] bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// Tensor names in order: the order they were first put in, or for a loaded file the order of
  /// their data in it.
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
  }
  /// The number of tensors.
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  /// Whether it holds no tensor.
  [[nodiscard]] bool empty() const { return entries_.empty(); }
  /// DType::float32, float64 or int64.
  [[nodiscard]] DType dtype(const std::string& name) const { return find(name, "dtype").dtype; }
  /// The shape of tensor `name` (rank 0 for a scalar).
  [[nodiscard]] Shape shape(const std::string& name) const { return find(name, "shape").shape; }
  /// Where it was loaded from ("memory" until then): messages name it.
  [[nodiscard]] const std::string& source() const { return source_; }

  /// The same file: tensors (names, dtypes, shapes, bytes, order in the data) and metadata; the
  /// source is not compared.
  friend bool operator==(const Safetensors& a, const Safetensors& b) { return a.to_bytes() == b.to_bytes(); }

  /// The header (JSON and padding), exactly as save() writes it after the 8-byte length.
  [[nodiscard]] std::string header() const {
    std::string h = "{";
    bool first = true;
    if (!metadata_.empty()) {
      h += "\"__metadata__\":{";
      for (const auto& [k, v] : metadata_) {
        if (!first) h += ',';
        first = false;
        h += safetensors::detail::json_string(k);
        h += ':';
        h += safetensors::detail::json_string(v);
      }
      h += '}';
      first = false;
    }
    std::uint64_t offset = 0;
    for (const std::size_t i : file_order()) {
      const Entry& e = entries_[i];
      if (!first) h += ',';
      first = false;
      // Appended piece by piece (GCC 12 warns wrongly about `const char* + std::string&&`).
      h += safetensors::detail::json_string(e.name);
      h += ":{\"dtype\":\"";
      h += safetensors::dtype_string(e.dtype);
      h += "\",\"shape\":[";
      for (int a = 0; a < e.shape.rank(); ++a) {
        if (a > 0) h += ',';
        h += std::to_string(e.shape[a]);
      }
      h += "],\"data_offsets\":[";
      h += std::to_string(offset);
      h += ',';
      h += std::to_string(offset + e.data.size());
      h += "]}";
      offset += e.data.size();
    }
    h += '}';
    h.append((8 - (8 + h.size()) % 8) % 8, ' ');  // the data start at a multiple of 8
    return h;
  }

  /// The size save() writes, in bytes.
  [[nodiscard]] std::size_t file_size() const {
    std::size_t n = 8 + header().size();
    for (const Entry& e : entries_) n += e.data.size();
    return n;
  }

  /// The file's bytes, in memory (what save() writes).
  [[nodiscard]] std::vector<unsigned char> to_bytes() const {
    return collect_bytes([&](auto&& sink) { write_to(sink); }, file_size());
  }

  /// Writes the file to `path` atomically (io/atomic_file.hpp). Throws invar::Error naming the
  /// path on any failure, and leaves an old file at `path` as it was.
  void save(const std::string& path) const {
    save_produced(path, [&](auto&& sink) { write_to(sink); });
  }

  /// Parses and validates a safetensors file held in memory; `source` names it in messages.
  static Safetensors from_bytes(std::span<const unsigned char> bytes, const std::string& source = "memory");
  /// Reads and validates `path` (see from_bytes).
  static Safetensors load(const std::string& path);

 private:
  struct Entry {
    std::string name;
    DType dtype = DType::float32;
    Shape shape;
    std::vector<unsigned char> data;
  };

  template <class T>
  void put_tensor(const std::string& name, DType dtype, TensorView<const T> values) {
    check(!name.empty(), "Safetensors::put: the tensor name is empty");
    check(name != "__metadata__", "Safetensors::put: '__metadata__' is reserved for the metadata");
    check(safetensors::detail::valid_utf8(name), "Safetensors::put: the tensor name '", name, "' is not valid UTF-8");
    Entry e{name, dtype, values.shape(), {}};
    const auto* b = reinterpret_cast<const unsigned char*>(values.data());
    e.data.assign(b, b + static_cast<std::size_t>(values.numel()) * sizeof(T));
    auto [it, inserted] = index_.try_emplace(name, entries_.size());
    if (inserted) entries_.push_back(std::move(e));
    else entries_[it->second] = std::move(e);
  }

  /// Entry indices in the order of their data: 8-byte dtypes first, then 4-byte ones, each in put order.
  [[nodiscard]] std::vector<std::size_t> file_order() const {
    std::vector<std::size_t> order(entries_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return dtype_size(entries_[a].dtype) > dtype_size(entries_[b].dtype);
    });
    return order;
  }

  template <class Sink>
  void write_to(Sink&& sink) const {
    const std::string h = header();
    unsigned char length[8];
    format::store<std::uint64_t>(length, static_cast<std::uint64_t>(h.size()));
    sink(length, sizeof length);
    sink(h.data(), h.size());
    for (const std::size_t i : file_order()) sink(entries_[i].data.data(), entries_[i].data.size());
  }

  const Entry& find(const std::string& name, const char* caller) const {
    const auto it = index_.find(name);
    if (it != index_.end()) return entries_[it->second];
    std::string list;
    const std::size_t shown = std::min<std::size_t>(entries_.size(), 20);
    for (std::size_t i = 0; i < shown; ++i) list += (i ? ", " : "") + entries_[i].name;
    if (shown < entries_.size()) list += invar::detail::concat(", ... (", entries_.size() - shown, " more)");
    throw Error(invar::detail::concat("Safetensors::", caller, ": no tensor '", name, "' in ", where(),
                                      entries_.empty() ? "; it holds none" : "; it holds: ", list));
  }

  [[nodiscard]] std::string where() const {
    return source_ == "memory" ? std::string("the safetensors data") : "'" + source_ + "'";
  }

  template <class Stored, class Out>
  static void copy_as(const Entry& e, Out* out) {
    if constexpr (std::is_same_v<Stored, Out>) {
      if (!e.data.empty()) std::memcpy(out, e.data.data(), e.data.size());
    } else {
      const std::size_t n = e.data.size() / sizeof(Stored);
      for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<Out>(format::load<Stored>(e.data.data() + i * sizeof(Stored)));
    }
  }

  std::vector<Entry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::string source_ = "memory";
};

inline Safetensors Safetensors::from_bytes(std::span<const unsigned char> bytes, const std::string& source) {
  using invar::detail::concat;
  using safetensors::detail::Json;
  const std::size_t n = bytes.size();
  const unsigned char* b = bytes.data();
  const auto bad = [&](const auto&... parts) {
    return Error(concat("'", source, "' is not a valid safetensors file: ", parts...));
  };
  if (n < 8) throw bad("truncated at offset ", n, ": the file starts with an 8-byte header length");
  const auto header_length = format::load<std::uint64_t>(b);
  if (header_length > safetensors::max_header_size)
    throw bad("its header length is ", header_length, " bytes, more than the ", safetensors::max_header_size,
              " safetensors allows (not a safetensors file, or a corrupt one)");
  if (header_length > n - 8)
    throw bad("truncated at offset ", n, ": its header length is ", header_length, " bytes, so the header ends at offset ",
              8 + header_length);
  const std::string_view text(reinterpret_cast<const char*>(b + 8), static_cast<std::size_t>(header_length));
  if (text.empty() || text[0] != '{') throw bad("its header (offset 8) does not start with '{'");
  const Json doc = safetensors::detail::JsonParser(text, source, 8).parse_document();
  if (doc.kind != Json::Kind::object) throw bad("its header is not a JSON object");

  const std::size_t data_start = 8 + static_cast<std::size_t>(header_length);
  const std::size_t data_size = n - data_start;
  struct Found {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
  };
  std::vector<Found> found;
  Safetensors st;
  st.source_ = source;
  std::unordered_map<std::string, int> seen;
  for (const auto& [name, info] : doc.members) {
    if (!seen.emplace(name, 0).second) throw bad("the header names '", name, "' twice");
    if (name == "__metadata__") {
      if (info.kind != Json::Kind::object) throw bad("its __metadata__ is not a JSON object");
      for (const auto& [k, v] : info.members) {
        if (v.kind != Json::Kind::string) throw bad("__metadata__ value of '", k, "' is not a string");
        st.metadata_[k] = v.text;
      }
      continue;
    }
    const auto tensor_bad = [&](const auto&... parts) { return bad("tensor '", name, "': ", parts...); };
    if (name.empty()) throw bad("a tensor with an empty name");
    if (info.kind != Json::Kind::object) throw tensor_bad("its entry is not a JSON object");
    const Json* dtype = nullptr;
    const Json* shape = nullptr;
    const Json* offsets = nullptr;
    for (const auto& [k, v] : info.members) {
      if (k == "dtype") dtype = &v;
      else if (k == "shape") shape = &v;
      else if (k == "data_offsets") offsets = &v;
    }
    if (dtype == nullptr || shape == nullptr || offsets == nullptr)
      throw tensor_bad("missing '", dtype == nullptr ? "dtype" : shape == nullptr ? "shape" : "data_offsets", "'");
    if (dtype->kind != Json::Kind::string) throw tensor_bad("its dtype is not a string");
    DType t{};
    if (dtype->text == "F32") t = DType::float32;
    else if (dtype->text == "F64") t = DType::float64;
    else if (dtype->text == "I64") t = DType::int64;
    else throw tensor_bad("dtype '", dtype->text, "' is not one invar reads (F32, F64, I64)");
    if (shape->kind != Json::Kind::array) throw tensor_bad("its shape is not a JSON array");
    if (shape->items.size() > static_cast<std::size_t>(Shape::max_rank))
      throw tensor_bad("rank ", shape->items.size(), " is more than invar's maximum ", Shape::max_rank);
    index_t extents[Shape::max_rank] = {};
    // The element count, bounded by the data present before it is multiplied (no overflow).
    std::uint64_t bytes_needed = dtype_size(t);
    bool zero = false;
    for (std::size_t a = 0; a < shape->items.size(); ++a) {
      const Json& e = shape->items[a];
      if (e.kind != Json::Kind::number || !e.integer || e.value > std::uint64_t(std::numeric_limits<index_t>::max()))
        throw tensor_bad("extent ", a, " of its shape is not a non-negative integer (",
                         e.kind == Json::Kind::number ? e.text : std::string("not a number"), ")");
      extents[a] = static_cast<index_t>(e.value);
      if (e.value == 0) zero = true;
    }
    if (zero) {
      bytes_needed = 0;
    } else {
      for (std::size_t a = 0; a < shape->items.size(); ++a) {
        const std::uint64_t e = shape->items[a].value;
        if (e > data_size / bytes_needed)
          throw tensor_bad("its shape needs more bytes than the ", data_size, " bytes of data the file holds");
        bytes_needed *= e;
      }
    }
    if (offsets->kind != Json::Kind::array || offsets->items.size() != 2 ||
        offsets->items[0].kind != Json::Kind::number || !offsets->items[0].integer ||
        offsets->items[1].kind != Json::Kind::number || !offsets->items[1].integer)
      throw tensor_bad("data_offsets is not a pair of non-negative integers [begin, end]");
    const std::uint64_t begin = offsets->items[0].value, end = offsets->items[1].value;
    if (begin > end) throw tensor_bad("data_offsets [", begin, ", ", end, "] end before they begin");
    if (end > data_size)
      throw tensor_bad("data_offsets [", begin, ", ", end, "] reach beyond the data: the file holds ", data_size,
                       " bytes after its header (truncated?)");
    if (end - begin != bytes_needed)
      throw tensor_bad("data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes, its dtype ", dtype->text,
                       " and shape need ", bytes_needed);
    found.push_back({name, t, Shape(std::span<const index_t>(extents, shape->items.size())), begin, end});
  }
  // The tensors tile the data: sorted by their start, each starts where the previous one ended.
  std::stable_sort(found.begin(), found.end(), [](const Found& a, const Found& c) {
    return a.begin != c.begin ? a.begin < c.begin : a.end < c.end;
  });
  std::uint64_t at = 0;
  const Found* previous = nullptr;
  for (const Found& f : found) {
    if (f.begin < at)
      throw bad("tensors '", previous->name, "' and '", f.name, "' overlap: [", previous->begin, ", ", previous->end,
                ") and [", f.begin, ", ", f.end, ")");
    if (f.begin > at)
      throw bad(f.begin - at, " bytes of data at [", at, ", ", f.begin, ") belong to no tensor (before '", f.name, "')");
    at = f.end;
    previous = &f;
  }
  if (at != data_size)
    throw bad(data_size - at, " bytes after the last tensor's data (data offset ", at, ", file offset ",
              data_start + at, ")");
  for (Found& f : found) {
    Entry e{std::move(f.name), f.dtype, f.shape, {}};
    e.data.assign(b + data_start + f.begin, b + data_start + f.end);
    st.index_.emplace(e.name, st.entries_.size());
    st.entries_.push_back(std::move(e));
  }
  return st;
}

inline Safetensors Safetensors::load(const std::string& path) {
  return from_bytes(read_file_bytes(path, "safetensors file"), path);
}

}  // namespace invar::io
