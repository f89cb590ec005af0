#pragma once
/// \file pairwise_groups.cuh
/// Sums of a metric over the pairs of rows that share a group, and their gradients, on the GPU:
/// the pairwise path of the invariance losses for any metric, a user's included, with the CPU
/// backend's semantics (backend/cpu/pairwise_groups.hpp). The metric is passed by value into
/// the kernels and called through its INVAR_HOST_DEVICE members: one thread evaluates one pair
/// (value or accumulate_gradient over the whole rows, as the metric is written).
///
/// - group_pair_sums: one block of 256 threads per row i, thread t taking the pairs (i, j) with
///   j = j0 + t, j0 + t + 256, ...; per row the fixed block tree, over rows one more block tree;
///   the two sums are copied to the host pointers.
/// - group_pair_gradient: the gradient row of x_i is accumulated by S threads (S "slots": slot
///   s takes the partners j = s, s + S, ...), each into its own scratch row, and the S rows are
///   then added in slot order, after beta out_i. S is a power of two up to 32 chosen from the
///   shapes alone (enough threads for a GPU, at most 256 MiB of scratch), so the order of every
///   addition is fixed: the same bits on every run, no atomics. With S = 1 the thread
///   accumulates straight into out_i.
/// O(B^2 D) work like the CPU path; distances are recomputed in the gradient pass, not stored.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/pairwise_groups.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <type_traits>

#include "invar/backend/backend.hpp"
#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

inline constexpr int pairwise_block = 256;

template <class M, class T>
__global__ void group_pair_sums_kernel(M metric, index_t rows, index_t cols, const T* x, bool distinct,
                                       const index_t* ids_a, const double* wa, const index_t* ids_b,
                                       const double* wb, double* part_a, double* part_b) {
  // Symmetric metrics visit j >= i only: d(x_i, x_j) = d(x_j, x_i) counts twice for ordered pairs.
  constexpr bool symmetric = M::symmetric;
  for (index_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const T* xi = x + i * cols;
    const index_t j0 = distinct ? i + 1 : (symmetric ? i : 0);
    double sa = 0, sb = 0;
    for (index_t j = j0 + threadIdx.x; j < rows; j += pairwise_block) {
      const double ca = pair_weight(ids_a, wa, i, j), cb = pair_weight(ids_b, wb, i, j);
      if (ca == 0.0 && cb == 0.0) continue;
      const double d = double(metric.value(xi, x + j * cols, cols));
      const double mult = (!distinct && symmetric && j != i) ? 2.0 : 1.0;
      sa += mult * ca * d;
      sb += mult * cb * d;
    }
    sa = block_sum<pairwise_block>(sa);
    sb = block_sum<pairwise_block>(sb);
    if (threadIdx.x == 0) {
      part_a[i] = sa;
      part_b[i] = sb;
    }
  }
}

/// Thread t = i slots + s accumulates the terms of row i's gradient from the partners
/// j = s, s + slots, ... into scratch row t (zeroed before), or into out_i when scratch is null
/// (slots == 1; then out_i is first scaled by beta).
template <class M, class T>
__global__ void group_pair_gradient_kernel(M metric, index_t rows, index_t cols, const T* x, bool distinct,
                                           const index_t* ids_a, const double* ca, const index_t* ids_b,
                                           const double* cb, index_t slots, T beta, T* out, T* scratch) {
  const index_t n = rows * slots;
  for (index_t t = global_thread(); t < n; t += grid_threads()) {
    const index_t i = t / slots, s = t - i * slots;
    T* gi;
    if (scratch) {
      gi = scratch + t * cols;
    } else {
      gi = out + i * cols;
      for (index_t k = 0; k < cols; ++k) gi[k] = beta == T(0) ? T(0) : static_cast<T>(beta * gi[k]);
    }
    const T* xi = x + i * cols;
    T* const none = nullptr;
    for (index_t j = s; j < rows; j += slots) {
      const double c = pair_weight(ids_a, ca, i, j) + pair_weight(ids_b, cb, i, j);
      if (c == 0.0) continue;
      const T* xj = x + j * cols;
      const T w = static_cast<T>(c);
      if (!distinct) {
        if (j == i) {
          metric.accumulate_gradient(xi, xi, cols, w, gi, gi);  // d(x_i, x_i) depends on x_i twice
        } else if constexpr (M::symmetric) {
          metric.accumulate_gradient(xi, xj, cols, static_cast<T>(2 * c), gi, none);
        } else {
          metric.accumulate_gradient(xi, xj, cols, w, gi, none);  // pair (i, j)
          metric.accumulate_gradient(xj, xi, cols, w, none, gi);  // pair (j, i)
        }
      } else if (j > i) {
        metric.accumulate_gradient(xi, xj, cols, w, gi, none);  // pair {i < j}: i first
      } else if (j < i) {
        metric.accumulate_gradient(xj, xi, cols, w, none, gi);  // pair {j < i}: i second
      }
    }
  }
}

