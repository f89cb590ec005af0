#pragma once
/// \file elementwise.cuh
/// Element-wise maps and row/column broadcasts on the GPU: one thread per element in
/// grid-stride loops (64-bit indices). The functor is passed by value into the kernel, so it
/// must be an INVAR_HOST_DEVICE callable (invar::fn, a metric-like struct; not a host lambda).
/// out may alias an input: each element is read and written by the same thread.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/elementwise.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

template <class T, class F, class... In>
__global__ void map_kernel(index_t n, T* out, F f, const In*... in) {
  for (index_t i = global_thread(); i < n; i += grid_threads()) out[i] = static_cast<T>(f(in[i]...));
}

template <class T, class F>
__global__ void broadcast_rows_kernel(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
  const index_t n = rows * cols;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t i = e / cols;
    out[e] = static_cast<T>(f(x[e], v[i]));
  }
}

template <class T, class F>
__global__ void broadcast_cols_kernel(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
  const index_t n = rows * cols;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t j = e % cols;
    out[e] = static_cast<T>(f(x[e], v[j]));
  }
}

}  // namespace detail

/// out[i] = f(in0[i], in1[i], ...) for i < n.
template <class T, class F, class... In>
void map(index_t n, T* out, F f, const In*... in) {
  if (n <= 0) return;
  detail::map_kernel<<<detail::blocks_for(n), detail::block_threads, 0, Context::current().stream()>>>(n, out, f,
                                                                                                     in...);
  INVAR_CUDA_CHECK_LAUNCH("map_kernel");
}

/// out[i,j] = f(x[i,j], v[i]).
template <class T, class F>
void broadcast_rows(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
  if (rows <= 0 || cols <= 0) return;
  detail::broadcast_rows_kernel<<<detail::blocks_for(rows * cols), detail::block_threads, 0,
                                  Context::current().stream()>>>(rows, cols, out, x, v, f);
  INVAR_CUDA_CHECK_LAUNCH("broadcast_rows_kernel");
}

/// out[i,j] = f(x[i,j], v[j]).
template <class T, class F>
void broadcast_cols(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
  if (rows <= 0 || cols <= 0) return;
  detail::broadcast_cols_kernel<<<detail::blocks_for(rows * cols), detail::block_threads, 0,
                                  Context::current().stream()>>>(rows, cols, out, x, v, f);
  INVAR_CUDA_CHECK_LAUNCH("broadcast_cols_kernel");
}

}  // namespace invar::cuda
