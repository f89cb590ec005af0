#pragma once
/// \file gram_pairs.cuh
/// The pair loops of the Gram path on the GPU, with the CPU backend's semantics
/// (backend/cpu/gram_pairs.hpp): cosine-type metrics from the Gram matrix of unit rows y with
/// the exact chord form ||y_i - y_j||^2 / 2 below `exact_below`, and the Euclidean distance from
/// the Gram matrix of centred rows with the near pairs recomputed from the rows x.
///
/// One block of 256 threads per row i (grid-strided over rows); the columns j go in tiles of
/// 256, thread t taking j = tile + t, so that the row of the Gram matrix is read coalesced.
/// A pair whose distance comes from the Gram matrix is handled by its own thread. A near pair
/// (one to recompute from the rows, rare) is flagged in shared memory; after the tile, the
/// block walks the flagged pairs in order and computes each distance together (threads over
/// the columns, then the fixed block tree), so a near pair costs D / 256 per thread, not D.
/// Per-row results: a thread's own pairs in order, the near pairs by thread 0 in order, then
/// the block tree; the sums over rows are one more block tree over the per-row partials: a
/// fixed order, the same bits on every run. Sums are copied to the host pointers sum_a, sum_b.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/gram_pairs.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cmath>

#include "invar/backend/backend.hpp"
#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

inline constexpr int pair_block = 256;

/// sum_k (a_k - b_k)^2 in double over the block (every thread gets it).
template <class T>
__device__ inline double block_squared_distance(const T* a, const T* b, index_t cols) {
  double s = 0;
  for (index_t k = threadIdx.x; k < cols; k += pair_block) {
    const double d = double(a[k]) - double(b[k]);
    s += d * d;
  }
  return block_sum<pair_block>(s);
}

__device__ inline double clamp_distance(double d) { return d > 2.0 ? 2.0 : d; }  // NaN stays NaN
__device__ inline double nonnegative(double v) { return v < 0.0 ? 0.0 : v; }  // rounding below 0 clamped; NaN kept

template <class T>
__global__ void gram_pair_sums_kernel(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                                      double exact_below, bool distinct, const index_t* ids_a, const double* wa,
                                      const index_t* ids_b, const double* wb, double* part_a, double* part_b) {
  __shared__ unsigned char near[pair_block];
  for (index_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const index_t j0 = distinct ? i + 1 : i;  // symmetric: j >= i, off-diagonal pairs twice when ordered
    const bool zi = zero[i] != 0;
    const T* yi = y + i * cols;
    double sa = 0, sb = 0;
    for (index_t tile = j0; tile < rows; tile += pair_block) {
      const index_t j = tile + threadIdx.x;
      int flag = 0;
      if (j < rows) {
        const double ca = pair_weight(ids_a, wa, i, j), cb = pair_weight(ids_b, wb, i, j);
        if (ca != 0.0 || cb != 0.0) {
          double d = 0;
          if (zi || zero[j]) d = 1.0;
          else if (j == i) d = 0.0;
          else {
            d = 1.0 - double(gram[i * rows + j]);
            flag = d < exact_below;
          }
          if (!flag) {
            d = clamp_distance(d);
            const double mult = (!distinct && j != i) ? 2.0 : 1.0;
            sa += mult * ca * d;
            sb += mult * cb * d;
          }
        }
      }
      near[threadIdx.x] = static_cast<unsigned char>(flag);
      if (__syncthreads_or(flag)) {
        for (int q = 0; q < pair_block; ++q) {
          if (!near[q]) continue;
          const index_t jn = tile + q;
          const double d = clamp_distance(block_squared_distance(yi, y + jn * cols, cols) / 2);
          if (threadIdx.x == 0) {
            const double mult = distinct ? 1.0 : 2.0;  // a near pair is never a self-pair
            sa += mult * pair_weight(ids_a, wa, i, jn) * d;
            sb += mult * pair_weight(ids_b, wb, i, jn) * d;
          }
        }
        __syncthreads();  // near[] is read above and rewritten by the next tile
      }
    }
    sa = block_sum<pair_block>(sa);
    sb = block_sum<pair_block>(sb);
    if (threadIdx.x == 0) {
      part_a[i] = sa;
      part_b[i] = sb;
    }
  }
}

