#pragma once
/// \file batch_norm.hpp
/// Batch normalisation kernels on the CPU. Layout: `batch` samples of `channels` channels of
/// `spatial` positions (H W for NCHW, 1 for [B, C]); element (b, c, s) is at
/// (b channels + c) spatial + s. Per channel, N = batch spatial values.
///
/// - batch_norm_statistics: mean and biased variance per channel, two passes (the mean, then the
///   sum of squared deviations from it), in double: no cancellation for data far from zero
///   (1e3 + 1e-2 noise in float), where E[x^2] - E[x]^2 loses every digit.
/// - batch_norm_forward: y = x scale[c] + shift[c] (shift may be null: 0), in T, then max(y, 0)
///   when `relu` (a ReLU that follows, in the same pass). The layer folds
///   gamma / sqrt(var + eps) into scale and beta - mean scale into shift.
/// - batch_norm_backward: with xhat = (x - mean[c]) inv_std[c], per channel in double
///     sum_dy = sum dy,   sum_dy_xhat = sum dy xhat,
///     dgamma[c] += sum_dy_xhat,   dbeta[c] += sum_dy          (skipped where the pointer is null)
///     dx = gamma inv_std / N (N dy - sum_dy - xhat sum_dy_xhat)  (training mode; skipped if dx is null)
///   With dx == nullptr it computes only the parameter sums for the given mean and inv_std: passed
///   the running mean and 1 / sqrt(running_var + eps), those are the eval-mode parameter gradients
///   (eval mode's dx = dy gamma inv_std is batch_norm_forward on dy with shift = null).
///
/// - batch_norm_finish: per channel, what the layer derives from the statistics: in training, a
///   non-finite batch mean or variance sets bad[0] = 1 and leaves the running statistics alone,
///   else they move by `momentum` (the variance unbiased by `unbias` = N / (N - 1), PyTorch's
///   update); in evaluation mean and var are read from the running statistics. Then
///   inv_std = 1 / sqrt(var + eps), scale = gamma inv_std, shift = beta - mean scale.
///
/// Determinism: each channel is reduced by one task, in a fixed order (samples in order, each
/// sample's `spatial` run summed in 8 lanes added pairwise), so the results are the same bits for
/// any thread count. Tasks take blocks of channels and walk them sample by sample, so [B, C]
/// inputs (spatial 1) are read row by row, not with a stride of C; a block is cut into
/// sub-blocks of at most ~128 KiB of input so that the second pass over a sub-block (deviations,
/// or dx) finds it in the cache: from memory, statistics cost one read of x and the backward one
/// read of x and dy, as long as one channel (N values) fits in that budget.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {

/// sum_{j < n} f(j) in double, in a fixed order: 8 lanes, added pairwise (n < 8: left to right).
template <class F>
inline double lane_sum(index_t n, F f) {
  constexpr index_t lanes = 8;
  if (n < lanes) {
    double s = 0;
    for (index_t j = 0; j < n; ++j) s += f(j);
    return s;
  }
  double part[lanes] = {};
  index_t j0 = 0;
  for (; j0 + lanes <= n; j0 += lanes)
    for (index_t t = 0; t < lanes; ++t) part[t] += f(j0 + t);
  for (index_t j = j0; j < n; ++j) part[j - j0] += f(j);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/// The same for two sums at once (one pass over two arrays): f(j, a, b) adds to a and b.
template <class F>
inline void lane_sum2(index_t n, F f, double& sa, double& sb) {
  constexpr index_t lanes = 8;
  if (n < lanes) {
    double a = 0, b = 0;
    for (index_t j = 0; j < n; ++j) f(j, a, b);
    sa = a;
    sb = b;
    return;
  }
  double pa[lanes] = {}, pb[lanes] = {};
  index_t j0 = 0;
  for (; j0 + lanes <= n; j0 += lanes)
    for (index_t t = 0; t < lanes; ++t) f(j0 + t, pa[t], pb[t]);
  for (index_t j = j0; j < n; ++j) f(j, pa[j - j0], pb[j - j0]);
  sa = ((pa[0] + pa[1]) + (pa[2] + pa[3])) + ((pa[4] + pa[5]) + (pa[6] + pa[7]));
  sb = ((pb[0] + pb[1]) + (pb[2] + pb[3])) + ((pb[4] + pb[5]) + (pb[6] + pb[7]));
}

/// Runs body(c0, c1) over blocks of channels: parallel over channels (each channel in one task),
/// each task's range cut into sub-blocks of about `budget_bytes` of the arrays it streams.
template <class Body>
inline void for_channel_blocks(index_t channels, index_t per_channel_bytes, index_t per_channel_cost, Body&& body) {
  constexpr index_t budget_bytes = index_t{1} << 17;
  const index_t sub = std::max<index_t>(1, budget_bytes / std::max<index_t>(1, per_channel_bytes));
  parallel_for(channels, per_channel_cost, [&](index_t c0, index_t c1) {
    for (index_t a = c0; a < c1; a += sub) body(a, std::min(c1, a + sub));
  });
}

}  // namespace detail

