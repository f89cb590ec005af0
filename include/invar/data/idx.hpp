#pragma once
/// \file idx.hpp
/// IDX files (the MNIST / Fashion-MNIST format), gzipped or plain, and Fashion-MNIST itself.
///
/// An IDX file is a big-endian header followed by row-major data:
///   bytes 0-1  zero
///   byte  2    element type (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
///              0x0D float32, 0x0E float64); only 0x08 is read here (all of MNIST-like data)
///   byte  3    number of dimensions d (>= 1)
///   then d big-endian uint32 extents (the first counts the records), then the elements.
/// Gzipped and plain files are read alike (the gzip magic decides), so `.gz` is transparent.
///
/// What the reader detects (tests/data/test_idx.cpp shows each): a missing or unreadable file, a
/// bad magic, an unsupported type, absurd extents, a file shorter or longer than its header
/// declares (also beyond the records asked for with a limit), and for gzip files a corrupt
/// deflate stream, a wrong CRC-32 or length in the trailer, a stream cut anywhere (trailer
/// included) and bytes after the gzip member; the whole file is always read to its end. What it
/// cannot detect: a changed byte in a plain file of the right length (IDX has no checksum).
///
/// Every problem (missing file, bad magic, unsupported type, truncated data, corrupt gzip,
/// image/label count mismatch, labels out of range) throws invar::Error naming the file.

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/image_set.hpp"

namespace invar::data {

/// The contents of one IDX file (or of its first records): extents and the raw bytes.
struct IdxArray {
  /// Extents of what was read: dims[0] is the number of records read (<= declared_records).
  std::vector<index_t> dims;
  /// Records the file's header declares (dims[0] before a limit was applied).
  index_t declared_records = 0;
  /// Element type code from the header (always 0x08, unsigned byte, for now).
  std::uint8_t type_code = 0x08;
  /// The elements, row-major, one byte each.
  std::vector<std::uint8_t> data;

  /// The number of elements read: the product of dims (1 for no dims).
  [[nodiscard]] index_t numel() const {
    index_t n = 1;
    for (index_t d : dims) n *= d;
    return n;
  }
  /// dims[0], the records read (0 for no dims).
  [[nodiscard]] index_t records() const { return dims.empty() ? 0 : dims[0]; }
};

namespace detail {

/// An IDX file's bytes, gzipped (detected by the gzip magic 0x1f 0x8b) or plain, read with
/// zlib's inflate directly (not gzread): the reader then knows where the gzip member ends. Owns
/// the FILE and the inflate state; releases both on every path out (errors included).
/// What it detects: a corrupt deflate stream, a wrong CRC-32 or length in the trailer (inflate
/// checks both before it reports the end of the member), a stream cut anywhere before the end
/// of its trailer (stream_cut_short), and bytes after the member (finish()). Plain files carry
/// no checksum: only their length can be checked.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto status = fs::status(path, ec);
    check(fs::exists(status), "IDX file '", path, "' does not exist");
    check(!fs::is_directory(status), "IDX file '", path, "' is a directory, not a file");
    file_ = std::fopen(path.c_str(), "rb");
    check(file_ != nullptr, "cannot open IDX file '", path, "': ", std::strerror(errno));
    in_.resize(std::size_t{1} << 17);
    fill();
    gzip_ = avail_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (gzip_) {
      std::memset(&z_, 0, sizeof z_);
      check(inflateInit2(&z_, 15 + 16) == Z_OK, "IDX file '", path, "': zlib could not start (out of memory?)");
      z_open_ = true;
    }
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;
  ~IdxStream() {
    if (z_open_) inflateEnd(&z_);
    if (file_) std::fclose(file_);
  }

