#pragma once
/// \file group_stats.cuh
/// Group-wise statistics on the GPU: the two passes of the linear-time invariance losses, with the
/// CPU backend's semantics (backend/cpu/group_stats.hpp). s_i = x_i - shift (shift: one row on the
/// device; null means no shift), everything accumulated in double.
///
/// group_sums: blocks of 256 columns x one group (grid y, grid-strided over groups). The thread
/// of column j walks the group's rows in `order` (coalesced loads of 256 consecutive elements
/// per row) and owns sums[k, j] and its column's share of group_sq[k]. Per block, ||.||^2 of its
/// columns of sums[k] and their share of group_sq[k] are block trees; blocks of a group write
/// their partials side by side and one thread per group adds them in column-block order (with
/// a single column block the block writes sq and group_sq directly). Fixed order throughout.
/// group_centered_combination: element-wise, one thread per element (2-d grid: 256 columns x
/// rows taken in `order`), the means rounded to T per element exactly as the CPU rounds them
/// once per group (same value).

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/group_stats.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include "invar/backend/backend.hpp"
#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

inline constexpr int group_block = 256;

template <class T>
__global__ void group_sums_kernel(index_t cols, const T* x, const T* shift, const index_t* order,
                                  const index_t* offsets, index_t groups, double* sums, index_t col_blocks,
                                  double* part_sq, double* part_group_sq) {
  const index_t j = static_cast<index_t>(blockIdx.x) * group_block + threadIdx.x;
  const bool active = j < cols;
  const double sh = (active && shift) ? double(shift[j]) : 0.0;
  for (index_t k = blockIdx.y; k < groups; k += gridDim.y) {
    const index_t p0 = offsets[k], p1 = offsets[k + 1];
    double s = 0, q = 0;
    if (active) {
#pragma unroll 4
      for (index_t p = p0; p < p1; ++p) {
        const double d = double(x[order[p] * cols + j]) - sh;
        s += d;
        q += d * d;
      }
      sums[k * cols + j] = s;
    }
    const double s2 = block_sum<group_block>(s * s);
    const double qq = block_sum<group_block>(q);
    if (threadIdx.x == 0) {
      part_sq[k * col_blocks + blockIdx.x] = s2;
      part_group_sq[k * col_blocks + blockIdx.x] = qq;
    }
  }
}

template <class A>
__global__ void group_sums_finish_kernel(index_t groups, index_t col_blocks, const A* part_sq, const A* part_group_sq,
                                         A* sq, A* group_sq) {
  for (index_t k = global_thread(); k < groups; k += grid_threads()) {
    A a = 0, b = 0;
    for (index_t c = 0; c < col_blocks; ++c) {
      a += part_sq[k * col_blocks + c];
      b += part_group_sq[k * col_blocks + c];
    }
    sq[k] = a;
    group_sq[k] = b;
  }
}

template <class T>
__global__ void group_centered_combination_kernel(index_t rows, index_t cols, const T* x, const T* shift,
                                                  const index_t* order, CenteredTerms terms, T beta, T* out) {
  const index_t j = static_cast<index_t>(blockIdx.x) * group_block + threadIdx.x;
  if (j >= cols) return;
  const T sh = shift ? shift[j] : T(0);
  for (index_t p = blockIdx.y; p < rows; p += gridDim.y) {
    // Rows in `order` (group by group): blocks that run together share their group's row of
    // sums in L2, which is then read from memory once per group, not once per row.
    const index_t i = order ? order[p] : p;
    const index_t e = i * cols + j;
    const T sj = x[e] - sh;
    // The terms in order, the first active one starting the sum (the CPU's rounding).
    T v = T(0);
    bool any = false;
    for (int t = 0; t < terms.count && t < CenteredTerms::capacity; ++t) {
      const CenteredTerm& term = terms.term[t];
      const index_t g = term.ids ? term.ids[i] : -1;
      if (g < 0 || term.coefficients[i] == 0.0) continue;
      const T c = static_cast<T>(term.coefficients[i]);
      const T m = static_cast<T>(term.sums[g * cols + j] * term.inverse_sizes[g]);
      v = any ? static_cast<T>(v + c * (sj - m)) : static_cast<T>(c * (sj - m));
      any = true;
    }
    out[e] = beta == T(0) ? v : static_cast<T>(beta * out[e] + v);
  }
}

}  // namespace detail

