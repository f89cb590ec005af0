#pragma once
/// \file run_folder.hpp
/// invar-train's output folder, kept to one run at a time:
///   - a run folder that already holds a run (any of run_files()) is refused unless the command
///     says what to do with it: --resume continues it (under the same configuration only),
///     --overwrite replaces it;
///   - an OutputLock (flock on <out>/invar-train.lock) is held by the running process for its whole
///     life and refuses a second process into the same output folder, so log.jsonl never mixes
///     two runs. The kernel releases it when the process ends, however it ends (SIGKILL
///     included); the file stays and means nothing by itself.
/// The checks read and never write: a refused command changes no file in the folder.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/json_file.hpp"
#include "common/run_config.hpp"
#include "invar/core/error.hpp"

namespace invar::apps {

/// The files invar-train writes into a run folder.
inline const std::vector<std::string>& run_files() {
  static const std::vector<std::string> files{"config.json", "checkpoint.invar", "log.jsonl", "result.json",
                                                 "model.safetensors"};
  return files;
}

/// The run files that `dir` holds (none when it does not exist).
inline std::vector<std::string> existing_run_files(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& f : run_files())
    if (std::filesystem::exists(dir / f, ec)) found.push_back(f);
  return found;
}

/// What to do with a run folder that already holds a run.
enum class ExistingRun { refuse, resume, overwrite };

/// Checks that a run with configuration `c` may go into `dir` (reads only). Refuses a folder
/// holding a run unless `mode` is resume or overwrite; with resume, also a run of another
/// configuration (the keys that differ are named).
inline void check_run_folder(const std::filesystem::path& dir, const RunConfig& c, ExistingRun mode) {
  const auto found = existing_run_files(dir);
  if (found.empty() || mode == ExistingRun::overwrite) return;
  std::string files;
  for (const auto& f : found) files += (files.empty() ? "" : ", ") + f;
  check(mode == ExistingRun::resume, "'", dir.string(), "' already holds a run (", files,
        "); give --resume to continue it, --overwrite to replace it, or another --out");
  const auto config_path = dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::exists(config_path, ec)) return;  // the trainer checks the checkpoint's own copy
  RunConfig there;
  try {
    there = read_json_file(config_path.string()).get<RunConfig>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + config_path.string() + "' is not a run configuration: " + e.what());
  }
  const nlohmann::json a = c.identity(), b = there.identity();
  if (a == b) return;
  std::string differences;
  for (const auto& [key, value] : a.items()) {
    const auto other = b.contains(key) ? b[key] : nlohmann::json();
    if (other != value)
      differences += (differences.empty() ? "" : "; ") + key + ": " + value.dump() + " given, " + other.dump() + " there";
  }
  for (const auto& [key, value] : b.items())
    if (!a.contains(key)) differences += (differences.empty() ? "" : "; ") + key + ": " + value.dump() + " there";
  throw Error("cannot resume '" + dir.string() + "': it holds a run of another configuration (" + differences +
              "); give the same options, --overwrite to replace it, or another --out");
}

/// Removes the temporary files (<run file>.tmp.<pid>) that a process killed in the middle of an
/// atomic write left in `dir`. Call it while holding the folder's OutputLock: then no live process
/// is writing them.
inline void remove_run_temporaries(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    for (const auto& f : run_files())
      if (name.rfind(f + ".tmp.", 0) == 0) std::filesystem::remove(entry.path(), ec);
  }
}

/// Removes the run files of `dir` (and temporary files left by an interrupted atomic write).
inline void remove_run_files(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  for (const auto& f : run_files()) std::filesystem::remove(dir / f, ec);
  remove_run_temporaries(dir);
}

/// The lock of an output folder: <dir>/invar-train.lock, locked with flock by the process that
/// writes into the folder, released when that process ends.
class OutputLock {
 public:
  static std::filesystem::path path_in(const std::filesystem::path& dir) { return dir / "invar-train.lock"; }

  /// Whether another process holds the lock of `dir` now; creates nothing. `holder`: what the
  /// lock file says about it ("pid 1234"), when it says something.
  static bool held_by_another(const std::filesystem::path& dir, std::string* holder = nullptr) {
    const int fd = ::open(path_in(dir).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // no lock file: nobody holds it
    const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (held && holder != nullptr) *holder = read_holder(fd);
    ::close(fd);  // releases the probe's shared lock, if it got one
    return held;
  }

  /// Takes the lock of `dir` (creating the folder and the lock file when needed) or throws,
  /// naming the process that holds it.
  explicit OutputLock(const std::filesystem::path& dir) : path_(path_in(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    check(!ec, "cannot create the output folder '", dir.string(), "': ", ec.message());
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    check(fd_ >= 0, "cannot open the lock file '", path_.string(), "': ", std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = err == EWOULDBLOCK ? read_holder(fd_) : std::string();
      ::close(fd_);
      fd_ = -1;
      check(err != EWOULDBLOCK, in_use_message(dir, holder));
      throw Error("cannot lock '" + path_.string() + "': " + std::strerror(err));
    }
    // Who holds it, for the message of a refused process.
    const std::string me = "pid " + std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
  }
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race)
  }

  /// The refusal for a folder that `holder` (may be empty) holds.
  static std::string in_use_message(const std::filesystem::path& dir, const std::string& holder) {
    return "'" + dir.string() + "' is in use by another invar-train" + (holder.empty() ? "" : " (" + holder + ")") +
           "; wait for it to end or give another --out";
  }

 private:
  static std::string read_holder(int fd) {
    char buf[64] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string s(buf, n > 0 ? std::size_t(n) : 0);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }

  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace invar::apps
