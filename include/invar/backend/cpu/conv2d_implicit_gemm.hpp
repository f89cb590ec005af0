#pragma once
/// \file conv2d_implicit_gemm.hpp
/// Float convolutions as an implicit GEMM, with AVX-512 or AVX2 micro-kernels chosen at run time.
///
/// The im2col path (conv2d.hpp) writes each chunk's whole patch matrix to memory, Eigen then
/// packs it again into its own panels, and the product comes back in a column layout that is
/// turned into NCHW: three passes over large buffers around every GEMM, about 30 % of a training
/// step (docs/performance.md). Here the patches go straight from the image into a panel small
/// enough for the L1 cache (kc patch rows x NR output positions), a register-blocked micro-kernel
/// multiplies it with the packed weights (MR output channels at a time), and writes the tiles to
/// NCHW with the bias. Nothing of the size of a patch matrix exists. Where each vector of a panel
/// lies in one row of the (padded) input for every patch row (stride 1, output rows of whole
/// vectors), the kernel reads the patches there and nothing is packed at all.
///
/// The kernels are compiled for AVX-512 and for AVX2 + FMA whatever the flags of the translation
/// unit (function target attributes), and the machine picks the widest at run time: a binary
/// built for plain x86-64 or with `-mavx2 -mfma` still runs AVX-512 kernels where the CPU has
/// them. Elsewhere (another architecture or compiler, or double) the im2col path runs.
///
/// The backward pass of a stride-1 convolution with respect to its input is itself such a
/// convolution: of dL/dy, with the kernel flipped and the channels' roles swapped, padding
/// k - 1 - p. It runs through the same kernel (conv2d.hpp). Of a strided layer, the columns
/// W^T dY run through the kernel as a 1x1 convolution of dY, and col2im adds them into dx.
///
/// The weight gradient of a 3x3 convolution with AVX-512 reads its nine taps where they lie in
/// the padded images (three rows at displacements 0, 1, 2) and multiplies them with dL/dy
/// transposed to one row of output channels per position: nothing is packed. Other kernel sizes,
/// and AVX2, where this scheme measured no faster, keep Eigen's GEMM on the im2col patches.
///
/// Order of the sums: each output is one FMA chain over the patch rows in their natural order,
/// split into blocks of kc rows that are added in order. Which thread computes which panel
/// changes nothing, so results are the same bits for any thread count (they differ between the
/// AVX-512, AVX2 and im2col kernels, like any two GEMMs).

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "invar/backend/conv2d_geometry.hpp"
#include "invar/backend/cpu/conv_scratch.hpp"
#include "invar/backend/cpu/micro_kernel.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {
/// Images per task of either convolution path: at least 512 output positions (one image at
/// 32x32, eight at 8x8), so that a task's GEMM has columns enough and two threads have tasks
/// enough.
inline index_t conv_chunk_images(const Conv2dGeometry& g) {
  const index_t p = g.positions();
  return std::clamp<index_t>((512 + p - 1) / p, 1, std::max<index_t>(g.batch, 1));
}
}  // namespace detail

