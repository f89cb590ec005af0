#pragma once
/// \file packed_gemm.hpp
/// Float GEMM on the convolutions' micro-kernel (micro_kernel.hpp): AVX-512 or AVX2 + FMA,
/// chosen at run time whatever the flags the library was compiled with.
///
/// Why not Eigen's GEBP for float: compiled with `-mavx2 -mfma` (the presets) or for plain
/// x86-64 (a user's default), Eigen's kernel is AVX2 or SSE, and on a core with AVX-512 it
/// runs at about half of what the core does (the MLP's Linear layers at 0.74x to 0.80x of
/// libtorch's OpenBLAS on the Xeon of docs/performance.md). The micro-kernel the convolutions
/// use is compiled for AVX-512 in every build and chosen where the machine has it.
///
/// The classic blocking (Goto and van de Geijn): B is packed in blocks of kc rows x nc columns
/// (panels of nr columns, kc x nr each, which stay in the L1 cache while the micro-kernel sweeps
/// the rows), A in blocks of mc rows x kc (panels of MR rows, in the L2 cache), and every
/// MR x nr tile of C is one micro_tile call over the block's depth. alpha is applied to A as it
/// is packed (so C = beta C + sum_k (alpha a_ik) b_kj).
///
/// Order of the sums: each element of C is one FMA chain over the depth in its natural order,
/// in blocks of kc that are added to C in order. Neither the tile an element falls in nor the
/// part of C a thread owns changes that chain (an element in a partial tile at the edge is
/// computed in a scratch tile and added the same way), so the results are the same bits for
/// any thread count and any split of C.

#include <algorithm>
#include <cstring>

#include "invar/backend/cpu/conv_scratch.hpp"
#include "invar/backend/cpu/micro_kernel.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu::implicit_gemm {

/// Rows of A per packed block (mc): a multiple of every tile height (12, 8, 6 and 4); 240 x 256
/// floats (AVX-512's kc) is 240 KB, in the L2 cache beside the B panel.
inline constexpr index_t gemm_block_rows = 240;

/// Columns of B per packed block (nc) for panels of nr columns: kc x nc = 256 K floats (1 MB), so
/// that a block of B is read from L2 or L3 by every block of A without being packed again.
inline constexpr index_t gemm_block_columns(index_t nr) { return (index_t{1} << 18) / block_rows(nr); }

#if INVAR_IMPLICIT_GEMM_X86

/// Rows [i0, i0 + mc) x depth [p0, p0 + kc) of alpha op(A) into panels of MR rows: element
/// (i, p) of the block at dst[(i / MR) kc MR + p MR + i % MR]; rows past m are zero.
template <int MR>
INVAR_IGEMM_INLINE void pack_gemm_a(bool trans_a, const float* a, index_t lda, index_t m, index_t i0, index_t mc,
                                    index_t p0, index_t kc, float alpha, float* dst) {
  for (index_t i = 0; i < mc; i += MR, dst += kc * MR) {
    const index_t rows = std::min<index_t>(MR, m - i0 - i);
    if (trans_a) {  // op(A)(i, p) = a[p lda + i]: MR contiguous floats per depth row
      for (index_t p = 0; p < kc; ++p) {
        const float* src = a + (p0 + p) * lda + i0 + i;
        float* d = dst + p * MR;
        for (index_t r = 0; r < rows; ++r) d[r] = alpha * src[r];
        for (index_t r = rows; r < MR; ++r) d[r] = 0.0f;
      }
    } else {  // a row of A is contiguous over the depth: scattered MR apart
      for (index_t r = 0; r < MR; ++r) {
        float* d = dst + r;
        if (r >= rows) {
          for (index_t p = 0; p < kc; ++p) d[p * MR] = 0.0f;
          continue;
        }
        const float* src = a + (i0 + i + r) * lda + p0;
        for (index_t p = 0; p < kc; ++p) d[p * MR] = alpha * src[p];
      }
    }
  }
}

/// Depth [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) into panels of NR columns: element
/// (p, j) of the block at dst[(j / NR) kc NR + p NR + j % NR]; columns past n are zero. B stored
/// the other way (trans_b: op(B)(p, j) = b[j ldb + p]) is transposed in W x W blocks in
/// registers.
template <int W>
INVAR_IGEMM_INLINE void pack_gemm_b(bool trans_b, const float* b, index_t ldb, index_t n, index_t p0, index_t kc,
                                    index_t j0, index_t nc, float* dst) {
  constexpr index_t nr = 2 * W;
  for (index_t j = 0; j < nc; j += nr, dst += kc * nr) {
    const index_t cols = std::min<index_t>(nr, n - j0 - j);
    if (!trans_b) {
      for (index_t p = 0; p < kc; ++p) {
        const float* src = b + (p0 + p) * ldb + j0 + j;
        float* d = dst + p * nr;
        for (index_t t = 0; t < cols; ++t) d[t] = src[t];
        for (index_t t = cols; t < nr; ++t) d[t] = 0.0f;
      }
      continue;
    }
    index_t p = 0;
    if (cols == nr)
      for (; p + W <= kc; p += W)
        for (index_t t = 0; t < nr; t += W) {
          const float* src = b + (j0 + j + t) * ldb + p0 + p;
          if constexpr (W == 16) transpose_16x16_avx512(src, ldb, dst + p * nr + t, nr);
          else transpose_8x8_avx2(src, ldb, dst + p * nr + t, nr);
        }
    for (; p < kc; ++p) {  // the depth's last rows, or a panel at the edge
      float* d = dst + p * nr;
      for (index_t t = 0; t < cols; ++t) d[t] = b[(j0 + j + t) * ldb + p0 + p];
      for (index_t t = cols; t < nr; ++t) d[t] = 0.0f;
    }
  }
}

