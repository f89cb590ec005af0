#pragma once
/// \file progress.hpp
/// A one-line progress bar on stderr: position, rate, ETA and running values, redrawn at most
/// ten times a second. Quiet when stderr is not a terminal (logs and CI stay clean) or when
/// disabled; the trainer's JSON-lines log carries the numbers either way.

#if !defined(INVAR_COMPONENT_TRAIN)
#error "invar: <invar/train/progress.hpp> is part of the component invar::train: find_package(invar COMPONENTS train) and link the target invar::train"
#endif

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "invar/core/config.hpp"

namespace invar::train {

/// A progress bar over `total` steps on stderr (see the file comment).
class ProgressBar {
 public:
  /// `label` leads the line; `items_per_step` converts steps into the shown rate (img/s).
  /// `enabled` is and-ed with "stderr is a terminal".
  ProgressBar(std::string label, index_t total, index_t items_per_step, bool enabled = true)
      : label_(std::move(label)),
        total_(total),
        items_(items_per_step),
        enabled_(enabled && ::isatty(::fileno(stderr)) != 0),
        start_(Clock::now()),
        last_draw_(start_) {}

  /// Whether the bar draws anything.
  [[nodiscard]] bool enabled() const { return enabled_; }

  /// After step `done` (1-based count of finished steps), with named running values.
  void update(index_t done, const std::vector<std::pair<std::string, double>>& values) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? double(done * items_) / elapsed : 0;
    const double eta = done > 0 ? elapsed * double(total_ - done) / double(done) : 0;
    constexpr int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %.0f img/s ETA %s", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), rate, clock_text(eta).c_str());
    for (const auto& [name, v] : values) std::fprintf(stderr, " %s %.4g", name.c_str(), v);
    std::fprintf(stderr, "\033[K");  // clear the rest of a longer previous line
    std::fflush(stderr);
  }

  /// Ends the line (the next output starts on a fresh one).
  void finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

  /// "m:ss" or "h:mm:ss".
  static std::string clock_text(double seconds) {
    const long s = seconds > 0 ? static_cast<long>(seconds + 0.5) : 0;
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  index_t total_, items_;
  bool enabled_;
  Clock::time_point start_, last_draw_;
};

}  // namespace invar::train
