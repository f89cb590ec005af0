#pragma once
/// \file backend.cuh
/// DeviceBackend<Cuda>: the CUDA implementation of the op interface (see invar/backend/backend.hpp),
/// every op for float and double with the CPU backend's signatures and semantics, assembled from
/// one header per kind of op (the CUDA twins of backend/cpu/*.hpp). Compile with nvcc.
///
/// Every op runs on `cuda::Context::current().stream()`; pointers are device pointers except the
/// sums the Gram and pairwise loops return (sum_a, sum_b: host pointers, the stream is then
/// synchronised) and reduce_all's value. Ids, weights and coefficients are device arrays.
/// Determinism: fixed-order reductions only (no floating-point atomics); each header says how.
/// Functors (map, broadcasts, reductions) and metrics are copied into the kernels: they must be
/// INVAR_HOST_DEVICE and trivially copyable (invar::fn, invar's metrics, a user's metric struct).

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/backend.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include "invar/backend/backend.hpp"
#include "invar/backend/cuda/batch_norm.cuh"
#include "invar/backend/cuda/conv2d.cuh"
#include "invar/backend/cuda/device.hpp"
#include "invar/backend/cuda/elementwise.cuh"
#include "invar/backend/cuda/gather.cuh"
#include "invar/backend/cuda/gemm.cuh"
#include "invar/backend/cuda/gram_pairs.cuh"
#include "invar/backend/cuda/group_stats.cuh"
#include "invar/backend/cuda/pairwise_groups.cuh"
#include "invar/backend/cuda/pooling.cuh"
#include "invar/backend/cuda/reduce.cuh"
#include "invar/backend/cuda/softmax.cuh"

#if !defined(__CUDACC__)
#error "invar/backend/cuda/backend.cuh holds CUDA kernels: compile this file with nvcc (as CUDA)"
#endif