  /// Reads up to `n` bytes into `dst`; returns how many were read (fewer only at the end of the
  /// data). A corrupt gzip stream throws; a stream cut short returns the bytes before the cut
  /// and sets stream_cut_short().
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < n) {
      if (avail_ == 0 && !fill()) {
        if (gzip_ && !ended_) cut_short_ = true;  // the file ends inside the gzip member
        break;
      }
      if (!gzip_) {
        const std::size_t k = std::min(n - done, avail_);
        std::memcpy(out + done, in_.data() + pos_, k);
        pos_ += k;
        avail_ -= k;
        done += k;
        continue;
      }
      if (ended_) break;  // the member is over; what follows is checked by finish()
      z_.next_in = in_.data() + pos_;
      z_.avail_in = static_cast<uInt>(avail_);
      z_.next_out = out + done;
      z_.avail_out = static_cast<uInt>(std::min<std::size_t>(n - done, 1u << 30));
      const uInt before_out = z_.avail_out;
      const int ret = inflate(&z_, Z_NO_FLUSH);
      const std::size_t consumed = avail_ - z_.avail_in;
      pos_ += consumed;
      avail_ -= consumed;
      done += before_out - z_.avail_out;
      if (ret == Z_STREAM_END) ended_ = true;  // CRC-32 and length checked by inflate
      else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_MEM_ERROR || ret == Z_STREAM_ERROR)
        throw Error(invar::detail::concat("IDX file '", path_, "': corrupt gzip data (zlib: ",
                                          z_.msg ? z_.msg : "error " + std::to_string(ret), ")"));
    }
    return done;
  }

  /// Reads and discards the rest of the data; returns how many bytes there were. For a gzip file
  /// this decompresses to the end of the member (so its trailer is checked) and then refuses any
  /// byte after the member.
  std::size_t finish() {
    std::vector<unsigned char> sink(std::size_t{1} << 16);
    std::size_t rest = 0;
    for (;;) {
      const std::size_t got = read(sink.data(), sink.size());
      rest += got;
      if (got < sink.size()) break;
    }
    if (gzip_ && ended_) {
      std::size_t after = avail_;  // bytes of the buffer after the member, then the rest of the file
      avail_ = 0;
      while (fill()) {
        after += avail_;
        avail_ = 0;
      }
      check(after == 0, "IDX file '", path_, "' has ", after, " bytes after the end of its gzip stream");
    }
    return rest;
  }

  [[nodiscard]] bool stream_cut_short() const { return cut_short_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  /// Refills the input buffer when it is empty; false at the end of the file.
  bool fill() {
    if (avail_ > 0) return true;
    pos_ = 0;
    avail_ = std::fread(in_.data(), 1, in_.size(), file_);
    if (avail_ == 0 && std::ferror(file_))
      throw Error(invar::detail::concat("cannot read IDX file '", path_, "': ", std::strerror(errno)));
    return avail_ > 0;
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<unsigned char> in_;
  std::size_t pos_ = 0, avail_ = 0;
  bool gzip_ = false, z_open_ = false, ended_ = false, cut_short_ = false;
  z_stream z_{};
};

inline const char* idx_type_name(unsigned code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

inline std::string hex_byte(unsigned b) {
  const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[(b >> 4) & 0xF] + digits[b & 0xF];
}

}  // namespace detail

/// Reads an IDX file of unsigned bytes (gzipped or plain). With `max_records >= 0` only the first
/// `max_records` records are read (all of them when the file has fewer); -1 reads the whole
/// file and also checks that no data follows what the header declares.
inline IdxArray read_idx(const std::string& path, index_t max_records = -1) {
  check(max_records >= -1, "read_idx: max_records must be -1 (all) or >= 0, got ", max_records);
  detail::IdxStream file(path);

  unsigned char magic[4] = {};
  const std::size_t got_magic = file.read(magic, 4);
  check(got_magic == 4, "IDX file '", path, "' is truncated: the header needs 4 magic bytes, the file has ",
        got_magic, file.stream_cut_short() ? " (the gzip stream ends early)" : "");
  check(magic[0] == 0 && magic[1] == 0, "'", path, "' is not an IDX file: bad magic ", detail::hex_byte(magic[0]),
        " ", detail::hex_byte(magic[1]), " ", detail::hex_byte(magic[2]), " ", detail::hex_byte(magic[3]),
        " (expected 0x00 0x00 <type> <dimensions>, e.g. 0x00000803 for images)");
  const unsigned type = magic[2];
  const unsigned rank = magic[3];
  check(type == 0x08, "IDX file '", path, "': unsupported element type ", detail::hex_byte(type), " (",
        detail::idx_type_name(type), "); only 0x08 (unsigned byte) is supported");
  check(rank >= 1, "IDX file '", path, "': the header declares 0 dimensions");

  std::vector<unsigned char> extents(4 * std::size_t{rank});
  const std::size_t got_ext = file.read(extents.data(), extents.size());
  check(got_ext == extents.size(), "IDX file '", path, "' is truncated: the header declares ", rank,
        " dimensions (", extents.size(), " bytes of extents), the file has ", got_ext, " of them",
        file.stream_cut_short() ? " (the gzip stream ends early)" : "");

  IdxArray out;
  out.type_code = static_cast<std::uint8_t>(type);
  out.dims.resize(rank);
  // Extents are < 2^32 each; cap the product so that a corrupt header can never overflow it.
  constexpr index_t max_elements = index_t{1} << 46;
  index_t record_size = 1;
  for (unsigned d = 0; d < rank; ++d) {
    const unsigned char* b = extents.data() + 4 * d;
    out.dims[d] = (index_t{b[0]} << 24) | (index_t{b[1]} << 16) | (index_t{b[2]} << 8) | index_t{b[3]};
    if (d > 0) {
      check(out.dims[d] == 0 || record_size <= max_elements / out.dims[d], "IDX file '", path,
            "': absurd extents in the header (more than 2^46 bytes per record)");
      record_size *= out.dims[d];
    }
  }
  out.declared_records = out.dims[0];
  const index_t records = max_records < 0 ? out.declared_records : std::min(max_records, out.declared_records);
  check(record_size == 0 || records <= max_elements / record_size, "IDX file '", path,
        "': absurd extents in the header (more than 2^46 bytes of data)");
  out.dims[0] = records;

  // Read in chunks so that a header promising far more than the file holds costs no more memory
  // than the data actually present.
  const auto expected = static_cast<std::size_t>(records * record_size);
  constexpr std::size_t chunk = std::size_t{1} << 24;
  std::size_t have = 0;
  while (have < expected) {
    const std::size_t want = std::min(chunk, expected - have);
    out.data.resize(have + want);
    const std::size_t got = file.read(out.data.data() + have, want);
    have += got;
    if (got < want) break;
  }
  const std::size_t header_bytes = 4 + 4 * std::size_t{rank};
  check(have == expected, "IDX file '", path, "' is truncated: the header promises ", expected,
        " data bytes (", records, " records of ", record_size, " bytes) after the ", header_bytes,
        "-byte header, the file has only ", have, file.stream_cut_short() ? " (the gzip stream ends early)" : "");
  // The rest of the file, whatever the limit: the records not asked for must be there, and
  // nothing may follow them; for a gzip file this also verifies its trailer (CRC-32, length).
  const auto declared = static_cast<std::size_t>(out.declared_records * record_size);
  const std::size_t rest = file.finish();
  check(!file.stream_cut_short(), "IDX file '", path, "' is truncated: the gzip stream ends early",
        expected < declared ? " (after the records that were asked for)" : "");
  check(expected + rest >= declared, "IDX file '", path, "' is truncated: the header promises ", declared,
        " data bytes (", out.declared_records, " records of ", record_size, " bytes), the file has only ",
        expected + rest);
  check(expected + rest == declared, "IDX file '", path, "' has ", expected + rest - declared, " bytes after the ",
        declared, " data bytes its header declares (", out.declared_records, " records): wrong record count?");
  return out;
}

/// The Fashion-MNIST class names, label 0 to 9.
inline std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

namespace detail {

/// load_idx_pair with the data set's name (for messages) and class names (labels must index them).
inline ImageSet load_idx_pair_named(const std::string& images_path, const std::string& labels_path, index_t limit,
                                    std::vector<std::string> class_names, const std::string& dataset) {
  check(limit >= -1, "load_idx_pair: limit must be -1 (all) or >= 0, got ", limit);
  // Labels first: they are small, so a bad labels file fails before the images are inflated.
  IdxArray lab = read_idx(labels_path, limit);
  check(lab.dims.size() == 1, "labels file '", labels_path, "' has ", lab.dims.size(),
        " dimensions; expected 1 (count)");
  IdxArray img = read_idx(images_path, limit);
  check(img.dims.size() == 3, "images file '", images_path, "' has ", img.dims.size(),
        " dimensions; expected 3 (count x rows x columns)");
  check(img.declared_records == lab.declared_records, "image and label counts differ: '", images_path, "' holds ",
        img.declared_records, " images, '", labels_path, "' holds ", lab.declared_records, " labels");

  const index_t n = img.records(), h = img.dims[1], w = img.dims[2];
  ImageSet set;
  set.class_names = std::move(class_names);
  set.labels = Tensor<index_t>::uninitialized(Shape{n});
  const auto classes = static_cast<index_t>(set.class_names.size());
  for (index_t i = 0; i < n; ++i) {
    const index_t y = lab.data[static_cast<std::size_t>(i)];
    check(classes == 0 || y < classes, "labels file '", labels_path, "': label ", y, " of record ", i,
          " is out of range 0-", classes - 1, " for ", dataset);
    set.labels[i] = y;
  }
  set.images = Tensor<float>::uninitialized(Shape{n, 1, h, w});
  // A table of byte / 255 (correctly rounded, so exactly what a reference computes), 0 -> 0, 255 -> 1.
  float scale[256];
  for (int b = 0; b < 256; ++b) scale[b] = static_cast<float>(b) / 255.0f;
  const std::uint8_t* src = img.data.data();
  float* dst = set.images.data();
  const index_t total = set.images.numel();
  for (index_t i = 0; i < total; ++i) dst[i] = scale[src[i]];
  return set;
}

}  // namespace detail

/// Images (an IDX file N x H x W of bytes) and labels (IDX, N bytes), both gzipped or plain,
/// read into an ImageSet with images N x 1 x H x W in [0, 1]. `limit` >= 0 keeps the first
/// `limit` records (all when there are fewer); -1 keeps all. When `class_names` is given, every
/// label must be in [0, class_names.size()). The two files must declare the same count.
inline ImageSet load_idx_pair(const std::string& images_path, const std::string& labels_path, index_t limit = -1,
                              std::vector<std::string> class_names = {}) {
  return detail::load_idx_pair_named(images_path, labels_path, limit, std::move(class_names), "this data set");
}

/// Where Fashion-MNIST is looked for: $INVAR_FASHION_MNIST when set and non-empty, else
/// /usr/share/datasets/fashion-mnist (where Debian's dataset-fashion-mnist package installs it).
inline std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("INVAR_FASHION_MNIST");
  if (env != nullptr && *env != '\0') return env;
  return "/usr/share/datasets/fashion-mnist";
}