/// C (m x n, ldc) = (accumulate ? C : 0) + alpha op(A) op(B), serially, with W-float vectors and
/// tiles of MR rows; pa and pb: scratch for a block of A (gemm_block_rows x kc) and of B (kc x
/// gemm_block_columns).
template <int W, int MR>
INVAR_IGEMM_INLINE void packed_gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, float alpha,
                                    const float* a, index_t lda, const float* b, index_t ldb, bool accumulate,
                                    float* c, index_t ldc, float* pa, float* pb) {
  constexpr index_t nr = 2 * W;
  constexpr index_t kc_max = block_rows(nr), nc_max = gemm_block_columns(nr), mc_max = gemm_block_rows;
  alignas(64) float edge[MR * nr];  // a tile at the right edge of C, before it is added to C
  for (index_t jc = 0; jc < n; jc += nc_max) {
    const index_t nc = std::min(nc_max, n - jc);
    for (index_t pc = 0; pc < k; pc += kc_max) {
      const index_t kc = std::min(kc_max, k - pc);
      const bool add = accumulate || pc > 0;
      pack_gemm_b<W>(trans_b, b, ldb, n, pc, kc, jc, nc, pb);
      for (index_t ic = 0; ic < m; ic += mc_max) {
        const index_t mc = std::min(mc_max, m - ic);
        pack_gemm_a<MR>(trans_a, a, lda, m, ic, mc, pc, kc, alpha, pa);
        for (index_t jr = 0; jr < nc; jr += nr) {
          const PackedRows rows_b{pb + jr * kc, nr, W};
          const index_t cols = std::min(nr, nc - jr);
          for (index_t ir = 0; ir < mc; ir += MR) {
            const float* ap = pa + ir * kc;
            float* cp = c + (ic + ir) * ldc + jc + jr;
            const index_t rows = std::min<index_t>(MR, mc - ir);
            if (cols == nr) {
              micro_tile<W, MR, 2>(kc, ap, rows_b, cp, ldc, rows, nullptr, add, false);
              continue;
            }
            micro_tile<W, MR, 2>(kc, ap, rows_b, edge, nr, rows, nullptr, false, false);
            for (index_t r = 0; r < rows; ++r)
              for (index_t t = 0; t < cols; ++t)  // old + sum, as micro_tile adds a whole tile
                cp[r * ldc + t] = add ? cp[r * ldc + t] + edge[r * nr + t] : edge[r * nr + t];
          }
        }
      }
    }
  }
}

// packed_gemm compiled for each instruction set (the target attribute makes the inlined body use
// that set's registers), with the tile heights of tile_rows.
template <int MR>
__attribute__((target("avx512f,avx2,fma"))) void packed_gemm_avx512(bool ta, bool tb, index_t m, index_t n, index_t k,
                                                                    float alpha, const float* a, index_t lda,
                                                                    const float* b, index_t ldb, bool accumulate,
                                                                    float* c, index_t ldc, float* pa, float* pb) {
  packed_gemm<16, MR>(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc, pa, pb);
}
template <int MR>
__attribute__((target("avx2,fma"))) void packed_gemm_avx2(bool ta, bool tb, index_t m, index_t n, index_t k,
                                                          float alpha, const float* a, index_t lda, const float* b,
                                                          index_t ldb, bool accumulate, float* c, index_t ldc,
                                                          float* pa, float* pb) {
  packed_gemm<8, MR>(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc, pa, pb);
}

#endif  // INVAR_IMPLICIT_GEMM_X86

/// C (row-major m x n, ldc) = (accumulate ? C : 0) + alpha op(A) op(B) in float on `kernel`
/// (avx2 or avx512, available on this machine), on the calling thread: cpu::gemm splits C
/// between threads and calls this for each part. With k = 0 nothing is written.
inline void gemm_serial(ConvKernel kernel, bool trans_a, bool trans_b, index_t m, index_t n, index_t k, float alpha,
                        const float* a, index_t lda, const float* b, index_t ldb, bool accumulate, float* c,
                        index_t ldc) {
#if INVAR_IMPLICIT_GEMM_X86
  if (m == 0 || n == 0 || k == 0) return;
  const index_t nr = panel_columns(kernel), kc = std::min(block_rows(nr), k);
  const index_t mc = std::min(gemm_block_rows, m), nc = std::min(gemm_block_columns(nr), n);
  const int mr = tile_rows(kernel, m);  // rows of C per tile: whole tiles at the least cost
  using detail::conv_scratch;
  using detail::ConvScratch;
  float* pa = conv_scratch<float>(ConvScratch::gemm_a, std::size_t((mc + mr - 1) / mr * mr * kc));
  float* pb = conv_scratch<float>(ConvScratch::gemm_b, std::size_t((nc + nr - 1) / nr * nr * kc));
  if (kernel == ConvKernel::avx512) {
    if (mr == 12) packed_gemm_avx512<12>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc, pa, pb);
    else packed_gemm_avx512<8>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc, pa, pb);
  } else {
    if (mr == 6) packed_gemm_avx2<6>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc, pa, pb);
    else packed_gemm_avx2<4>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc, pa, pb);
  }
#else
  (void)kernel, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b,
      (void)ldb, (void)accumulate, (void)c, (void)ldc;
  throw Error("implicit_gemm::gemm_serial: no micro-kernel in this build");
#endif
}

}  // namespace invar::cpu::implicit_gemm
