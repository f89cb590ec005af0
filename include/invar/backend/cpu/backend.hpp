#pragma once
/// \file backend.hpp
/// Backend<Cpu>: the CPU implementation of the op interface (see invar/backend/backend.hpp),
/// assembled from one header per kind of op.

#include "invar/backend/backend.hpp"
#include "invar/backend/cpu/elementwise.hpp"
#include "invar/backend/cpu/gather.hpp"
#include "invar/backend/cpu/gemm.hpp"
#include "invar/backend/cpu/reduce.hpp"
#include "invar/backend/cpu/threads.hpp"

namespace invar {

template <>
struct Backend<Cpu> {
  template <class T>
  static void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                   const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    cpu::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  template <class T, class F, class... In>
  static void map(index_t n, T* out, F f, const In*... in) {
    cpu::map(n, out, f, in...);
  }
  template <class T, class F>
  static void broadcast_rows(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
    cpu::broadcast_rows(rows, cols, out, x, v, f);
  }
  template <class T, class F>
  static void broadcast_cols(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
    cpu::broadcast_cols(rows, cols, out, x, v, f);
  }
  template <class T, class F, class... In>
  static void reduce_rows(index_t rows, index_t cols, T* out, F f, const In*... in) {
    cpu::reduce_rows(rows, cols, out, f, in...);
  }
  template <class T, class F, class... In>
  static void reduce_cols(index_t rows, index_t cols, T* out, F f, const In*... in) {
    cpu::reduce_cols(rows, cols, out, f, in...);
  }
  template <class T, class F, class... In>
  static T reduce_all(index_t n, F f, const In*... in) {
    return cpu::reduce_all<T>(n, f, in...);
  }
  template <class T>
  static void gather_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T* out) {
    cpu::gather_rows(rows, cols, src, idx, out);
  }
  template <class T>
  static void scatter_add_rows(index_t rows, index_t cols, const T* src, const index_t* idx, T alpha, T* out) {
    cpu::scatter_add_rows(rows, cols, src, idx, alpha, out);
  }
};

}  // namespace invar
