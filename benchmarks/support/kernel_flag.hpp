#pragma once
// --conv-kernel=im2col|avx2|avx512 for the benchmark binaries: the kernel of float convolutions
// and float GEMMs (invar::cpu::set_conv_kernel; im2col also puts float GEMMs on Eigen's kernel),
// so that one binary compares them. The chosen kernel is written to the benchmark's context.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "invar/cpu.hpp"

namespace invar::bench {

/// Takes --conv-kernel=... out of argv (argc shrinks) and applies it; false (after a message on
/// stderr) for an unknown kernel or one this machine cannot run.
inline bool take_kernel_flag(int& argc, char** argv, const char* program) {
  int kept = 1;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--conv-kernel=", 0) != 0) {
      argv[kept++] = argv[i];
      continue;
    }
    const std::string k = a.substr(14);
    if (k != "im2col" && k != "avx2" && k != "avx512") {
      std::fprintf(stderr, "%s: --conv-kernel must be im2col, avx2 or avx512, got '%s'\n", program, k.c_str());
      ok = false;
      continue;
    }
    try {
      invar::cpu::set_conv_kernel(k == "im2col" ? invar::cpu::ConvKernel::im2col
                                  : k == "avx2" ? invar::cpu::ConvKernel::avx2
                                                : invar::cpu::ConvKernel::avx512);
    } catch (const invar::Error& e) {
      std::fprintf(stderr, "%s: %s\n", program, e.what());
      ok = false;
    }
  }
  argc = kept;
  const auto k = invar::cpu::conv_kernel();
  benchmark::AddCustomContext("invar_conv_kernel", k == invar::cpu::ConvKernel::avx512 ? "avx512"
                                                   : k == invar::cpu::ConvKernel::avx2 ? "avx2"
                                                                                       : "im2col");
  return ok;
}

}  // namespace invar::bench
