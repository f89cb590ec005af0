#pragma once
// Seeded random test data. std::mt19937_64 is specified by the standard, so the raw stream
// is the same everywhere; the uniform mapping below is our own, so values are too.

#include <cstdint>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/core/tensor.hpp"

namespace invar::test {

/// Uniform in [lo, hi), reproducible across standard libraries.
inline double uniform(std::mt19937_64& rng, double lo, double hi) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return lo + (hi - lo) * u;
}

template <class T>
Tensor<T> random_tensor(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  auto t = Tensor<T>::uninitialized(shape);
  for (auto& x : t) x = static_cast<T>(uniform(rng, lo, hi));
  return t;
}

/// n indices uniform in [0, bound).
inline Tensor<index_t> random_indices(index_t n, index_t bound, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor<index_t> t(Shape{n});
  for (auto& x : t) x = static_cast<index_t>(rng() % static_cast<std::uint64_t>(bound));
  return t;
}

}  // namespace invar::test
