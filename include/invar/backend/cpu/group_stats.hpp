#pragma once
/// \file group_stats.hpp
/// Group-wise statistics on the CPU, the two passes behind the linear-time invariance losses.
///
/// group_sums (one read of x), with s_i = x_i - shift (shift: one row, e.g. x_0):
///   sums[k, :] = sum of s_i over the rows of group k,   sq[k] = ||sums[k, :]||^2,
///   group_sq[k] = sum of ||s_i||^2 over the rows of group k
///   where `order` lists the rows group by group (group k: positions offsets[k] .. offsets[k+1]),
///   then the rows in no group.
/// group_centered_combination (one read of x, one write of out), with mu = sums * inv_n:
///   out_i = beta out_i + ca_i (s_i - mu_a[a_i]) + cb_i (s_i - mu_b[b_i])      (a term is 0 when its id < 0)
///
/// The sums are accumulated in double, also for float x: with the shift, a batch of rows near
/// 1e3 that differ by 1e-2 loses nothing (float - float is exact in double). The gradient is
/// assembled in T from means rounded once to T: each element then carries T's rounding relative
/// to the rows' spread around x_0, as the T-valued gradient itself does.
/// group_sums runs one group per task: the group's row of sums stays in cache while its rows
/// stream through once, each sum has one owner and a fixed order (no atomics, the same bits on any
/// thread count). The combination runs over rows in `order` too, so each group's sums are read
/// from memory once, not once per row.

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {
/// Rows are visited group by group, i.e. in an order the hardware prefetcher cannot guess, and
/// it does not follow a row across 4 KiB pages: ask for the next row's start explicitly.
template <class T>
inline void prefetch_row(const T* row, index_t cols) {
  const char* p = reinterpret_cast<const char*>(row);
  const index_t bytes = std::min<index_t>(cols * index_t(sizeof(T)), 8192);
  for (index_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 1);
}

/// One row of group_sums: d = x - shift (in double); g = d (mode 1) or g += d (mode 2) or
/// nothing (mode 0); returns ||d||^2. The sum of squares runs in 16 independent lanes (four
/// vector accumulators) because one accumulator would make every step wait for the previous
/// FMA (latency-bound at a quarter of the machine's throughput); lanes are added in a fixed order.
template <class T>
inline double shifted_row_pass(const T* xi, const double* sh, index_t cols, double* g, int mode) {
  constexpr index_t lanes = 16;
  double part[lanes] = {};
  index_t j0 = 0;
  for (; j0 + lanes <= cols; j0 += lanes) {
    for (index_t t = 0; t < lanes; ++t) {
      const double d = double(xi[j0 + t]) - sh[j0 + t];
      if (mode == 1) g[j0 + t] = d;
      else if (mode == 2) g[j0 + t] += d;
      part[t] += d * d;
    }
  }
  for (index_t j = j0; j < cols; ++j) {
    const double d = double(xi[j]) - sh[j];
    if (mode == 1) g[j] = d;
    else if (mode == 2) g[j] += d;
    part[j - j0] += d * d;
  }
  double s = 0;
  for (index_t t = 0; t < lanes; ++t) s += part[t];
  return s;
}

/// out[j] = a (x[j] - sh[j] - ma[j]) + b (x[j] - sh[j] - mb[j]) for a gradient far larger than the
/// caches, with non-temporal stores: the output is not read back before it is evicted anyway, and
/// streaming it skips the read-for-ownership of every line (a third of the pass's memory traffic).
/// Returns false where it does not apply (no AVX, not float, rows not 32-byte aligned).
template <class T>
inline bool stream_combination(const T* x, const T* sh, const T* ma, const T* mb, T a, T b, index_t cols, T* out) {
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    if (reinterpret_cast<std::uintptr_t>(out) % 32 != 0 || cols % 8 != 0) return false;
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    for (index_t j = 0; j < cols; j += 8) {
      const __m256 s = _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(sh + j));
      const __m256 da = _mm256_sub_ps(s, _mm256_loadu_ps(ma + j));
      const __m256 db = _mm256_sub_ps(s, _mm256_loadu_ps(mb + j));
      _mm256_stream_ps(out + j, _mm256_add_ps(_mm256_mul_ps(va, da), _mm256_mul_ps(vb, db)));
    }
    return true;
  }