namespace implicit_gemm {

using detail::conv_scratch;
using detail::ConvScratch;

/// The outputs of a group of panels (conv2d_forward, panel_product): at most this many bytes,
/// an eighth of the L2 cache beside a block of the weights. Groups of this size took 7 % to 10 %
/// off WRN-28-10's 160- and 320-channel forward convolutions against one panel at a time (the
/// same bits); 128 KB and 512 KB measured within noise of it.
inline constexpr index_t panel_group_bytes = 256 * 1024;

/// The weights, packed for the micro-kernel: panels of MR output channels, each panel kdim x MR
/// (patch row by patch row, the MR channels' weights side by side); rows past `rows` are zero.
/// `weight(r, k)` gives the weight of output channel r at patch row k.
template <class Weight>
void pack_weights(index_t rows, index_t kdim, int mr, const Weight& weight, float* packed) {
  const index_t panels = (rows + mr - 1) / mr;
  for (index_t p = 0; p < panels; ++p) {
    float* dst = packed + p * kdim * mr;
    for (index_t k = 0; k < kdim; ++k)
      for (int r = 0; r < mr; ++r) {
        const index_t row = p * mr + r;
        dst[k * mr + r] = row < rows ? weight(row, k) : 0.0f;
      }
  }
}

/// A run of a panel's columns that lie in one output row of one image.
struct Segment {
  index_t column;  ///< first column in the panel
  index_t length;  ///< columns
  index_t source;  ///< offset in the (padded) images of the input its first column reads at patch row 0
  index_t output;  ///< offset in the output images of its first column, channel 0
};

/// The segments of the panel of columns [j0, j0 + nr) of g's N Ho Wo output positions, g without
/// padding (the images are padded before).
inline void panel_segments(const Conv2dGeometry& g, index_t j0, index_t nr, std::vector<Segment>& segments) {
  segments.clear();
  const index_t positions = g.positions(), wo = g.out_w(), end = std::min(j0 + nr, g.batch * positions);
  for (index_t j = j0; j < end;) {
    const index_t image = j / positions, pos = j % positions, oy = pos / wo, ox = pos % wo;
    const index_t length = std::min(wo - ox, end - j);
    segments.push_back({j - j0, length, image * g.in_image() + oy * g.stride * g.width + ox * g.stride,
                        image * g.out_image() + pos});
    j += length;
  }
}

/// Patch rows [k0, k0 + kc) of the panel's columns into b (kc x nr, row by row), from images
/// without padding (g.padding == 0: every read is inside); columns past the segments are zero.
/// Inlined into the kernels' target functions, so that its copies are vectorised for their
/// instruction set; no division per row (the patch row's offset advances as a counter).
inline void pack_patches(const Conv2dGeometry& g, const float* x, const std::vector<Segment>& segments, index_t k0,
                         index_t kc, index_t nr, float* b) {
  const index_t kk = g.kernel, w = g.width, s = g.stride;
  index_t covered = 0;
  for (const auto& seg : segments) covered += seg.length;
  if (covered < nr) std::fill(b, b + kc * nr, 0.0f);
  index_t ky = (k0 / kk) % kk, kx = k0 % kk;
  index_t offset = (k0 / (kk * kk)) * g.height * w + ky * w + kx;  // of patch row k in an image
  const bool whole = segments.size() == 1 && segments[0].length == nr;
  for (index_t k = 0; k < kc; ++k) {
    float* row = b + k * nr;
    if (whole && s == 1) {  // the common case: one output row fills the panel
      const float* __restrict src = x + segments[0].source + offset;
      for (index_t t = 0; t < nr; ++t) row[t] = src[t];
    } else {
      for (const auto& seg : segments) {
        float* __restrict dst = row + seg.column;
        const float* __restrict src = x + seg.source + offset;
        if (s == 1) {
          for (index_t t = 0; t < seg.length; ++t) dst[t] = src[t];
        } else if (s == 2) {  // a constant stride: vectorised with permutes
          for (index_t t = 0; t < seg.length; ++t) dst[t] = src[2 * t];
        } else {
          for (index_t t = 0; t < seg.length; ++t) dst[t] = src[t * s];
        }
      }
    }
    ++offset;
    if (++kx == kk) {
      kx = 0;
      offset += w - kk;
      if (++ky == kk) {
        ky = 0;
        offset += (g.height - kk) * w;
      }
    }
  }
}

/// Images [0, n) of x (C x H x W each) with `pad` zeros on every side, into out (C x (H + 2 pad)
/// x (W + 2 pad) each). Rows are copied in blocks of 8 floats of constant size (one vector load
/// and store each) and the side zeros stored one by one, instead of a memcpy and two memsets per
/// row of 8 to 32 floats: the padding went from 4.9 % to 3.8 % of a WRN-16-4 training step
/// (`perf record`), the rest being the read of the images themselves.
inline void pad_images(index_t n, index_t channels, index_t height, index_t width, index_t pad, const float* x,
                       float* out) {
  const index_t hp = height + 2 * pad, wp = width + 2 * pad, whole = width / 8 * 8;
  for (index_t plane = 0; plane < n * channels; ++plane) {
    const float* src = x + plane * height * width;
    float* dst = out + plane * hp * wp;
    std::memset(dst, 0, std::size_t(pad * wp) * sizeof(float));
    for (index_t r = 0; r < height; ++r) {
      float* d = dst + (pad + r) * wp;
      const float* s = src + r * width;
      if (pad == 1) {  // the common case, two stores (a loop here becomes two memset calls)
        d[0] = 0.0f;
        d[wp - 1] = 0.0f;
      } else {
        std::memset(d, 0, std::size_t(pad) * sizeof(float));
        std::memset(d + pad + width, 0, std::size_t(pad) * sizeof(float));
      }
      index_t t = 0;
      for (; t < whole; t += 8) std::memcpy(d + pad + t, s + t, 8 * sizeof(float));
      for (; t < width; ++t) d[pad + t] = s[t];
    }
    std::memset(dst + (pad + height) * wp, 0, std::size_t(pad * wp) * sizeof(float));
  }
}

#if INVAR_IMPLICIT_GEMM_X86

/// The rows of a block of patches read where they lie in the padded images (stride 1, each
/// vector of the panel inside one output row): row k's vector v at base[v] + offset[k], offset[k]
/// the place of patch row k (channel, ky, kx) in a padded image.
struct DirectRows {
  static constexpr bool split = false;
  const float* const* base;
  const index_t* offset;
  const float* operator()(index_t k, int v) const { return base[v] + offset[k]; }
};

/// DirectRows for output rows of half a vector (8 x 8 maps with AVX-512): each vector is two
/// output rows, its halves at base[v] + offset[k] and `second` floats further (the next padded
/// row), loaded apart and joined in a register.
struct SplitRows {
  static constexpr bool split = true;
  const float* const* base;
  const index_t* offset;
  index_t second;
  const float* operator()(index_t k, int v) const { return base[v] + offset[k]; }
};

/// The product of a group of panels: out[p] = packed weights (rows in panels of MR) x b_p (kdim x
/// NR) + bias for p < panels, the depth in blocks of block_rows(NR), b_p's rows of each block
/// given by `rows_of(p, k0, kc)` (which packs them, or points into the images: PackedRows,
/// DirectRows, SplitRows; the same values in the same order either way, so the same bits).
/// Each block of the weights (all rows, kc deep) serves every panel of the group before the next
/// block is read, so that wide layers, whose weights exceed the L2 cache (WRN-28-10's 640
/// channels: 14.7 MB), read them from L3 once per group instead of once per panel. The partial
/// sums of the blocks before the last are kept in the outputs themselves: written where the
/// next layer reads them when an output is the output tensor, so that the stores are spread
/// over the computation instead of coming in one pass after it (a tenth of a forward
/// convolution, measured).
template <int W, int MR, int NV, class RowsOf>
INVAR_IGEMM_INLINE void panel_product(index_t rows, index_t kdim, const float* packed_w, const PanelOutput* out,
                                      int panels, const RowsOf& rows_of) {
  constexpr int nr = NV * W;
  for (index_t k0 = 0; k0 < kdim; k0 += block_rows(nr)) {
    const index_t kc = std::min(block_rows(nr), kdim - k0);
    const bool last = k0 + kc == kdim;
    for (int p = 0; p < panels; ++p) {
      const auto b_row = rows_of(p, k0, kc);
      const PanelOutput& o = out[p];
      for (index_t r0 = 0; r0 < rows; r0 += MR)
        micro_tile<W, MR, NV>(kc, packed_w + r0 * kdim + k0 * MR, b_row, o.c + r0 * o.ldc, o.ldc, o.rows - r0,
                              o.bias != nullptr ? o.bias + r0 : nullptr, k0 > 0, last);
    }
  }
}

// The same product compiled for each instruction set; the function's target attribute makes the
// inlined body use that set's registers and FMAs whatever the translation unit's flags.
// Tiles of MR x 2 vectors: 24 or 16 of the 32 AVX-512 registers, 12 or 8 of the 16 AVX2 ones,
// leaving room for the two B vectors and one broadcast. (8 x 3 vectors measured no faster with
// AVX-512, and 4 x 3 spills with AVX2.)
template <int MR, class RowsOf>
__attribute__((target("avx512f,avx2,fma"))) void panel_product_avx512(index_t rows, index_t kdim,
                                                                      const float* packed_w, const PanelOutput* out,
                                                                      int panels, const RowsOf& rows_of) {
  panel_product<16, MR, 2>(rows, kdim, packed_w, out, panels, rows_of);
}
template <int MR, class RowsOf>
__attribute__((target("avx2,fma"))) void panel_product_avx2(index_t rows, index_t kdim, const float* packed_w,
                                                            const PanelOutput* out, int panels,
                                                            const RowsOf& rows_of) {
  panel_product<8, MR, 2>(rows, kdim, packed_w, out, panels, rows_of);
}

/// panel_product on `kernel` with tiles of `mr` rows (tile_rows). Rows read as split halves
/// (SplitRows) exist for AVX-512 only.
template <class RowsOf>
void panel_product_on(ConvKernel kernel, int mr, index_t rows, index_t kdim, const float* packed_w,
                      const PanelOutput* out, int panels, const RowsOf& rows_of) {
  using Rows = std::invoke_result_t<const RowsOf&, int, index_t, index_t>;
  if (kernel == ConvKernel::avx512) {
    if (mr == 12) panel_product_avx512<12>(rows, kdim, packed_w, out, panels, rows_of);
    else panel_product_avx512<8>(rows, kdim, packed_w, out, panels, rows_of);
  } else if constexpr (Rows::split) {
    throw Error("implicit_gemm: rows read as split halves need the AVX-512 kernel");
  } else {
    if (mr == 6) panel_product_avx2<6>(rows, kdim, packed_w, out, panels, rows_of);
    else panel_product_avx2<4>(rows, kdim, packed_w, out, panels, rows_of);
  }
}

/// The weight gradient of one input channel of a 3x3 convolution over a chunk of images, for
/// NV W output channels: out (9 x NV W) = (accumulate ? out : 0) + the sum over the chunk's
/// output positions j of patch(tap, j) dy_t[j] (dy_t: dL/dy transposed, one row of ldb channels per position,
/// starting at the first of the NV W). `plane`: the channel's padded plane in the chunk's first
/// image, `image_stride` between images. The nine taps are read where they lie (three input rows
/// at displacements 0, 1, 2), so nothing is packed; 9 x NV vectors stay in registers over the
/// whole chunk, in one fixed order (image, output row, output column).
template <int W, int NV>
INVAR_IGEMM_INLINE void weight_gradient_3x3(const float* plane, index_t image_stride, index_t wp, index_t stride,
                                            index_t images, index_t ho, index_t wo, const float* dy_t, index_t ldb,
                                            float* out, bool accumulate) {
  using V = typename FloatVector<W>::type;
  V acc[9][NV];
  INVAR_IGEMM_UNROLL for (int t = 0; t < 9; ++t)
    INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) acc[t][v] = V{};
  const float* b = dy_t;
  for (index_t n = 0; n < images; ++n)
    for (index_t oy = 0; oy < ho; ++oy) {
      const float* r0 = plane + n * image_stride + oy * stride * wp;
      const float* r1 = r0 + wp;
      const float* r2 = r1 + wp;
      for (index_t ox = 0; ox < wo; ++ox, b += ldb) {
        // dy_t's rows are ldb floats apart: 2.5 KB with 640 channels, past the stride the
        // hardware prefetcher follows (2 KB), so every row came from L2 on demand. Asked for 8
        // positions ahead: the 640-channel weight gradient 10 % faster (docs/performance.md).
        INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) __builtin_prefetch(b + 8 * ldb + v * W, 0, 3);
        V bv[NV];
        INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + v * W, sizeof(V));
        const index_t at = ox * stride;
        const float taps[9] = {r0[at], r0[at + 1], r0[at + 2], r1[at], r1[at + 1], r1[at + 2],
                               r2[at], r2[at + 1], r2[at + 2]};
        INVAR_IGEMM_UNROLL for (int t = 0; t < 9; ++t) {
          const V a = taps[t] - V{};  // a broadcast (see micro_tile)
          INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) acc[t][v] += a * bv[v];
        }
      }
    }
  INVAR_IGEMM_UNROLL for (int t = 0; t < 9; ++t)
    INVAR_IGEMM_UNROLL for (int v = 0; v < NV; ++v) {
      float* p = out + t * NV * W + v * W;
      if (accumulate) {  // old + this chunk's sum, as a scalar `d = d + v` would
        V old;
        std::memcpy(&old, p, sizeof(V));
        acc[t][v] += old;
      }
      std::memcpy(p, &acc[t][v], sizeof(V));
    }
}

