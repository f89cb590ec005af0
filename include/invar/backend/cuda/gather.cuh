#pragma once
/// \file gather.cuh
/// Row gathers and scatter-adds by index on the GPU.
///
/// scatter_add_rows is deterministic with repeated indices and uses no atomics: one thread per
/// column walks the source rows in order, so every output element receives its additions in
/// source-row order (the CPU's order). To keep the walk from being one memory latency per row,
/// the rows go in batches of 16: the batch's indices and source values are loaded at once, each
/// distinct destination in the batch is loaded once, the additions are applied in row order in
/// registers (a repeated destination continues from its previous value), and each destination
/// is stored once. The result is the sequential order's, exactly.
/// Parallelism is the number of columns: a scatter of many rows into few columns is a serial
/// loop per column (fine for the per-group sums of the losses, K rows of D columns).

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/gather.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

template <class T>
__global__ void gather_rows_kernel(index_t rows, index_t cols, const T* src, const index_t* idx, T* out) {
  const index_t n = rows * cols;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t r = e / cols, j = e - r * cols;
    out[e] = src[idx[r] * cols + j];
  }
}

inline constexpr int scatter_batch = 16;
inline constexpr int scatter_block = 128;  // smaller blocks spread few columns over more SMs

template <class T>
__global__ void scatter_add_rows_kernel(index_t rows, index_t cols, const T* src, const index_t* idx, T alpha,
                                        T* out) {
  constexpr int U = scatter_batch;
  for (index_t j = global_thread(); j < cols; j += grid_threads()) {
    for (index_t r0 = 0; r0 < rows; r0 += U) {
      const int n = rows - r0 < U ? static_cast<int>(rows - r0) : U;
      index_t id[U];
      T add[U], value[U];
#pragma unroll
      for (int q = 0; q < U; ++q)
        if (q < n) {
          id[q] = idx[r0 + q];
          add[q] = alpha * src[(r0 + q) * cols + j];
        }
      // Apply the batch's additions in row order; a destination seen earlier in the batch
      // continues from its value there, a new one is loaded (the loads do not wait on each other).
#pragma unroll
      for (int q = 0; q < U; ++q)
        if (q < n) {
          // (static indices only, so that the batch stays in registers)
          bool seen = false;
          T before = T(0);
#pragma unroll
          for (int p = 0; p < q; ++p)
            if (id[p] == id[q]) {
              seen = true;
              before = value[p];
            }
          value[q] = (seen ? before : out[id[q] * cols + j]) + add[q];
        }
      // Store each destination's last value once.
#pragma unroll
      for (int q = 0; q < U; ++q)
        if (q < n) {
          bool last = true;
#pragma unroll
          for (int p = q + 1; p < U; ++p)
            if (p < n && id[p] == id[q]) last = false;
          if (last) out[id[q] * cols + j] = value[q];
        }
    }
  }
}

}  // namespace detail

/// out[r,:] = src[idx[r],:].
template <class T>
void gather_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T* out) {
  if (rows <= 0 || cols <= 0) return;
  detail::gather_rows_kernel<<<detail::blocks_for(rows * cols), detail::block_threads, 0,
                               Context::current().stream()>>>(rows, cols, src, idx, out);
  INVAR_CUDA_CHECK_LAUNCH("gather_rows_kernel");
}

/// out[idx[r],:] += alpha src[r,:] for r = 0, 1, ... in order (repeated indices add up).
template <class T>
void scatter_add_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T alpha, T* out) {
  if (rows <= 0 || cols <= 0) return;
  detail::scatter_add_rows_kernel<<<detail::blocks_for(cols, detail::scatter_block), detail::scatter_block, 0,
                                    Context::current().stream()>>>(rows, cols, src, idx, alpha, out);
  INVAR_CUDA_CHECK_LAUNCH("scatter_add_rows_kernel");
}

}  // namespace invar::cuda
