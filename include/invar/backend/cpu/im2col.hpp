#pragma once
/// \file im2col.hpp
/// im2col / col2im for one image in NCHW layout: the patch matrix of a convolution
/// (rows: channel x kernel row x kernel column, columns: output positions), so that the
/// convolution is one GEMM. Zero padding; any stride. `ld` is the row stride of the patch
/// matrix: a convolution lays the patches of several images side by side (ld = images x
/// positions) to give the GEMM enough columns on small feature maps.

#include <algorithm>
#include <cstring>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {
/// The output columns ox whose input column ox s - p + j lies inside [0, width): [lo, hi).
inline void valid_range(index_t out_w, index_t width, index_t stride, index_t pad, index_t j, index_t& lo,
                        index_t& hi) {
  // ox s - p + j >= 0  <=>  ox >= ceil((p - j) / s);   ox s - p + j < width  <=>  ox < ceil((width + p - j) / s)
  auto ceil_div = [](index_t a, index_t b) { return a <= 0 ? -((-a) / b) : (a + b - 1) / b; };
  lo = std::clamp<index_t>(ceil_div(pad - j, stride), 0, out_w);
  hi = std::clamp<index_t>(ceil_div(width + pad - j, stride), lo, out_w);
}
}  // namespace detail

/// cols[(c kh + i) kw + j][oy ow + ox] = x[c][oy s - p + i][ox s - p + j] (0 outside the image),
/// row r of cols starting at cols + r ld.
template <class T>
void im2col(index_t channels, index_t height, index_t width, index_t kh, index_t kw, index_t stride, index_t pad,
            index_t out_h, index_t out_w, const T* x, T* cols, index_t ld) {
  const index_t patch_rows = channels * kh * kw;
  parallel_for(patch_rows, out_h * out_w, [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      const index_t c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
      T* out = cols + r * ld;
      const T* xc = x + c * height * width;
      index_t lo, hi;
      detail::valid_range(out_w, width, stride, pad, j, lo, hi);
      for (index_t oy = 0; oy < out_h; ++oy) {
        const index_t y = oy * stride - pad + i;
        T* row = out + oy * out_w;
        if (y < 0 || y >= height) {
          std::fill(row, row + out_w, T(0));
          continue;
        }
        std::fill(row, row + lo, T(0));
        const T* xr = xc + y * width - pad + j;  // xr[ox s] is input column ox s - p + j
        if (stride == 1) {
          std::memcpy(row + lo, xr + lo, sizeof(T) * std::size_t(hi - lo));
        } else {
          for (index_t ox = lo; ox < hi; ++ox) row[ox] = xr[ox * stride];
        }
        std::fill(row + hi, row + out_w, T(0));
      }
    }
  });
}

/// The adjoint of im2col: dx[c][y][x] += sum of the cols entries that im2col read from it.
/// Parallel over channels (each channel's pixels belong to one task: no write races, and the
/// order of the additions is fixed: results do not depend on the thread count).
template <class T>
void col2im(index_t channels, index_t height, index_t width, index_t kh, index_t kw, index_t stride, index_t pad,
            index_t out_h, index_t out_w, const T* cols, T* dx, index_t ld) {
  parallel_for(channels, kh * kw * out_h * out_w, [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      T* dxc = dx + c * height * width;
      for (index_t i = 0; i < kh; ++i)
        for (index_t j = 0; j < kw; ++j) {
          const T* in = cols + ((c * kh + i) * kw + j) * ld;
          index_t lo, hi;
          detail::valid_range(out_w, width, stride, pad, j, lo, hi);
          for (index_t oy = 0; oy < out_h; ++oy) {
            const index_t y = oy * stride - pad + i;
            if (y < 0 || y >= height) continue;
            T* dr = dxc + y * width - pad + j;
            const T* row = in + oy * out_w;
            if (stride == 1) {
              for (index_t ox = lo; ox < hi; ++ox) dr[ox] += row[ox];
            } else {
              for (index_t ox = lo; ox < hi; ++ox) dr[ox * stride] += row[ox];
            }
          }
        }
    }
  });
}

/// Lays `images` NCHW images side by side as one channel-major matrix and back:
/// cm[c][img positions + p] = nchw[img][c][p]. A convolution computes several images with one
/// GEMM in the channel-major layout (W x patches of all of them) and converts at the ends.
template <class T>
void images_to_columns(index_t images, index_t channels, index_t positions, const T* nchw, T* cm) {
  parallel_for(images * channels, positions, [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      const index_t img = r / channels, c = r % channels;
      std::memcpy(cm + (c * images + img) * positions, nchw + r * positions, sizeof(T) * std::size_t(positions));
    }
  });
}

template <class T>
void columns_to_images(index_t images, index_t channels, index_t positions, const T* cm, T* nchw) {
  parallel_for(images * channels, positions, [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      const index_t img = r / channels, c = r % channels;
      std::memcpy(nchw + r * positions, cm + (c * images + img) * positions, sizeof(T) * std::size_t(positions));
    }
  });
}

}  // namespace invar::cpu
