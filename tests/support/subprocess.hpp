#pragma once
// Child processes for tests of the command-line tools: start one (stdout and stderr to a file),
// wait for it, or kill it for real (SIGKILL: no handler, no cleanup, as a crash or an OOM kill).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace invar::test {

class Subprocess {
 public:
  /// Starts argv[0] (a path) with argv, its output appended to `log_path`.
  Subprocess(const std::vector<std::string>& argv, const std::string& log_path) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
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

/// Runs argv to the end with every file it writes limited to `max_file_bytes` (RLIMIT_FSIZE,
/// SIGXFSZ ignored, so that a write past the limit fails with EFBIG as on a full disk instead of
/// killing the process); returns the exit code, or -signal. No root needed.
inline int run_process_with_file_limit(const std::vector<std::string>& argv, const std::string& log_path,
                                       std::uint64_t max_file_bytes) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot open " + log_path);
  const pid_t pid = ::fork();
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    const struct rlimit limit{max_file_bytes, max_file_bytes};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    ::signal(SIGXFSZ, SIG_IGN);  // ignored signals stay ignored across exec
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(log);
  if (pid < 0) throw std::runtime_error("fork failed for " + argv[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1000;
}

/// Runs to the end; returns exit_code().
inline int run_process(const std::vector<std::string>& argv, const std::string& log_path) {
  Subprocess p(argv, log_path);
  return p.exit_code();
}

}  // namespace invar::test
