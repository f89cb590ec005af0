// invar's float convolution kernels side by side on the layers of the paper's networks, batch
// 128: the im2col path (patch matrix + Eigen's GEMM) against the implicit GEMM with AVX2 and
// AVX-512 micro-kernels (backend/cpu/conv2d_implicit_gemm.hpp), for the forward pass, the input
// gradient (dx) and the weight gradient (dw). Counter: GFLOP/s (2 x batch x positions x C k k x
// Co per pass). A kernel this machine cannot run is reported as skipped.
//
// Run (docs/performance.md):
//   build/bench/benchmarks/bench_conv_kernels --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "invar/backend/cpu/conv2d.hpp"
#include "invar/cpu.hpp"

namespace {

using invar::Conv2dGeometry;
using invar::index_t;
using invar::cpu::ConvKernel;

struct Layer {
  const char* name;
  Conv2dGeometry g;
};

enum class Pass { forward, input_gradient, weight_gradient };

void run(benchmark::State& state, Layer layer, Pass pass, ConvKernel kernel, int threads) {
  if (!invar::cpu::conv_kernel_available(kernel)) {
    state.SkipWithError("this machine cannot run the kernel");
    return;
  }
  invar::ThreadScope scope(threads);
  invar::cpu::set_conv_kernel(kernel);
  const Conv2dGeometry& g = layer.g;
  std::vector<float> x(std::size_t(g.batch * g.in_image()), 0.5f), w(std::size_t(g.out_channels * g.patch_rows()), 0.01f);
  std::vector<float> y(std::size_t(g.batch * g.out_image()), 0.25f), dx(x.size()), dw(w.size());
  auto once = [&] {
    switch (pass) {
      case Pass::forward: invar::cpu::conv2d_forward<float>(g, x.data(), w.data(), nullptr, y.data()); break;
      case Pass::input_gradient:
        invar::cpu::conv2d_backward<float>(g, x.data(), w.data(), y.data(), nullptr, nullptr, dx.data());
        break;
      case Pass::weight_gradient:
        invar::cpu::conv2d_backward<float>(g, x.data(), w.data(), y.data(), dw.data(), nullptr, nullptr);
        break;
    }
  };
  once();  // warm-up: scratch buffers grown, caches and pages touched
  for (auto _ : state) {
    once();
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(g.batch) * double(g.positions()) * double(g.patch_rows()) * double(g.out_channels);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  invar::cpu::reset_conv_kernel();
}

}  // namespace

int main(int argc, char** argv) {
  // batch, in channels, height, width, out channels, kernel, stride, padding
  const std::vector<Layer> layers = {
      {"allcnn_conv2_96x32", {128, 96, 32, 32, 96, 3, 1, 1}},
      {"allcnn_conv3_96x32_s2", {128, 96, 32, 32, 96, 3, 2, 1}},
      {"allcnn_conv5_192x16", {128, 192, 16, 16, 192, 3, 1, 1}},
      {"wrn_64x32", {128, 64, 32, 32, 64, 3, 1, 1}},
      {"wrn_128x16", {128, 128, 16, 16, 128, 3, 1, 1}},
      {"wrn_256x8", {128, 256, 8, 8, 256, 3, 1, 1}},
      {"wrn_28_10_160x32", {128, 160, 32, 32, 160, 3, 1, 1}},
      {"wrn_28_10_320x16", {128, 320, 16, 16, 320, 3, 1, 1}},
      {"wrn_28_10_640x8", {128, 640, 8, 8, 640, 3, 1, 1}},
      {"wrn_28_10_320to640_s2", {128, 320, 16, 16, 640, 3, 2, 1}},
  };
  const std::pair<Pass, const char*> passes[] = {
      {Pass::forward, "forward"}, {Pass::input_gradient, "dx"}, {Pass::weight_gradient, "dw"}};
  const std::pair<ConvKernel, const char*> kernels[] = {
      {ConvKernel::im2col, "im2col"}, {ConvKernel::avx2, "avx2"}, {ConvKernel::avx512, "avx512"}};
  for (const int threads : {2, 1})
    for (const auto& layer : layers)
      for (const auto& [pass, pass_name] : passes)
        for (const auto& [kernel, kernel_name] : kernels)
          benchmark::RegisterBenchmark((std::string(kernel_name) + "/" + layer.name + "/" + pass_name +
                                        "/threads:" + std::to_string(threads))
                                           .c_str(),
                                       run, layer, pass, kernel, threads)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
