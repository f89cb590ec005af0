#pragma once
/// \file batch_norm.cuh
/// Batch normalisation on the GPU, with the CPU backend's semantics (backend/cpu/batch_norm.hpp).
/// Layout: element (b, c, s) at (b channels + c) spatial + s; N = batch spatial values per channel.
///
/// - batch_norm_statistics: one block per channel, two passes in double (the mean, then the sum
///   of squared deviations from it), each a block-strided sum and the fixed block tree.
/// - batch_norm_forward: y = x scale[c] + shift[c] (then max(y, 0) when `relu`), one thread per element.
/// - batch_norm_backward: one block per channel: the two sums (dy, dy (x - mean)) in double by
///   the block tree, the parameter sums added by one thread, then dx element-wise.
/// - batch_norm_finish: one block for all channels: whether any batch statistic is not finite
///   (a block-wide OR), then each channel's running statistics, inv_std, scale and shift. All on
///   the device: the layer needs no host round trip between statistics and normalisation.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/batch_norm.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cmath>

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

inline constexpr int bn_block = 256;

template <class T>
__device__ inline const T* bn_element(const T* base, index_t channels, index_t spatial, index_t c, index_t e) {
  const index_t b = e / spatial, s = e - b * spatial;
  return base + (b * channels + c) * spatial + s;
}

template <class T>
__global__ void batch_norm_statistics_kernel(index_t batch, index_t channels, index_t spatial, const T* x,
                                             double* mean, double* var) {
  const index_t n = batch * spatial;
  const double inv_n = 1.0 / double(n);
  for (index_t c = blockIdx.x; c < channels; c += gridDim.x) {
    double s = 0;
    for (index_t e = threadIdx.x; e < n; e += bn_block) s += double(*bn_element(x, channels, spatial, c, e));
    const double m = block_sum<bn_block>(s) * inv_n;
    double q = 0;
    for (index_t e = threadIdx.x; e < n; e += bn_block) {
      const double d = double(*bn_element(x, channels, spatial, c, e)) - m;
      q += d * d;
    }
    q = block_sum<bn_block>(q);
    if (threadIdx.x == 0) {
      mean[c] = m;
      var[c] = q * inv_n;
    }
  }
}

template <class T>
__global__ void batch_norm_forward_kernel(index_t batch, index_t channels, index_t spatial, const T* x,
                                          const T* scale, const T* shift, T* y, bool relu) {
  const index_t n = batch * channels * spatial;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t c = (e / spatial) % channels;
    const T v = shift ? x[e] * scale[c] + shift[c] : x[e] * scale[c];
    y[e] = relu ? (v > T(0) ? v : T(0)) : v;
  }
}

template <class T>
__global__ void batch_norm_backward_kernel(index_t batch, index_t channels, index_t spatial, const T* dy, const T* x,
                                           const double* mean, const double* inv_std, const T* gamma, T* dgamma,
                                           T* dbeta, T* dx) {
  const index_t n = batch * spatial;
  for (index_t c = blockIdx.x; c < channels; c += gridDim.x) {
    const double m = mean[c];
    double s_dy = 0, s_dy_xc = 0;
    for (index_t e = threadIdx.x; e < n; e += bn_block) {
      const index_t off = bn_element(x, channels, spatial, c, e) - x;
      const double g = double(dy[off]);
      s_dy += g;
      s_dy_xc += g * (double(x[off]) - m);
    }
    s_dy = block_sum<bn_block>(s_dy);
    s_dy_xc = block_sum<bn_block>(s_dy_xc);
    const double is = inv_std[c];
    if (threadIdx.x == 0) {
      if (dgamma) dgamma[c] = static_cast<T>(double(dgamma[c]) + s_dy_xc * is);
      if (dbeta) dbeta[c] = static_cast<T>(double(dbeta[c]) + s_dy);
    }
    if (dx) {
      // dx = k (N dy - sum_dy - xhat sum_dy_xhat), k = gamma inv_std / N, as the CPU writes it.
      const double gs = (gamma ? double(gamma[c]) : 1.0) * is;
      const double k = gs / double(n);
      const double a_xc = -k * is * (s_dy_xc * is);
      const double a_0 = -k * s_dy;
      for (index_t e = threadIdx.x; e < n; e += bn_block) {
        const index_t off = bn_element(x, channels, spatial, c, e) - x;
        dx[off] = static_cast<T>(gs * double(dy[off]) + a_xc * (double(x[off]) - m) + a_0);
      }
    }
  }
}

