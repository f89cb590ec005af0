// GPU microbenchmarks (issue 15, item 7), Google Benchmark, float32:
//   copy/<n>MiB             the card's device-to-device copy bandwidth: cudaMemcpyAsync of n MiB,
//                           GB/s counting bytes read + written (2 n MiB), CUDA events
//   loss/<metric>/<B>/<D>   invar::augmentation_invariance(metric, x, seeds, grad) on Tensor<float, Cuda>:
//                           value (to the host) + dL/dX, paper convention, all-pairs denominator,
//                           B = K x M rows (M = 8 augmentations, ids (i * 5) % K as in
//                           benchmarks/bench_losses.cpp), B in {256, 1024, 4096}, D in {1024, 16384}
// Each iteration is timed with CUDA events on the context's stream around the call, then a final
// synchronize (UseManualTime; Google Benchmark appends "/manual_time" to the names). Counters:
//   median_ms, min_ms     of the iterations' event times (the median is what the counters below use)
//   bytes, GB/s           the bytes the path must move over the median time: linear path (mean squared
//                         difference, squared Euclidean) reads X twice and writes dL/dX once (3 B D 4);
//                         the Gram and pairwise paths at least read X once and write dL/dX once (2 B D 4)
//   GFLOP/s               Gram path (cosine, correlation, Euclidean): the two GEMMs, 4 B^2 D flops
//   loss                  the value, for a cross-check with benchmarks/cuda/torch_losses.py, which
//                         builds the same X from the same hash (x_ij = hash_uniform(i D + j) in [-1, 1))
// The pairwise path (Manhattan) is skipped above B = 1024, and wherever its warm-up call took more
// than 2 s. The label says the path. Names match torch_losses.py's cases, so the two join.
//
// Run (scripts/gpu-check.sh does):
//   build/gpu-check/benchmarks/cuda/invar_bench_cuda --benchmark_min_time=0.05
//       --benchmark_out=bench_cuda.json --benchmark_out_format=json
// Exit codes: 0 done, 1 a CUDA or invar error in some case (its entry has error_occurred), 77 no
// CUDA device ("SKIPPED: no CUDA device: <reason>").

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "invar/cuda.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"

namespace {

using invar::index_t;

constexpr index_t kAugmentations = 8;
constexpr index_t kPairwiseMaxRows = 1024;     // the pairwise path is skipped above this B
constexpr double kPairwiseMaxSeconds = 2.0;    // ... and where its warm-up call takes longer

bool g_failed = false;  // a case hit a real error (not a skip): the exit code says so

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorString(status));
}
#define BENCH_CUDA(call) check_cuda((call), #call)

// Google Benchmark >= 1.8 has SkipWithMessage; Debian 12's 1.7.1 only SkipWithError. Skips carry
// the prefix "skipped:" either way, so that scripts/gpu-check.sh tells them from errors.
template <class State>
void skip(State& state, const std::string& why) {
  const std::string msg = "skipped: " + why;
  if constexpr (requires { state.SkipWithMessage(msg); })
    state.SkipWithMessage(msg);
  else
    state.SkipWithError(msg.c_str());
}

void fail(benchmark::State& state, const std::string& what) {
  g_failed = true;
  std::fprintf(stderr, "invar_bench_cuda: %s\n", what.c_str());
  state.SkipWithError(("error: " + what).c_str());
}

