#pragma once
// A console reporter that also remembers each benchmark's time and, at the end, prints the
// ratios between benchmarks whose names differ only in the implementation:
//   "<impl>/<case>" for impl in {invar, torch, floor}: prints torch/invar and invar/floor per case.
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
    std::printf("\n%-48s %12s %12s %10s %12s %10s\n", "case", "invar ms", "torch ms", "torch/invar", "floor ms",
                "invar/floor");
    for (const auto& [c, impl] : times_) {
      auto get = [&](const char* k) {
        auto it = impl.find(k);
        return it == impl.end() ? -1.0 : it->second;
      };
      const double inv = get("invar"), tor = get("torch"), flo = get("floor");
      if (inv < 0) continue;
      std::printf("%-48s %12.3f ", c.c_str(), inv * 1e3);
      if (tor > 0) std::printf("%12.3f %10.1fx ", tor * 1e3, tor / inv);
      else std::printf("%12s %10s  ", "-", "-");
      if (flo > 0) std::printf("%12.3f %10.2fx", flo * 1e3, inv / flo);
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> times_;
};

}  // namespace invar::bench
