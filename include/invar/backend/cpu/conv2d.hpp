#pragma once
/// \file conv2d.hpp
/// Conv2d on the CPU: im2col + GEMM, parallel over chunks of images.
///
/// A chunk of G images (G = ceil(512 / HoWo), so each GEMM has at least ~512 columns even on
/// 8x8 maps) is one task: its patch matrices side by side (C k k x G HoWo), one serial GEMM with
/// the weights, and the conversion back to NCHW, all by one thread while the patches are in
/// its cache. Two threads then never wait on each other inside a layer, and the patch matrix
/// of a whole batch (450 MB for All-CNN's second layer at batch 128) never exists.
///
/// Backward: dW is summed over images, so each of P = min(8, chunks) tasks sums its own chunks
/// (c = p, p + P, ...) into its own partial dW, and the partials are added to dW in task order
/// (in two waves, the second reusing the first's buffers). Which task handles which chunk, and in
/// which order, is fixed by the shapes alone: the result is the same bits for any thread count.
/// dX needs no reduction: the images of a chunk belong to one task.
///
/// Scratch buffers: conv_scratch.hpp (one per purpose and thread, kept between calls).

#include <algorithm>
#include <type_traits>
#include <vector>

#include "invar/backend/conv2d_geometry.hpp"
#include "invar/backend/cpu/conv2d_implicit_gemm.hpp"
#include "invar/backend/cpu/conv_scratch.hpp"
#include "invar/backend/cpu/gemm.hpp"
#include "invar/backend/cpu/im2col.hpp"
#include "invar/backend/cpu/threads.hpp"

namespace invar::cpu {

namespace detail {

/// The patch matrix of images [b0, b0 + n): C k k x n HoWo (row stride n HoWo), in `cols`,
/// or the image itself for a pointwise convolution of one image.
template <class T>
const T* conv_patches(const Conv2dGeometry& g, const T* x, index_t b0, index_t n) {
  const index_t p = g.positions(), cols_n = n * p;
  if (n == 1 && g.pointwise()) return x + b0 * g.in_image();
  T* cols = conv_scratch<T>(ConvScratch::patches, std::size_t(g.patch_rows() * cols_n));
  for (index_t i = 0; i < n; ++i)
    im2col(g.in_channels, g.height, g.width, g.kernel, g.kernel, g.stride, g.padding, g.out_h(), g.out_w(),
           x + (b0 + i) * g.in_image(), cols + i * p, cols_n);
  return cols;
}

}  // namespace detail

using detail::ConvScratch;

/// y = conv(x, w) + bias (bias may be null). w: O x C x k x k.
template <class T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (const ConvKernel kernel = conv_kernel(); kernel != ConvKernel::im2col) {
      const index_t kdim = g.patch_rows();
      implicit_gemm::conv2d_forward(kernel, g, x, [w, kdim](index_t o, index_t k) { return w[o * kdim + k]; }, bias, y);
      return;
    }
  }
  const index_t chunk = detail::conv_chunk_images(g), chunks = (g.batch + chunk - 1) / chunk;
  const index_t p = g.positions(), o = g.out_channels, k = g.patch_rows();
  parallel_for_each_dynamic(chunks, chunk * p * k * o, [&](index_t c) {
    const index_t b0 = c * chunk, n = std::min(chunk, g.batch - b0), cols_n = n * p;
    const T* patches = detail::conv_patches(g, x, b0, n);
    // One image: the GEMM writes its NCHW output in place.
    T* out = n == 1 ? y + b0 * g.out_image()
                    : detail::conv_scratch<T>(ConvScratch::gathered, std::size_t(o * cols_n));
    gemm(false, false, o, cols_n, k, T(1), w, k, patches, cols_n, T(0), out, cols_n);
    if (bias != nullptr)
      for (index_t r = 0; r < o; ++r) {
        T* row = out + r * cols_n;
        for (index_t j = 0; j < cols_n; ++j) row[j] += bias[r];
      }
    if (n > 1) columns_to_images(n, o, p, out, y + b0 * g.out_image());
  });
}