__attribute__((target("avx512f,avx2,fma"))) inline void weight_gradient_3x3_avx512(
    const float* plane, index_t image_stride, index_t wp, index_t stride, index_t images, index_t ho, index_t wo,
    const float* dy_t, index_t ldb, float* out, bool accumulate) {
  weight_gradient_3x3<16, 2>(plane, image_stride, wp, stride, images, ho, wo, dy_t, ldb, out, accumulate);
}

#endif  // INVAR_IMPLICIT_GEMM_X86

/// A convolution's weights packed for a kernel (pack_weights): `rows` output channels in tiles of
/// `mr` (tile_rows), zero rows up to whole tiles (padded_rows()), `kdim` patch rows deep.
struct PackedWeights {
  const float* data;
  index_t rows, kdim;
  int mr;
  /// The rows rounded up to whole tiles.
  [[nodiscard]] index_t padded_rows() const { return (rows + mr - 1) / mr * mr; }
};

/// Floats that pack_conv_weights writes for `rows` output channels of `kdim` patch rows.
inline index_t packed_weights_size(ConvKernel kernel, index_t rows, index_t kdim) {
  return PackedWeights{nullptr, rows, kdim, tile_rows(kernel, rows)}.padded_rows() * kdim;
}

/// Packs w (`weight(o, k)`, o < rows, k < kdim) for `kernel` into `buffer`
/// (packed_weights_size floats), once for any number of conv2d_forward_packed calls.
template <class Weight>
PackedWeights pack_conv_weights(ConvKernel kernel, index_t rows, index_t kdim, const Weight& weight, float* buffer) {
  const int mr = tile_rows(kernel, rows);
  pack_weights(rows, kdim, mr, weight, buffer);
  return {buffer, rows, kdim, mr};
}

