#pragma once
/// \file micro_kernel.hpp
/// The float micro-kernel that the implicit-GEMM convolutions (conv2d_implicit_gemm.hpp) and the
/// float GEMM (packed_gemm.hpp) share: a tile of MR rows x two vectors of columns held in
/// registers through a block of the depth, compiled for AVX-512 and for AVX2 + FMA whatever the
/// flags of the translation unit (function target attributes, in the callers' kernels), the
/// machine choosing the widest at run time; and the in-register 16 x 16 transposition that both
/// use to pack operands that lie the other way.
///
/// INVAR_IGEMM_INLINE and INVAR_IGEMM_UNROLL stay defined for the headers that build their
/// kernels from micro_tile.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define INVAR_IMPLICIT_GEMM_X86 1
#else
#define INVAR_IMPLICIT_GEMM_X86 0
#endif

namespace invar::cpu {

/// The kernels a float convolution, and a float GEMM, can run on.
enum class ConvKernel {
  im2col,  ///< patch matrix + Eigen's GEMM (any type, any machine); float GEMMs on Eigen's kernel
  avx2,    ///< implicit GEMM, AVX2 + FMA micro-kernel (x86-64 with AVX2 and FMA)
  avx512,  ///< implicit GEMM, AVX-512 micro-kernel (x86-64 with AVX-512F)
};

/// Whether this machine (and this build) can run `kernel`.
inline bool conv_kernel_available(ConvKernel kernel) {
#if INVAR_IMPLICIT_GEMM_X86
  switch (kernel) {
    case ConvKernel::avx512: return __builtin_cpu_supports("avx512f");
    case ConvKernel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return true;
  }
#else
  return kernel == ConvKernel::im2col;
#endif
}

namespace detail {
/// The widest kernel this machine runs.
inline ConvKernel best_conv_kernel() {
  static const ConvKernel best = conv_kernel_available(ConvKernel::avx512) ? ConvKernel::avx512
                                 : conv_kernel_available(ConvKernel::avx2) ? ConvKernel::avx2
                                                                           : ConvKernel::im2col;
  return best;
}
/// -1: the best kernel; otherwise a ConvKernel chosen by set_conv_kernel.
inline std::atomic<int> chosen_conv_kernel{-1};
}  // namespace detail

/// The kernel float convolutions and GEMMs use now: the widest this machine runs, unless
/// set_conv_kernel chose another.
inline ConvKernel conv_kernel() {
  const int chosen = detail::chosen_conv_kernel.load(std::memory_order_relaxed);
  return chosen < 0 ? detail::best_conv_kernel() : static_cast<ConvKernel>(chosen);
}

/// Chooses the kernel of every float convolution and GEMM of the process (benchmarks and tests
/// compare them); one the machine cannot run is refused.
inline void set_conv_kernel(ConvKernel kernel) {
  check(conv_kernel_available(kernel), "set_conv_kernel: this machine cannot run the ",
        kernel == ConvKernel::avx512 ? "AVX-512" : "AVX2", " kernel");
  detail::chosen_conv_kernel.store(static_cast<int>(kernel), std::memory_order_relaxed);
}

/// Goes back to the widest kernel the machine runs.
inline void reset_conv_kernel() { detail::chosen_conv_kernel.store(-1, std::memory_order_relaxed); }

namespace implicit_gemm {

/// Patch rows per block for panels of nr columns: a B panel of kc x nr floats (32 KB) stays in
/// the L1 cache.
inline constexpr index_t block_rows(index_t nr) { return 8192 / nr; }

#if INVAR_IMPLICIT_GEMM_X86

#define INVAR_IGEMM_INLINE inline __attribute__((always_inline))
#define INVAR_IGEMM_UNROLL _Pragma("GCC unroll 32")

// GCC's vector types of 8 and 16 floats (a vector_size that depends on a template parameter is
// silently ignored by GCC 12 inside a template); used only inside the target functions below.
typedef float float8 __attribute__((vector_size(32)));
typedef float float16 __attribute__((vector_size(64)));
template <int W>
struct FloatVector;
template <>
struct FloatVector<8> {
  using type = float8;
};
template <>
struct FloatVector<16> {
  using type = float16;
};

/// Where a panel's product goes: rows of nr floats `ldc` apart, of which the first `rows` are
/// stored (the packed weights may have more, up to whole tiles), `bias` (or null) added to row
/// r when the last block of the depth is stored.
struct PanelOutput {
  float* c;
  index_t ldc;
  index_t rows;
  const float* bias;
};

/// The rows of a packed block of patches: row k's vector v at b + k nr + v w.
struct PackedRows {
  static constexpr bool split = false;
  const float* b;
  index_t nr, w;
  const float* operator()(index_t k, int v) const { return b + k * nr + v * w; }
};

/// c (MR x NV W) = (accumulate ? c : 0) + a (kc x MR) * b (kc x NV W) (+ the bias, when `last`),
/// rows at or past `valid` untouched, b's row k vector v at b_row(k, v): MR x NV vectors of W
/// floats held in registers through the whole depth.
template <int W, int MR, int NV, class Rows>
INVAR_IGEMM_INLINE void micro_tile(index_t kc, const float* __restrict a, const Rows& b_row,
                                   float* __restrict c, index_t ldc, index_t valid, const float* bias,
                                   bool accumulate, bool last) {
  using V = typename FloatVector<W>::type;
  // Every loop over the tile is unrolled whatever the optimisation level: at -O2 GCC unrolls
  // none of them, and the accumulators then live in memory (a third of the speed, measured).
  V acc[MR][NV];
  INVAR_IGEMM_UNROLL for (int r = 0; r < MR; ++r)
    INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  // Software prefetches: the partial sums this tile adds to at its end (in the L2 cache, one line
  // per vector, read when the FMA chains are done: a stall the out-of-order core cannot hide),
  // and the packed weights 16 patch rows ahead (a stream from L2 or, for weights over 2 MB, L3):
  // a few per cent off WRN-28-10's forward convolutions (docs/performance.md, the fourth round);
  // the arithmetic, and so the bits, are unchanged.
  if (accumulate)
    INVAR_IGEMM_UNROLL for (int r = 0; r < MR; ++r) {
      if (r >= valid) break;
      INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) __builtin_prefetch(c + r * ldc + v * W, 1, 3);
    }
  for (index_t k = 0; k < kc; ++k) {
    __builtin_prefetch(a + (k + 16) * MR, 0, 3);
    V bv[NV];
    INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) {
      if constexpr (Rows::split && W == 16) {
        float8 low, high;
        std::memcpy(&low, b_row(k, v), sizeof(float8));
        std::memcpy(&high, b_row(k, v) + b_row.second, sizeof(float8));
        bv[v] = __builtin_shufflevector(low, high, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      } else {
        std::memcpy(&bv[v], b_row(k, v), sizeof(V));
      }
    }
    INVAR_IGEMM_UNROLL for (int r = 0; r < MR; ++r) {
      // A broadcast: s - 0 is s for every s (-0 included), so it folds to one vbroadcastss
      // (s + 0 would not: -0 + 0 is +0, and the addition would stay).
      const V ar = a[k * MR + r] - V{};
      INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] += ar * bv[v];
    }
  }
  INVAR_IGEMM_UNROLL for (int r = 0; r < MR; ++r) {
    if (r >= valid) break;
    const V add = (last && bias != nullptr ? bias[r] : 0.0f) - V{};
    INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + v * W;
      if (accumulate) {
        V old;
        std::memcpy(&old, p, sizeof(V));
        acc[r][v] += old;
      }
      if (last) acc[r][v] += add;
      std::memcpy(p, &acc[r][v], sizeof(V));
    }
  }
}

