#pragma once
/// \file group_stats.hpp
/// Group-wise statistics on the CPU, the two passes behind the linear-time invariance losses.
///
/// group_sums (one read of x), with s_i = x_i - shift (shift: one row, e.g. x_0):
///   sums_a[k, :] = sum of s_i over rows with ids_a[i] == k,   sq_a[k] = ||sums_a[k, :]||^2
///   sums_b, sq_b likewise for ids_b (optional),               row_sq[i] = ||s_i||^2
/// group_centered_combination (one read of x, one write of out), with mu = sums * inv_n:
///   out_i = beta out_i + ca_i (s_i - mu_a[a_i]) + cb_i (s_i - mu_b[b_i])      (a term is 0 when its id < 0)
///
/// Everything is accumulated in double, also for float x: with the shift, a batch of rows near
/// 1e3 that differ by 1e-2 loses nothing (float - float is exact in double), and the group
/// means are never rounded to float before they are subtracted.
/// group_sums runs one column block per task (each task owns its columns of every group and
/// visits rows in order: no atomics, and the same bits on any thread count; norms are summed
/// from per-block partials in block order). The combination runs over rows in `order`, where
/// rows of a group are adjacent, so each group's sums are read from memory once, not once per row.

#include <algorithm>
#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

template <class T>
void group_sums(index_t rows, index_t cols, const T* x, const T* shift, const index_t* ids_a, index_t groups_a,
                double* sums_a, double* sq_a, const index_t* ids_b, index_t groups_b, double* sums_b, double* sq_b,
                double* row_sq) {
  constexpr index_t block = 512;  // columns per task: the block's sums of ~100 groups stay in L2
  constexpr index_t prefetch_rows = 4;
  const index_t nblocks = (cols + block - 1) / block;
  if (!ids_b) groups_b = 0;
  const auto nb = static_cast<std::size_t>(nblocks);
  std::vector<double> part_row(nb * static_cast<std::size_t>(rows));
  std::vector<double> part_a(nb * static_cast<std::size_t>(groups_a)), part_b(nb * static_cast<std::size_t>(groups_b));
  parallel_for(nblocks, rows * block, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      const index_t j0 = b * block;
      const index_t w = std::min(cols, j0 + block) - j0;
      for (index_t k = 0; k < groups_a; ++k) std::fill_n(sums_a + k * cols + j0, w, 0.0);
      for (index_t k = 0; k < groups_b; ++k) std::fill_n(sums_b + k * cols + j0, w, 0.0);
      double sh[block];  // the shift, converted once per block rather than once per row
      for (index_t j = 0; j < w; ++j) sh[j] = double(shift[j0 + j]);
      for (index_t i = 0; i < rows; ++i) {
        const T* xi = x + i * cols + j0;
        // A block is a short run of each row, then a jump of a whole row: the hardware
        // prefetcher does not follow that, so fetch a few rows ahead explicitly.
        if (i + prefetch_rows < rows) {
          const char* next = reinterpret_cast<const char*>(xi + prefetch_rows * cols);
          for (index_t off = 0; off < w * index_t(sizeof(T)); off += 64) __builtin_prefetch(next + off, 0, 0);
        }
        double* oa = ids_a[i] >= 0 ? sums_a + ids_a[i] * cols + j0 : nullptr;
        double* ob = (groups_b > 0 && ids_b[i] >= 0) ? sums_b + ids_b[i] * cols + j0 : nullptr;
        double sq = 0;
        if (oa && ob) {
          INVAR_SIMD_REDUCTION(+, sq)
          for (index_t j = 0; j < w; ++j) {
            const double d = double(xi[j]) - sh[j];
            oa[j] += d;
            ob[j] += d;
            sq += d * d;
          }
        } else if (oa || ob) {
          double* o = oa ? oa : ob;
          INVAR_SIMD_REDUCTION(+, sq)
          for (index_t j = 0; j < w; ++j) {
            const double d = double(xi[j]) - sh[j];
            o[j] += d;
            sq += d * d;
          }
        } else {
          INVAR_SIMD_REDUCTION(+, sq)
          for (index_t j = 0; j < w; ++j) {
            const double d = double(xi[j]) - sh[j];
            sq += d * d;
          }
        }
        part_row[static_cast<std::size_t>(b * rows + i)] = sq;
      }
      auto block_norms = [&](index_t groups, const double* sums, std::vector<double>& part) {
        for (index_t k = 0; k < groups; ++k) {
          const double* g = sums + k * cols + j0;
          double s = 0;
          INVAR_SIMD_REDUCTION(+, s)
          for (index_t j = 0; j < w; ++j) s += g[j] * g[j];
          part[static_cast<std::size_t>(b * groups + k)] = s;
        }
      };
      block_norms(groups_a, sums_a, part_a);
      block_norms(groups_b, sums_b, part_b);
    }
  });
  auto finish = [&](index_t n, const std::vector<double>& part, double* out) {
    for (index_t i = 0; i < n; ++i) {
      double s = 0;
      for (index_t b = 0; b < nblocks; ++b) s += part[static_cast<std::size_t>(b * n + i)];
      out[i] = s;
    }
  };
  finish(rows, part_row, row_sq);
  finish(groups_a, part_a, sq_a);
  if (groups_b > 0) finish(groups_b, part_b, sq_b);
}

