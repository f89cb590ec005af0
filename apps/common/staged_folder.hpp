#pragma once
// StagedFolder: an output folder that appears whole or not at all. Everything is written into a
// staging folder beside it (<out>.tmp.<pid>); publish() then swaps it into place: with Linux's
// renameat2(RENAME_EXCHANGE) in one atomic step, else by renaming the old folder aside
// (<out>.old.<pid>) first. At every moment <out> is the old complete folder or the new complete
// one (with the fallback, briefly neither), never a mix of two runs. A process killed before
// publish() leaves its staging folder; the next StagedFolder of the same <out> removes the
// staging and aside folders of processes that no longer run.

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "invar/core/error.hpp"

namespace invar::apps {

class StagedFolder {
 public:
  /// Prepares a fresh staging folder for `final_path` (which may exist: it stays until publish()).
  explicit StagedFolder(std::string final_path) : final_(std::move(final_path)) {
    namespace fs = std::filesystem;
    while (!final_.empty() && final_.back() == '/') final_.pop_back();
    check(!final_.empty(), "--out: an empty output folder name");
    remove_stale();
    staging_ = final_ + ".tmp." + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(staging_, ec);
    fs::create_directories(staging_, ec);
    check(!ec, "cannot create the staging folder '", staging_, "' beside '", final_, "': ", ec.message());
  }
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  /// Not published (an error): the staging folder goes, the final folder keeps what it had.
  ~StagedFolder() {
    if (published_) return;
    std::error_code ec;
    std::filesystem::remove_all(staging_, ec);
  }

  /// Where to write everything.
  [[nodiscard]] const std::string& path() const { return staging_; }
  /// The folder the caller asked for.
  [[nodiscard]] const std::string& final_path() const { return final_; }

  /// Puts the staging folder in the final folder's place (see the file comment).
  void publish() {
    namespace fs = std::filesystem;
    std::error_code ec;
    sync_folder(staging_);
    if (fs::exists(final_, ec)) {
#if defined(RENAME_EXCHANGE)
      if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) == 0) {
        fs::remove_all(staging_, ec);  // now holds the old folder
        published_ = true;
        sync_parent();
        return;
      }
#endif
      const std::string aside = final_ + ".old." + std::to_string(::getpid());
      fs::remove_all(aside, ec);
      fs::rename(final_, aside, ec);
      check(!ec, "cannot move the old '", final_, "' aside to '", aside, "': ", ec.message());
      fs::rename(staging_, final_, ec);
      if (ec) {
        std::error_code back;
        fs::rename(aside, final_, back);  // put the old one back
        throw Error(invar::detail::concat("cannot rename '", staging_, "' to '", final_, "': ", ec.message()));
      }
      fs::remove_all(aside, ec);
    } else {
      fs::rename(staging_, final_, ec);
      check(!ec, "cannot rename '", staging_, "' to '", final_, "': ", ec.message());
    }
    published_ = true;
    sync_parent();
  }

 private:
  /// Removes <final>.tmp.<pid> and <final>.old.<pid> of processes that no longer run.
  void remove_stale() const {
    namespace fs = std::filesystem;
    const fs::path f(final_);
    const fs::path parent = f.has_parent_path() ? f.parent_path() : fs::path(".");
    const std::string name = f.filename().string();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(parent, ec)) {
      const std::string n = entry.path().filename().string();
      for (const std::string tag : {".tmp.", ".old."}) {
        const std::string prefix = name + tag;
        if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string pid = n.substr(prefix.size());
        if (pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
        if (::kill(static_cast<pid_t>(std::stol(pid)), 0) == 0 || errno != ESRCH) continue;  // still running
        std::error_code rm;
        fs::remove_all(entry.path(), rm);
      }
    }
  }
  static void sync_folder(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
      (void)::fsync(fd);
      ::close(fd);
    }
  }
  void sync_parent() const {
    const std::filesystem::path f(final_);
    sync_folder(f.has_parent_path() ? f.parent_path().string() : ".");
  }

  std::string final_, staging_;
  bool published_ = false;
};

}  // namespace invar::apps
