// All-CNN-C ('valid' top conv, as the original and ../shared/guide/performance.md), WRN-16-4
// (1x1 shortcuts: 2.75 M parameters, the published variant) and WRN-28-10 (the paper's second
// model, 36.5 M parameters; --wrn-28-10 adds it: minutes per case) at batch 128 on 32x32x3 inputs,
// float32: a training step (forward, softmax cross-entropy, backward, SGD with Nesterov momentum
// 0.9) and an evaluation-mode forward pass, on 1 and 2 threads, beside the same models in
// libtorch in the same run, in its default NCHW layout ("torch/...") and channels-last
// ("torchcl/..."). Counters: images/s, and peak_MB, the growth of the peak resident set during
// the benchmark (the peak is reset before each one; glibc's free memory is trimmed first).
// The table at the end prints torch/invar and torchcl/invar time ratios (> 1: invar is faster).
//
// Run (docs/performance.md):
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp build/bench/benchmarks/bench_convnets
//       --benchmark_min_time=4 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// Every benchmark runs one untimed warm-up step first. Per-layer profile of invar's training step instead of the benchmarks:
//   build/bench/benchmarks/bench_convnets --profile [--threads=2] [--steps=5] [--wrn-28-10]
//   (--profile-model=wrn_16_4: that model alone, e.g. under `perf record`)
// --conv-kernel=im2col|avx2|avx512 runs invar's float convolutions on that kernel (default: the
// widest this machine runs; backend/cpu/conv2d_implicit_gemm.hpp), to compare them.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "invar/optim/sgd.hpp"
#include "support/cifar_batch.hpp"
#include "support/kernel_flag.hpp"
#include "support/ratio_reporter.hpp"

#if INVAR_HAVE_TORCH
#include <torch/torch.h>

#include "support/torch_models.hpp"
#endif

namespace {

constexpr invar::index_t kBatch = 128;

using Data = invar::bench::CifarBatch<kBatch>;

/// Resident-set figures of this process from /proc/self/status, in MB.
double status_mb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(std::strlen(key))) / 1024.0;
  return 0;
}

/// Peak-memory accounting of one benchmark: returns the baseline after resetting the peak.
double reset_peak() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS (Linux >= 4.0)
  return status_mb("VmRSS:");
}

void set_counters(benchmark::State& state, double baseline_mb) {
  state.counters["images/s"] = benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_MB"] = status_mb("VmHWM:") - baseline_mb;
}

enum class Model { all_cnn, wrn_16_4, wrn_28_10 };

/// Depth and widening factor of a Wide ResNet case.
std::pair<int, int> wrn_size(Model m) { return m == Model::wrn_28_10 ? std::pair{28, 10} : std::pair{16, 4}; }

invar::nn::Sequential<float> invar_model(Model m) {
  using namespace invar::nn;
  if (m == Model::all_cnn) return make_all_cnn<float>(AllCnnOptions{}.with_top_padding(TopConvPadding::valid));
  const auto [depth, widen] = wrn_size(m);
  return make_wide_resnet<float>(
      WideResnetOptions{}.with_depth(depth).with_widen(widen).with_shortcut(ResidualShortcut::projection));
}

struct InvarTrainer {
  invar::nn::Sequential<float> model;
  invar::optim::Sgd<float> sgd{invar::optim::SgdOptions(0.01).with_momentum(0.9).with_nesterov()};
  std::vector<invar::Parameter<float>*> params;
  invar::Tensor<float> dlogits{invar::Shape{kBatch, 10}};
  explicit InvarTrainer(Model m) : model(invar_model(m)) {
    model.set_input_gradient(false);  // as torch: the input does not require grad
    params = model.parameters();
  }
  void step(const Data& d) {
    model.forward(d.x);
    invar::softmax_cross_entropy(model.output(), d.y, dlogits);
    model.zero_grad();
    model.backward(dlogits);
    sgd.step(params);
  }
};

