#pragma once
// A batch shaped like CIFAR for the network benchmarks: kBatch random 3 x 32 x 32 images in
// [0, 1] and labels in 0..9, seeded, so every benchmark and its libtorch twin see the same data.
#include "invar/cpu.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"

namespace invar::bench {

template <invar::index_t kBatch>
struct CifarBatch {
  invar::Tensor<float> x{invar::Shape{kBatch, 3, 32, 32}};
  invar::Tensor<invar::index_t> y{invar::Shape{kBatch}};
  CifarBatch() {
    invar::Rng rng(1);
    for (auto& v : x) v = float(rng.uniform());
    for (invar::index_t i = 0; i < kBatch; ++i) y[i] = invar::index_t(rng.below(10));
  }
};

}  // namespace invar::bench