namespace invar {

template <>
struct DeviceBackend<Cuda> {
  template <class T>
  static void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                   const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    cuda::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  template <class T, class F, class... In>
  static void map(index_t n, T* out, F f, const In*... in) {
    cuda::map(n, out, f, in...);
  }
  template <class T, class F>
  static void broadcast_rows(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
    cuda::broadcast_rows(rows, cols, out, x, v, f);
  }
  template <class T, class F>
  static void broadcast_cols(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
    cuda::broadcast_cols(rows, cols, out, x, v, f);
  }
  template <class T, class F, class... In>
  static void reduce_rows(index_t rows, index_t cols, T* out, F f, const In*... in) {
    cuda::reduce_rows(rows, cols, out, f, in...);
  }
  template <class T, class F, class... In>
  static void reduce_cols(index_t rows, index_t cols, T* out, F f, const In*... in) {
    cuda::reduce_cols(rows, cols, out, f, in...);
  }
  template <class T, class F, class... In>
  static T reduce_all(index_t n, F f, const In*... in) {
    return cuda::reduce_all<T>(n, f, in...);
  }
  template <class T>
  static void gather_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T* out) {
    cuda::gather_rows(rows, cols, src, idx, out);
  }
  template <class T>
  static void scatter_add_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T alpha, T* out) {
    cuda::scatter_add_rows(rows, cols, src, idx, alpha, out);
  }
  template <class T>
  static void group_sums(index_t rows, index_t cols, const T* x, const T* shift, const index_t* order,
                         const index_t* offsets, index_t groups, double* sums, double* sq, double* group_sq) {
    cuda::group_sums(rows, cols, x, shift, order, offsets, groups, sums, sq, group_sq);
  }
  template <class T>
  static void group_centered_combination(index_t rows, index_t cols, const T* x, const T* shift,
                                         const index_t* order, const CenteredTerms& terms, T beta, T* out) {
    cuda::group_centered_combination(rows, cols, x, shift, order, terms, beta, out);
  }
  template <class T>
  static void gram_pair_sums(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                             double exact_below, PairSet set, const index_t* ids_a, const double* wa,
                             const index_t* ids_b, const double* wb, double* sum_a, double* sum_b) {
    cuda::gram_pair_sums(rows, cols, y, gram, zero, exact_below, set, ids_a, wa, ids_b, wb, sum_a, sum_b);
  }
  template <class T>
  static void gram_pair_coefficients(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                                     double exact_below, PairSet set, const index_t* ids_a, const double* ca,
                                     const index_t* ids_b, const double* cb, T* k_out) {
    cuda::gram_pair_coefficients(rows, cols, y, gram, zero, exact_below, set, ids_a, ca, ids_b, cb, k_out);
  }
  template <class T>
  static void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
    cuda::conv2d_forward(g, x, w, bias, y);
  }
  template <class T>
  static void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dw, T* dbias, T* dx) {
    cuda::conv2d_backward(g, x, w, dy, dw, dbias, dx);
  }
  template <class T>
  static void batch_norm_statistics(index_t batch, index_t channels, index_t spatial, const T* x, double* mean,
                                    double* var) {
    cuda::batch_norm_statistics(batch, channels, spatial, x, mean, var);
  }
  template <class T>
  static void batch_norm_forward(index_t batch, index_t channels, index_t spatial, const T* x, const T* scale,
                                 const T* shift, T* y, bool relu) {
    cuda::batch_norm_forward(batch, channels, spatial, x, scale, shift, y, relu);
  }
  template <class T>
  static void batch_norm_backward(index_t batch, index_t channels, index_t spatial, const T* dy, const T* x,
                                  const double* mean, const double* inv_std, const T* gamma, T* dgamma, T* dbeta,
                                  T* dx) {
    cuda::batch_norm_backward(batch, channels, spatial, dy, x, mean, inv_std, gamma, dgamma, dbeta, dx);
  }
  template <class T>
  static void batch_norm_finish(index_t channels, bool training, double momentum, double unbias, double epsilon,
                                double* mean, double* var, T* running_mean, T* running_var, const T* gamma,
                                const T* beta, double* inv_std, T* scale, T* shift, unsigned char* bad) {
    cuda::batch_norm_finish(channels, training, momentum, unbias, epsilon, mean, var, running_mean, running_var, gamma,
                           beta, inv_std, scale, shift, bad);
  }
  template <class T>
  static void max_pool2d(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                         index_t out_h, index_t out_w, const T* x, T* y, index_t* argmax) {
    cuda::max_pool2d(planes, height, width, kernel, stride, pad, out_h, out_w, x, y, argmax);
  }
  template <class T>
  static void max_pool2d_backward(index_t planes, index_t height, index_t width, index_t out_h, index_t out_w,
                                  const T* dy, const index_t* argmax, T* dx) {
    cuda::max_pool2d_backward(planes, height, width, out_h, out_w, dy, argmax, dx);
  }
  template <class T>
  static void avg_pool2d(index_t planes, index_t height, index_t width, index_t kernel, index_t stride, index_t pad,
                         index_t out_h, index_t out_w, bool count_padding, const T* x, T* y) {
    cuda::avg_pool2d(planes, height, width, kernel, stride, pad, out_h, out_w, count_padding, x, y);
  }
  template <class T>
  static void avg_pool2d_backward(index_t planes, index_t height, index_t width, index_t kernel, index_t stride,
                                  index_t pad, index_t out_h, index_t out_w, bool count_padding, const T* dy, T* dx) {
    cuda::avg_pool2d_backward(planes, height, width, kernel, stride, pad, out_h, out_w, count_padding, dy, dx);
  }
  template <class T>
  static void softmax_cross_entropy(index_t rows, index_t classes, const T* logits, const index_t* labels,
                                    double scale, T beta, T* grad, double* row_loss, unsigned char* row_correct) {
    cuda::softmax_cross_entropy(rows, classes, logits, labels, scale, beta, grad, row_loss, row_correct);
  }
  template <class T>
  static void euclid_gram_pair_sums(index_t rows, index_t cols, const T* x, const T* gram, const T* r, double near,
                                    PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b,
                                    const double* wb, double* sum_a, double* sum_b) {
    cuda::euclid_gram_pair_sums(rows, cols, x, gram, r, near, set, ids_a, wa, ids_b, wb, sum_a, sum_b);
  }
  template <class T>
  static void euclid_gram_coefficients(index_t rows, index_t cols, const T* x, const T* gram, const T* r, double near,
                                       PairSet set, const index_t* ids_a, const double* ca, const index_t* ids_b,
                                       const double* cb, T* k_out, T* direct) {
    cuda::euclid_gram_coefficients(rows, cols, x, gram, r, near, set, ids_a, ca, ids_b, cb, k_out, direct);
  }
  template <class M, class T>
  static void group_pair_sums(const M& metric, index_t rows, index_t cols, const T* x, PairSet set,
                              const index_t* ids_a, const double* wa, const index_t* ids_b, const double* wb,
                              double* sum_a, double* sum_b) {
    cuda::group_pair_sums(metric, rows, cols, x, set, ids_a, wa, ids_b, wb, sum_a, sum_b);
  }
  template <class M, class T>
  static void group_pair_gradient(const M& metric, index_t rows, index_t cols, const T* x, PairSet set,
                                  const index_t* ids_a, const double* ca, const index_t* ids_b, const double* cb,
                                  T beta, T* out) {
    cuda::group_pair_gradient(metric, rows, cols, x, set, ids_a, ca, ids_b, cb, beta, out);
  }
};
}  // namespace invar