void invar_train(benchmark::State& state, Model m, int threads) {
  invar::ThreadScope scope(threads);
  const Data d;
  const double base = reset_peak();
  InvarTrainer t(m);
  t.step(d);  // warm-up: first-touch allocations are not what a training run pays per step
  for (auto _ : state) t.step(d);
  set_counters(state, base);
}

void invar_forward(benchmark::State& state, Model m, int threads) {
  invar::ThreadScope scope(threads);
  const Data d;
  const double base = reset_peak();
  auto model = invar_model(m);
  model.eval();
  model.set_inference(true, {});  // forward only, the logits kept: as libtorch's NoGradGuard below
  model.forward(d.x);  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(model.forward(d.x).data());
  set_counters(state, base);
}

#if INVAR_HAVE_TORCH
// Zagoruyko's pre-activation basic block with a 1x1 shortcut where the shape changes.
struct WrnBlockImpl : torch::nn::Module {
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  bool identity;
  WrnBlockImpl(int in, int out, int stride) : identity(in == out && stride == 1) {
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(in));
    conv1 = register_module(
        "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    if (!identity)
      shortcut = register_module(
          "shortcut", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) {
    auto o1 = torch::relu(bn1(x));
    auto z = conv2(torch::relu(bn2(conv1(o1))));
    return z + (identity ? x : shortcut(o1));
  }
};
TORCH_MODULE(WrnBlock);

torch::nn::Sequential torch_wrn(int depth, int widen) {
  torch::nn::Sequential s;
  s->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3).padding(1).bias(false)));
  int in = 16;
  const int blocks = (depth - 4) / 6;
  for (int g = 0; g < 3; ++g)
    for (int i = 0; i < blocks; ++i) {
      const int out = (16 << g) * widen;
      s->push_back(WrnBlock(in, out, (g > 0 && i == 0) ? 2 : 1));
      in = out;
    }
  s->push_back(torch::nn::BatchNorm2d(in));
  s->push_back(torch::nn::ReLU());
  s->push_back(torch::nn::AdaptiveAvgPool2d(1));
  s->push_back(torch::nn::Flatten());
  s->push_back(torch::nn::Linear(in, 10));
  return s;
}

