#pragma once
/// \file backend.hpp
/// The raw op interface every device implements: `DeviceBackend<Device>`.
///
/// Layers and losses never call a backend directly: they call invar::ops (backend/ops.hpp and
/// backend/ops/), which checks shapes, names bad arguments in its errors, and forwards raw pointers
/// and sizes here. A new device is a new specialisation of DeviceBackend, which must satisfy the
/// `Backend` concept (backend/backend_concept.hpp) — nothing above changes. A device's backend
/// comes with the device's own header: <invar/cpu.hpp>, <invar/cuda.hpp>.
///
/// The contract (all pointers point into the device's memory, matrices are row-major with a
/// leading dimension, sizes may be zero; functors are INVAR_HOST_DEVICE callables):
/// \code
/// template <> struct DeviceBackend<MyDevice> {
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
///
///   // 2-D convolution of NCHW tensors (cross-correlation, zero padding; invar/backend/conv2d_geometry.hpp):
///   // y = conv(x, w) + bias (bias may be null); backward adds into dw and dbias and writes dx, each of
///   // which may be null (not needed). Results must not depend on the thread count.
///   template <class T> static void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w,
///       const T* bias, T* y);
///   template <class T> static void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* w,
///       const T* dy, T* dw, T* dbias, T* dx);
///   // Pooling over `planes` independent H x W planes (N C of them): max (argmax: the chosen input's index in
///   // its plane, ties to the first, NaN propagates) and average (count_padding: divide by k^2, else by the
///   // real pixels of the window); backward overwrites dx.
///   template <class T> static void max_pool2d(index_t planes, index_t height, index_t width, index_t kernel,
///       index_t stride, index_t pad, index_t out_h, index_t out_w, const T* x, T* y, index_t* argmax);
///   template <class T> static void max_pool2d_backward(index_t planes, index_t height, index_t width,
///       index_t out_h, index_t out_w, const T* dy, const index_t* argmax, T* dx);
///   template <class T> static void avg_pool2d(index_t planes, index_t height, index_t width, index_t kernel,
///       index_t stride, index_t pad, index_t out_h, index_t out_w, bool count_padding, const T* x, T* y);
///   template <class T> static void avg_pool2d_backward(index_t planes, index_t height, index_t width,
///       index_t kernel, index_t stride, index_t pad, index_t out_h, index_t out_w, bool count_padding,
///       const T* dy, T* dx);
///   // Batch norm over element (b, c, s) at (b channels + c) spatial + s: per-channel mean and biased variance
///   // (double, two passes), y = x scale[c] + shift[c] (shift may be null; then max(y, 0) when relu, the
///   // ReLU that follows a batch norm, in the same pass), and the training-mode backward
///   // (adds into dgamma, dbeta; dx may be null: then only the parameter sums, for evaluation mode).
///   template <class T> static void batch_norm_statistics(index_t batch, index_t channels, index_t spatial,
///       const T* x, double* mean, double* var);
///   template <class T> static void batch_norm_forward(index_t batch, index_t channels, index_t spatial,
///       const T* x, const T* scale, const T* shift, T* y, bool relu);
///   template <class T> static void batch_norm_backward(index_t batch, index_t channels, index_t spatial,
///       const T* dy, const T* x, const double* mean, const double* inv_std, const T* gamma, T* dgamma,
///       T* dbeta, T* dx);
///   // Softmax cross-entropy, fused and stable: per row loss (labels[i] < 0: unlabelled, loss 0), argmax == label,
///   // and grad = beta grad + scale (softmax - onehot) (grad may be null).
///   template <class T> static void softmax_cross_entropy(index_t rows, index_t classes, const T* logits,
///       const index_t* labels, double scale, T beta, T* grad, double* row_loss, unsigned char* row_correct);
///   // Finishing the statistics (all on the device, no host round trip): training: bad[0] = 1 if a mean
///   // or variance is not finite (running statistics then untouched), else running += momentum (batch -
///   // running), the variance times `unbias`; evaluation: mean, var = the running statistics. Then
///   // inv_std = 1 / sqrt(var + eps), scale = gamma inv_std, shift = beta - mean scale (gamma, beta may be null).
///   template <class T> static void batch_norm_finish(index_t channels, bool training, double momentum,
///       double unbias, double epsilon, double* mean, double* var, T* running_mean, T* running_var,
///       const T* gamma, const T* beta, double* inv_std, T* scale, T* shift, unsigned char* bad);
///   // Grouped statistics for the group-wise losses (ids < 0: the row is in no group of that grouping;
///   // ids_b, sums_b, cb may be null). In double, whatever T is. See backend/cpu/group_stats.hpp.
///   //   s_i = x_i - shift (shift: one row of x);  sums[k] = sum of s_i over group k;  sq[k] = ||sums[k]||^2;
///   //   group_sq[k] = sum of ||s_i||^2 over group k; `order` lists the rows group by group (group k at
///   //   positions offsets[k] .. offsets[k+1]), then the rows in no group
///   template <class T> static void group_sums(index_t rows, index_t cols, const T* x, const T* shift,
///       const index_t* order, const index_t* offsets, index_t groups, double* sums, double* sq, double* group_sq);
///   //   out_i = beta out_i + sum over the terms t of c_t[i] (s_i - sums_t[g] inv_n_t[g]), g = ids_t[i]
///   //   (CenteredTerms: up to four groupings, e.g. seeds, classes and the batch of L_DA + L_C at one tap),
///   //   visiting rows in `order` (a permutation; rows of a group adjacent for cache reuse)
///   template <class T> static void group_centered_combination(index_t rows, index_t cols, const T* x,
///       const T* shift, const index_t* order, const CenteredTerms& terms, T beta, T* out);
///   // The pair loops of the Gram path for cosine-type metrics (see backend/cpu/gram_pairs.hpp): y unit rows,
///   // gram = y y^T, zero[i] flags zero rows; pair distances 1 - gram_ij, exact chord form below exact_below.
///   template <class T> static void gram_pair_sums(index_t rows, index_t cols, const T* y, const T* gram,
///       const unsigned char* zero, double exact_below, PairSet set, const index_t* ids_a, const double* wa,
///       const index_t* ids_b, const double* wb, double* sum_a, double* sum_b);
///   template <class T> static void gram_pair_coefficients(index_t rows, index_t cols, const T* y, const T* gram,
///       const unsigned char* zero, double exact_below, PairSet set, const index_t* ids_a, const double* ca,
///       const index_t* ids_b, const double* cb, T* k_out);
///   // The same for the Euclidean distance: gram of the centred rows, r their squared norms, d^2 = r_i + r_j -
///   // 2 gram_ij, recomputed from the rows x when d^2 < near (r_i + r_j); near pairs' gradient terms go to `direct`.
///   template <class T> static void euclid_gram_pair_sums(index_t rows, index_t cols, const T* x, const T* gram,
///       const T* r, double near, PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b,
///       const double* wb, double* sum_a, double* sum_b);
///   template <class T> static void euclid_gram_coefficients(index_t rows, index_t cols, const T* x, const T* gram,
///       const T* r, double near, PairSet set, const index_t* ids_a, const double* ca, const index_t* ids_b,
///       const double* cb, T* k_out, T* direct);
///   // (The *_pair_sums ops return their two sums in HOST memory, sum_a and sum_b: the loss needs the
///   // value on the host to form its coefficients. Every other pointer is device memory.)
///   // Sums of metric values over the pairs sharing a group (weights per group), and their gradient
///   // (coefficients per group); pairs are ordered with self-pairs or distinct (PairSet).
///   template <class M, class T> static void group_pair_sums(const M& metric, index_t rows, index_t cols, const T* x,
///       PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b, const double* wb,
///       double* sum_a, double* sum_b);
///   template <class M, class T> static void group_pair_gradient(const M& metric, index_t rows, index_t cols,
///       const T* x, PairSet set, const index_t* ids_a, const double* ca, const index_t* ids_b, const double* cb,
///       T beta, T* out);
/// };
/// \endcode
/// Determinism: a backend's reductions must give the same bits for the same inputs whatever
/// its thread count (fixed summation order); the CPU backend does, and says where it cannot.