// The inputs' values: a counter hash mapped to [-1, 1) exactly (24 bits), the same integer arithmetic
// torch_losses.py does on int64 tensors (each product stays below 2^63 there).
__host__ __device__ inline float hash_uniform(std::uint64_t i) {
  std::uint64_t h = (i * 0x9E3779B1ull) & 0xFFFFFFFFull;
  h ^= h >> 15;
  h = (h * 0x2C1B3C6Dull) & 0xFFFFFFFFull;
  h ^= h >> 12;
  h = (h * 0x297A2D39ull) & 0xFFFFFFFFull;
  h ^= h >> 15;
  return static_cast<float>(h >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

__global__ void fill_hash(float* x, std::uint64_t n) {
  for (std::uint64_t i = std::uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::uint64_t(gridDim.x) * blockDim.x)
    x[i] = hash_uniform(i);
}

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    BENCH_CUDA(cudaEventCreate(&start));
    BENCH_CUDA(cudaEventCreate(&stop));
  }
  ~Events() {
    (void)cudaEventDestroy(start);
    (void)cudaEventDestroy(stop);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  double elapsed_ms() const {
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
    return ms;
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One batch on the device at a time, kept across the cases of the same B x D (benchmarks are
// registered grouped by size, and Google Benchmark calls each function several times).
struct Batch {
  index_t rows = 0, cols = 0;
  invar::Tensor<float, invar::Cuda> x, grad;
  invar::Tensor<index_t> seeds;
};

Batch& batch(index_t rows, index_t cols) {
  static Batch& b = *new Batch;  // never destroyed: no device frees during static destruction
  if (b.rows == rows && b.cols == cols) return b;
  b = Batch{};
  b.x = invar::Tensor<float, invar::Cuda>::uninitialized(invar::Shape{rows, cols});
  b.grad = invar::Tensor<float, invar::Cuda>(invar::Shape{rows, cols});
  b.seeds = invar::Tensor<index_t>(invar::Shape{rows});
  const index_t groups = rows / kAugmentations;
  for (index_t i = 0; i < rows; ++i) b.seeds[i] = (i * 5) % groups;  // shuffled K x M, as bench_losses
  const std::uint64_t n = std::uint64_t(rows) * std::uint64_t(cols);
  cudaStream_t stream = invar::cuda::Context::current().stream();
  fill_hash<<<1024, 256, 0, stream>>>(b.x.data(), n);
  BENCH_CUDA(cudaGetLastError());
  invar::cuda::Context::current().synchronize();
  b.rows = rows;
  b.cols = cols;
  return b;
}

enum class Path { linear, gram, pairwise };

template <class M>
constexpr Path path_of() {
  if constexpr (invar::SquaredDifferenceMetric<M, float>)
    return Path::linear;
  else if constexpr (invar::detail::gram_metric<M>)
    return Path::gram;
  else
    return Path::pairwise;
}

const char* path_name(Path p) { return p == Path::linear ? "linear" : p == Path::gram ? "gram" : "pairwise"; }

template <class Metric>
void loss_case(benchmark::State& state, index_t rows, index_t cols) {
  constexpr Path path = path_of<Metric>();
  static std::set<std::string> warmed;  // cases whose warm-up call ran (once per case, not per call of this function)
  const std::string key = std::string(Metric::name) + "/" + std::to_string(rows) + "/" + std::to_string(cols);
  state.SetLabel(path_name(path));
  if (path == Path::pairwise && rows > kPairwiseMaxRows) {
    skip(state, std::string("pairwise path above B = ") + std::to_string(kPairwiseMaxRows));
    return;
  }
  std::vector<double> ms, wall_ms;
  double value = 0;
  try {
    Batch& b = batch(rows, cols);
    cudaStream_t stream = invar::cuda::Context::current().stream();
    if (!warmed.count(key)) {  // module loading, cuBLAS setup, the allocator's first blocks
      const auto t0 = std::chrono::steady_clock::now();
      (void)invar::augmentation_invariance(Metric{}, b.x, b.seeds, b.grad);
      invar::cuda::Context::current().synchronize();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      warmed.insert(key);
      if (path == Path::pairwise && s > kPairwiseMaxSeconds) {
        warmed.erase(key);  // measure again (and skip again) if asked twice
        skip(state, "pairwise path: the warm-up call took " + std::to_string(s) + " s (> 2 s)");
        return;
      }
    }
    Events ev;
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      BENCH_CUDA(cudaEventRecord(ev.start, stream));
      const invar::LossValue v = invar::augmentation_invariance(Metric{}, b.x, b.seeds, b.grad);
      BENCH_CUDA(cudaEventRecord(ev.stop, stream));
      BENCH_CUDA(cudaEventSynchronize(ev.stop));
      invar::cuda::Context::current().synchronize();
      wall_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      const double t = ev.elapsed_ms();
      ms.push_back(t);
      state.SetIterationTime(t * 1e-3);
      value = v.value;
    }
  } catch (const std::exception& e) {
    fail(state, key + ": " + e.what());
    return;
  }
  if (ms.empty()) return;
  const double med_s = median(ms) * 1e-3;
  const double bd = double(rows) * double(cols);
  const double bytes = (path == Path::linear ? 3.0 : 2.0) * bd * sizeof(float);
  state.counters["median_ms"] = median(ms);
  state.counters["min_ms"] = *std::min_element(ms.begin(), ms.end());
  state.counters["wall_median_ms"] = median(wall_ms);
  state.counters["bytes"] = bytes;
  state.counters["GB/s"] = bytes / med_s * 1e-9;
  if (path == Path::gram) state.counters["GFLOP/s"] = 4.0 * double(rows) * bd / med_s * 1e-9;
  state.counters["loss"] = value;
  state.counters["rows"] = double(rows);
  state.counters["cols"] = double(cols);
}

// cudaMemcpyAsync device -> device of `bytes`, on the context's stream; GB/s counts read + write.
void copy_case(benchmark::State& state, std::size_t bytes) {
  void* src = nullptr;
  void* dst = nullptr;
  std::vector<double> ms;
  try {
    cudaStream_t stream = invar::cuda::Context::current().stream();
    BENCH_CUDA(cudaMalloc(&src, bytes));
    BENCH_CUDA(cudaMalloc(&dst, bytes));
    BENCH_CUDA(cudaMemsetAsync(src, 0x5A, bytes, stream));
    BENCH_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));  // warm-up
    BENCH_CUDA(cudaStreamSynchronize(stream));
    Events ev;
    for (auto _ : state) {
      BENCH_CUDA(cudaEventRecord(ev.start, stream));
      BENCH_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
      BENCH_CUDA(cudaEventRecord(ev.stop, stream));
      BENCH_CUDA(cudaEventSynchronize(ev.stop));
      const double t = ev.elapsed_ms();
      ms.push_back(t);
      state.SetIterationTime(t * 1e-3);
    }
  } catch (const std::exception& e) {
    fail(state, std::string("copy: ") + e.what());
  }
  (void)cudaFree(src);
  (void)cudaFree(dst);
  (void)cudaGetLastError();
  if (ms.empty()) return;
  state.counters["median_ms"] = median(ms);
  state.counters["min_ms"] = *std::min_element(ms.begin(), ms.end());
  state.counters["bytes"] = 2.0 * double(bytes);
  state.counters["GB/s"] = 2.0 * double(bytes) / (median(ms) * 1e-3) * 1e-9;
}

template <class Metric>
void register_loss(index_t rows, index_t cols) {
  const std::string name =
      "loss/" + std::string(Metric::name) + "/" + std::to_string(rows) + "/" + std::to_string(cols);
  benchmark::RegisterBenchmark(name.c_str(), loss_case<Metric>, rows, cols)
      ->Unit(benchmark::kMillisecond)
      ->UseManualTime();
}

void add_device_context() {
  int device = 0, driver = 0, runtime = 0;
  BENCH_CUDA(cudaGetDevice(&device));
  cudaDeviceProp p{};
  BENCH_CUDA(cudaGetDeviceProperties(&p, device));
  BENCH_CUDA(cudaDriverGetVersion(&driver));
  BENCH_CUDA(cudaRuntimeGetVersion(&runtime));
  benchmark::AddCustomContext("cuda_device", p.name);
  benchmark::AddCustomContext("cuda_capability", std::to_string(p.major) + "." + std::to_string(p.minor));
  benchmark::AddCustomContext("cuda_sms", std::to_string(p.multiProcessorCount));
  benchmark::AddCustomContext("cuda_l2_bytes", std::to_string(p.l2CacheSize));
  benchmark::AddCustomContext("cuda_memory_bytes", std::to_string(p.totalGlobalMem));
  benchmark::AddCustomContext("cuda_driver_version", std::to_string(driver));
  benchmark::AddCustomContext("cuda_runtime_version", std::to_string(runtime));
  std::fprintf(stderr, "invar_bench_cuda: %s (sm_%d%d, %d SMs, %.1f GiB), driver %d, runtime %d\n", p.name, p.major,
               p.minor, p.multiProcessorCount, double(p.totalGlobalMem) / double(1u << 30), driver, runtime);
}

}  // namespace

int main(int argc, char** argv) {
  if (!invar::cuda::available()) {
    std::printf("SKIPPED: no CUDA device: %s\n", invar::cuda::unavailable_reason().c_str());
    return 77;
  }
  try {
    add_device_context();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "invar_bench_cuda: %s\n", e.what());
    return 1;
  }
  for (std::size_t mib : {256, 1024})
    benchmark::RegisterBenchmark(("copy/" + std::to_string(mib) + "MiB").c_str(), copy_case, mib << 20)
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime();
  for (index_t rows : {256, 1024, 4096})
    for (index_t cols : {1024, 16384})
      std::apply([&](auto... m) { (register_loss<decltype(m)>(rows, cols), ...); }, invar::all_metrics{});
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