/// y = conv(x, w) + bias for float on `kernel` (avx2 or avx512, available on this machine), w
/// packed by pack_conv_weights for g's output channels and patch rows. bias may be null.
///
/// One task per chunk of images (detail::conv_chunk_images, shared with im2col): the chunk
/// is padded into the thread's scratch (so that packing reads without bounds checks), then
/// multiplied in groups of panels (a panel: NR output positions, all output channels) and
/// written to NCHW.
inline void conv2d_forward_packed(ConvKernel kernel, const Conv2dGeometry& g, const float* x, const PackedWeights& w,
                                  const float* bias, float* y) {
#if INVAR_IMPLICIT_GEMM_X86
  const index_t rows = g.out_channels, kdim = g.patch_rows(), positions = g.positions();
  check(w.rows == rows && w.kdim == kdim && w.mr == tile_rows(kernel, rows),
        "implicit_gemm::conv2d_forward_packed: weights packed for ", w.rows, " x ", w.kdim, " (tiles of ", w.mr,
        "), the convolution has ", rows, " x ", kdim);
  if (g.batch == 0 || positions == 0 || rows == 0) return;
  const int mr = w.mr;
  const index_t nr = panel_columns(kernel);
  const index_t padded_rows = w.padded_rows();
  const float* packed_w = w.data;
  const index_t chunk = detail::conv_chunk_images(g);
  const index_t chunks = (g.batch + chunk - 1) / chunk;
  // Where each patch row (channel, ky, kx) lies in a padded image, for panels read in place:
  // stride 1 and output rows of whole vectors (32 x 32 and 16 x 16 maps with AVX-512, also
  // 8 x 8 with AVX2) or of half vectors (8 x 8 with AVX-512).
  const index_t half = nr / 2, hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding, kk = g.kernel;
  const bool whole_rows = g.stride == 1 && g.out_w() % half == 0;
  const bool split_rows = kernel == ConvKernel::avx512 && g.stride == 1 && 2 * g.out_w() == half;
  const bool direct_rows = whole_rows || split_rows;
  // Panels per group (panel_product): their outputs, rows x nr floats each, within
  // panel_group_bytes.
  constexpr int max_group = 8;
  const index_t panel_bytes = padded_rows * nr * index_t(sizeof(float));
  const int group = int(std::clamp<index_t>(panel_group_bytes / panel_bytes, 1, max_group));
  std::vector<index_t> offsets(direct_rows ? std::size_t(kdim) : 0);
  for (index_t k = 0; k < index_t(offsets.size()); ++k)
    offsets[std::size_t(k)] = (k / (kk * kk)) * hp * wp + ((k / kk) % kk) * wp + k % kk;
  parallel_for_each_dynamic(chunks, chunk * positions * kdim * padded_rows, [&](index_t c) {
    const index_t b0 = c * chunk, n = std::min(chunk, g.batch - b0);
    // The chunk's images, padded: geometry `u` reads them with no padding.
    const Conv2dGeometry u{n, g.in_channels, g.height + 2 * g.padding, g.width + 2 * g.padding, rows, g.kernel,
                           g.stride, 0};
    const float* images = x + b0 * g.in_image();
    if (g.padding > 0) {
      float* padded = conv_scratch<float>(ConvScratch::padded_images, std::size_t(n * u.in_image()));
      pad_images(n, g.in_channels, g.height, g.width, g.padding, images, padded);
      images = padded;
    }
    // Panels read in place re-read their patch rows for every tile of output channels, so the
    // chunk's padded images must stay in the L2 cache: up to 1 MB (a 640-channel chunk of 8 x 8
    // maps, 2 MB, measured 7 % slower read in place than packed; 256 channels, 0.8 MB, 7 %
    // faster).
    const bool chunk_in_place = direct_rows && n * u.in_image() * index_t(sizeof(float)) <= (index_t{1} << 20);
    thread_local std::vector<Segment> segments[max_group];
    float* b = conv_scratch<float>(ConvScratch::packed_patches, std::size_t(block_rows(nr) * nr));
    float* panel_out = conv_scratch<float>(ConvScratch::panel, std::size_t(padded_rows * nr));
    float* y0 = y + b0 * g.out_image();
    const index_t columns = n * positions;
    for (index_t j0 = 0; j0 < columns;) {
      // A group of consecutive panels, each a run of nr positions inside one image: the kernel
      // writes them straight into every output plane there (with the bias). A panel across two
      // images, or the last one, runs alone: into the scratch panel, then copied out segment by
      // segment.
      PanelOutput out[max_group];
      const float* base[max_group][2] = {};
      int count = 0;
      bool in_place = true;
      while (count < group && j0 < columns) {
        const bool inside = j0 + nr <= columns && j0 / positions == (j0 + nr - 1) / positions;
        if (!inside && count > 0) break;  // it runs alone, next
        in_place = inside;
        panel_segments(u, j0, nr, segments[count]);
        out[count] = in_place ? PanelOutput{y0 + segments[count].front().output, positions, rows, bias}
                              : PanelOutput{panel_out, nr, padded_rows, nullptr};
        // In a stride-1 layer whose output rows hold whole vectors (or, with AVX-512 on 8 x 8
        // maps, two rows a vector), the panel is multiplied from the padded images where they
        // lie: no packing at all.
        if (in_place && chunk_in_place)
          for (int v = 0; v < 2; ++v)
            for (const auto& seg : segments[count])
              if (v * half >= seg.column && v * half < seg.column + seg.length)
                base[count][v] = images + seg.source + (v * half - seg.column);
        ++count;
        j0 += nr;
        if (!in_place) break;
      }
      const auto packed = [&](int p, index_t k0, index_t kc) {
        pack_patches(u, images, segments[p], k0, kc, nr, b);
        return PackedRows{b, nr, half};
      };
      const auto in_images = [&](int p, index_t k0, index_t) { return DirectRows{base[p], offsets.data() + k0}; };
      const auto in_image_rows = [&](int p, index_t k0, index_t) {
        return SplitRows{base[p], offsets.data() + k0, u.width};
      };
      if (!(in_place && chunk_in_place)) panel_product_on(kernel, mr, padded_rows, kdim, packed_w, out, count, packed);
      else if (split_rows) panel_product_on(kernel, mr, padded_rows, kdim, packed_w, out, count, in_image_rows);
      else panel_product_on(kernel, mr, padded_rows, kdim, packed_w, out, count, in_images);
      if (in_place) continue;
      for (const auto& seg : segments[0])
        for (index_t o = 0; o < rows; ++o) {
          const float* src = panel_out + o * nr + seg.column;
          float* dst = y0 + seg.output + o * positions;
          const float add = bias ? bias[o] : 0.0f;
          for (index_t t = 0; t < seg.length; ++t) dst[t] = src[t] + add;
        }
    }
  });
#else
  (void)kernel;
  (void)g;
  (void)x;
  (void)w;
  (void)bias;
  (void)y;
  throw Error("implicit_gemm::conv2d_forward: no implicit-GEMM kernel in this build");
#endif
}