template <class T>
void group_centered_combination(index_t rows, index_t cols, const T* x, const T* shift, const index_t* order,
                                const index_t* ids_a, const double* ca, const double* sums_a, const double* inv_na,
                                const index_t* ids_b, const double* cb, const double* sums_b, const double* inv_nb,
                                T beta, T* out) {
  std::vector<double> shift_d(static_cast<std::size_t>(cols));
  for (index_t j = 0; j < cols; ++j) shift_d[static_cast<std::size_t>(j)] = double(shift[j]);
  const double* sh = shift_d.data();
  parallel_for(rows, cols * 2, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      const index_t i = order[p];
      const T* xi = x + i * cols;
      T* oi = out + i * cols;
      const bool has_a = ids_a && ids_a[i] >= 0 && ca[i] != 0.0;
      const bool has_b = ids_b && ids_b[i] >= 0 && cb[i] != 0.0;
      // out = beta out + ca (s - G_a / n_a) + cb (s - G_b / n_b). Kept in this form (not merged into
      // (ca + cb) s - ...): with FMA contraction, s - G / n is still exactly 0 for a group of one row.
      const double a = has_a ? ca[i] : 0.0, b = has_b ? cb[i] : 0.0;
      const double ia = has_a ? inv_na[ids_a[i]] : 0.0, ib = has_b ? inv_nb[ids_b[i]] : 0.0;
      const double* ga = has_a ? sums_a + ids_a[i] * cols : nullptr;
      const double* gb = has_b ? sums_b + ids_b[i] * cols : nullptr;
      if (ga && gb) {
        if (beta == T(0))
          for (index_t j = 0; j < cols; ++j) {
            const double sj = double(xi[j]) - sh[j];
            oi[j] = static_cast<T>(a * (sj - ga[j] * ia) + b * (sj - gb[j] * ib));
          }
        else
          for (index_t j = 0; j < cols; ++j) {
            const double sj = double(xi[j]) - sh[j];
            oi[j] = static_cast<T>(double(beta) * double(oi[j]) + a * (sj - ga[j] * ia) + b * (sj - gb[j] * ib));
          }
      } else if (ga || gb) {
        const double* g = ga ? ga : gb;
        const double c = ga ? a : b, ig = ga ? ia : ib;
        if (beta == T(0))
          for (index_t j = 0; j < cols; ++j)
            oi[j] = static_cast<T>(c * (double(xi[j]) - sh[j] - g[j] * ig));
        else
          for (index_t j = 0; j < cols; ++j)
            oi[j] = static_cast<T>(double(beta) * double(oi[j]) + c * (double(xi[j]) - sh[j] - g[j] * ig));
      } else {
        for (index_t j = 0; j < cols; ++j) oi[j] = beta == T(0) ? T(0) : static_cast<T>(beta * oi[j]);
      }
    }
  });
}

}  // namespace invar::cpu
