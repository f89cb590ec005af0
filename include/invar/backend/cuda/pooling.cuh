#pragma once
/// \file pooling.cuh
/// 2-d max and average pooling on the GPU over `planes` independent height x width planes,
/// with the CPU backend's semantics (backend/cpu/pooling.hpp): square kernel, any stride,
/// padding cells never chosen by max and counted by average only with count_padding; ties
/// go to the first maximum in row-major window order; NaN propagates.
///
/// - Forward: one thread per output element, the window scanned in row-major order (the same
///   comparisons and additions as the CPU, so the same bits).
/// - max_pool2d_backward: the window geometry is not passed, so the argmax targets are scattered
///   by one thread per plane, outputs in order (the CPU's order: same bits, no atomics).
/// - avg_pool2d_backward: one thread per input pixel gathers dy / divisor of every window that
///   contains it, windows in row-major order (the order in which the CPU's scatter adds them).

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/pooling.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

template <class T>
__device__ inline bool pool_takes(T v, T best) {
  return v > best || (v != v && best == best);
}

__device__ inline index_t pool_min(index_t a, index_t b) { return a < b ? a : b; }
__device__ inline index_t pool_max(index_t a, index_t b) { return a > b ? a : b; }

template <class T>
__global__ void max_pool2d_kernel(index_t planes, index_t height, index_t width, index_t kernel, index_t stride,
                                  index_t pad, index_t out_h, index_t out_w, const T* x, T* y, index_t* argmax) {
  const index_t per_plane = out_h * out_w, n = planes * per_plane;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t p = e / per_plane, o = e - p * per_plane;
    const index_t oy = o / out_w, ox = o - oy * out_w;
    const T* xp = x + p * height * width;
    const index_t ys = oy * stride - pad, xs = ox * stride - pad;
    const index_t i0 = pool_max(ys, 0), i1 = pool_min(ys + kernel, height);
    const index_t j0 = pool_max(xs, 0), j1 = pool_min(xs + kernel, width);
    index_t at = i0 * width + j0;
    T best = xp[at];
    for (index_t i = i0; i < i1; ++i)
      for (index_t j = j0; j < j1; ++j) {
        const T v = xp[i * width + j];
        if (pool_takes(v, best)) {
          best = v;
          at = i * width + j;
        }
      }
    y[e] = best;
    argmax[e] = at;
  }
}

template <class T>
__global__ void max_pool2d_backward_kernel(index_t planes, index_t height, index_t width, index_t out_h,
                                           index_t out_w, const T* dy, const index_t* argmax, T* dx) {
  const index_t in_plane = height * width, out_plane = out_h * out_w;
  for (index_t p = global_thread(); p < planes; p += grid_threads()) {
    T* dxp = dx + p * in_plane;
    const T* dyp = dy + p * out_plane;
    const index_t* ap = argmax + p * out_plane;
    for (index_t o = 0; o < out_plane; ++o) dxp[ap[o]] += dyp[o];
  }
}

template <class T>
__global__ void avg_pool2d_kernel(index_t planes, index_t height, index_t width, index_t kernel, index_t stride,
                                  index_t pad, index_t out_h, index_t out_w, bool count_padding, const T* x, T* y) {
  const index_t per_plane = out_h * out_w, n = planes * per_plane;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t p = e / per_plane, o = e - p * per_plane;
    const index_t oy = o / out_w, ox = o - oy * out_w;
    const T* xp = x + p * height * width;
    const index_t ys = oy * stride - pad, xs = ox * stride - pad;
    const index_t i0 = pool_max(ys, 0), i1 = pool_min(ys + kernel, height);
    const index_t j0 = pool_max(xs, 0), j1 = pool_min(xs + kernel, width);
    T sum = T(0);
    for (index_t i = i0; i < i1; ++i)
      for (index_t j = j0; j < j1; ++j) sum += xp[i * width + j];
    const index_t divisor = count_padding ? kernel * kernel : (i1 - i0) * (j1 - j0);
    y[e] = sum / T(divisor);
  }
}

