#pragma once
/// \file backend.hpp
/// The raw op interface every device implements: `Backend<Device>`.
///
/// Layers and losses never call a backend directly: they call invar::ops (backend/ops.hpp),
/// which checks shapes, names bad arguments in its errors, and forwards raw pointers and
/// sizes here. A new device (CUDA) is a new specialisation of Backend — nothing above changes.
///
/// The contract (all pointers point into the device's memory, matrices are row-major with a
/// leading dimension, sizes may be zero; functors are INVAR_HOST_DEVICE callables):
/// \code
/// template <> struct Backend<MyDevice> {
///   // C = alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) is k x n.
///   // beta == 0 overwrites C (NaN in C does not propagate), as in BLAS.
///   template <class T> static void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
///                                       const T* a, index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc);
///   // out[i] = f(in0[i], in1[i], ...) for i < n; out may alias an input.
///   template <class T, class F, class... In> static void map(index_t n, T* out, F f, const In*... in);
///   // out[i,j] = f(x[i,j], v[i])  (broadcast_rows)  or  f(x[i,j], v[j])  (broadcast_cols); out may alias x.
///   template <class T, class F> static void broadcast_rows(index_t rows, index_t cols, T* out, const T* x, const T* v, F f);
///   template <class T, class F> static void broadcast_cols(index_t rows, index_t cols, T* out, const T* x, const T* v, F f);
///   // out[i] = sum_j f(in0[i,j], ...)  (reduce_rows)   out[j] = sum_i f(in0[i,j], ...)  (reduce_cols)
///   template <class T, class F, class... In> static void reduce_rows(index_t rows, index_t cols, T* out, F f, const In*... in);
///   template <class T, class F, class... In> static void reduce_cols(index_t rows, index_t cols, T* out, F f, const In*... in);
///   // sum_i f(in0[i], ...), returned to the host.
///   template <class T, class F, class... In> static T reduce_all(index_t n, F f, const In*... in);
///   // out[r,:] = src[idx[r],:]   and   out[idx[r],:] += alpha * src[r,:]; idx already validated.
///   template <class T> static void gather_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T* out);
///   template <class T> static void scatter_add_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T alpha, T* out);
/// };
/// \endcode
/// Determinism: a backend's reductions must give the same bits for the same inputs whatever
/// its thread count (fixed summation order); the CPU backend does, and says where it cannot.

#include "invar/core/device.hpp"

namespace invar {

template <Device D>
struct Backend;  // specialised per device: backend/cpu/backend.hpp, backend/cuda/...

}  // namespace invar
