#pragma once
/// \file group_stats.hpp
/// Group-wise statistics on the CPU, the two passes behind the linear-time invariance losses.
///
/// group_sums (one read of x), with s_i = x_i - shift (shift: one row, e.g. x_0):
///   sums[k, :] = sum of s_i over the rows of group k,   sq[k] = ||sums[k, :]||^2,
///   group_sq[k] = sum of ||s_i||^2 over the rows of group k
///   where `order` lists the rows group by group (group k: positions offsets[k] .. offsets[k+1]),
///   then the rows in no group.
/// group_centered_combination (one read of x, one write of out), with mu_t = sums_t * inv_n_t:
///   out_i = beta out_i + sum_t c_t[i] (s_i - mu_t[g_t(i)])      (a term is 0 when its id < 0)
///   for up to four groupings t (CenteredTerms): a loss's groups and reference, or both losses of a
///   tap at once (seeds, classes, the batch), so that the tap's gradient is written in one pass.
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

#include "invar/backend/backend.hpp"
#include "invar/backend/cpu/elementwise.hpp"
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

/// out[j] = sum_t a[t] (x[j] - sh[j] - m[t][j]) for a gradient far larger than the caches, with
/// non-temporal stores: the output is not read back before it is evicted anyway, and streaming it
/// skips the read-for-ownership of every line (a third of the pass's memory traffic). Returns
/// false where it does not apply (no AVX, not float, rows not 32-byte aligned).
template <int N, class T>
inline bool stream_combination(const T* x, const T* sh, const T* const* m, const T* a, index_t cols, T* out) {
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float> && N > 0) {
    if (reinterpret_cast<std::uintptr_t>(out) % 32 != 0 || cols % 8 != 0) return false;
    __m256 va[N];
    for (int t = 0; t < N; ++t) va[t] = _mm256_set1_ps(a[t]);
    for (index_t j = 0; j < cols; j += 8) {
      const __m256 s = _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(sh + j));
      __m256 v = _mm256_mul_ps(va[0], _mm256_sub_ps(s, _mm256_loadu_ps(m[0] + j)));
      for (int t = 1; t < N; ++t) v = _mm256_add_ps(v, _mm256_mul_ps(va[t], _mm256_sub_ps(s, _mm256_loadu_ps(m[t] + j))));
      _mm256_stream_ps(out + j, v);
    }
    return true;
  }
#endif
  (void)x, (void)sh, (void)m, (void)a, (void)cols, (void)out;
  return false;
}

/// One row of the combination with N active terms: out[j] = (beta out[j] +) sum_t a[t] (s_j - m[t][j]),
/// s_j = x[j] - sh[j], the terms added in order (the same rounding as the streamed form).
template <int N, class T>
inline void combine_row(const T* x, const T* sh, const T* const* m, const T* a, T beta, index_t cols, T* out) {
  if constexpr (N == 0) {
    for (index_t j = 0; j < cols; ++j) out[j] = beta == T(0) ? T(0) : static_cast<T>(beta * out[j]);
  } else {
    auto value = [&](index_t j) {
      const T s = x[j] - sh[j];
      T v = a[0] * (s - m[0][j]);
      for (int t = 1; t < N; ++t) v += a[t] * (s - m[t][j]);
      return v;
    };
    if (beta == T(0)) {
      INVAR_INDEPENDENT_ITERATIONS
      for (index_t j = 0; j < cols; ++j) out[j] = value(j);
    } else {
      INVAR_INDEPENDENT_ITERATIONS
      for (index_t j = 0; j < cols; ++j) out[j] = beta * out[j] + value(j);
    }
  }
}

/// combine_row (or its streamed form) for a run-time number of active terms.
template <class T>
inline void combine_row(int n, bool stream, const T* x, const T* sh, const T* const* m, const T* a, T beta,
                        index_t cols, T* out) {
  auto run = [&]<int N>(std::integral_constant<int, N>) {
    if (!(stream && stream_combination<N>(x, sh, m, a, cols, out))) combine_row<N>(x, sh, m, a, beta, cols, out);
  };
  switch (n) {
    case 0: return combine_row<0>(x, sh, m, a, beta, cols, out);
    case 1: return run(std::integral_constant<int, 1>{});
    case 2: return run(std::integral_constant<int, 2>{});
    case 3: return run(std::integral_constant<int, 3>{});
    default: return run(std::integral_constant<int, 4>{});
  }
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
                                const CenteredTerms& terms, T beta, T* out) {
  static_assert(CenteredTerms::capacity == 4, "combine_row dispatches on up to four terms");
  // Outputs far beyond the last-level cache are streamed (see detail::stream_combination).
  const bool stream = beta == T(0) && double(rows) * double(cols) * sizeof(T) > 32.0 * 1024 * 1024;
  const int count = std::min(terms.count, CenteredTerms::capacity);
  parallel_for(rows, cols * (count + 1), [&](index_t p0, index_t p1) {
    // The means of the shifted rows, rounded to T once per group (rows come group by group), so
    // the per-element work runs at T's vector width: out = sum_t c_t (s - mu_t), s = x - x_0.
    // For a group of one row, mu = T(x - x_0 computed exactly) is the same rounding as s: s - mu = 0.
    std::vector<T> means[CenteredTerms::capacity];
    index_t current[CenteredTerms::capacity];
    for (int t = 0; t < count; ++t) {
      means[t].resize(static_cast<std::size_t>(cols));
      current[t] = -1;
    }
    for (index_t p = p0; p < p1; ++p) {
      const index_t i = order[p];
      if (p + 1 < p1) detail::prefetch_row(x + order[p + 1] * cols, cols);
      const T* m[CenteredTerms::capacity];
      T a[CenteredTerms::capacity];
      int active = 0;
      for (int t = 0; t < count; ++t) {
        const CenteredTerm& term = terms.term[t];
        const index_t g = term.ids ? term.ids[i] : -1;
        if (g < 0 || term.coefficients[i] == 0.0) continue;
        if (g != current[t]) {
          current[t] = g;
          const double* sum = term.sums + g * cols;
          const double inv = term.inverse_sizes[g];
          T* mean = means[t].data();
          for (index_t j = 0; j < cols; ++j) mean[j] = static_cast<T>(sum[j] * inv);
        }
        m[active] = means[t].data();
        a[active] = static_cast<T>(term.coefficients[i]);
        ++active;
      }
      detail::combine_row(active, stream, x + i * cols, shift, m, a, beta, cols, out + i * cols);
    }
#if defined(__AVX__)
    if (stream) _mm_sfence();  // each thread orders its streamed stores before the region's barrier
#endif
  });
}

}  // namespace invar::cpu
