#pragma once
// Child processes for tests of the command-line tools: start one (stdout and stderr to a file),
// wait for it, or kill it for real (SIGKILL: no handler, no cleanup, as a crash or an OOM kill).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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

/// Runs to the end; returns exit_code().
inline int run_process(const std::vector<std::string>& argv, const std::string& log_path) {
  Subprocess p(argv, log_path);
  return p.exit_code();
}

}  // namespace invar::test
