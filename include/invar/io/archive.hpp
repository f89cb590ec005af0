#pragma once
/// \file archive.hpp
/// invar::io::Archive: named tensors (float32, float64, int64), scalars and text in one
/// versioned, checksummed binary file: model parameters, optimiser state, training state.
///
/// \code
/// invar::io::Archive ar;
/// ar.put("fc1.weight", w);                 // Tensor<float> or any TensorView<const float>
/// ar.put_scalar("epoch", 12);              // integers are stored as int64, reals as float64
/// ar.put_text("model", "mlp-784-256-10");
/// ar.save("run/model.invar");              // atomic: the old file or the new one, never half
///
/// auto back = invar::io::Archive::load("run/model.invar");   // checks magic, version, size, CRC
/// Tensor<float> w2 = back.get<float>("fc1.weight");
/// Tensor<double> w3 = back.get<double>("fc1.weight");        // converted on request
/// index_t epoch = back.scalar<index_t>("epoch");
/// \endcode
///
/// The byte layout is in io/archive_format.hpp and docs/parameter-files.md. Entries keep the
/// order they were first put in; putting an existing name replaces its value in place.

#include <algorithm>
#include <cerrno>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
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
#include "invar/io/crc32.hpp"

namespace invar::io {

/// Named tensors, scalars and text, saved to and loaded from one parameter file (see the file comment).
class Archive {
 public:
  /// An empty archive (source "memory").
  Archive() = default;

  /// Stores a copy of a tensor (any rank up to 8, any size, zero included) under `name`, as
  /// float32. Throws invar::Error for an empty name or one longer than format::max_name_length.
  void put(const std::string& name, TensorView<const float> values) { put_tensor(name, DType::float32, values); }
  /// As above, stored as float64.
  void put(const std::string& name, TensorView<const double> values) { put_tensor(name, DType::float64, values); }
  /// As above, stored as int64.
  void put(const std::string& name, TensorView<const index_t> values) { put_tensor(name, DType::int64, values); }

  /// Stores a string (metadata: model description, git revision, command line...).
  void put_text(const std::string& key, std::string_view value) {
    put_raw(key, DType::text, Shape{static_cast<index_t>(value.size())}, value.data(), value.size());
  }

  /// Stores a real scalar as float64 (learning rate, best accuracy...).
  template <std::floating_point F>
  void put_scalar(const std::string& name, F value) {
    const double v = static_cast<double>(value);
    put_raw(name, DType::float64, Shape{}, &v, sizeof v);
  }
  /// Stores an integer scalar as int64 (epoch, step, seed...). bool is stored as 0 or 1.
  template <std::integral I>
  void put_scalar(const std::string& name, I value) {
    std::int64_t v = 0;
    if constexpr (std::is_same_v<I, bool>) {
      v = value ? 1 : 0;
    } else {
      check(std::in_range<std::int64_t>(value), "Archive::put_scalar: value ", value, " of '", name,
            "' does not fit in int64");
      v = static_cast<std::int64_t>(value);
    }
    put_raw(name, DType::int64, Shape{}, &v, sizeof v);
  }

