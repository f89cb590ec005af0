// The train-step overhead of the paper's full objective (Eq. 1) over cross-entropy alone, on
// All-CNN-C as the authors trained it ('same' top convolution, batch norm), float32, batch 128 =
// K 16 seed images x M 8 augmentation copies (random [0, 1] 3 x 32 x 32 inputs; a seed's 8 rows
// share its class, 10 classes), SGD with Nesterov momentum 0.9, lr 0.01, on 1 and 2 threads, at
// full width (1.0) and at width 0.25 (quick runs). Cases, per width and thread count:
//   ce/       cross-entropy only: forward, softmax cross-entropy with gradient, zero_grad,
//             backward, SGD step;
//   da/       the authors' setting through objective::Objective: L_DA (mean squared difference,
//             PairConvention::pooled, same-class reference) at the 9 taps conv1..conv9 with
//             exponential layer weights (r = 10) totalling 0.1, cross-entropy 0.9: forward,
//             evaluate with &dlogits, zero_grad, objective.backward, SGD step;
//   da_c/     L_DA and L_C (both pooled, exponential, totals 0.05 and 0.05) at the 9 taps, CE 0.9;
//   da_loss/  the loss evaluation of da/ alone, on a model forwarded once, as the first evaluate
//             after a forward runs it (clear_tap_grads: the first loss at a tap writes its
//             gradient) with gradients. What is left of da - ce is the backward's addition of the 9 tap
//             gradients into the gradient flow.
//   da_c_loss/ the same for da_c/.
//   da_c_ac/  da_c/ plus the anti-collapse penalties at the anticollapse preset's totals
//             (variance hinge, covariance, PC1 share) at the same 9 taps, on their default features
//             (channel means of each conv tap): the cost of the anti-collapse terms in a step.
// Counter: images/s. Every benchmark runs one untimed warm-up step first. The table at the end
// prints, per width and thread count, time(da)/time(ce) - 1 and time(da_c)/time(ce) - 1 (the
// overheads, in %), da_loss and da_c_loss as shares of ce, and time(da_c_ac)/time(da_c) - 1 (the
// anti-collapse terms' overhead).
//
// Run (docs/performance.md, "Eq. 1 overhead"):
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp build/bench/benchmarks/bench_objective
//       --benchmark_min_time=4 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// Quick check at width 0.25 only: --benchmark_filter=w0.25
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/backend/ops.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/objective/objective.hpp"
#include "invar/objective/presets.hpp"
#include "invar/optim/sgd.hpp"