#endif
  (void)x, (void)sh, (void)ma, (void)mb, (void)a, (void)b, (void)cols, (void)out;
  return false;
}

/// Four rows of one group at once: g (=|+=) d0 + d1 + d2 + d3 reads and writes the group's row of
/// sums once per four input rows instead of once per row; each row keeps its own 8-lane sum of
/// squares. Returns the four norms. Fixed grouping, so the sums are still the same on any
/// thread count.
template <class T>
inline void shifted_rows4_pass(const T* const* xs, const double* sh, index_t cols, double* g, bool store,
                               double* norms) {
  constexpr index_t lanes = 8;
  double p0[lanes] = {}, p1[lanes] = {}, p2[lanes] = {}, p3[lanes] = {};
  const T *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
  index_t j0 = 0;
  for (; j0 + lanes <= cols; j0 += lanes) {
    for (index_t t = 0; t < lanes; ++t) {
      const double s = sh[j0 + t];
      const double d0 = double(x0[j0 + t]) - s, d1 = double(x1[j0 + t]) - s;
      const double d2 = double(x2[j0 + t]) - s, d3 = double(x3[j0 + t]) - s;
      const double sum = (d0 + d1) + (d2 + d3);
      if (store) g[j0 + t] = sum;
      else g[j0 + t] += sum;
      p0[t] += d0 * d0;
      p1[t] += d1 * d1;
      p2[t] += d2 * d2;
      p3[t] += d3 * d3;
    }
  }
  for (index_t j = j0; j < cols; ++j) {
    const double s = sh[j];
    const double d0 = double(x0[j]) - s, d1 = double(x1[j]) - s, d2 = double(x2[j]) - s, d3 = double(x3[j]) - s;
    const double sum = (d0 + d1) + (d2 + d3);
    if (store) g[j] = sum;
    else g[j] += sum;
    p0[j - j0] += d0 * d0;
    p1[j - j0] += d1 * d1;
    p2[j - j0] += d2 * d2;
    p3[j - j0] += d3 * d3;
  }
  norms[0] = norms[1] = norms[2] = norms[3] = 0;
  for (index_t t = 0; t < lanes; ++t) {
    norms[0] += p0[t];
    norms[1] += p1[t];
    norms[2] += p2[t];
    norms[3] += p3[t];
  }
}
}  // namespace detail

template <class T>
void group_sums(index_t rows, index_t cols, const T* x, const T* shift, const index_t* order, const index_t* offsets,
                index_t groups, double* sums, double* sq, double* group_sq) {
  (void)rows;
  std::vector<double> shift_d(static_cast<std::size_t>(cols));
  for (index_t j = 0; j < cols; ++j) shift_d[static_cast<std::size_t>(j)] = double(shift[j]);
  const double* sh = shift_d.data();
  // Task k sums the rows of group k into sums[k] (its first row is stored, the others added:
  // the row of sums stays in L2 while the group's rows stream by) and their squared norms into
  // group_sq[k], in `order`. Every sum has one owner and a fixed order.
  const index_t grouped = offsets[groups];
  parallel_for(groups, (grouped / (groups + 1) + 1) * cols, [&](index_t k0, index_t k1) {
    for (index_t k = k0; k < k1; ++k) {
      const index_t p0 = offsets[k], p1 = offsets[k + 1];
      double* g = sums + k * cols;
      double norm_sum = 0;
      index_t p = p0;
      for (; p + 4 <= p1; p += 4) {  // rows four at a time (the group's sums are read and written once per four rows)
        const T* xs[4] = {x + order[p] * cols, x + order[p + 1] * cols, x + order[p + 2] * cols,
                          x + order[p + 3] * cols};
        double norms[4];
        detail::shifted_rows4_pass(xs, sh, cols, g, p == p0, norms);
        for (int q = 0; q < 4; ++q) norm_sum += norms[q];
      }
      for (; p < p1; ++p) {
        const T* xi = x + order[p] * cols;
        if (p + 1 < p1) detail::prefetch_row(x + order[p + 1] * cols, cols);
        norm_sum += detail::shifted_row_pass(xi, sh, cols, g, p == p0 ? 1 : 2);  // store the first row / add
      }
      if (p1 == p0) std::fill(g, g + cols, 0.0);
      double n2 = 0;
      INVAR_SIMD_REDUCTION(+, n2)
      for (index_t j = 0; j < cols; ++j) n2 += g[j] * g[j];
      sq[k] = n2;
      group_sq[k] = norm_sum;
    }
  });
}

