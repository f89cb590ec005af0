#pragma once
/// \file atomic_file.hpp
/// AtomicFile: writes a file so that its path holds either the old contents or the complete new
/// ones, never a half-written file, even if the process dies mid-write or the disk fills up.
///
/// The data go to `path + ".tmp.<pid>"` in the same directory (so the final rename never crosses
/// a file system); commit() flushes them, fsyncs the file, renames it over `path` (atomic on
/// POSIX) and fsyncs the directory so that the rename itself survives a power cut. Any failure,
/// or destruction without commit(), removes the temporary file and leaves `path` untouched.

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#include <process.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

#include "invar/core/error.hpp"

namespace invar::io {

/// A file written all-or-nothing: write(), then commit() (see the file comment). Not copyable.
class AtomicFile {
 public:
  /// Creates the temporary file next to `path`; throws invar::Error naming `path` when it cannot
  /// (missing directory, no permission, read-only file system).
  explicit AtomicFile(std::string path) : path_(std::move(path)), temp_(path_ + ".tmp." + std::to_string(pid())) {
    file_ = std::fopen(temp_.c_str(), "wb");
    temp_exists_ = file_ != nullptr;
    if (file_ == nullptr) fail("cannot create the temporary file '" + temp_ + "'", std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Not committed: the temporary file goes, `path` keeps what it had.
  ~AtomicFile() { discard(); }

  /// Appends bytes to the temporary file.
  void write(const void* data, std::size_t bytes) {
    check(file_ != nullptr, "AtomicFile::write: '", path_, "' was already committed or discarded");
    if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes)
      fail("writing the temporary file '" + temp_ + "' failed", std::strerror(errno));
  }

  /// Flushes and fsyncs the data, then renames the temporary file over `path`.
  void commit() {
    check(file_ != nullptr, "AtomicFile::commit: '", path_, "' was already committed or discarded");
    if (std::fflush(file_) != 0) fail("flushing the temporary file '" + temp_ + "' failed", std::strerror(errno));
    if (sync_file(file_) != 0) fail("fsync of the temporary file '" + temp_ + "' failed", std::strerror(errno));
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) fail("closing the temporary file '" + temp_ + "' failed", std::strerror(errno));
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    if (ec) fail("renaming '" + temp_ + "' over it failed", ec.message());
    temp_exists_ = false;  // it is `path` now
    sync_directory();
  }

  /// The final path.
  [[nodiscard]] const std::string& path() const { return path_; }
  /// The temporary file written until commit(): `path() + ".tmp." + pid`.
  [[nodiscard]] const std::string& temp_path() const { return temp_; }

 private:
  static long pid() {
#if defined(_WIN32)
    return static_cast<long>(_getpid());
#else
    return static_cast<long>(::getpid());
#endif
  }

  static int sync_file(std::FILE* f) {
#if defined(_WIN32)
    return _commit(_fileno(f));
#else
    return ::fsync(::fileno(f));
#endif
  }

  /// Best effort: makes the rename durable. A failure here cannot undo the (complete) file.
  void sync_directory() const noexcept {
#if !defined(_WIN32)
    std::string dir = std::filesystem::path(path_).parent_path().string();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
      (void)::fsync(fd);
      ::close(fd);
    }
#endif
  }

  void discard() noexcept {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
    if (temp_exists_) std::remove(temp_.c_str());
    temp_exists_ = false;
  }

  [[noreturn]] void fail(const std::string& what, const std::string& why) {
    discard();
    throw Error(invar::detail::concat("cannot save '", path_, "': ", what, ": ", why));
  }

  std::string path_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool temp_exists_ = false;  // the temporary file is ours to remove
};

/// Writes `contents` to `path` through an AtomicFile: the whole text or the old file, never half.
inline void write_file_atomically(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents.data(), contents.size());
  f.commit();
}

/// Writes to `path` atomically what `produce(sink)` emits through `sink(data, bytes)`, in order:
/// the one shell of the file types that serialise themselves (Archive, Safetensors), whose
/// to_bytes() uses the same producer with collect_bytes().
template <class Produce>
void save_produced(const std::string& path, Produce&& produce) {
  AtomicFile file(path);
  produce([&](const void* data, std::size_t bytes) { file.write(data, bytes); });
  file.commit();
}

/// What `produce(sink)` emits (as for save_produced), in memory; `reserve`: the expected size.
template <class Produce>
std::vector<unsigned char> collect_bytes(Produce&& produce, std::size_t reserve = 0) {
  std::vector<unsigned char> out;
  out.reserve(reserve);
  produce([&](const void* data, std::size_t bytes) {
    const auto* b = static_cast<const unsigned char*>(data);
    out.insert(out.end(), b, b + bytes);
  });
  return out;
}

}  // namespace invar::io
