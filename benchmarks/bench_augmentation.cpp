// Augmentation throughput: augment_batch on 128 CIFAR-sized images (3 x 32 x 32, float in
// [0, 1], random data: the work per image does not depend on the pixel values), heavier and light
// schemes, on 1 and 2 threads, plus one image at a time through Augmentation::apply.
// Counter: images/s. Compare with a training step: All-CNN-C takes about 2 s per 128 images at
// 2 threads (bench_convnets), so augmentation must cost a negligible fraction of that.
//
// Run (docs/data.md, "Augmentation"):
//   cmake --preset release && cmake --build build/release --target bench_augmentation
//   build/release/benchmarks/bench_augmentation --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/data/augment/augmentation.hpp"
#include "invar/data/augment/schemes.hpp"

namespace {

namespace aug = invar::data::augment;

constexpr invar::index_t kBatch = 128, kC = 3, kH = 32, kW = 32;

invar::Tensor<float> random_images() {
  invar::Tensor<float> x(invar::Shape{kBatch, kC, kH, kW});
  invar::Rng rng(1);
  for (auto& v : x) v = float(rng.uniform());
  return x;
}

aug::Augmentation scheme(const std::string& name) {
  if (name == "heavier") return aug::heavier();
  if (name == "heavier_uniform") return aug::heavier(aug::HeavierOptions{}.with_draw(aug::Draw::uniform));
  if (name == "light") return aug::light();
  return aug::Augmentation{}.random_crop(4).horizontal_flip();  // "crop_flip", the common CIFAR recipe
}

void set_rate(benchmark::State& state) {
  state.counters["images/s"] = benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

/// augment_batch over 128 images; a new key every iteration (as training does).
void batch(benchmark::State& state, std::string name, int threads) {
  invar::ThreadScope scope(threads);
  const auto images = random_images();
  const aug::Augmentation a = scheme(name);
  invar::Tensor<float> out(images.shape());
  invar::index_t key = 0;
  for (auto _ : state) {
    aug::augment_batch(a, images, out, 42, key++);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rate(state);
}

/// The same 128 images one at a time through Augmentation::apply on the calling thread (what a
/// batch assembler that calls apply per row pays).
void per_image(benchmark::State& state, std::string name) {
  const auto images = random_images();
  const aug::Augmentation a = scheme(name);
  invar::Tensor<float> out(images.shape());
  const invar::index_t size = kC * kH * kW;
  std::uint64_t key = 0;
  for (auto _ : state) {
    for (invar::index_t i = 0; i < kBatch; ++i) {
      invar::Rng rng = invar::Rng::keyed(7, {key, std::uint64_t(i)});
      a.apply(images.data() + i * size, out.data() + i * size, kC, kH, kW, rng);
    }
    ++key;
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rate(state);
}

}  // namespace

int main(int argc, char** argv) {
  for (const std::string name : {"heavier", "heavier_uniform", "light", "crop_flip"}) {
    for (int threads : {1, 2}) {
      benchmark::RegisterBenchmark(("augment_batch/" + name + "/threads:" + std::to_string(threads)).c_str(), batch,
                                   name, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
    benchmark::RegisterBenchmark(("apply_per_image/" + name).c_str(), per_image, name)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
