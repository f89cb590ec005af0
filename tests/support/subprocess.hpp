#pragma once
// Child processes for tests of the command-line tools: start one (stdout and stderr to a file),
// wait for it, pause it, or kill it for real (SIGKILL: no handler, no cleanup, as a crash or an
// OOM kill). Faults a user meets, injected without root: a full disk (every file limited to N
// bytes) and a read-only folder (a child that keeps its user but loses root's override of file
// permissions, so that chmod binds it even when the tests run as root, as in CI).

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace invar::test {

/// How a child is started.
struct ChildLimits {
  /// Every file it writes is limited to this many bytes (RLIMIT_FSIZE, SIGXFSZ ignored, so that a
  /// write past the limit fails with EFBIG as on a full disk instead of killing it); 0: no limit.
  std::uint64_t max_file_bytes = 0;
  /// File permissions bind it as they bind an ordinary user: when the tests run as root, the child
  /// enters a new user namespace where root's capabilities (CAP_DAC_OVERRIDE) do not apply to the
  /// files outside it; it stays their owner, so it reads and writes what the owner may.
  bool permissions_bind = false;
};

/// The permissions of a read-only folder (r-x for all): with ChildLimits::permissions_bind, the
/// child can neither create, rename nor remove files in it.
inline constexpr std::filesystem::perms read_only_folder =
    std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec | std::filesystem::perms::group_read |
    std::filesystem::perms::group_exec | std::filesystem::perms::others_read | std::filesystem::perms::others_exec;

/// The exit status a child uses when it could not be given the asked limits (no exec happened).
inline constexpr int child_setup_failed = 125;

/// Whether this machine can run a child on which file permissions bind (always, unless the tests
/// run as root where user namespaces are not allowed).
inline bool permissions_can_bind() {
  if (::geteuid() != 0) return true;
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  if (pid < 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class Subprocess {
 public:
  /// Starts argv[0] (a path) with argv, its output appended to `log_path`.
  Subprocess(const std::vector<std::string>& argv, const std::string& log_path, const ChildLimits& limits = {}) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) throw std::runtime_error("cannot open " + log_path + ": " + std::strerror(errno));
    const bool as_root = ::geteuid() == 0;
    pid_ = ::fork();
    if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
      if (limits.max_file_bytes > 0) {
        const struct rlimit limit{limits.max_file_bytes, limits.max_file_bytes};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        ::signal(SIGXFSZ, SIG_IGN);  // ignored signals stay ignored across exec
      }
      if (limits.permissions_bind && as_root && ::unshare(CLONE_NEWUSER) != 0) ::_exit(child_setup_failed);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(log);
    if (pid_ < 0) throw std::runtime_error("fork failed for " + argv[0] + ": " + std::strerror(errno));
  }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  /// Whether it is still running (not yet exited or killed).
  bool running() {
    if (reaped_) return false;
    const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) reaped_ = true;
    return !reaped_;
  }
  void kill_now() { ::kill(pid_, SIGKILL); }
  /// Stops it where it is (SIGSTOP), until resume().
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  /// Waits for the end; returns the raw wait status.
  int wait() {
    while (!reaped_) {
      const pid_t r = ::waitpid(pid_, &status_, 0);
      if (r == pid_ || (r < 0 && errno != EINTR)) reaped_ = true;
    }
    return status_;
  }
  /// The exit code (waits), or -signal when a signal ended it.
  int exit_code() {
    const int s = wait();
    return WIFEXITED(s) ? WEXITSTATUS(s) : WIFSIGNALED(s) ? -WTERMSIG(s) : -1000;
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

/// Runs to the end; returns exit_code().
inline int run_process(const std::vector<std::string>& argv, const std::string& log_path,
                       const ChildLimits& limits = {}) {
  Subprocess p(argv, log_path, limits);
  return p.exit_code();
}

/// Runs argv to the end with every file it writes limited to `max_file_bytes` (a full disk).
inline int run_process_with_file_limit(const std::vector<std::string>& argv, const std::string& log_path,
                                       std::uint64_t max_file_bytes) {
  return run_process(argv, log_path, ChildLimits{.max_file_bytes = max_file_bytes});
}

}  // namespace invar::test