/// mean[c] and biased var[c] = (1/N) sum (x - mean[c])^2 over the N = batch spatial values of
/// channel c, in double (two passes). N = 0 gives NaN.
template <class T>
void batch_norm_statistics(index_t batch, index_t channels, index_t spatial, const T* x, double* mean,
                           double* var) {
  const index_t n = batch * spatial;
  const double inv_n = 1.0 / double(n);
  detail::for_channel_blocks(
      channels, n * index_t(sizeof(T)), 2 * n, [&](index_t c0, index_t c1) {
        for (index_t c = c0; c < c1; ++c) mean[c] = 0;
        for (index_t b = 0; b < batch; ++b)
          for (index_t c = c0; c < c1; ++c) {
            const T* p = x + (b * channels + c) * spatial;
            mean[c] += detail::lane_sum(spatial, [p](index_t j) { return double(p[j]); });
          }
        for (index_t c = c0; c < c1; ++c) {
          mean[c] *= inv_n;
          var[c] = 0;
        }
        for (index_t b = 0; b < batch; ++b)
          for (index_t c = c0; c < c1; ++c) {
            const T* p = x + (b * channels + c) * spatial;
            const double m = mean[c];
            var[c] += detail::lane_sum(spatial, [p, m](index_t j) {
              const double d = double(p[j]) - m;
              return d * d;
            });
          }
        for (index_t c = c0; c < c1; ++c) var[c] *= inv_n;
      });
}

/// y = x scale[c] + shift[c] (shift null: y = x scale[c]), then max(y, 0) when `relu` (NaN
/// gives 0, as fn::Relu); y may alias x.
template <class T>
void batch_norm_forward(index_t batch, index_t channels, index_t spatial, const T* x, const T* scale, const T* shift,
                        T* y, bool relu) {
  // One loop body, instantiated per case (ReLU or not, shift or not), so that each vectorises
  // without a test per element. Without a shift there is no + 0: x a + 0 would turn -0 into +0.
  const auto rows = [&](auto rectify, auto shifted, index_t r0, index_t r1) {
    constexpr bool relu_on = decltype(rectify)::value, add = decltype(shifted)::value;
    for (index_t r = r0; r < r1; ++r) {
      const index_t c = r % channels;
      const T a = scale[c], s = add ? shift[c] : T(0);
      const T* p = x + r * spatial;
      T* q = y + r * spatial;
      for (index_t j = 0; j < spatial; ++j) {
        T v;
        if constexpr (add) v = p[j] * a + s;
        else v = p[j] * a;
        q[j] = relu_on ? (v > T(0) ? v : T(0)) : v;
      }
    }
  };
  const auto with_shift = [&](auto rectify, index_t r0, index_t r1) {
    if (shift) rows(rectify, std::true_type{}, r0, r1);
    else rows(rectify, std::false_type{}, r0, r1);
  };
  // Element-wise: any split gives the same bits. Rows are the (b, c) runs of `spatial` values.
  parallel_for(batch * channels, spatial, [&](index_t r0, index_t r1) {
    if (relu) with_shift(std::true_type{}, r0, r1);
    else with_shift(std::false_type{}, r0, r1);
  });
}