/// y = conv(x, w) + bias for float on `kernel` (avx2 or avx512, available on this machine), with
/// w given by `weight(o, k)` (o < Co, k < C k k), so that the backward pass can pass a flipped
/// kernel without copying it: packed into the calling thread's scratch, then
/// conv2d_forward_packed. bias may be null.
template <class Weight>
void conv2d_forward(ConvKernel kernel, const Conv2dGeometry& g, const float* x, const Weight& weight,
                    const float* bias, float* y) {
  const index_t rows = g.out_channels, kdim = g.patch_rows();
  const auto size = std::size_t(packed_weights_size(kernel, rows, kdim));
  float* buffer = conv_scratch<float>(ConvScratch::packed_weights, size);
  conv2d_forward_packed(kernel, g, x, pack_conv_weights(kernel, rows, kdim, weight, buffer), bias, y);
}

/// Whether the weight gradient of a convolution of geometry g runs here on `kernel`: 3x3 kernels
/// with AVX-512. (With AVX2 the same scheme, one vector of 8 channels by 9 taps, measured no
/// faster than Eigen's GEMM on the im2col patches: bench_conv_kernels, docs/performance.md.)
inline bool weight_gradient_here(ConvKernel kernel, const Conv2dGeometry& g) {
  return kernel == ConvKernel::avx512 && g.kernel == 3;
}