#include "invar/backend/conv2d_geometry.hpp"
#include "invar/core/device.hpp"

namespace invar {

/// Which pairs of rows a grouped pair sum visits (group_pair_sums, group_pair_gradient).
enum class PairSet {
  ordered_with_self,  ///< every ordered pair (i, j), i == j included: the paper's Eq. 2/3
  distinct,           ///< every unordered pair {i, j}, i < j: pooled pairs (the authors' code)
};

/// One term of group_centered_combination, for one grouping of the rows: row i gets
/// coefficients[i] (s_i - mu[ids[i]]) with mu[g] = sums[g, :] inverse_sizes[g]. A row adds
/// nothing where ids[i] < 0 or coefficients[i] == 0. Device pointers (sums and inverse_sizes in
/// double, whatever T is).
struct CenteredTerm {
  const index_t* ids = nullptr;              ///< each row's group (< 0: in none); null: the term adds nothing
  const double* coefficients = nullptr;      ///< each row's coefficient
  const double* sums = nullptr;              ///< groups x cols sums of the shifted rows
  const double* inverse_sizes = nullptr;     ///< 1 / (rows of the group), per group
};

/// The terms of one group_centered_combination, by value (a GPU kernel takes it as an argument):
/// one per distinct grouping of the losses at a tap. Four cover two losses of two groupings each
/// (L_DA: seeds and all pairs or classes; L_C: classes and all pairs).
struct CenteredTerms {
  static constexpr int capacity = 4;  ///< the most terms one combination takes
  CenteredTerm term[capacity];        ///< the terms, the first `count` used, added in order
  int count = 0;                      ///< how many terms are used (0 to capacity)
};

template <Device D>
struct DeviceBackend;  // specialised per device: backend/cpu/backend.hpp, backend/cuda/...

}  // namespace invar