template <class T>
void group_centered_combination(index_t rows, index_t cols, const T* x, const T* shift, const index_t* order,
                                const index_t* ids_a, const double* ca, const double* sums_a, const double* inv_na,
                                const index_t* ids_b, const double* cb, const double* sums_b, const double* inv_nb,
                                T beta, T* out) {
  // Outputs far beyond the last-level cache are streamed (see detail::stream_combination).
  const bool stream = beta == T(0) && double(rows) * double(cols) * sizeof(T) > 32.0 * 1024 * 1024;
  parallel_for(rows, cols * 2, [&](index_t p0, index_t p1) {
    // The means of the shifted rows, rounded to T once per group (rows come group by group), so
    // the per-element work runs at T's vector width: out = a (s - mu_a) + b (s - mu_b), s = x - x_0.
    // For a group of one row, mu = T(x - x_0 computed exactly) is the same rounding as s: s - mu = 0.
    std::vector<T> mean_a(static_cast<std::size_t>(cols)), mean_b(static_cast<std::size_t>(cols));
    index_t cur_a = -1, cur_b = -1;
    for (index_t p = p0; p < p1; ++p) {
      const index_t i = order[p];
      const T* xi = x + i * cols;
      T* oi = out + i * cols;
      if (p + 1 < p1) detail::prefetch_row(x + order[p + 1] * cols, cols);
      const bool has_a = ids_a && ids_a[i] >= 0 && ca[i] != 0.0;
      const bool has_b = ids_b && ids_b[i] >= 0 && cb[i] != 0.0;
      if (has_a && ids_a[i] != cur_a) {
        cur_a = ids_a[i];
        const double* g = sums_a + cur_a * cols;
        const double inv = inv_na[cur_a];
        for (index_t j = 0; j < cols; ++j) mean_a[static_cast<std::size_t>(j)] = static_cast<T>(g[j] * inv);
      }
      if (has_b && ids_b[i] != cur_b) {
        cur_b = ids_b[i];
        const double* g = sums_b + cur_b * cols;
        const double inv = inv_nb[cur_b];
        for (index_t j = 0; j < cols; ++j) mean_b[static_cast<std::size_t>(j)] = static_cast<T>(g[j] * inv);
      }
      const T a = has_a ? static_cast<T>(ca[i]) : T(0), b = has_b ? static_cast<T>(cb[i]) : T(0);
      const T* ma = mean_a.data();
      const T* mb = mean_b.data();
      // (An absent term has coefficient 0 and reads a mean buffer that is zero or a previous
      // group's finite mean: it adds exactly 0.)
      if (stream && detail::stream_combination(xi, shift, ma, mb, a, b, cols, oi)) continue;
      if (has_a && has_b) {
        if (beta == T(0))
          for (index_t j = 0; j < cols; ++j) {
            const T sj = xi[j] - shift[j];
            oi[j] = a * (sj - ma[j]) + b * (sj - mb[j]);
          }
        else
          for (index_t j = 0; j < cols; ++j) {
            const T sj = xi[j] - shift[j];
            oi[j] = beta * oi[j] + a * (sj - ma[j]) + b * (sj - mb[j]);
          }
      } else if (has_a || has_b) {
        const T c = has_a ? a : b;
        const T* m = has_a ? ma : mb;
        if (beta == T(0))
          for (index_t j = 0; j < cols; ++j) oi[j] = c * ((xi[j] - shift[j]) - m[j]);
        else
          for (index_t j = 0; j < cols; ++j) oi[j] = beta * oi[j] + c * ((xi[j] - shift[j]) - m[j]);
      } else {
        for (index_t j = 0; j < cols; ++j) oi[j] = beta == T(0) ? T(0) : static_cast<T>(beta * oi[j]);
      }
    }
#if defined(__AVX__)
    if (stream) _mm_sfence();  // each thread orders its streamed stores before the region's barrier
#endif
  });
}

}  // namespace invar::cpu