template <class T>
__global__ void gram_pair_coefficients_kernel(index_t rows, index_t cols, const T* y, const T* gram,
                                              const unsigned char* zero, double exact_below, double mult,
                                              const index_t* ids_a, const double* ca, const index_t* ids_b,
                                              const double* cb, T* k_out) {
  __shared__ unsigned char near[pair_block];
  for (index_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const bool zi = zero[i] != 0;
    const T* yi = y + i * cols;
    T* ki = k_out + i * rows;
    double diag = 0;
    for (index_t tile = 0; tile < rows; tile += pair_block) {
      const index_t j = tile + threadIdx.x;
      int flag = 0;
      if (j < rows) {
        double kij = 0;
        if (j != i && !zi && !zero[j]) {
          const double c = pair_weight(ids_a, ca, i, j) + pair_weight(ids_b, cb, i, j);
          if (c != 0.0) {
            double d = 1.0 - double(gram[i * rows + j]);
            flag = d < exact_below;
            if (!flag) {
              d = clamp_distance(d);
              if (d != 0.0) {  // equal rows: the gradient of d is exactly 0 there
                kij = -c * mult;
                diag += c * mult * (1.0 - d);
              }
            }
          }
        }
        if (!flag) ki[j] = static_cast<T>(kij);
      }
      near[threadIdx.x] = static_cast<unsigned char>(flag);
      if (__syncthreads_or(flag)) {
        for (int q = 0; q < pair_block; ++q) {
          if (!near[q]) continue;
          const index_t jn = tile + q;
          const double d = clamp_distance(block_squared_distance(yi, y + jn * cols, cols) / 2);
          if (threadIdx.x == 0) {
            const double c = pair_weight(ids_a, ca, i, jn) + pair_weight(ids_b, cb, i, jn);
            double kij = 0;
            if (d != 0.0) {
              kij = -c * mult;
              diag += c * mult * (1.0 - d);
            }
            ki[jn] = static_cast<T>(kij);
          }
        }
        __syncthreads();
      }
    }
    diag = block_sum<pair_block>(diag);  // (its barriers order the write of ki[i] = 0 before this one)
    if (threadIdx.x == 0) ki[i] = static_cast<T>(diag);
  }
}

/// d^2 of the pair (i, j) from the Gram matrix of centred rows, and whether it must be
/// recomputed from the rows (where the expansion has lost more than a couple of digits; NaN too).
template <class T>
__device__ inline double euclid_expanded(index_t i, index_t j, index_t rows, const T* gram, const T* r, double near,
                                         bool& recompute) {
  const double ri = double(r[i]), rj = double(r[j]);
  const double d2 = ri + rj - 2.0 * double(gram[i * rows + j]);
  recompute = !(d2 >= near * (ri + rj));
  return d2;
}

template <class T>
__global__ void euclid_gram_pair_sums_kernel(index_t rows, index_t cols, const T* x, const T* gram, const T* r,
                                             double near_factor, double mult, const index_t* ids_a, const double* wa,
                                             const index_t* ids_b, const double* wb, double* part_a, double* part_b) {
  __shared__ unsigned char near[pair_block];
  for (index_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const T* xi = x + i * cols;
    double sa = 0, sb = 0;
    for (index_t tile = i + 1; tile < rows; tile += pair_block) {  // d_ii = 0: self-pairs add nothing
      const index_t j = tile + threadIdx.x;
      int flag = 0;
      if (j < rows) {
        const double ca = pair_weight(ids_a, wa, i, j), cb = pair_weight(ids_b, wb, i, j);
        if (ca != 0.0 || cb != 0.0) {
          bool recompute = false;
          const double d2 = euclid_expanded(i, j, rows, gram, r, near_factor, recompute);
          flag = recompute;
          if (!flag) {
            const double d = sqrt(nonnegative(d2));
            sa += mult * ca * d;
            sb += mult * cb * d;
          }
        }
      }
      near[threadIdx.x] = static_cast<unsigned char>(flag);
      if (__syncthreads_or(flag)) {
        for (int q = 0; q < pair_block; ++q) {
          if (!near[q]) continue;
          const index_t jn = tile + q;
          const double d = sqrt(nonnegative(block_squared_distance(xi, x + jn * cols, cols)));
          if (threadIdx.x == 0) {
            sa += mult * pair_weight(ids_a, wa, i, jn) * d;
            sb += mult * pair_weight(ids_b, wb, i, jn) * d;
          }
        }
        __syncthreads();
      }
    }
    sa = block_sum<pair_block>(sa);
    sb = block_sum<pair_block>(sb);
    if (threadIdx.x == 0) {
      part_a[i] = sa;
      part_b[i] = sb;
    }
  }
}

template <class T>
__global__ void euclid_gram_coefficients_kernel(index_t rows, index_t cols, const T* x, const T* gram, const T* r,
                                                double near_factor, double mult, const index_t* ids_a,
                                                const double* ca, const index_t* ids_b, const double* cb, T* k_out,
                                                T* direct) {
  __shared__ unsigned char near[pair_block];
  for (index_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const T* xi = x + i * cols;
    T* ki = k_out + i * rows;
    T* di = direct + i * cols;
    for (index_t k = threadIdx.x; k < cols; k += pair_block) di[k] = T(0);  // each thread owns its columns
    double diag = 0;
    for (index_t tile = 0; tile < rows; tile += pair_block) {
      const index_t j = tile + threadIdx.x;
      int flag = 0;
      if (j < rows) {
        double kij = 0;
        if (j != i) {
          const double c = mult * (pair_weight(ids_a, ca, i, j) + pair_weight(ids_b, cb, i, j));
          if (c != 0.0) {
            bool recompute = false;
            const double d2 = euclid_expanded(i, j, rows, gram, r, near_factor, recompute);
            flag = recompute;
            if (!flag && d2 > 0.0) {  // equal rows: the minimum-norm subgradient 0
              const double w = c / sqrt(d2);
              kij = -w;
              diag += w;
            }
          }
        }
        ki[j] = static_cast<T>(kij);  // a near pair's term goes to `direct`: its K entry is 0
      }
      near[threadIdx.x] = static_cast<unsigned char>(flag);
      if (__syncthreads_or(flag)) {
        for (int q = 0; q < pair_block; ++q) {
          if (!near[q]) continue;
          const index_t jn = tile + q;
          const T* xj = x + jn * cols;
          const double d2 = block_squared_distance(xi, xj, cols);
          if (d2 > 0.0) {
            const double c = mult * (pair_weight(ids_a, ca, i, jn) + pair_weight(ids_b, cb, i, jn));
            const T wt = static_cast<T>(c / sqrt(d2));
            for (index_t k = threadIdx.x; k < cols; k += pair_block) di[k] += wt * (xi[k] - xj[k]);
          }
        }
        __syncthreads();
      }
    }
    diag = block_sum<pair_block>(diag);
    if (threadIdx.x == 0) ki[i] = static_cast<T>(diag);
  }
}

}  // namespace detail

