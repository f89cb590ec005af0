// Attack throughput: PGD steps per second on All-CNN-C ('valid' top conv, batch norm, full width
// 96/192, as bench_convnets) for a batch of 128 CIFAR-sized images in eval mode, on 1 and 2
// threads, beside the same attack in libtorch in the same run. One PGD step = forward, the
// per-image cross-entropy, its gradient with respect to the input (backward), the signed step
// and the projection onto the epsilon ball and [0, 1].
//
// invar/pgd_all_cnn: attacks::pgd with 5 iterations returning the last iterate (keep_best off:
// 5 forwards, 5 backwards), the same work as libtorch's loop; invar/pgd_best_all_cnn: the
// default, which also scores the clean images and the last iterate to keep each image's best
// point (7 forwards, 5 backwards). libtorch: the same loop written with autograd
// (torch::autograd::grad of the loss with respect to the input, the parameters not requiring
// gradients); invar's targets freeze the parameters likewise, so both backwards compute dL/dx
// only. Counter "steps/s": PGD iterations per second on the batch.
//
// Run (docs/performance.md):
//   build/bench/benchmarks/bench_attacks --benchmark_min_time=0.1
// (one attack of 5 steps takes about 10 s at full width on 1 thread: each case runs once.)
#include <benchmark/benchmark.h>

#include <string>

#include "invar/cpu.hpp"
#include "invar/attacks/pgd.hpp"
#include "invar/attacks/target.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "support/cifar_batch.hpp"
#include "support/ratio_reporter.hpp"

#if INVAR_HAVE_TORCH
#include <torch/torch.h>

#include "support/torch_models.hpp"
#endif

namespace {

constexpr invar::index_t kBatch = 128;
constexpr invar::index_t kSteps = 5;

using AttackData = invar::bench::CifarBatch<kBatch>;

void invar_pgd(benchmark::State& state, int threads, bool keep_best) {
  invar::ThreadScope scope(threads);
  const AttackData d;
  auto model = invar::nn::make_all_cnn<float>(
      invar::nn::AllCnnOptions{}.with_top_padding(invar::nn::TopConvPadding::valid));
  invar::attacks::ModelTarget target(model);
  const auto o = invar::attacks::PgdOptions{}.with_epsilon(0.03).with_step_size(0.01).with_iterations(kSteps).with_batch(
      kBatch).with_keep_best(keep_best);
  invar::attacks::pgd(target, d.x.view(), d.y.view(), invar::attacks::PgdOptions(o).with_iterations(1));  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(invar::attacks::pgd(target, d.x.view(), d.y.view(), o).data());
  state.counters["steps/s"] = benchmark::Counter(double(kSteps), benchmark::Counter::kIsIterationInvariantRate);
}

#if INVAR_HAVE_TORCH
void torch_pgd(benchmark::State& state, int threads) {
  torch::set_num_threads(threads);
  const AttackData d;
  auto model = invar::bench::torch_all_cnn();
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  const auto x0 = torch::from_blob(const_cast<float*>(d.x.data()), {kBatch, 3, 32, 32}, torch::kFloat32).clone();
  const auto y = torch::from_blob(const_cast<invar::index_t*>(d.y.data()), {kBatch}, torch::kInt64).clone();
  const double eps = 0.03, step = 0.01;
  auto attack = [&](int steps) {
    auto x = (x0 + torch::empty_like(x0).uniform_(-eps, eps)).clamp(0, 1);
    for (int t = 0; t < steps; ++t) {
      x.set_requires_grad(true);
      const auto loss = torch::nn::functional::cross_entropy(
          model->forward(x), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      const auto g = torch::autograd::grad({loss}, {x})[0];
      torch::NoGradGuard no_grad;
      x = torch::min(torch::max(x.detach() + step * g.sign(), x0 - eps), x0 + eps).clamp(0, 1);
    }
    return x;
  };
  attack(1);  // warm-up: oneDNN primitives and the allocator's caches
  for (auto _ : state) benchmark::DoNotOptimize(attack(int(kSteps)).data_ptr());
  state.counters["steps/s"] = benchmark::Counter(double(kSteps), benchmark::Counter::kIsIterationInvariantRate);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  for (int t : {1, 2}) {
    const std::string suffix = "/threads:" + std::to_string(t);
    benchmark::RegisterBenchmark(("invar/pgd_all_cnn" + suffix).c_str(), invar_pgd, t, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("invar/pgd_best_all_cnn" + suffix).c_str(), invar_pgd, t, true)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
#if INVAR_HAVE_TORCH
    benchmark::RegisterBenchmark(("torch/pgd_all_cnn" + suffix).c_str(), torch_pgd, t)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
#endif
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  invar::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