/// Output channels per weight-gradient tile.
inline constexpr index_t weight_tile_channels = 32;

/// Floats of a weight gradient in the tiled layout of conv2d_weight_gradient: per input channel,
/// per block of 32 output channels (the last one padded), 9 taps x 32 channels: element (o, c, t)
/// of dL/dw at ((c blocks + o / 32) 9 + t) 32 + o % 32.
inline index_t tiled_weight_size(const Conv2dGeometry& g) {
  const index_t blocks = (g.out_channels + weight_tile_channels - 1) / weight_tile_channels;
  return g.in_channels * blocks * 9 * weight_tile_channels;
}

/// dw += the sum of `parts` partial gradients in the tiled layout (`part_size` floats apart), each
/// element's partials added to dw[e] in part order. Tile by tile (an input channel's 9 taps x 32
/// output channels): the partials are read whole, in vectors, and each tile's dw elements are
/// gathered and stored once; element by element (an index computed with divisions per element,
/// scattered reads) the reduction had been a quarter of WRN-28-10's 640-channel weight gradient.
inline void add_tiled_parts(const Conv2dGeometry& g, index_t parts, const float* part_w, index_t part_size,
                            float* dw) {
  constexpr index_t nr = weight_tile_channels, tile = 9 * nr;
  const index_t co = g.out_channels, kdim = g.patch_rows();
  const index_t blocks = (co + nr - 1) / nr, tiles = g.in_channels * blocks;
  parallel_for(tiles, tile * (parts + 2), [&](index_t t0, index_t t1) {
    alignas(64) float sum[tile];
    for (index_t i = t0; i < t1; ++i) {
      const index_t c = i / blocks, o0 = (i % blocks) * nr, width = std::min(nr, co - o0);
      for (index_t t = 0; t < 9; ++t)
        for (index_t o = 0; o < nr; ++o) sum[t * nr + o] = o < width ? dw[(o0 + o) * kdim + c * 9 + t] : 0.0f;
      for (index_t q = 0; q < parts; ++q) {
        const float* part = part_w + q * part_size + i * tile;
        for (index_t e = 0; e < tile; ++e) sum[e] += part[e];
      }
      for (index_t t = 0; t < 9; ++t)
        for (index_t o = 0; o < width; ++o) dw[(o0 + o) * kdim + c * 9 + t] = sum[t * nr + o];
    }
  });
}