  /// A copy of tensor `name` as T (float, double or index_t). float32 and float64 entries convert
  /// to either floating type; int64 entries read only as index_t. Scalars read as rank-0 tensors.
  template <class T>
  [[nodiscard]] Tensor<T> get(const std::string& name) const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, index_t>,
                  "Archive::get<T>: T is float, double or invar::index_t");
    const Entry& e = find(name, "get");
    const bool fits = std::is_same_v<T, index_t> ? e.dtype == DType::int64
                                                 : (e.dtype == DType::float32 || e.dtype == DType::float64);
    check(fits, "Archive::get<", requested_name<T>(), ">: entry '", name, "' in ", where(), " holds ", describe(e),
          e.dtype == DType::text    ? "; read it with text()"
          : e.dtype == DType::int64 ? "; read it with get<index_t>()"
                                    : "; read it with get<float>() or get<double>()");
    auto out = Tensor<T>::uninitialized(e.shape);
    if constexpr (std::is_same_v<T, index_t>) {
      copy_as<std::int64_t>(e, out.data());
    } else {
      if (e.dtype == DType::float32) copy_as<float>(e, out.data());
      else copy_as<double>(e, out.data());
    }
    return out;
  }

  /// Scalar `name` as T. Floating T reads any numeric scalar; integral T reads int64 scalars
  /// only, and checks that the value fits in T.
  template <class T = double>
  [[nodiscard]] T scalar(const std::string& name) const {
    static_assert(std::is_arithmetic_v<T>, "Archive::scalar<T>: T is an arithmetic type");
    const Entry& e = find(name, "scalar");
    check(e.dtype != DType::text && e.shape.rank() == 0, "Archive::scalar: entry '", name, "' in ", where(),
          " holds ", describe(e), ", not a scalar");
    if constexpr (std::is_floating_point_v<T>) {
      if (e.dtype == DType::float32) return static_cast<T>(format::load<float>(e.data.data()));
      if (e.dtype == DType::float64) return static_cast<T>(format::load<double>(e.data.data()));
      return static_cast<T>(format::load<std::int64_t>(e.data.data()));
    } else {
      check(e.dtype == DType::int64, "Archive::scalar: entry '", name, "' in ", where(), " holds ", describe(e),
            "; read it with scalar<double>()");
      const auto v = format::load<std::int64_t>(e.data.data());
      if constexpr (std::is_same_v<T, bool>) {
        check(v == 0 || v == 1, "Archive::scalar<bool>: entry '", name, "' holds ", v, ", not 0 or 1");
        return v == 1;
      } else {
        check(std::in_range<T>(v), "Archive::scalar: entry '", name, "' holds ", v,
              ", which does not fit in the requested integer type");
        return static_cast<T>(v);
      }
    }
  }

  /// The string stored under `key` by put_text.
  [[nodiscard]] std::string text(const std::string& key) const {
    const Entry& e = find(key, "text");
    check(e.dtype == DType::text, "Archive::text: entry '", key, "' in ", where(), " holds ", describe(e),
          ", not text");
    return std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size());
  }

  /// Whether an entry `name` exists.
  [[nodiscard]] bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// Entry names in file order (the order they were first put in).
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
  }
  /// The number of entries.
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  /// Whether there are no entries.
  [[nodiscard]] bool empty() const { return entries_.empty(); }
  /// Type of entry `name`; throws invar::Error (listing the entries) when there is none.
  [[nodiscard]] DType dtype(const std::string& name) const { return find(name, "dtype").dtype; }
  /// Shape of entry `name`: rank 0 for scalars, [bytes] for text.
  [[nodiscard]] Shape shape(const std::string& name) const { return find(name, "shape").shape; }
  /// Where the archive came from ("memory" until loaded): messages name it.
  [[nodiscard]] const std::string& source() const { return source_; }

  /// Same entries (names, order, types, shapes, bytes); the source is not compared.
  friend bool operator==(const Archive& a, const Archive& b) { return a.entries_ == b.entries_; }

  /// The size save() writes, in bytes.
  [[nodiscard]] std::size_t file_size() const {
    std::size_t n = format::header_size + format::checksum_size;
    for (const Entry& e : entries_) n += format::entry_size(e.name.size(), e.shape.rank(), e.data.size());
    return n;
  }

  /// The file's bytes, in memory (what save() writes).
  [[nodiscard]] std::vector<unsigned char> to_bytes() const {
    return collect_bytes([&](auto&& sink) { write_to(sink); }, file_size());
  }

  /// Writes the archive to `path` atomically (io/atomic_file.hpp): `path` holds either its old
  /// contents or the complete new file. Throws invar::Error naming `path` on any failure.
  void save(const std::string& path) const {
    save_produced(path, [&](auto&& sink) { write_to(sink); });
  }

  /// Parses an archive from bytes; `source` names it in messages. Checks, in order: magic,
  /// version, size against the header, CRC-32, then every entry's bounds (so a corrupt or
  /// hostile file gives invar::Error, never a crash or an allocation beyond its own size).
  static Archive from_bytes(std::span<const unsigned char> bytes, const std::string& source = "memory");

  /// Reads and checks `path` (see from_bytes).
  static Archive load(const std::string& path);

 private:
  struct Entry {
    std::string name;
    DType dtype = DType::float32;
    Shape shape;
    std::vector<unsigned char> data;  // little-endian elements, row-major
    bool operator==(const Entry&) const = default;
  };

  template <class T>
  void put_tensor(const std::string& name, DType dtype, TensorView<const T> values) {
    put_raw(name, dtype, values.shape(), values.data(), static_cast<std::size_t>(values.numel()) * sizeof(T));
  }

  void put_raw(const std::string& name, DType dtype, const Shape& shape, const void* data, std::size_t bytes) {
    check(!name.empty(), "Archive::put: the entry name is empty");
    check(name.size() <= format::max_name_length, "Archive::put: entry name of ", name.size(),
          " bytes is longer than the maximum ", format::max_name_length);
    Entry e{name, dtype, shape, {}};
    const auto* b = static_cast<const unsigned char*>(data);
    e.data.assign(b, b + bytes);
    auto [it, inserted] = index_.try_emplace(name, entries_.size());
    if (inserted) {
      check(entries_.size() < std::numeric_limits<std::uint32_t>::max(), "Archive::put: too many entries");
      entries_.push_back(std::move(e));
    } else {
      entries_[it->second] = std::move(e);
    }
  }

  const Entry& find(const std::string& name, const char* caller) const {
    const auto it = index_.find(name);
    if (it != index_.end()) return entries_[it->second];
    std::string list;
    const std::size_t shown = std::min<std::size_t>(entries_.size(), 20);
    for (std::size_t i = 0; i < shown; ++i) list += (i ? ", " : "") + entries_[i].name;
    if (shown < entries_.size()) list += invar::detail::concat(", ... (", entries_.size() - shown, " more)");
    throw Error(invar::detail::concat("Archive::", caller, ": no entry '", name, "' in ", where(),
                                      entries_.empty() ? "; it is empty" : "; it holds: ", list));
  }

  [[nodiscard]] std::string where() const {
    return source_ == "memory" ? std::string("the archive") : "'" + source_ + "'";
  }

  static std::string describe(const Entry& e) {
    if (e.dtype == DType::text) return invar::detail::concat("text (", e.data.size(), " bytes)");
    if (e.shape.rank() == 0)
      return invar::detail::concat(e.dtype == DType::int64 ? "an " : "a ", dtype_name(e.dtype), " scalar");
    return invar::detail::concat(dtype_name(e.dtype), " ", e.shape);
  }

  template <class T>
  static const char* requested_name() {
    if constexpr (std::is_same_v<T, float>) return "float";
    else if constexpr (std::is_same_v<T, double>) return "double";
    else return "index_t";
  }

  /// Copies the entry's elements, stored as `Stored`, into `out`, converting to `Out`.
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

  template <class Sink>
  void write_to(Sink&& sink) const;

  std::vector<Entry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  std::string source_ = "memory";
};

