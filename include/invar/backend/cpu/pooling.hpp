#pragma once
/// \file pooling.hpp
/// 2-d max and average pooling over `planes` independent height x width planes (an NCHW
/// activation is N C planes), square kernel, any stride, padding on every side. Output extents
/// are computed by the caller (floor mode: (in + 2 pad - kernel) / stride + 1).
///
/// Preconditions (the layers check them): kernel >= 1, stride >= 1, height, width >= 1 and
/// 0 <= pad <= kernel / 2, so every window holds at least one real pixel.
///
/// Parallel over planes; each plane of the output (and of dx) is written by one task in a fixed
/// order, so the results are the same bits whatever the thread count.

#include <algorithm>
#include <initializer_list>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {
/// Whether v replaces the current maximum `best` of a window scanned in row-major order:
/// strictly larger (ties keep the first maximum), or the first NaN (NaN propagates; once the
/// maximum is NaN nothing replaces it).
template <class T>
inline bool pool_takes(T v, T best) {
  return v > best || (v != v && best == best);
}
}  // namespace detail

/// y[p][oy][ox] = max of x[p][y][x] over the window y in [oy s - pad, oy s - pad + k),
/// x in [ox s - pad, ox s - pad + k); padding cells count as -infinity, so they are never
/// chosen. argmax[p][oy][ox] = y w + x of the chosen pixel within its plane. Ties: the first
/// maximum in row-major window order. NaN: a window holding a NaN gives NaN, and argmax the
/// index of its first NaN.
template <class T>
void max_pool2d(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                index_t out_h, index_t out_w, const T* x, T* y, index_t* argmax) {
  parallel_for(planes, out_h * out_w * kernel * kernel, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      const T* xp = x + p * height * width;
      T* yp = y + p * out_h * out_w;
      index_t* ap = argmax + p * out_h * out_w;
      if (kernel == 2 && stride == 2 && pad == 0) {
        // The common case: disjoint 2 x 2 windows, all inside the image.
        for (index_t oy = 0; oy < out_h; ++oy) {
          const index_t r0 = 2 * oy * width, r1 = r0 + width;
          T* yr = yp + oy * out_w;
          index_t* ar = ap + oy * out_w;
          for (index_t ox = 0; ox < out_w; ++ox) {
            const index_t c = 2 * ox;
            index_t at = r0 + c;
            T best = xp[at];
            for (const index_t k : {r0 + c + 1, r1 + c, r1 + c + 1})
              if (detail::pool_takes(xp[k], best)) {
                best = xp[k];
                at = k;
              }
            yr[ox] = best;
            ar[ox] = at;
          }
        }
        continue;
      }
      for (index_t oy = 0; oy < out_h; ++oy) {
        const index_t ys = oy * stride - pad;
        const index_t i0 = std::max<index_t>(ys, 0), i1 = std::min(ys + kernel, height);
        for (index_t ox = 0; ox < out_w; ++ox) {
          const index_t xs = ox * stride - pad;
          const index_t j0 = std::max<index_t>(xs, 0), j1 = std::min(xs + kernel, width);
          index_t at = i0 * width + j0;
          T best = xp[at];
          for (index_t i = i0; i < i1; ++i) {
            const T* xr = xp + i * width;
            for (index_t j = j0; j < j1; ++j)
              if (detail::pool_takes(xr[j], best)) {
                best = xr[j];
                at = i * width + j;
              }
          }
          yp[oy * out_w + ox] = best;
          ap[oy * out_w + ox] = at;
        }
      }
    }
  });
}

/// The adjoint of max_pool2d: dx = 0, then dx[p][argmax[p][o]] += dy[p][o] for every output o
/// (overlapping windows that chose the same pixel add).
template <class T>
void max_pool2d_backward(index_t planes, index_t height, index_t width, index_t out_h, index_t out_w, const T* dy,
                         const index_t* argmax, T* dx) {
  parallel_for(planes, height * width + out_h * out_w, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      T* dxp = dx + p * height * width;
      const T* dyp = dy + p * out_h * out_w;
      const index_t* ap = argmax + p * out_h * out_w;
      std::fill(dxp, dxp + height * width, T(0));
      for (index_t o = 0; o < out_h * out_w; ++o) dxp[ap[o]] += dyp[o];
    }
  });
}