/// tiled = (accumulate ? tiled : 0) + dL/dw over images [b0, b0 + n) of the batch, for a 3x3
/// convolution with AVX-512 (weight_gradient_here), in the tiled layout (tiled_weight_size): the
/// kernel's own, so that a task adds each chunk's sums to its partial
/// gradient with whole vectors, and the layout is changed once, when the tasks' partial
/// gradients are added (conv2d.hpp). Runs on the calling thread (conv2d.hpp's tasks own their
/// chunks).
inline void conv2d_weight_gradient(const Conv2dGeometry& g, const float* x, const float* dy, index_t b0, index_t n,
                                   float* tiled, bool accumulate) {
#if INVAR_IMPLICIT_GEMM_X86
  const index_t co = g.out_channels, positions = g.positions();
  const index_t nr = weight_tile_channels, padded_co = (co + nr - 1) / nr * nr;
  const index_t hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding, plane = hp * wp;
  const float* images = x + b0 * g.in_image();
  if (g.padding > 0) {
    float* padded = conv_scratch<float>(ConvScratch::padded_images, std::size_t(n * g.in_channels * plane));
    pad_images(n, g.in_channels, g.height, g.width, g.padding, images, padded);
    images = padded;
  }
  // dL/dy of the chunk, transposed: one row of padded_co channels per output position.
  float* dy_t = conv_scratch<float>(ConvScratch::dy_transposed, std::size_t(n * positions * padded_co));
  // In blocks of 16 positions, so that the 16 rows written stay in the L1 cache while every
  // channel is read.
  for (index_t i = 0; i < n; ++i)
    for (index_t q0 = 0; q0 < positions; q0 += 16) {
      const index_t qn = std::min<index_t>(16, positions - q0);
      float* dst = dy_t + (i * positions + q0) * padded_co;
      const float* src = dy + (b0 + i) * g.out_image() + q0;
      index_t o = 0;
      if (qn == 16)
        for (; o + 16 <= co; o += 16) transpose_16x16_avx512(src + o * positions, positions, dst + o, padded_co);
      for (; o < co; ++o)
        for (index_t q = 0; q < qn; ++q) dst[q * padded_co + o] = src[o * positions + q];
      for (index_t q = 0; q < qn; ++q) std::fill(dst + q * padded_co + co, dst + (q + 1) * padded_co, 0.0f);
    }
  for (index_t c = 0; c < g.in_channels; ++c)
    for (index_t o0 = 0; o0 < padded_co; o0 += nr)
      weight_gradient_3x3_avx512(images + c * plane, g.in_channels * plane, wp, g.stride, n, g.out_h(), g.out_w(),
                                 dy_t + o0, padded_co, tiled + (c * padded_co + o0) * 9, accumulate);
#else
  (void)g;
  (void)x;
  (void)dy;
  (void)b0;
  (void)n;
  (void)tiled;
  (void)accumulate;
  throw Error("implicit_gemm::conv2d_weight_gradient: no implicit-GEMM kernel in this build");
#endif
}

