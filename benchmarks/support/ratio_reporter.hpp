#pragma once
// A console reporter that also remembers each benchmark's time and, at the end, prints the
// ratios between benchmarks whose names differ only in the implementation:
//   "<impl>/<case>" for impl in {invar, torch, torchcl, floor}: prints torch/invar (torchcl: libtorch
//   channels-last) and invar/floor per case.
// So every ratio quoted in docs/performance.md comes from one run of one binary.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace invar::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.error_occurred) continue;
      // With repetitions keep the median; without, the single run.
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      std::string name = r.run_name.str();
      const auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      const double seconds = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      times_[name.substr(slash + 1)][name.substr(0, slash)] = seconds;
    }
  }

  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    // Peers: libtorch in its default layout and, where a benchmark has it, channels-last.
    bool channels_last = false;
    for (const auto& [c, impl] : times_) channels_last = channels_last || impl.count("torchcl");
    std::printf("\n%-40s %10s %10s %11s ", "case", "invar ms", "torch ms", "torch/invar");
    if (channels_last) std::printf("%10s %13s ", "torchcl ms", "torchcl/invar");
    std::printf("%10s %11s\n", "floor ms", "invar/floor");
    for (const auto& [c, impl] : times_) {
      auto get = [&](const char* k) {
        auto it = impl.find(k);
        return it == impl.end() ? -1.0 : it->second;
      };
      const double inv = get("invar"), flo = get("floor");
      if (inv < 0) continue;
      std::printf("%-40s %10.3f ", c.c_str(), inv * 1e3);
      for (const char* peer : {"torch", "torchcl"}) {
        if (peer[5] == 'c' && !channels_last) continue;
        const double t = get(peer);
        if (t > 0) std::printf("%10.3f %10.2fx ", t * 1e3, t / inv);
        else std::printf("%10s %11s ", "-", "-");
        if (peer[5] == 'c') std::printf("  ");
      }
      if (flo > 0) std::printf("%10.3f %10.2fx", flo * 1e3, inv / flo);
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> times_;
};

}  // namespace invar::bench