namespace {

namespace obj = invar::objective;

constexpr invar::index_t kSeeds = 16, kCopies = 8, kBatch = kSeeds * kCopies, kClasses = 10;

const std::vector<std::string>& conv_taps() {
  static const std::vector<std::string> taps = {"conv1", "conv2", "conv3", "conv4", "conv5",
                                                "conv6", "conv7", "conv8", "conv9"};
  return taps;
}

/// Inputs, seed groups (rows 8k .. 8k + 7 are seed k) and labels (one class per seed).
struct Data {
  invar::Tensor<float> x{invar::Shape{kBatch, 3, 32, 32}};
  invar::Tensor<invar::index_t> seeds{invar::Shape{kBatch}};
  invar::Tensor<invar::index_t> labels{invar::Shape{kBatch}};
  Data() {
    invar::Rng rng(1);
    for (auto& v : x) v = float(rng.uniform());
    for (invar::index_t k = 0; k < kSeeds; ++k) {
      const auto label = invar::index_t(rng.below(std::uint64_t(kClasses)));
      for (invar::index_t m = 0; m < kCopies; ++m) {
        seeds[k * kCopies + m] = k;
        labels[k * kCopies + m] = label;
      }
    }
  }
};

enum class Case { ce, da, da_c, da_loss, da_c_loss, da_c_ac };

obj::Objective<float> make_objective(Case c) {
  const auto pooled = invar::GroupLossOptions{}.with_convention(invar::PairConvention::pooled);
  obj::Objective<float> o;
  o.augmentation(conv_taps(), invar::MeanSquaredDifference{}, obj::WeightProfile::exponential, 10.0, pooled)
      .with_augmentation_reference(obj::AugmentationReference::same_class);
  if (c == Case::da_c || c == Case::da_c_loss || c == Case::da_c_ac) {
    o.class_wise(conv_taps(), invar::MeanSquaredDifference{}, obj::WeightProfile::exponential, 10.0, pooled)
        .with_schedule(obj::WeightSchedule::constant(0.05, 0.05, 0.9));
  } else {
    o.with_schedule(obj::WeightSchedule::constant(0.1, 0.0, 0.9));
  }
  if (c == Case::da_c_ac) {
    const auto totals = obj::preset_penalties(obj::Preset::anticollapse);
    o.penalize(obj::Penalty::variance, conv_taps(), totals.variance)
        .penalize(obj::Penalty::covariance, conv_taps(), totals.covariance)
        .penalize(obj::Penalty::pc1_share, conv_taps(), totals.pc1);
  }
  return o;
}

struct Trainer {
  invar::nn::Sequential<float> model;
  invar::optim::Sgd<float> sgd{invar::optim::SgdOptions(0.01).with_momentum(0.9).with_nesterov()};
  std::vector<invar::Parameter<float>*> params;
  invar::Tensor<float> dlogits{invar::Shape{kBatch, kClasses}};
  obj::Objective<float> objective;
  Trainer(double width, Case c)
      : model(invar::nn::make_all_cnn<float>(invar::nn::AllCnnOptions{}.with_width(width).with_classes(kClasses))),
        objective(make_objective(c)) {
    model.set_input_gradient(false);  // the input does not require grad
    params = model.parameters();
  }
  void step_ce(const Data& d) {
    model.forward(d.x);
    invar::softmax_cross_entropy(model.output(), d.labels, dlogits);
    model.zero_grad();
    model.backward(dlogits);
    sgd.step(params);
  }
  void step_objective(const Data& d) {
    model.forward(d.x);
    benchmark::DoNotOptimize(objective.evaluate(model, d.seeds, d.labels, &dlogits).total);
    model.zero_grad();
    objective.backward(model, dlogits);
    sgd.step(params);
  }
  /// The loss evaluation of a step on the last forward, as the first evaluate after a forward
  /// runs it (the tap gradients forgotten: the first loss at each tap writes its gradient).
  void evaluate_only(const Data& d) {
    model.clear_tap_grads();
    benchmark::DoNotOptimize(objective.evaluate(model, d.seeds, d.labels, &dlogits).total);
  }
};

void run(benchmark::State& state, double width, Case c, int threads) {
  invar::ThreadScope scope(threads);
  const Data d;
  Trainer t(width, c);
  switch (c) {
    case Case::ce:
      t.step_ce(d);  // warm-up: first-touch allocations
      for (auto _ : state) t.step_ce(d);
      break;
    case Case::da:
    case Case::da_c:
    case Case::da_c_ac:
      t.step_objective(d);
      for (auto _ : state) t.step_objective(d);
      break;
    case Case::da_loss:
    case Case::da_c_loss:
      t.step_objective(d);  // warm-up, and leaves the model forwarded with its tap buffers allocated
      t.evaluate_only(d);
      for (auto _ : state) t.evaluate_only(d);
      break;
  }
  state.counters["images/s"] = benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

/// The console output, then per "<width>/threads:<n>" the overheads of da/ and da_c/ over ce/.
class OverheadReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.error_occurred) continue;
      // With repetitions keep the median; without, the single run.
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      std::string name = r.run_name.str();
      if (const auto rt = name.find("/real_time"); rt != std::string::npos) name.erase(rt);
      const auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      const double seconds = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      times_[name.substr(slash + 1)][name.substr(0, slash)] = seconds;
    }
  }

  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    std::printf("\nEq. 1 overhead over cross-entropy alone: time(case)/time(ce) - 1 (times in ms)\n");
    std::printf("%-24s %9s %9s %8s %9s %8s %9s %8s %9s %8s %10s %12s\n", "model/threads", "ce ms", "da ms", "da +%",
                "da_c ms", "da_c +%", "da_loss", "% of ce", "da_c_loss", "% of ce", "da_c_ac ms", "ac +% (da_c)");
    for (const auto& [c, t] : times_) {
      auto get = [&](const char* k) {
        auto it = t.find(k);
        return it == t.end() ? -1.0 : it->second;
      };
      const double ce = get("ce");
      if (ce <= 0) continue;
      std::printf("%-24s %9.1f ", c.c_str(), ce * 1e3);
      for (const char* k : {"da", "da_c"}) {
        const double v = get(k);
        if (v > 0) std::printf("%9.1f %7.1f%% ", v * 1e3, 100 * (v / ce - 1));
        else std::printf("%9s %8s ", "-", "-");
      }
      for (const char* k : {"da_loss", "da_c_loss"}) {
        const double v = get(k);
        if (v > 0) std::printf("%9.1f %7.1f%% ", v * 1e3, 100 * v / ce);
        else std::printf("%9s %8s ", "-", "-");
      }
      const double dc = get("da_c"), ac = get("da_c_ac");
      if (dc > 0 && ac > 0) std::printf("%10.1f %11.1f%%", ac * 1e3, 100 * (ac / dc - 1));
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> times_;
};

}  // namespace

int main(int argc, char** argv) {
  for (int threads : {1, 2}) {
    for (double width : {0.25, 1.0}) {
      char model[32];
      std::snprintf(model, sizeof model, "all_cnn_w%.2f", width);
      const std::string suffix = std::string(model) + "/threads:" + std::to_string(threads);
      for (auto [c, name] : {std::pair{Case::ce, "ce/"}, {Case::da, "da/"}, {Case::da_c, "da_c/"},
                             {Case::da_loss, "da_loss/"}, {Case::da_c_loss, "da_c_loss/"}, {Case::da_c_ac, "da_c_ac/"}})
        benchmark::RegisterBenchmark((name + suffix).c_str(), run, width, c, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  OverheadReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
