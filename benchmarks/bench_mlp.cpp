// MLP 3072-512-512-10 at batch 128 (CIFAR-sized input), float32: a training step (forward,
// softmax cross-entropy, backward, SGD with momentum 0.9) and a forward pass, on 1 and 2 threads,
// beside the same model in libtorch (torch::nn::Linear + ReLU, torch::optim::SGD) in the same run.
// Counter: images/s. The table at the end prints torch/invar time ratios (> 1: invar is faster).
//
// Run (docs/performance.md):
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp build/bench/benchmarks/bench_mlp
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "support/kernel_flag.hpp"
#include "support/ratio_reporter.hpp"

#if INVAR_HAVE_TORCH
#include <torch/torch.h>
#endif

namespace {

constexpr invar::index_t kBatch = 128;
const std::vector<invar::index_t> kWidths = {3072, 512, 512, 10};

struct Data {
  invar::Tensor<float> x{invar::Shape{kBatch, 3, 32, 32}};
  invar::Tensor<invar::index_t> y{invar::Shape{kBatch}};
  Data() {
    invar::Rng rng(1);
    for (auto& v : x) v = float(rng.uniform());
    for (invar::index_t i = 0; i < kBatch; ++i) y[i] = invar::index_t(rng.below(10));
  }
};

void set_rate(benchmark::State& state) {
  state.counters["images/s"] =
      benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

void invar_train(benchmark::State& state, int threads) {
  invar::ThreadScope scope(threads);
  const Data d;
  auto model = invar::nn::make_mlp<float>(kWidths);
  model.set_input_gradient(false);  // training needs no dL/dx (as torch: the input does not require grad)
  invar::optim::Sgd<float> sgd(invar::optim::SgdOptions(0.01).with_momentum(0.9));
  auto params = model.parameters();
  invar::Tensor<float> dlogits(invar::Shape{kBatch, 10});
  for (auto _ : state) {
    model.forward(d.x);
    invar::softmax_cross_entropy(model.output(), d.y, dlogits);
    model.zero_grad();
    model.backward(dlogits);
    sgd.step(params);
  }
  set_rate(state);
}

void invar_forward(benchmark::State& state, int threads) {
  invar::ThreadScope scope(threads);
  const Data d;
  auto model = invar::nn::make_mlp<float>(kWidths);
  model.eval();
  for (auto _ : state) benchmark::DoNotOptimize(model.forward(d.x).data());
  set_rate(state);
}

#if INVAR_HAVE_TORCH
torch::nn::Sequential torch_mlp() {
  return torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(3072, 512), torch::nn::ReLU(),
                               torch::nn::Linear(512, 512), torch::nn::ReLU(), torch::nn::Linear(512, 10));
}

void torch_train(benchmark::State& state, int threads) {
  torch::set_num_threads(threads);
  const Data d;
  auto x = torch::from_blob(const_cast<float*>(d.x.data()), {kBatch, 3, 32, 32}, torch::kFloat32).clone();
  auto y = torch::from_blob(const_cast<invar::index_t*>(d.y.data()), {kBatch}, torch::kInt64).clone();
  auto model = torch_mlp();
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  for (auto _ : state) {
    sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    sgd.step();
  }
  set_rate(state);
}

void torch_forward(benchmark::State& state, int threads) {
  torch::set_num_threads(threads);
  const Data d;
  auto x = torch::from_blob(const_cast<float*>(d.x.data()), {kBatch, 3, 32, 32}, torch::kFloat32).clone();
  auto model = torch_mlp();
  model->eval();
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(x).data_ptr());
  set_rate(state);
}
#endif

void add(const std::string& name, void (*fn)(benchmark::State&, int), int threads) {
  benchmark::RegisterBenchmark(name.c_str(), fn, threads)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  for (int threads : {1, 2}) {
    const std::string t = "/threads:" + std::to_string(threads);
    add("invar/mlp_train" + t, invar_train, threads);
    add("invar/mlp_forward" + t, invar_forward, threads);
#if INVAR_HAVE_TORCH
    add("torch/mlp_train" + t, torch_train, threads);
    add("torch/mlp_forward" + t, torch_forward, threads);
#endif
  }
  if (!invar::bench::take_kernel_flag(argc, argv, "bench_mlp")) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  invar::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