/// Whether the input gradient of a convolution of geometry g can run as a forward convolution
/// (stride 1, padding at most k - 1).
inline bool input_gradient_as_convolution(const Conv2dGeometry& g) {
  return g.stride == 1 && g.padding <= g.kernel - 1;
}

/// dx = dL/dx of y = conv(x, w) (stride 1): the convolution of dy with w flipped in both spatial
/// directions and its channel axes swapped, padding k - 1 - p.
inline void conv2d_input_gradient(ConvKernel kernel, const Conv2dGeometry& g, const float* w, const float* dy,
                                  float* dx) {
  const index_t kk = g.kernel, co = g.out_channels, ci = g.in_channels;
  const Conv2dGeometry t{g.batch, co, g.out_h(), g.out_w(), ci, kk, 1, kk - 1 - g.padding};
  // t's weight (c, k): output channel c of t (an input channel of g), patch row k = (o, ky, kx)
  // over dy's channels, is w[o][c][k - 1 - ky][k - 1 - kx]: where patch row k reads (c = 0) is
  // tabulated once, so that packing the weights costs a load and an add per element (a table
  // of Co k k entries, where a flipped copy of the weights would take as much memory as they).
  const index_t taps = kk * kk;
  std::vector<index_t> source(std::size_t(co * taps));
  for (index_t o = 0; o < co; ++o)
    for (index_t ky = 0; ky < kk; ++ky)
      for (index_t kx = 0; kx < kk; ++kx)
        source[std::size_t(o * taps + ky * kk + kx)] = o * ci * taps + (kk - 1 - ky) * kk + (kk - 1 - kx);
  const index_t* from = source.data();
  conv2d_forward(kernel, t, dy, [w, from, taps](index_t c, index_t k) { return w[from[k] + c * taps]; }, nullptr, dx);
}

}  // namespace implicit_gemm
}  // namespace invar::cpu
