#pragma once
/// \file im2col.hpp
/// im2col / col2im for one image in NCHW layout: the patch matrix of a convolution
/// (rows: channel x kernel row x kernel column, columns: output positions), so that the
/// convolution is one GEMM. Zero padding; any stride.

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

/// cols[(c kh + i) kw + j][oy ow + ox] = x[c][oy s - p + i][ox s - p + j] (0 outside the image).
template <class T>
void im2col(index_t channels, index_t height, index_t width, index_t kh, index_t kw, index_t stride, index_t pad,
            index_t out_h, index_t out_w, const T* x, T* cols) {
  const index_t patch_rows = channels * kh * kw;
  parallel_for(patch_rows, out_h * out_w, [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      const index_t c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
      T* out = cols + r * out_h * out_w;
      const T* xc = x + c * height * width;
      for (index_t oy = 0; oy < out_h; ++oy) {
        const index_t y = oy * stride - pad + i;
        T* row = out + oy * out_w;
        if (y < 0 || y >= height) {
          for (index_t ox = 0; ox < out_w; ++ox) row[ox] = T(0);
          continue;
        }
        const T* xr = xc + y * width;
        for (index_t ox = 0; ox < out_w; ++ox) {
          const index_t xx = ox * stride - pad + j;
          row[ox] = (xx >= 0 && xx < width) ? xr[xx] : T(0);
        }
      }
    }
  });
}

/// The adjoint of im2col: dx[c][y][x] += sum of the cols entries that im2col read from it.
/// Parallel over channels (each channel's pixels belong to one task: no write races).
template <class T>
void col2im(index_t channels, index_t height, index_t width, index_t kh, index_t kw, index_t stride, index_t pad,
            index_t out_h, index_t out_w, const T* cols, T* dx) {
  parallel_for(channels, kh * kw * out_h * out_w, [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      T* dxc = dx + c * height * width;
      for (index_t i = 0; i < kh; ++i)
        for (index_t j = 0; j < kw; ++j) {
          const T* in = cols + ((c * kh + i) * kw + j) * out_h * out_w;
          for (index_t oy = 0; oy < out_h; ++oy) {
            const index_t y = oy * stride - pad + i;
            if (y < 0 || y >= height) continue;
            T* dr = dxc + y * width;
            const T* row = in + oy * out_w;
            for (index_t ox = 0; ox < out_w; ++ox) {
              const index_t xx = ox * stride - pad + j;
              if (xx >= 0 && xx < width) dr[xx] += row[ox];
            }
          }
        }
    }
  });
}

}  // namespace invar::cpu
