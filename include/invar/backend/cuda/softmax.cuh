#pragma once
/// \file softmax.cuh
/// Softmax cross-entropy on the GPU, fused, with the CPU backend's semantics
/// (backend/cpu/softmax.hpp): per row the max-shifted log-sum-exp in double, the loss
/// (labels < 0: unlabelled, loss 0, gradient 0 with beta * grad kept), whether the argmax is the
/// label, and grad = beta grad + scale (softmax - onehot) when grad is not null.
///
/// One warp per row. The argmax is the CPU's sequential "first strictly larger" scan, computed
/// as a tree: the first index of the largest non-NaN logit, except that a NaN first logit wins
/// (nothing compares larger than it in the scan). The sum of exponentials is lane-strided, then
/// the fixed shuffle tree: the same bits on every run.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/softmax.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cmath>
#include <cstdint>

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

template <class T>
__global__ void softmax_cross_entropy_kernel(index_t rows, index_t classes, const T* logits, const index_t* labels,
                                             double scale, T beta, T* grad, double* row_loss,
                                             unsigned char* row_correct) {
  constexpr index_t none = INT64_MAX;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const index_t warps = grid_threads() >> 5;
  for (index_t i = global_thread() >> 5; i < rows; i += warps) {
    const T* z = logits + i * classes;
    const index_t y = labels[i];
    if (classes == 0) {
      if (lane == 0) {
        row_loss[i] = 0.0;
        row_correct[i] = 0;
      }
      continue;
    }
    // The first index of the largest non-NaN value.
    T best = T(0);
    index_t arg = none;
    for (index_t c = lane; c < classes; c += 32) {
      const T v = z[c];
      if (v == v && (arg == none || v > best)) {
        best = v;
        arg = c;
      }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const T ob = __shfl_down_sync(0xffffffffu, best, offset);
      const index_t oa = __shfl_down_sync(0xffffffffu, arg, offset);
      if (oa != none && (arg == none || ob > best || (ob == best && oa < arg))) {
        best = ob;
        arg = oa;
      }
    }
    arg = __shfl_sync(0xffffffffu, arg, 0);
    const T first = z[0];
    if (first != first || arg == none) arg = 0;  // a NaN first logit is never replaced in the scan
    const double zmax = double(z[arg]);
    double sum = 0;
    for (index_t c = lane; c < classes; c += 32) sum += exp(double(z[c]) - zmax);
    sum = __shfl_sync(0xffffffffu, warp_sum(sum), 0);
    const double log_sum = log(sum);
    if (lane == 0) {
      row_loss[i] = y >= 0 ? log_sum - (double(z[y]) - zmax) : 0.0;
      row_correct[i] = static_cast<unsigned char>(y >= 0 && arg == y);
    }
    if (grad) {
      T* g = grad + i * classes;
      for (index_t c = lane; c < classes; c += 32) {
        const double d = y >= 0 ? scale * (exp(double(z[c]) - zmax - log_sum) - (c == y ? 1.0 : 0.0)) : 0.0;
        g[c] = beta == T(0) ? static_cast<T>(d) : static_cast<T>(double(beta) * double(g[c]) + d);
      }
    }
  }
}

}  // namespace detail

template <class T>
void softmax_cross_entropy(index_t rows, index_t classes, const T* logits, const index_t* labels, double scale,
                           T beta, T* grad, double* row_loss, unsigned char* row_correct) {
  if (rows <= 0) return;
  detail::softmax_cross_entropy_kernel<<<detail::blocks_for(rows * 32), detail::block_threads, 0,
                                         Context::current().stream()>>>(rows, classes, logits, labels, scale, beta,
                                                                        grad, row_loss, row_correct);
  INVAR_CUDA_CHECK_LAUNCH("softmax_cross_entropy_kernel");
}

}  // namespace invar::cuda
