// GPU against CPU for every op and every loss path (tests/device/device_cases.hpp), on random
// inputs with odd sizes, B = 1, one-row groups, shuffled ids, unlabelled rows and large D:
// relative error (2-norm over a case's outputs) <= 1e-5 in double and <= 1e-4 in float, NaN where
// the CPU has NaN, and the same bits when the GPU runs a case twice (fixed-order reductions).
// Exit code 77 (ctest: skipped) where no CUDA device is present: never reported as passed.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "invar/cpu.hpp"
#include "device/device_cases.hpp"
#include "device_ops_cuda.hpp"

namespace dt = invar::device_test;

TEST_CASE("CUDA against CPU: every op and loss path, float and double, bit-identical reruns") {
  for (const std::string scalar : {"float", "double"})
    for (const auto& name : dt::case_names()) {
      CAPTURE(scalar);
      CAPTURE(name);
      const auto cpu = dt::run_case<invar::Cpu>(scalar, name, 4321);
      const auto gpu = dt::run_on_cuda(scalar, name, 4321);
      const auto again = dt::run_on_cuda(scalar, name, 4321);
      REQUIRE(cpu.size() == gpu.size());
      REQUIRE(gpu.size() == again.size());
      double diff2 = 0, ref2 = 0;
      std::size_t nan_mismatch = 0, rerun_mismatch = 0;
      for (std::size_t i = 0; i < cpu.size(); ++i) {
        const bool cn = std::isnan(cpu[i]), gn = std::isnan(gpu[i]);
        if (cn || gn) {
          nan_mismatch += cn != gn;
        } else {
          diff2 += (cpu[i] - gpu[i]) * (cpu[i] - gpu[i]);
          ref2 += cpu[i] * cpu[i];
        }
        if (std::memcmp(&gpu[i], &again[i], sizeof(double)) != 0) ++rerun_mismatch;
      }
      const double rel = std::sqrt(diff2) / std::max(std::sqrt(ref2), 1e-300);
      const double tol = scalar == "float" ? 1e-4 : 1e-5;
      CHECK(nan_mismatch == 0);
      CHECK(rel <= tol);
      CHECK(rerun_mismatch == 0);
      std::printf("cuda %-6s %-28s relative error %.3e (%zu values)\n", scalar.c_str(), name.c_str(), rel, cpu.size());
    }
}

int main(int argc, char** argv) {
  std::string why;
  if (!dt::cuda_ready(why)) {
    std::printf("SKIPPED: no CUDA device: %s\n", why.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
