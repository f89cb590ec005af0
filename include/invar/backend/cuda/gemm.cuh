#pragma once
/// \file gemm.cuh
/// GEMM on the GPU: cuBLAS (cublasSgemm / cublasDgemm, 64-bit size API) on the context's stream.
///
/// invar's matrices are row-major; cuBLAS's are column-major. A row-major m x n matrix C is the
/// column-major n x m matrix C^T, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: the
/// operands swap places and keep their own transpose flags, with m and n swapped.
/// beta == 0 overwrites C (cuBLAS does not read C then: NaN in C does not propagate). k == 0
/// scales C by beta here (cuBLAS would reject the leading dimensions of empty operands).
/// Determinism: cuBLAS runs on one stream with the workspace the context owns, which makes its
/// results the same bits run to run (NVIDIA's documented condition); FP32 never uses TF32.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/gemm.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cublas_v2.h>

#include <type_traits>

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

template <class T>
__global__ void scale_matrix_kernel(index_t rows, index_t cols, T beta, T* c, index_t ldc) {
  const index_t n = rows * cols;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t i = e / cols, j = e - i * cols;
    T& v = c[i * ldc + j];
    v = beta == T(0) ? T(0) : beta * v;  // BLAS semantics: beta == 0 does not propagate NaN
  }
}

inline cublasOperation_t cublas_op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, index_t m, index_t n,
                                index_t k, const float* alpha, const float* a, index_t lda, const float* b,
                                index_t ldb, const float* beta, float* c, index_t ldc) {
  return cublasSgemm_64(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, index_t m, index_t n,
                                index_t k, const double* alpha, const double* a, index_t lda, const double* b,
                                index_t ldb, const double* beta, double* c, index_t ldc) {
  return cublasDgemm_64(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace detail

/// C = alpha op(A) op(B) + beta C, row-major; op(A) is m x k, op(B) is k x n.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuda::gemm: float or double");
  if (m == 0 || n == 0) return;
  Context& ctx = Context::current();
  if (k == 0) {
    if (beta == T(1)) return;
    detail::scale_matrix_kernel<<<detail::blocks_for(m * n), detail::block_threads, 0, ctx.stream()>>>(m, n, beta, c,
                                                                                                     ldc);
    INVAR_CUDA_CHECK_LAUNCH("scale_matrix_kernel");
    return;
  }
  // Row-major C (m x n) is column-major C^T (n x m) = op(B)^T op(A)^T.
  INVAR_CUBLAS_CHECK(detail::gemm_call(ctx.cublas(), detail::cublas_op(trans_b), detail::cublas_op(trans_a), n, m, k,
                                       &alpha, b, ldb, a, lda, &beta, c, ldc));
}

}  // namespace invar::cuda