/// Fashion-MNIST's training (60000) or test (10000) set, 28 x 28 images in [0, 1], labels 0-9,
/// from `dir`'s {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same names without .gz).
inline ImageSet load_fashion_mnist(const std::string& dir = default_fashion_mnist_dir(), bool train = true,
                                   index_t limit = -1) {
  namespace fs = std::filesystem;
  const std::string prefix = train ? "train" : "t10k";
  const auto locate = [&](const std::string& stem) {
    const fs::path base = fs::path(dir) / stem;
    std::error_code ec;
    for (const char* ext : {".gz", ""}) {
      fs::path candidate = base;
      candidate += ext;
      if (fs::is_regular_file(candidate, ec)) return candidate.string();
    }
    throw Error(invar::detail::concat("Fashion-MNIST: '", base.string(), ".gz' (or without .gz) not found in '", dir,
                               "'; install the dataset-fashion-mnist package or set INVAR_FASHION_MNIST to the "
                               "directory holding the IDX files"));
  };
  const std::string images = locate(prefix + "-images-idx3-ubyte");
  const std::string labels = locate(prefix + "-labels-idx1-ubyte");
  ImageSet set = detail::load_idx_pair_named(images, labels, limit, fashion_mnist_class_names(), "Fashion-MNIST");
  check(set.images.dim(2) == 28 && set.images.dim(3) == 28, "Fashion-MNIST: '", images, "' holds ",
        set.images.dim(2), " x ", set.images.dim(3), " images; expected 28 x 28");
  return set;
}

}  // namespace invar::data
