// The group-wise invariance loss, value + gradient, float32, B = K x 8 rows (K seeds x M = 8
// augmentations, the authors' layout), for every metric, beside:
//   torch/...  the same loss as a PyTorch user writes it: cdist (or a normalised Gram) + masks +
//              autograd, libtorch at the same thread count (built where Debian's libtorch-dev is);
//   floor/...  for mean squared difference, the memory-bandwidth floor of the linear path: read X
//              once, write dL/dX once; for the Gram-path metrics (Euclidean, cosine, correlation),
//              their two GEMMs alone: G = X X^T and G X, through the same op layer.
// Case names: <metric>/B/D/threads. At the end a table prints torch/invar and invar/floor.
//
// Run (docs/performance.md):
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp build/bench/benchmarks/bench_losses
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// Filter with --benchmark_filter, e.g. 'mean_squared' or '/256/16384/'.
#include <benchmark/benchmark.h>

#include <random>
#include <type_traits>
#include <string>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "support/kernel_flag.hpp"
#include "support/ratio_reporter.hpp"

#if INVAR_HAVE_TORCH
#include <torch/torch.h>
#endif

namespace {

constexpr invar::index_t kAugmentations = 8;

struct Batch {
  invar::Tensor<float> x;
  invar::Tensor<invar::index_t> seeds;
};

Batch make_batch(invar::index_t rows, invar::index_t cols) {
  Batch b{invar::Tensor<float>(invar::Shape{rows, cols}), invar::Tensor<invar::index_t>(invar::Shape{rows})};
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (auto& v : b.x) v = normal(rng);
  for (invar::index_t i = 0; i < rows; ++i) b.seeds[i] = (i * 5) % (rows / kAugmentations);  // shuffled K x M
  return b;
}

void set_counters(benchmark::State& state, invar::index_t rows, invar::index_t cols) {
  const double bytes = 2.0 * double(rows) * double(cols) * sizeof(float);  // X read + dL/dX written
  state.counters["floor_GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

template <class Metric>
void invar_loss(benchmark::State& state, invar::index_t rows, invar::index_t cols, int threads) {
  invar::ThreadScope scope(threads);
  const auto b = make_batch(rows, cols);
  invar::Tensor<float> grad(b.x.shape());
  for (auto _ : state) {
    const auto v = invar::augmentation_invariance(Metric{}, b.x, b.seeds, grad);
    benchmark::DoNotOptimize(v);
    benchmark::DoNotOptimize(grad.data());
  }
  set_counters(state, rows, cols);
}

// The bandwidth floor: one read of X and one write of dL/dX, through the same op layer.
void floor_copy(benchmark::State& state, invar::index_t rows, invar::index_t cols, int threads) {
  invar::ThreadScope scope(threads);
  const auto b = make_batch(rows, cols);
  invar::Tensor<float> grad(b.x.shape());
  for (auto _ : state) {
    invar::ops::map(grad, [](float v) { return 2.f * v; }, b.x);
    benchmark::DoNotOptimize(grad.data());
  }
  set_counters(state, rows, cols);
}

// The Gram path's floor: the two B x B x D products every Gram-path loss needs (the Gram matrix
// for the values, one product with X for the gradient), nothing else.
void floor_two_gemms(benchmark::State& state, invar::index_t rows, invar::index_t cols, int threads) {
  invar::ThreadScope scope(threads);
  const auto b = make_batch(rows, cols);
  invar::Tensor<float> gram(invar::Shape{rows, rows}), grad(b.x.shape());
  for (auto _ : state) {
    invar::ops::gemm(b.x, b.x, gram, invar::ops::GemmOptions{}.transpose_b());
    invar::ops::gemm(gram, b.x, grad);
    benchmark::DoNotOptimize(grad.data());
  }
  set_counters(state, rows, cols);
}

#if INVAR_HAVE_TORCH
torch::Tensor torch_distances(const std::string& metric, const torch::Tensor& x) {
  const double d = double(x.size(1));
  if (metric == invar::MeanSquaredDifference::name) return torch::cdist(x, x).pow(2) / d;
  if (metric == invar::SquaredEuclidean::name) return torch::cdist(x, x).pow(2);
  if (metric == invar::Euclidean::name) return torch::cdist(x, x);
  if (metric == invar::Manhattan::name) return torch::cdist(x, x, 1.0);
  torch::Tensor y = metric == invar::CorrelationDistance::name ? x - x.mean(1, true) : x;
  const auto yn = y / y.norm(2, 1, true).clamp_min(1e-12);
  return 1 - yn.mm(yn.t());
}

void torch_loss(benchmark::State& state, const std::string& metric, invar::index_t rows, invar::index_t cols,
                int threads) {
  torch::set_num_threads(threads);
  const auto b = make_batch(rows, cols);
  auto x = torch::from_blob(const_cast<float*>(b.x.data()), {rows, cols}, torch::kFloat32).clone();
  x.set_requires_grad(true);
  auto ids = torch::from_blob(const_cast<invar::index_t*>(b.seeds.data()), {rows}, torch::kInt64).clone();
  for (auto _ : state) {
    // Paper convention: sum_k (1/|S_k|^2) sum_{i,j in S_k} d / ((1/B^2) sum_{i,j} d)
    const auto dist = torch_distances(metric, x);
    const auto same = (ids.unsqueeze(0) == ids.unsqueeze(1)).to(torch::kFloat32);
    const auto counts = same.sum(1, true);
    const auto loss = (dist * same / counts.pow(2)).sum() / dist.mean();
    loss.backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.mutable_grad().reset();
  }
  set_counters(state, rows, cols);
}
#endif

template <class Metric>
void register_metric(invar::index_t rows, invar::index_t cols, int threads) {
  const std::string c =
      std::string(Metric::name) + "/" + std::to_string(rows) + "/" + std::to_string(cols) + "/" + std::to_string(threads);
  benchmark::RegisterBenchmark(("invar/" + c).c_str(), invar_loss<Metric>, rows, cols, threads)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
#if INVAR_HAVE_TORCH
  benchmark::RegisterBenchmark(("torch/" + c).c_str(), torch_loss, std::string(Metric::name), rows, cols, threads)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
#endif
  if constexpr (std::is_same_v<Metric, invar::MeanSquaredDifference>)
    benchmark::RegisterBenchmark(("floor/" + c).c_str(), floor_copy, rows, cols, threads)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  if constexpr (std::is_same_v<Metric, invar::Euclidean> || std::is_same_v<Metric, invar::CosineDistance> ||
                std::is_same_v<Metric, invar::CorrelationDistance>)
    benchmark::RegisterBenchmark(("floor/" + c).c_str(), floor_two_gemms, rows, cols, threads)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  for (int threads : {1, 2})
    for (invar::index_t rows : {64, 256, 1024})
      for (invar::index_t cols : {192, 1024, 16384})
        std::apply([&](auto... m) { (register_metric<decltype(m)>(rows, cols, threads), ...); }, invar::all_metrics{});
  if (!invar::bench::take_kernel_flag(argc, argv, "bench_losses")) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  invar::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