template <class Sink>
void Archive::write_to(Sink&& sink) const {
  Crc32 crc;
  const auto emit = [&](const void* p, std::size_t n) {
    crc.update(p, n);
    sink(p, n);
  };
  unsigned char header[format::header_size];
  std::memcpy(header, format::magic.data(), format::magic.size());
  format::store<std::uint32_t>(header + format::version_offset, format::current_version);
  format::store<std::uint32_t>(header + format::count_offset, static_cast<std::uint32_t>(entries_.size()));
  format::store<std::uint64_t>(header + format::size_offset, static_cast<std::uint64_t>(file_size()));
  emit(header, sizeof header);
  std::vector<unsigned char> head;
  for (const Entry& e : entries_) {
    const int rank = e.shape.rank();
    head.assign(format::entry_size(e.name.size(), rank, 0), 0);
    unsigned char* p = head.data();
    format::store<std::uint32_t>(p, static_cast<std::uint32_t>(e.name.size()));
    std::memcpy(p + 4, e.name.data(), e.name.size());
    p += 4 + e.name.size();
    p[0] = static_cast<unsigned char>(e.dtype);
    p[1] = static_cast<unsigned char>(rank);
    for (int a = 0; a < rank; ++a) format::store<std::int64_t>(p + 2 + 8 * a, e.shape[a]);
    emit(head.data(), head.size());
    emit(e.data.data(), e.data.size());
  }
  unsigned char tail[format::checksum_size];
  format::store<std::uint32_t>(tail, crc.value());
  sink(tail, sizeof tail);
}

