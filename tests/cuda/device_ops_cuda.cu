// The CUDA side of the device tests: the templated case bodies of tests/device/device_cases.hpp
// instantiated for invar::Cuda. Compiled by nvcc; no Eigen and no CPU backend here (the CPU
// reference runs in device_ops_cuda_main.cpp, compiled by the host compiler).

#include "invar/cuda.hpp"
#include "device/device_cases.hpp"
#include "device_ops_cuda.hpp"

namespace invar::device_test {

bool cuda_ready(std::string& why) {
  if (!cuda::available()) {
    why = cuda::unavailable_reason();
    return false;
  }
  return true;
}

Outputs run_on_cuda(const std::string& scalar, const std::string& name, std::uint64_t seed) {
  auto out = run_case<Cuda>(scalar, name, seed);
  cuda::Context::current().synchronize();
  return out;
}

}  // namespace invar::device_test
