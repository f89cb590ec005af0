#pragma once
/// \file gemm.hpp
/// CPU GEMM on Eigen's packed, vectorised GEBP kernel, parallelised by invar.
///
/// Why not `C.noalias() = A * B` with Eigen's own threads: Eigen's parallel GEMM re-derives
/// its depth blocking (kc) from the thread count (gemm_blocking_space::initParallel), so the
/// same product gives different bits on 1 and 2 threads. Here every call of the kernel is
/// serial with the blocking of a one-thread run — which depends on the depth k only — and
/// invar splits C into column (or row) chunks aligned to the kernel's register panels.
/// Each element of C is then computed by the same instruction sequence whatever the thread
/// count (tests/backend/test_cpu_determinism.cpp checks this bit for bit), and the split costs
/// only re-packing the shared operand per thread.
///
/// Float runs on the convolutions' micro-kernel instead (packed_gemm.hpp: AVX-512 or AVX2,
/// chosen at run time, so that a build for plain x86-64 or AVX2 still uses AVX-512 where the
/// core has it), the same split between threads; double, and float where set_conv_kernel chose
/// the im2col path or the machine has neither instruction set, runs on Eigen's kernel.

#include <type_traits>

#include <Eigen/Core>

#include "invar/backend/cpu/micro_kernel.hpp"
#include "invar/backend/cpu/packed_gemm.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {

/// C (row-major, m x n, leading dim ldc) += alpha * op(A) * op(B), serially.
template <class T, int LhsOrder, int RhsOrder>
void gebp_serial(index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b, index_t ldb, T* c,
                 index_t ldc) {
  using Eigen::Dynamic;
  using Eigen::RowMajor;
  namespace ei = Eigen::internal;
  ei::gemm_blocking_space<RowMajor, T, T, Dynamic, Dynamic, Dynamic> blocking(m, n, k, 1, true);
  ei::general_matrix_matrix_product<Eigen::Index, T, LhsOrder, false, T, RhsOrder, false, RowMajor, 1>::run(
      m, n, k, a, lda, b, ldb, c, 1, ldc, alpha, blocking, nullptr);
}

template <class T>
void gemm_accumulate_serial(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                            index_t lda, const T* b, index_t ldb, T* c, index_t ldc) {
  using Eigen::ColMajor;
  using Eigen::RowMajor;
  // A row-major array stored k x m is the column-major m x k matrix A^T: a transpose is a storage order.
  if (!trans_a && !trans_b) gebp_serial<T, RowMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else if (trans_a && !trans_b) gebp_serial<T, ColMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else if (!trans_a && trans_b) gebp_serial<T, RowMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else gebp_serial<T, ColMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

template <class T>
void scale_block(index_t rows, index_t cols, T beta, T* c, index_t ldc) {
  if (beta == T(1)) return;
  for (index_t i = 0; i < rows; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      for (index_t j = 0; j < cols; ++j) ci[j] = T(0);  // BLAS semantics: NaN in C is not propagated
    } else {
      for (index_t j = 0; j < cols; ++j) ci[j] *= beta;
    }
  }
}

/// Chunk boundary t of `chunks` over [0, n), rounded down to a multiple of `align`, last = n.
/// With chunks <= n / align every chunk holds at least `align` items.
inline index_t chunk_bound(index_t n, index_t t, index_t chunks, index_t align) {
  if (t >= chunks) return n;
  return (n * t / chunks) / align * align;
}

}  // namespace detail

template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
          const T* b, index_t ldb, T beta, T* c, index_t ldc) {
  if (m == 0 || n == 0) return;
  // The float micro-kernel where the machine has one (the same for every part of C, so that the
  // split between threads changes no bit).
  const ConvKernel kernel = std::is_same_v<T, float> ? conv_kernel() : ConvKernel::im2col;
  const bool packed = kernel != ConvKernel::im2col;
  // Eigen: column chunks of C are multiples of 192 (a multiple of the kernel's row panel mr = 3
  // packets for float and double, SSE to AVX-512); row chunks are multiples of 64 (of its nr).
  // The micro-kernel: multiples of its panels (32 columns) and of 8 rows (any chunk is then
  // covered by tiles of 8 rows or, where fewer tiles of 12 cost less, of 12).
  const index_t col_align = packed ? 32 : 192;
  const index_t row_align = packed ? 8 : 64;
  constexpr double min_parallel_flops = 1 << 21;

  auto block = [&](index_t i0, index_t i1, index_t j0, index_t j1) {
    T* cb = c + i0 * ldc + j0;
    const T* ab = trans_a ? a + i0 : a + i0 * lda;
    const T* bb = trans_b ? b + j0 * ldb : b + j0;
    if constexpr (std::is_same_v<T, float>) {
      if (packed) {
        // beta = 0: C is written, never read (BLAS semantics: NaN in C does not propagate).
        if (beta != T(0) || k == 0) detail::scale_block(i1 - i0, j1 - j0, beta, cb, ldc);
        implicit_gemm::gemm_serial(kernel, trans_a, trans_b, i1 - i0, j1 - j0, k, alpha, ab, lda, bb, ldb,
                                   beta != T(0), cb, ldc);
        return;
      }
    }
    detail::scale_block(i1 - i0, j1 - j0, beta, cb, ldc);
    if (k == 0) return;
    detail::gemm_accumulate_serial(trans_a, trans_b, i1 - i0, j1 - j0, k, alpha, ab, lda, bb, ldb, cb, ldc);
  };

  const int threads = num_threads();
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const bool split_cols = n >= 2 * col_align;
  const bool split_rows = !split_cols && m >= 2 * row_align;
  if (threads <= 1 || flops < min_parallel_flops || in_parallel_region() || !(split_cols || split_rows)) {
    block(0, m, 0, n);
    return;
  }
#if defined(_OPENMP)
  const index_t extent = split_cols ? n : m;
  const index_t align = split_cols ? col_align : row_align;
  const index_t chunks = std::min<index_t>(threads, extent / align);
#pragma omp parallel for schedule(static, 1) num_threads(static_cast<int>(chunks))
  for (index_t t = 0; t < chunks; ++t) {
    const index_t lo = detail::chunk_bound(extent, t, chunks, align);
    const index_t hi = detail::chunk_bound(extent, t + 1, chunks, align);
    if (split_cols) block(0, m, lo, hi);
    else block(lo, hi, 0, n);
  }
#else
  block(0, m, 0, n);
#endif
}

}  // namespace invar::cpu
