#pragma once
/// \file gather.hpp
/// Row gathers and scatter-adds by index on the CPU. Scatter-add runs one column block per
/// task and visits source rows in order, so there are no write races and no atomics, and the
/// sums come out the same whatever the thread count (the basis of per-group sums in the losses).

#include <cstring>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

template <class T>
void gather_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T* out) {
  parallel_for(rows, cols, [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r)
      if (cols) std::memcpy(out + r * cols, src + idx[r] * cols, static_cast<std::size_t>(cols) * sizeof(T));
  });
}

template <class T>
void scatter_add_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T alpha, T* out) {
  constexpr index_t block = 256;
  const index_t nblocks = (cols + block - 1) / block;
  parallel_for(nblocks, rows * block, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      const index_t j0 = b * block;
      const index_t j1 = j0 + block < cols ? j0 + block : cols;
      for (index_t r = 0; r < rows; ++r) {
        const T* s = src + r * cols;
        T* o = out + idx[r] * cols;
        for (index_t j = j0; j < j1; ++j) o[j] += alpha * s[j];
      }
    }
  });
}

}  // namespace invar::cpu