inline Archive Archive::from_bytes(std::span<const unsigned char> bytes, const std::string& source) {
  using invar::detail::concat;
  const std::size_t n = bytes.size();
  const unsigned char* b = bytes.data();
  check(n > 0, "'", source, "' is empty (0 bytes): not an invar parameter file");

  const std::size_t m = std::min(n, format::magic.size());
  if (std::memcmp(b, format::magic.data(), m) != 0) {
    std::string start;
    const char* hex = "0123456789ABCDEF";
    for (std::size_t i = 0; i < m; ++i) start += concat(i ? " " : "", hex[b[i] >> 4], hex[b[i] & 15]);
    throw Error(concat("'", source, "' is not an invar parameter file: it starts with bytes ", start,
                       ", not \"INVARCK\\0\""));
  }
  const auto truncated = [&](const char* needs) {
    return concat("'", source, "' is truncated at offset ", n, ": ", needs);
  };
  check(n >= format::version_offset + 4, truncated("the header is 24 bytes"));
  const auto version = format::load<std::uint32_t>(b + format::version_offset);
  check(version <= format::current_version, "'", source, "' has format version ", version,
        ", newer than this build of invar reads (version ", format::current_version, "): upgrade invar to load it");
  check(version >= format::oldest_version, "'", source, "' has format version ", version,
        ", which no invar release wrote; this build reads versions ", format::oldest_version, " to ",
        format::current_version);
  check(n >= format::header_size, truncated("the header is 24 bytes"));
  const auto declared = format::load<std::uint64_t>(b + format::size_offset);
  check(declared >= format::header_size + format::checksum_size, "'", source,
        "' is malformed: its header records a file size of ", declared, " bytes, less than the 28 of an empty file");
  check(n >= declared, truncated(concat("its header records a file size of ", declared, " bytes").c_str()));
  check(n == declared, "'", source, "' has ", n - declared, " unexpected bytes after offset ", declared,
        " (the file size its header records)");

  const std::size_t body = n - format::checksum_size;
  const auto stored = format::load<std::uint32_t>(b + body);
  const auto computed = crc32_of(b, body);
  if (stored != computed) {
    char s[16], c[16];
    std::snprintf(s, sizeof s, "%08X", static_cast<unsigned>(stored));
    std::snprintf(c, sizeof c, "%08X", static_cast<unsigned>(computed));
    throw Error(concat("'", source, "': checksum mismatch: file altered or corrupt (stored CRC-32 0x", s,
                       ", computed 0x", c, ")"));
  }

  // The checksum matched, so what follows only fails for files written by something else than
  // invar (or a CRC collision): every size is still checked against the bytes present.
  Archive ar;
  ar.source_ = source;
  const auto count = format::load<std::uint32_t>(b + format::count_offset);
  format::Reader r(b, body, format::header_size, source);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t at = r.pos();
    const auto bad = [&](const auto&... parts) {
      return Error(concat("'", source, "' is malformed at offset ", at, " (entry ", i, "): ", parts...));
    };
    const auto name_length = r.read<std::uint32_t>("an entry's name length");
    if (name_length == 0 || name_length > format::max_name_length)
      throw bad("a name of ", name_length, " bytes (allowed: 1 to ", format::max_name_length, ")");
    const unsigned char* name_bytes = r.take(name_length, "an entry's name");
    std::string name(reinterpret_cast<const char*>(name_bytes), name_length);
    const auto type = r.read<std::uint8_t>("an entry's type");
    if (type < 1 || type > 4) throw bad("'", name, "' has unknown type code ", int{type});
    const auto dtype = static_cast<DType>(type);
    const int rank = r.read<std::uint8_t>("an entry's rank");
    if (rank > format::max_rank)
      throw bad("'", name, "' has rank ", rank, ", more than the maximum ", format::max_rank);
    if (dtype == DType::text && rank != 1) throw bad("text entry '", name, "' has rank ", rank, " (text is rank 1)");
    index_t extents[format::max_rank] = {};
    std::size_t data_bytes = dtype_size(dtype);
    for (int a = 0; a < rank; ++a) {
      extents[a] = r.read<std::int64_t>("an entry's extents");
      if (extents[a] < 0) throw bad("'", name, "' has a negative extent ", extents[a], " on axis ", a);
    }
    for (int a = 0; a < rank; ++a) {  // the product, without overflow: bounded by the bytes left
      const auto e = static_cast<std::size_t>(extents[a]);
      if (data_bytes != 0 && e > r.remaining() / data_bytes)
        throw bad("the data of '", name, "' (", dtype_name(dtype), ", extent ", extents[a], " on axis ", a,
                  ") would extend beyond the end of the file");
      data_bytes *= e;
    }
    const unsigned char* data = r.take(data_bytes, "an entry's data");
    if (ar.contains(name)) throw bad("a second entry named '", name, "'");
    Entry e{std::move(name), dtype,
            Shape(std::span<const index_t>(extents, static_cast<std::size_t>(rank))), {}};
    e.data.assign(data, data + data_bytes);
    ar.index_.emplace(e.name, ar.entries_.size());
    ar.entries_.push_back(std::move(e));
  }
  check(r.remaining() == 0, "'", source, "' is malformed: ", r.remaining(), " bytes after the last of its ", count,
        " entries (offset ", r.pos(), ")");
  return ar;
}

inline Archive Archive::load(const std::string& path) {
  return from_bytes(read_file_bytes(path, "parameter file"), path);
}

}  // namespace invar::io