// The four rounds of a 16 x 16 transposition as two-source shuffles of GCC's vector type
// (__builtin_shufflevector: GCC 12 and clang; indices 16 and up name the second source): pairs of
// rows interleaved, pairs of pairs, then 128-bit lanes twice.
__attribute__((target("avx512f,avx2,fma"))) INVAR_IGEMM_INLINE float16 interleave_low(float16 a, float16 b) {
  return __builtin_shufflevector(a, b, 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
}
__attribute__((target("avx512f,avx2,fma"))) INVAR_IGEMM_INLINE float16 interleave_high(float16 a, float16 b) {
  return __builtin_shufflevector(a, b, 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
}
__attribute__((target("avx512f,avx2,fma"))) INVAR_IGEMM_INLINE float16 pairs_low(float16 a, float16 b) {
  return __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
}
__attribute__((target("avx512f,avx2,fma"))) INVAR_IGEMM_INLINE float16 pairs_high(float16 a, float16 b) {
  return __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
}
__attribute__((target("avx512f,avx2,fma"))) INVAR_IGEMM_INLINE float16 even_lanes(float16 a, float16 b) {
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
}
__attribute__((target("avx512f,avx2,fma"))) INVAR_IGEMM_INLINE float16 odd_lanes(float16 a, float16 b) {
  return __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}

/// dst[q * ldd + r] = src[r * lds + q] for r, q < 16: a 16 x 16 block transposed in registers
/// (64 shuffles instead of 256 scalar loads and stores).
__attribute__((target("avx512f,avx2,fma"))) inline void transpose_16x16_avx512(const float* src, index_t lds,
                                                                               float* dst, index_t ldd) {
  float16 r[16], t[16];
  INVAR_IGEMM_UNROLL for (int i = 0; i < 16; ++i) std::memcpy(&r[i], src + i * lds, sizeof(float16));
  INVAR_IGEMM_UNROLL for (int i = 0; i < 16; i += 2) {
    t[i] = interleave_low(r[i], r[i + 1]);
    t[i + 1] = interleave_high(r[i], r[i + 1]);
  }
  INVAR_IGEMM_UNROLL for (int i = 0; i < 16; i += 4) {
    r[i] = pairs_low(t[i], t[i + 2]);
    r[i + 1] = pairs_high(t[i], t[i + 2]);
    r[i + 2] = pairs_low(t[i + 1], t[i + 3]);
    r[i + 3] = pairs_high(t[i + 1], t[i + 3]);
  }
  INVAR_IGEMM_UNROLL for (int i = 0; i < 16; i += 8)
    INVAR_IGEMM_UNROLL for (int j = 0; j < 4; ++j) {
      t[i + j] = even_lanes(r[i + j], r[i + j + 4]);
      t[i + j + 4] = odd_lanes(r[i + j], r[i + j + 4]);
    }
  INVAR_IGEMM_UNROLL for (int j = 0; j < 8; ++j) {
    r[j] = even_lanes(t[j], t[j + 8]);
    r[j + 8] = odd_lanes(t[j], t[j + 8]);
  }
  INVAR_IGEMM_UNROLL for (int i = 0; i < 16; ++i) std::memcpy(dst + i * ldd, &r[i], sizeof(float16));
}

/// dst[q * ldd + r] = src[r * lds + q] for r, q < 8: an 8 x 8 block transposed in registers
/// (24 shuffles: pairs of rows interleaved, pairs of pairs, then the 128-bit halves).
__attribute__((target("avx2,fma"))) inline void transpose_8x8_avx2(const float* src, index_t lds, float* dst,
                                                                  index_t ldd) {
  float8 r[8], t[8], u[8];
  INVAR_IGEMM_UNROLL for (int i = 0; i < 8; ++i) std::memcpy(&r[i], src + i * lds, sizeof(float8));
  INVAR_IGEMM_UNROLL for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  INVAR_IGEMM_UNROLL for (int i = 0; i < 8; i += 4)
    INVAR_IGEMM_UNROLL for (int j = 0; j < 2; ++j) {
      u[i + 2 * j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * j + 1] = __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  INVAR_IGEMM_UNROLL for (int j = 0; j < 4; ++j) {
    r[j] = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[j + 4] = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
  INVAR_IGEMM_UNROLL for (int i = 0; i < 8; ++i) std::memcpy(dst + i * ldd, &r[i], sizeof(float8));
}

#endif  // INVAR_IMPLICIT_GEMM_X86

/// Output positions per panel of `kernel`: two vectors.
inline index_t panel_columns(ConvKernel kernel) { return kernel == ConvKernel::avx512 ? 32 : 16; }

/// Output channels per micro-tile: 12 or 8 (AVX-512), 6 or 4 (AVX2), whichever costs less: the
/// channels rounded up to whole tiles, the small tile counted 1.1 times (it runs 4 % to 6 % slower
/// per FMA: fewer accumulators for the same loads; measured on 256 and 320 channels, which both
/// tiles fill). 96, 128, 160, 192, 256, 320 and 640 channels take 12 (at most 3 % of padding);
/// 64 takes 8 (12 would pad by 12.5 %: the small tile measured 5 % faster there), 16 takes 8.
inline int tile_rows(ConvKernel kernel, index_t channels) {
  const int large = kernel == ConvKernel::avx512 ? 12 : 6, small = kernel == ConvKernel::avx512 ? 8 : 4;
  const double large_cost = double((channels + large - 1) / large * large);
  const double small_cost = 1.1 * double((channels + small - 1) / small * small);
  return large_cost <= small_cost ? large : small;
}

}  // namespace implicit_gemm
}  // namespace invar::cpu
