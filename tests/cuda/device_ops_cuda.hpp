#pragma once
// The boundary between the host-compiled test driver and the nvcc-compiled cases: plain types only.

#include <cstdint>
#include <string>
#include <vector>

namespace invar::device_test {

/// True when a CUDA device can run the cases; else `why` says what is missing.
bool cuda_ready(std::string& why);

/// Runs a case of device_cases.hpp on the GPU and returns its outputs on the host.
std::vector<double> run_on_cuda(const std::string& scalar, const std::string& name, std::uint64_t seed);

}  // namespace invar::device_test