struct TorchSetup {
  torch::nn::Sequential model;
  torch::Tensor x, y;
  TorchSetup(Model m, bool channels_last, const Data& d) {
    model = m == Model::all_cnn ? invar::bench::torch_all_cnn() : torch_wrn(wrn_size(m).first, wrn_size(m).second);
    x = torch::from_blob(const_cast<float*>(d.x.data()), {kBatch, 3, 32, 32}, torch::kFloat32).clone();
    y = torch::from_blob(const_cast<invar::index_t*>(d.y.data()), {kBatch}, torch::kInt64).clone();
    if (channels_last) {
      // The C++ Module::to() has no memory-format overload: convert the 4-D weights and the input.
      x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      for (auto& p : model->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
};

void torch_train(benchmark::State& state, Model m, bool channels_last, int threads) {
  torch::set_num_threads(threads);
  const Data d;
  const double base = reset_peak();
  TorchSetup t(m, channels_last, d);
  torch::optim::SGD sgd(t.model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true));
  auto step = [&] {
    sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(t.model->forward(t.x), t.y);
    loss.backward();
    sgd.step();
  };
  step();  // warm-up: oneDNN primitives and the allocator's caches
  for (auto _ : state) step();
  set_counters(state, base);
}

void torch_forward(benchmark::State& state, Model m, bool channels_last, int threads) {
  torch::set_num_threads(threads);
  const Data d;
  const double base = reset_peak();
  TorchSetup t(m, channels_last, d);
  t.model->eval();
  torch::NoGradGuard no_grad;
  t.model->forward(t.x);  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(t.model->forward(t.x).data_ptr());
  set_counters(state, base);
}
#endif

/// --profile: where invar's training step spends its time, layer by layer.
/// `only` names one model (all_cnn, wrn_16_4, wrn_28_10): profile it alone, e.g. under perf.
int profile(int threads, int steps, bool wrn_28_10, const std::string& only) {
  invar::ThreadScope scope(threads);
  const Data d;
  std::vector<std::pair<Model, std::string>> models{{Model::all_cnn, "all_cnn"}, {Model::wrn_16_4, "wrn_16_4"}};
  if (wrn_28_10 || only == "wrn_28_10") models.emplace_back(Model::wrn_28_10, "wrn_28_10");
  if (!only.empty()) {
    std::erase_if(models, [&](const auto& m) { return m.second != only; });
    if (models.empty()) {
      std::fprintf(stderr, "bench_convnets: --profile-model must be all_cnn, wrn_16_4 or wrn_28_10, got '%s'\n",
                   only.c_str());
      return 2;
    }
  }
  for (const auto& [m, id] : models) {
    InvarTrainer t(m);
    t.step(d);  // warm-up: allocations
    t.model.enable_profile(true);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) t.step(d);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
    std::printf("\n%s, batch %lld, %d thread(s): %.1f ms per training step (%.1f images/s)\n", t.model.name().c_str(),
                static_cast<long long>(kBatch), threads, total * 1e3, double(kBatch) / total);
    std::printf("%-12s %10s %10s %8s\n", "layer", "fwd ms", "bwd ms", "share");
    double layers = 0;
    for (const auto& l : t.model.profile()) {
      const double f = l.forward_seconds / steps, b = l.backward_seconds / steps;
      layers += f + b;
      std::printf("%-12s %10.2f %10.2f %7.1f%%\n", l.layer.c_str(), f * 1e3, b * 1e3, 100 * (f + b) / total);
    }
    std::printf("%-12s %10.2f ms (loss, zero_grad, optimiser step)\n", "other", (total - layers) * 1e3);
  }
  return 0;
}

template <class... Args>
void add(const std::string& name, void (*fn)(benchmark::State&, Args...), Args... args) {
  benchmark::RegisterBenchmark(name.c_str(), fn, args...)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, steps = 5;
  bool profile_run = false, wrn_28_10 = false;
  std::string only;
  // Our own flags are taken out of argv: Google Benchmark refuses arguments it does not know.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) threads = std::stoi(a.substr(10));
    else if (a.rfind("--steps=", 0) == 0) steps = std::stoi(a.substr(8));
    else if (a == "--profile") profile_run = true;
    else if (a.rfind("--profile-model=", 0) == 0) profile_run = true, only = a.substr(16);
    else if (a == "--wrn-28-10") wrn_28_10 = true;
    else argv[kept++] = argv[i];
  }
  argc = kept;
  if (!invar::bench::take_kernel_flag(argc, argv, "bench_convnets")) return 2;
  if (profile_run) return profile(threads, steps, wrn_28_10, only);

  std::vector<std::pair<Model, const char*>> models{{Model::all_cnn, "all_cnn"}, {Model::wrn_16_4, "wrn_16_4"}};
  if (wrn_28_10) models.emplace_back(Model::wrn_28_10, "wrn_28_10");
  for (int t : {1, 2}) {
    const std::string suffix = "/threads:" + std::to_string(t);
    for (auto [m, name] : models) {
      add("invar/" + std::string(name) + "_train" + suffix, invar_train, m, t);
      add("invar/" + std::string(name) + "_forward" + suffix, invar_forward, m, t);
#if INVAR_HAVE_TORCH
      for (bool cl : {false, true}) {
        const std::string impl = cl ? "torchcl/" : "torch/";
        add(impl + name + "_train" + suffix, torch_train, m, cl, t);
        add(impl + name + "_forward" + suffix, torch_forward, m, cl, t);
      }
#endif
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  invar::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