/// sum_a = sum of wa[g] d_ij over the selected pairs sharing group g of ids_a; sum_b likewise.
/// sum_a and sum_b are HOST pointers (the stream is synchronised).
template <class T>
void gram_pair_sums(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                    double exact_below, PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b,
                    const double* wb, double* sum_a, double* sum_b) {
  if (rows <= 0) {
    *sum_a = 0;
    *sum_b = 0;
    return;
  }
  Context& ctx = Context::current();
  detail::Scratch<double> part(ctx, 2 * rows);
  detail::gram_pair_sums_kernel<<<detail::blocks_for(rows, 1), detail::pair_block, 0, ctx.stream()>>>(
      rows, cols, y, gram, zero, exact_below, set == PairSet::distinct, ids_a, wa, ids_b, wb, part.get(),
      part.get() + rows);
  INVAR_CUDA_CHECK_LAUNCH("gram_pair_sums_kernel");
  detail::sum_parts_to_host(ctx, rows, part.get(), part.get() + rows, sum_a, sum_b);
}

/// K (rows x rows): K_ij = -(ca + cb) m for pairs with d_ij > 0, K_ii = sum_j -K_ij (1 - d_ij).
template <class T>
void gram_pair_coefficients(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                            double exact_below, PairSet set, const index_t* ids_a, const double* ca,
                            const index_t* ids_b, const double* cb, T* k_out) {
  if (rows <= 0) return;
  const double mult = set == PairSet::ordered_with_self ? 2.0 : 1.0;
  detail::gram_pair_coefficients_kernel<<<detail::blocks_for(rows, 1), detail::pair_block, 0,
                                          Context::current().stream()>>>(rows, cols, y, gram, zero, exact_below, mult,
                                                                         ids_a, ca, ids_b, cb, k_out);
  INVAR_CUDA_CHECK_LAUNCH("gram_pair_coefficients_kernel");
}

/// Sums of wa[g] d_ij and wb[g] d_ij over the selected pairs, Euclidean d (host pointers out).
template <class T>
void euclid_gram_pair_sums(index_t rows, index_t cols, const T* x, const T* gram, const T* r, double near,
                           PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b,
                           const double* wb, double* sum_a, double* sum_b) {
  if (rows <= 0) {
    *sum_a = 0;
    *sum_b = 0;
    return;
  }
  Context& ctx = Context::current();
  const double mult = set == PairSet::ordered_with_self ? 2.0 : 1.0;
  detail::Scratch<double> part(ctx, 2 * rows);
  detail::euclid_gram_pair_sums_kernel<<<detail::blocks_for(rows, 1), detail::pair_block, 0, ctx.stream()>>>(
      rows, cols, x, gram, r, near, mult, ids_a, wa, ids_b, wb, part.get(), part.get() + rows);
  INVAR_CUDA_CHECK_LAUNCH("euclid_gram_pair_sums_kernel");
  detail::sum_parts_to_host(ctx, rows, part.get(), part.get() + rows, sum_a, sum_b);
}

/// K and the near pairs' direct terms of the Euclidean gradient (see the CPU backend).
template <class T>
void euclid_gram_coefficients(index_t rows, index_t cols, const T* x, const T* gram, const T* r, double near,
                              PairSet set, const index_t* ids_a, const double* ca, const index_t* ids_b,
                              const double* cb, T* k_out, T* direct) {
  if (rows <= 0) return;
  const double mult = set == PairSet::ordered_with_self ? 2.0 : 1.0;
  detail::euclid_gram_coefficients_kernel<<<detail::blocks_for(rows, 1), detail::pair_block, 0,
                                            Context::current().stream()>>>(rows, cols, x, gram, r, near, mult, ids_a,
                                                                           ca, ids_b, cb, k_out, direct);
  INVAR_CUDA_CHECK_LAUNCH("euclid_gram_coefficients_kernel");
}

}  // namespace invar::cuda
