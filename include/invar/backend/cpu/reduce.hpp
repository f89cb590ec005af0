#pragma once
/// \file reduce.hpp
/// Row, column and full reductions on the CPU, in a fixed summation order so that the
/// result does not depend on the number of threads:
/// - reduce_rows: one row per task, summed left to right in SIMD lanes (order fixed by the build);
/// - reduce_cols: column blocks per task, rows added top to bottom;
/// - reduce_all: fixed 4096-element blocks summed in SIMD lanes, block sums added in order.
/// Sums accumulate in double (`accumulator_t`), also for float data: a float sum of 10^4..10^7
/// terms would otherwise lose 3 to 5 digits, and these reductions are bound by memory
/// bandwidth, not by the width of the adds.

#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

template <class T>
using accumulator_t = decltype(T{} + 0.0);  // double for float and double, long double stays

template <class T, class F, class... In>
void reduce_rows(index_t rows, index_t cols, T* out, F f, const In*... in) {
  parallel_for(rows, cols, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      const index_t base = i * cols;
      accumulator_t<T> s = 0;
      INVAR_SIMD_REDUCTION(+, s)
      for (index_t j = 0; j < cols; ++j) s += static_cast<T>(f(in[base + j]...));
      out[i] = static_cast<T>(s);
    }
  });
}

template <class T, class F, class... In>
void reduce_cols(index_t rows, index_t cols, T* out, F f, const In*... in) {
  constexpr index_t block = 256;  // columns per task: a few cache lines per row, enough to vectorise
  const index_t nblocks = (cols + block - 1) / block;
  parallel_for(nblocks, rows * block, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      const index_t j0 = b * block;
      const index_t j1 = j0 + block < cols ? j0 + block : cols;
      accumulator_t<T> acc[block] = {};
      for (index_t i = 0; i < rows; ++i) {
        const index_t base = i * cols;
        for (index_t j = j0; j < j1; ++j) acc[j - j0] += static_cast<T>(f(in[base + j]...));
      }
      for (index_t j = j0; j < j1; ++j) out[j] = static_cast<T>(acc[j - j0]);
    }
  });
}

template <class T, class F, class... In>
T reduce_all(index_t n, F f, const In*... in) {
  constexpr index_t block = 4096;
  const index_t nblocks = (n + block - 1) / block;
  std::vector<accumulator_t<T>> partial(static_cast<std::size_t>(nblocks));
  parallel_for(nblocks, block, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      const index_t i0 = b * block;
      const index_t i1 = i0 + block < n ? i0 + block : n;
      accumulator_t<T> s = 0;
      INVAR_SIMD_REDUCTION(+, s)
      for (index_t i = i0; i < i1; ++i) s += static_cast<T>(f(in[i]...));
      partial[static_cast<std::size_t>(b)] = s;
    }
  });
  accumulator_t<T> total = 0;
  for (const auto& p : partial) total += p;
  return static_cast<T>(total);
}

}  // namespace invar::cpu