/// The first and last output index (inclusive) whose window [o s - pad, o s - pad + k) holds
/// input position v, clamped to [0, out); empty when lo > hi.
__device__ inline void pool_windows_of(index_t v, index_t kernel, index_t stride, index_t pad, index_t out,
                                       index_t& lo, index_t& hi) {
  // o s - pad <= v  <=>  o <= (v + pad) / s;    v < o s - pad + k  <=>  o > (v + pad - k) / s
  const index_t a = v + pad - kernel;  // o >= floor(a / s) + 1
  lo = a < 0 ? 0 : a / stride + 1;
  hi = pool_min((v + pad) / stride, out - 1);
}

template <class T>
__global__ void avg_pool2d_backward_kernel(index_t planes, index_t height, index_t width, index_t kernel,
                                           index_t stride, index_t pad, index_t out_h, index_t out_w,
                                           bool count_padding, const T* dy, T* dx) {
  const index_t per_plane = height * width, n = planes * per_plane;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t p = e / per_plane, q = e - p * per_plane;
    const index_t yy = q / width, xx = q - yy * width;
    const T* dyp = dy + p * out_h * out_w;
    index_t oy0, oy1, ox0, ox1;
    pool_windows_of(yy, kernel, stride, pad, out_h, oy0, oy1);
    pool_windows_of(xx, kernel, stride, pad, out_w, ox0, ox1);
    T g = T(0);
    for (index_t oy = oy0; oy <= oy1; ++oy) {
      const index_t ys = oy * stride - pad;
      const index_t rows_in = pool_min(ys + kernel, height) - pool_max(ys, 0);
      for (index_t ox = ox0; ox <= ox1; ++ox) {
        const index_t xs = ox * stride - pad;
        const index_t cols_in = pool_min(xs + kernel, width) - pool_max(xs, 0);
        const index_t divisor = count_padding ? kernel * kernel : rows_in * cols_in;
        g += dyp[oy * out_w + ox] / T(divisor);
      }
    }
    dx[e] = g;
  }
}

}  // namespace detail

template <class T>
void max_pool2d(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                index_t out_h, index_t out_w, const T* x, T* y, index_t* argmax) {
  const index_t n = planes * out_h * out_w;
  if (n <= 0) return;
  detail::max_pool2d_kernel<<<detail::blocks_for(n), detail::block_threads, 0, Context::current().stream()>>>(
      planes, height, width, kernel, stride, pad, out_h, out_w, x, y, argmax);
  INVAR_CUDA_CHECK_LAUNCH("max_pool2d_kernel");
}

/// dx = 0, then dx[p][argmax[p][o]] += dy[p][o] for the outputs o of each plane in order.
template <class T>
void max_pool2d_backward(index_t planes, index_t height, index_t width, index_t out_h, index_t out_w, const T* dy,
                         const index_t* argmax, T* dx) {
  if (planes <= 0 || height * width <= 0) return;
  Context& ctx = Context::current();
  INVAR_CUDA_CHECK(
      cudaMemsetAsync(dx, 0, static_cast<std::size_t>(planes * height * width) * sizeof(T), ctx.stream()));
  if (out_h * out_w <= 0) return;
  detail::max_pool2d_backward_kernel<<<detail::blocks_for(planes), detail::block_threads, 0, ctx.stream()>>>(
      planes, height, width, out_h, out_w, dy, argmax, dx);
  INVAR_CUDA_CHECK_LAUNCH("max_pool2d_backward_kernel");
}

template <class T>
void avg_pool2d(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                index_t out_h, index_t out_w, bool count_padding, const T* x, T* y) {
  const index_t n = planes * out_h * out_w;
  if (n <= 0) return;
  detail::avg_pool2d_kernel<<<detail::blocks_for(n), detail::block_threads, 0, Context::current().stream()>>>(
      planes, height, width, kernel, stride, pad, out_h, out_w, count_padding, x, y);
  INVAR_CUDA_CHECK_LAUNCH("avg_pool2d_kernel");
}

template <class T>
void avg_pool2d_backward(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                         index_t out_h, index_t out_w, bool count_padding, const T* dy, T* dx) {
  const index_t n = planes * height * width;
  if (n <= 0) return;
  detail::avg_pool2d_backward_kernel<<<detail::blocks_for(n), detail::block_threads, 0,
                                       Context::current().stream()>>>(planes, height, width, kernel, stride, pad,
                                                                      out_h, out_w, count_padding, dy, dx);
  INVAR_CUDA_CHECK_LAUNCH("avg_pool2d_backward_kernel");
}

}  // namespace invar::cuda