/// sums[k, :] = sum of s_i over group k (rows order[offsets[k] .. offsets[k+1])),
/// sq[k] = ||sums[k, :]||^2, group_sq[k] = sum of ||s_i||^2 over group k. Rows in no group are
/// not read. An empty group gives zeros.
template <class T>
void group_sums(index_t rows, index_t cols, const T* x, const T* shift, const index_t* order, const index_t* offsets,
                index_t groups, double* sums, double* sq, double* group_sq) {
  (void)rows;
  if (groups <= 0) return;
  Context& ctx = Context::current();
  if (cols <= 0) {  // no columns: every sum is 0
    INVAR_CUDA_CHECK(cudaMemsetAsync(sq, 0, static_cast<std::size_t>(groups) * sizeof(double), ctx.stream()));
    INVAR_CUDA_CHECK(cudaMemsetAsync(group_sq, 0, static_cast<std::size_t>(groups) * sizeof(double), ctx.stream()));
    return;
  }
  const index_t col_blocks = (cols + detail::group_block - 1) / detail::group_block;
  const dim3 grid(static_cast<unsigned>(col_blocks),
                  static_cast<unsigned>(groups < detail::max_grid_y ? groups : detail::max_grid_y));
  if (col_blocks == 1) {
    detail::group_sums_kernel<<<grid, detail::group_block, 0, ctx.stream()>>>(cols, x, shift, order, offsets, groups,
                                                                              sums, 1, sq, group_sq);
    INVAR_CUDA_CHECK_LAUNCH("group_sums_kernel");
    return;
  }
  detail::Scratch<double> part(ctx, 2 * groups * col_blocks);
  double* part_sq = part.get();
  double* part_group_sq = part.get() + groups * col_blocks;
  detail::group_sums_kernel<<<grid, detail::group_block, 0, ctx.stream()>>>(cols, x, shift, order, offsets, groups,
                                                                            sums, col_blocks, part_sq, part_group_sq);
  INVAR_CUDA_CHECK_LAUNCH("group_sums_kernel");
  detail::group_sums_finish_kernel<<<detail::blocks_for(groups), detail::block_threads, 0, ctx.stream()>>>(
      groups, col_blocks, part_sq, part_group_sq, sq, group_sq);
  INVAR_CUDA_CHECK_LAUNCH("group_sums_finish_kernel");
}

/// out_i = beta out_i + sum_t c_t[i] (s_i - mu_t[g_t(i)]), mu_t = sums_t * inv_n_t (a term is 0
/// when its id is < 0, its ids array null or its coefficient 0). Rows are visited in `order` (a
/// permutation; null: 0, 1, ...) for the reuse of each group's sums in L2.
template <class T>
void group_centered_combination(index_t rows, index_t cols, const T* x, const T* shift, const index_t* order,
                                const CenteredTerms& terms, T beta, T* out) {
  if (rows <= 0 || cols <= 0) return;
  const index_t col_blocks = (cols + detail::group_block - 1) / detail::group_block;
  const dim3 grid(static_cast<unsigned>(col_blocks),
                  static_cast<unsigned>(rows < detail::max_grid_y ? rows : detail::max_grid_y));
  detail::group_centered_combination_kernel<<<grid, detail::group_block, 0, Context::current().stream()>>>(
      rows, cols, x, shift, order, terms, beta, out);
  INVAR_CUDA_CHECK_LAUNCH("group_centered_combination_kernel");
}

}  // namespace invar::cuda