/// y[p][oy][ox] = (sum of the real pixels in the window) / divisor, where divisor = kernel^2
/// when count_padding (padding cells count as zeros, PyTorch's count_include_pad=True), else the
/// number of real pixels in the window. Sums run in row-major window order.
template <class T>
void avg_pool2d(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                index_t out_h, index_t out_w, bool count_padding, const T* x, T* y) {
  parallel_for(planes, out_h * out_w * kernel * kernel, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      const T* xp = x + p * height * width;
      T* yp = y + p * out_h * out_w;
      if (kernel == 2 && stride == 2 && pad == 0) {
        // Every window is 4 real pixels, whichever divisor is asked for.
        for (index_t oy = 0; oy < out_h; ++oy) {
          const T* r0 = xp + 2 * oy * width;
          const T* r1 = r0 + width;
          T* yr = yp + oy * out_w;
          for (index_t ox = 0; ox < out_w; ++ox) {
            const index_t c = 2 * ox;
            yr[ox] = (((r0[c] + r0[c + 1]) + r1[c]) + r1[c + 1]) / T(4);
          }
        }
        continue;
      }
      for (index_t oy = 0; oy < out_h; ++oy) {
        const index_t ys = oy * stride - pad;
        const index_t i0 = std::max<index_t>(ys, 0), i1 = std::min(ys + kernel, height);
        for (index_t ox = 0; ox < out_w; ++ox) {
          const index_t xs = ox * stride - pad;
          const index_t j0 = std::max<index_t>(xs, 0), j1 = std::min(xs + kernel, width);
          T sum = T(0);
          for (index_t i = i0; i < i1; ++i) {
            const T* xr = xp + i * width;
            for (index_t j = j0; j < j1; ++j) sum += xr[j];
          }
          const index_t divisor = count_padding ? kernel * kernel : (i1 - i0) * (j1 - j0);
          yp[oy * out_w + ox] = sum / T(divisor);
        }
      }
    }
  });
}

/// The adjoint of avg_pool2d: dx = 0, then every real pixel of window o gets dy[o] / divisor
/// (the same divisor as the forward pass; overlapping windows add).
template <class T>
void avg_pool2d_backward(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                         index_t out_h, index_t out_w, bool count_padding, const T* dy, T* dx) {
  parallel_for(planes, height * width + out_h * out_w * kernel * kernel, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      T* dxp = dx + p * height * width;
      const T* dyp = dy + p * out_h * out_w;
      if (kernel == 2 && stride == 2 && pad == 0) {
        // Disjoint 2 x 2 windows of real pixels, covering the plane but an odd last row or column.
        if (height % 2 != 0 || width % 2 != 0) std::fill(dxp, dxp + height * width, T(0));
        for (index_t oy = 0; oy < out_h; ++oy) {
          T* r0 = dxp + 2 * oy * width;
          T* r1 = r0 + width;
          const T* dyr = dyp + oy * out_w;
          for (index_t ox = 0; ox < out_w; ++ox) {
            const T g = dyr[ox] / T(4);
            r0[2 * ox] = r0[2 * ox + 1] = r1[2 * ox] = r1[2 * ox + 1] = g;
          }
        }
        continue;
      }
      std::fill(dxp, dxp + height * width, T(0));
      for (index_t oy = 0; oy < out_h; ++oy) {
        const index_t ys = oy * stride - pad;
        const index_t i0 = std::max<index_t>(ys, 0), i1 = std::min(ys + kernel, height);
        for (index_t ox = 0; ox < out_w; ++ox) {
          const index_t xs = ox * stride - pad;
          const index_t j0 = std::max<index_t>(xs, 0), j1 = std::min(xs + kernel, width);
          const index_t divisor = count_padding ? kernel * kernel : (i1 - i0) * (j1 - j0);
          const T g = dyp[oy * out_w + ox] / T(divisor);
          for (index_t i = i0; i < i1; ++i) {
            T* dr = dxp + i * width;
            for (index_t j = j0; j < j1; ++j) dr[j] += g;
          }
        }
      }
    }
  });
}

}  // namespace invar::cpu