template <class T>
__global__ void add_slot_rows_kernel(index_t rows, index_t cols, index_t slots, const T* scratch, T beta, T* out) {
  const index_t n = rows * cols;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t i = e / cols, k = e - i * cols;
    T v = beta == T(0) ? T(0) : static_cast<T>(beta * out[e]);
    const T* p = scratch + i * slots * cols + k;
    for (index_t s = 0; s < slots; ++s) v += p[s * cols];
    out[e] = v;
  }
}

/// Gradient slots per row: a function of the shapes only (see the file comment).
inline index_t gradient_slots(index_t rows, index_t cols, std::size_t scalar_bytes) {
  constexpr index_t target_threads = index_t{1} << 16;
  constexpr double max_scratch_bytes = 256.0 * 1024 * 1024;
  index_t slots = 1;
  while (slots < 32 && rows * slots * 2 <= target_threads) slots *= 2;
  while (slots > 1 && double(rows) * double(slots) * double(cols) * double(scalar_bytes) > max_scratch_bytes)
    slots /= 2;
  return slots;
}

}  // namespace detail

/// Sums of metric values over the pairs sharing a group (weights wa, wb per group), to the host
/// pointers sum_a and sum_b (the stream is synchronised).
template <class M, class T>
void group_pair_sums(const M& metric, index_t rows, index_t cols, const T* x, PairSet set, const index_t* ids_a,
                     const double* wa, const index_t* ids_b, const double* wb, double* sum_a, double* sum_b) {
  static_assert(std::is_trivially_copyable_v<M>, "a metric used on the GPU is copied into the kernel");
  if (rows <= 0) {
    *sum_a = 0;
    *sum_b = 0;
    return;
  }
  Context& ctx = Context::current();
  detail::Scratch<double> part(ctx, 2 * rows);
  detail::group_pair_sums_kernel<<<detail::blocks_for(rows, 1), detail::pairwise_block, 0, ctx.stream()>>>(
      metric, rows, cols, x, set == PairSet::distinct, ids_a, wa, ids_b, wb, part.get(), part.get() + rows);
  INVAR_CUDA_CHECK_LAUNCH("group_pair_sums_kernel");
  detail::sum_parts_to_host(ctx, rows, part.get(), part.get() + rows, sum_a, sum_b);
}

/// out_i = beta out_i + sum over the selected pairs p containing row i of
/// (ca[g_a] [p in group a] + cb[g_b] [p in group b]) dd(p)/dx_i.
template <class M, class T>
void group_pair_gradient(const M& metric, index_t rows, index_t cols, const T* x, PairSet set, const index_t* ids_a,
                         const double* ca, const index_t* ids_b, const double* cb, T beta, T* out) {
  static_assert(std::is_trivially_copyable_v<M>, "a metric used on the GPU is copied into the kernel");
  if (rows <= 0 || cols <= 0) return;
  Context& ctx = Context::current();
  const bool distinct = set == PairSet::distinct;
  const index_t slots = detail::gradient_slots(rows, cols, sizeof(T));
  if (slots == 1) {
    detail::group_pair_gradient_kernel<<<detail::blocks_for(rows), detail::block_threads, 0, ctx.stream()>>>(
        metric, rows, cols, x, distinct, ids_a, ca, ids_b, cb, slots, beta, out, static_cast<T*>(nullptr));
    INVAR_CUDA_CHECK_LAUNCH("group_pair_gradient_kernel");
    return;
  }
  detail::Scratch<T> scratch(ctx, rows * slots * cols);
  INVAR_CUDA_CHECK(cudaMemsetAsync(scratch.get(), 0, static_cast<std::size_t>(rows * slots * cols) * sizeof(T),
                                   ctx.stream()));
  detail::group_pair_gradient_kernel<<<detail::blocks_for(rows * slots), detail::block_threads, 0, ctx.stream()>>>(
      metric, rows, cols, x, distinct, ids_a, ca, ids_b, cb, slots, beta, out, scratch.get());
  INVAR_CUDA_CHECK_LAUNCH("group_pair_gradient_kernel");
  detail::add_slot_rows_kernel<<<detail::blocks_for(rows * cols), detail::block_threads, 0, ctx.stream()>>>(
      rows, cols, slots, scratch.get(), beta, out);
  INVAR_CUDA_CHECK_LAUNCH("add_slot_rows_kernel");
}

}  // namespace invar::cuda