template <class T>
__global__ void batch_norm_finish_kernel(index_t channels, bool training, double momentum, double unbias,
                                         double epsilon, double* mean, double* var, T* running_mean, T* running_var,
                                         const T* gamma, const T* beta, double* inv_std, T* scale, T* shift,
                                         unsigned char* bad) {
  int local_bad = 0;
  if (training)
    for (index_t c = threadIdx.x; c < channels; c += bn_block)
      if (!isfinite(mean[c]) || !isfinite(var[c])) local_bad = 1;
  const int any_bad = __syncthreads_or(local_bad);
  if (threadIdx.x == 0 && bad) bad[0] = static_cast<unsigned char>(any_bad ? 1 : 0);
  for (index_t c = threadIdx.x; c < channels; c += bn_block) {
    if (training) {
      if (!any_bad && running_mean && running_var) {
        running_mean[c] = static_cast<T>((1 - momentum) * double(running_mean[c]) + momentum * mean[c]);
        running_var[c] = static_cast<T>((1 - momentum) * double(running_var[c]) + momentum * var[c] * unbias);
      }
    } else {
      mean[c] = double(running_mean[c]);
      var[c] = double(running_var[c]);
    }
    const double is = 1.0 / sqrt(var[c] + epsilon);
    inv_std[c] = is;
    const double a = (gamma ? double(gamma[c]) : 1.0) * is;
    scale[c] = static_cast<T>(a);
    shift[c] = static_cast<T>((beta ? double(beta[c]) : 0.0) - mean[c] * a);
  }
}

}  // namespace detail

/// mean[c] and biased var[c] over the N = batch spatial values of channel c (double, two passes).
/// N = 0 gives NaN, as on the CPU.
template <class T>
void batch_norm_statistics(index_t batch, index_t channels, index_t spatial, const T* x, double* mean, double* var) {
  if (channels <= 0) return;
  detail::batch_norm_statistics_kernel<<<detail::blocks_for(channels, 1), detail::bn_block, 0,
                                         Context::current().stream()>>>(batch, channels, spatial, x, mean, var);
  INVAR_CUDA_CHECK_LAUNCH("batch_norm_statistics_kernel");
}

/// y = x scale[c] + shift[c] (shift null: y = x scale[c]), then max(y, 0) when `relu`; y may
/// alias x.
template <class T>
void batch_norm_forward(index_t batch, index_t channels, index_t spatial, const T* x, const T* scale, const T* shift,
                        T* y, bool relu) {
  const index_t n = batch * channels * spatial;
  if (n <= 0) return;
  detail::batch_norm_forward_kernel<<<detail::blocks_for(n), detail::block_threads, 0,
                                      Context::current().stream()>>>(batch, channels, spatial, x, scale, shift, y, relu);
  INVAR_CUDA_CHECK_LAUNCH("batch_norm_forward_kernel");
}

/// Training-mode backward (dgamma, dbeta accumulated when not null; dx overwritten when not null).
template <class T>
void batch_norm_backward(index_t batch, index_t channels, index_t spatial, const T* dy, const T* x,
                         const double* mean, const double* inv_std, const T* gamma, T* dgamma, T* dbeta, T* dx) {
  if (channels <= 0 || (!dgamma && !dbeta && !dx)) return;
  detail::batch_norm_backward_kernel<<<detail::blocks_for(channels, 1), detail::bn_block, 0,
                                       Context::current().stream()>>>(batch, channels, spatial, dy, x, mean, inv_std,
                                                                      gamma, dgamma, dbeta, dx);
  INVAR_CUDA_CHECK_LAUNCH("batch_norm_backward_kernel");
}

/// The per-channel finishing step of the layer (see the file comment and the CPU backend).
template <class T>
void batch_norm_finish(index_t channels, bool training, double momentum, double unbias, double epsilon, double* mean,
                       double* var, T* running_mean, T* running_var, const T* gamma, const T* beta, double* inv_std,
                       T* scale, T* shift, unsigned char* bad) {
  cudaStream_t stream = Context::current().stream();
  if (channels <= 0) {
    if (bad) INVAR_CUDA_CHECK(cudaMemsetAsync(bad, 0, 1, stream));
    return;
  }
  detail::batch_norm_finish_kernel<<<1, detail::bn_block, 0, stream>>>(channels, training, momentum, unbias, epsilon,
                                                                      mean, var, running_mean, running_var, gamma,
                                                                      beta, inv_std, scale, shift, bad);
  INVAR_CUDA_CHECK_LAUNCH("batch_norm_finish_kernel");
}

}  // namespace invar::cuda