/// Training-mode backward of y = gamma xhat + beta, xhat = (x - mean) inv_std with the batch's own
/// mean and inv_std (see the file comment). gamma null: 1. dgamma, dbeta: accumulated into
/// (null: skipped). dx: overwritten (null: only the parameter sums, e.g. eval mode's).
template <class T>
void batch_norm_backward(index_t batch, index_t channels, index_t spatial, const T* dy, const T* x,
                         const double* mean, const double* inv_std, const T* gamma, T* dgamma, T* dbeta, T* dx) {
  if (!dgamma && !dbeta && !dx) return;
  const index_t n = batch * spatial;
  detail::for_channel_blocks(
      channels, 2 * n * index_t(sizeof(T)), dx ? 5 * n : 2 * n, [&](index_t c0, index_t c1) {
        const std::size_t width = std::size_t(c1 - c0);
        std::vector<double> sum_dy(width, 0.0), sum_dy_xc(width, 0.0);  // xc = x - mean
        for (index_t b = 0; b < batch; ++b)
          for (index_t c = c0; c < c1; ++c) {
            const index_t off = (b * channels + c) * spatial;
            const T* g = dy + off;
            const T* p = x + off;
            const double m = mean[c];
            double s1, s2;
            detail::lane_sum2(
                spatial,
                [g, p, m](index_t j, double& a, double& s) {
                  const double d = double(g[j]);
                  a += d;
                  s += d * (double(p[j]) - m);
                },
                s1, s2);
            sum_dy[std::size_t(c - c0)] += s1;
            sum_dy_xc[std::size_t(c - c0)] += s2;
          }
        for (index_t c = c0; c < c1; ++c) {
          const double s_dy = sum_dy[std::size_t(c - c0)];
          const double s_dy_xhat = sum_dy_xc[std::size_t(c - c0)] * inv_std[c];
          if (dgamma) dgamma[c] = static_cast<T>(double(dgamma[c]) + s_dy_xhat);
          if (dbeta) dbeta[c] = static_cast<T>(double(dbeta[c]) + s_dy);
        }
        if (!dx) return;
        // dx = k (N dy - sum_dy - xhat sum_dy_xhat), k = gamma inv_std / N
        //    = (gamma inv_std) dy + (-k inv_std sum_dy_xhat) (x - mean) + (-k sum_dy)
        std::vector<double> a_dy(width), a_xc(width), a_0(width);
        for (index_t c = c0; c < c1; ++c) {
          const std::size_t i = std::size_t(c - c0);
          const double gs = (gamma ? double(gamma[c]) : 1.0) * inv_std[c];
          const double k = gs / double(n);
          a_dy[i] = gs;
          a_xc[i] = -k * inv_std[c] * (sum_dy_xc[i] * inv_std[c]);
          a_0[i] = -k * sum_dy[i];
        }
        for (index_t b = 0; b < batch; ++b)
          for (index_t c = c0; c < c1; ++c) {
            const std::size_t i = std::size_t(c - c0);
            const index_t off = (b * channels + c) * spatial;
            const T* g = dy + off;
            const T* p = x + off;
            T* q = dx + off;
            const double m = mean[c], ady = a_dy[i], axc = a_xc[i], a0 = a_0[i];
            for (index_t j = 0; j < spatial; ++j)
              q[j] = static_cast<T>(ady * double(g[j]) + axc * (double(p[j]) - m) + a0);
          }
      });
}

template <class T>
void batch_norm_finish(index_t channels, bool training, double momentum, double unbias, double epsilon, double* mean,
                       double* var, T* running_mean, T* running_var, const T* gamma, const T* beta, double* inv_std,
                       T* scale, T* shift, unsigned char* bad) {
  bad[0] = 0;
  if (training) {
    for (index_t c = 0; c < channels; ++c)
      if (!std::isfinite(mean[c]) || !std::isfinite(var[c])) bad[0] = 1;
    if (!bad[0])
      for (index_t c = 0; c < channels; ++c) {
        running_mean[c] = static_cast<T>((1 - momentum) * double(running_mean[c]) + momentum * mean[c]);
        running_var[c] = static_cast<T>((1 - momentum) * double(running_var[c]) + momentum * var[c] * unbias);
      }
  } else {
    for (index_t c = 0; c < channels; ++c) {
      mean[c] = double(running_mean[c]);
      var[c] = double(running_var[c]);
    }
  }
  for (index_t c = 0; c < channels; ++c) {
    inv_std[c] = 1.0 / std::sqrt(var[c] + epsilon);
    const double a = (gamma ? double(gamma[c]) : 1.0) * inv_std[c];
    scale[c] = static_cast<T>(a);
    shift[c] = static_cast<T>((beta ? double(beta[c]) : 0.0) - mean[c] * a);
  }
}

}  // namespace invar::cpu