/// dw += dL/dw, dbias += dL/dbias, dx = dL/dx; each may be null (not computed).
template <class T>
void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dw, T* dbias, T* dx) {
  const index_t chunk = detail::conv_chunk_images(g), chunks = (g.batch + chunk - 1) / chunk;
  const index_t p = g.positions(), o = g.out_channels, k = g.patch_rows(), wsize = o * k;
  const index_t parts = std::min<index_t>(8, chunks);
  if (chunks == 0) return;
  if constexpr (std::is_same_v<T, float>) {  // dx of a stride-1 layer: a convolution of dy (implicit GEMM)
    if (const ConvKernel kernel = conv_kernel();
        dx != nullptr && kernel != ConvKernel::im2col && implicit_gemm::input_gradient_as_convolution(g)) {
      implicit_gemm::conv2d_input_gradient(kernel, g, w, dy, dx);
      dx = nullptr;
      if (dw == nullptr && dbias == nullptr) return;
    }
  }
  // 3x3 float weights: straight from the images (implicit GEMM), no patch matrix; each task's
  // partial gradient then stays in the kernel's tiled layout until the partials are added.
  bool implicit_w = false;
  if constexpr (std::is_same_v<T, float>) implicit_w = dw != nullptr && implicit_gemm::weight_gradient_here(conv_kernel(), g);
  const index_t part_size = implicit_w ? implicit_gemm::tiled_weight_size(g) : wsize;
  // dx of a strided layer: the columns W^T dY by the implicit-GEMM kernel (a 1x1 convolution of
  // dY with W^T's rows as its output channels, one column matrix per image), then col2im.
  ConvKernel dx_kernel = ConvKernel::im2col;
  if constexpr (std::is_same_v<T, float>)
    if (dx != nullptr) dx_kernel = conv_kernel();
  const bool implicit_dx = dx_kernel != ConvKernel::im2col;
  // W^T packed once, by this thread, for every task's chunks.
  implicit_gemm::PackedWeights w_t{};
  if constexpr (std::is_same_v<T, float>)
    if (implicit_dx) {
      float* buffer = detail::conv_scratch<float>(ConvScratch::packed_weights,
                                                  std::size_t(implicit_gemm::packed_weights_size(dx_kernel, k, o)));
      w_t = implicit_gemm::pack_conv_weights(dx_kernel, k, o, [w, k](index_t r, index_t ch) { return w[ch * k + r]; },
                                             buffer);
    }
  // dw == nullptr (frozen weights, attacks): no patches and no weight GEMM, only dx.
  // The partial weight gradients are made in two waves (or more where more threads than half the
  // parts run at once), and each wave's are added to dw (in part order) before the next wave
  // reuses their buffers: dw then holds between waves the float that a single running sum
  // dw + P0 + P1 + ... held at that point, so the bits are those of one wave of all parts, with
  // half the weight-sized buffers of scratch (59 MB less for WRN-28-10's 640-channel layers).
  // Waves of one part per thread saved 88 MB but cost 2.7 % of a WRN-28-10 step on 2 threads
  // (a barrier per wave, each waiting for the slower part).
  const index_t threads = in_parallel_region() ? 1 : num_threads();
  const index_t wave = dw ? std::clamp<index_t>(std::max<index_t>(threads, (parts + 1) / 2), 1, parts) : parts;
  T* part_w = dw ? detail::conv_scratch<T>(ConvScratch::partial_weights, std::size_t(wave * part_size)) : nullptr;
  double* part_b = dbias ? detail::conv_scratch<double>(ConvScratch::partial_bias, std::size_t(parts * o)) : nullptr;
  for (index_t q0 = 0; q0 < parts; q0 += wave) {
    const index_t q1 = std::min(parts, q0 + wave);
    parallel_for_each_dynamic(q1 - q0, chunk * p * k * o * (chunks / parts) * ((dw ? 1 : 0) + (dx ? 1 : 0)),
                              [&](index_t slot) {
      const index_t part = q0 + slot;
      T* pw = part_w ? part_w + slot * part_size : nullptr;
      double* pb = part_b ? part_b + part * o : nullptr;
      if (pb) std::fill(pb, pb + o, 0.0);
      bool first = true;
      for (index_t c = part; c < chunks; c += parts) {
        const index_t b0 = c * chunk, n = std::min(chunk, g.batch - b0), cols_n = n * p;
        const T* dy0 = dy + b0 * g.out_image();
        if constexpr (std::is_same_v<T, float>)
          if (implicit_w) implicit_gemm::conv2d_weight_gradient(g, x, dy, b0, n, pw, !first);
        const T* dyc = dy0;
        if (n > 1 && ((dx && !implicit_dx) || (pw && !implicit_w))) {
          T* gathered = detail::conv_scratch<T>(ConvScratch::gathered, std::size_t(o * cols_n));
          images_to_columns(n, o, p, dy0, gathered);
          dyc = gathered;
        }
        if (pw && !implicit_w) {
          const T* patches = detail::conv_patches(g, x, b0, n);
          gemm(false, true, o, k, cols_n, T(1), dyc, cols_n, patches, cols_n, first ? T(0) : T(1), pw, k);
        }
        if (pb)  // over the chunk's images in order, position by position (the same sum in either layout)
          for (index_t r = 0; r < o; ++r) {
            double s = 0;
            for (index_t i = 0; i < n; ++i) {
              const T* row = dy0 + i * g.out_image() + r * p;
              for (index_t j = 0; j < p; ++j) s += double(row[j]);
            }
            pb[r] += s;
          }
        if (dx) {
          T* dcols = detail::conv_scratch<T>(ConvScratch::input_columns, std::size_t(k * cols_n));
          if constexpr (std::is_same_v<T, float>) {
            if (implicit_dx) {
              const Conv2dGeometry columns{n, o, g.out_h(), g.out_w(), k, 1, 1, 0};
              implicit_gemm::conv2d_forward_packed(dx_kernel, columns, dy0, w_t, nullptr, dcols);
            }
          }
          if (!implicit_dx) gemm(true, false, k, cols_n, o, T(1), w, k, dyc, cols_n, T(0), dcols, cols_n);
          for (index_t i = 0; i < n; ++i) {
            T* dxi = dx + (b0 + i) * g.in_image();
            std::fill(dxi, dxi + g.in_image(), T(0));
            // Image i's columns: rows of cols_n (all the chunk's positions) after the GEMM, of p
            // (its own) after the implicit GEMM.
            col2im(g.in_channels, g.height, g.width, g.kernel, g.kernel, g.stride, g.padding, g.out_h(), g.out_w(),
                   implicit_dx ? dcols + i * k * p : dcols + i * p, dxi, implicit_dx ? p : cols_n);
          }
        }
        first = false;
      }
    });
    if (!dw) continue;
    // The wave's partials, added in part order (from the tiled layout where the kernel wrote them).
    const index_t count = q1 - q0;
    if constexpr (std::is_same_v<T, float>)
      if (implicit_w) {
        implicit_gemm::add_tiled_parts(g, count, part_w, part_size, dw);
        continue;
      }
    parallel_for(wsize, count, [&](index_t e0, index_t e1) {
      for (index_t e = e0; e < e1; ++e) {
        T s = dw[e];
        for (index_t q = 0; q < count; ++q) s += part_w[q * part_size + e];
        dw[e] = s;
      }
    });
  }
  if (dbias)
    for (index_t r = 0; r < o; ++r) {
      double s = 0;
      for (index_t q = 0; q < parts; ++q) s += part_b[q * o + r];
      dbias[r] += static_cast<T>(s);
    }
}

}  // namespace invar::cpu
