#pragma once
/// \file conv2d.cuh
/// 2-D convolution of NCHW tensors on the GPU (cross-correlation, zero padding, square kernel;
/// backend/conv2d_geometry.hpp), with the CPU backend's contract: y = conv(x, w) + bias (bias may
/// be null); the backward pass ADDS into dw and dbias (either may be null) and overwrites dx
/// (null: not computed).
///
/// With cuDNN (INVAR_CUDA_HAVE_CUDNN, defined by the invar::cuda target when cuDNN is found):
/// cudnnConvolutionForward / BackwardFilter (beta = 1: adds into dw) / BackwardData, with
/// - deterministic algorithms only: cuDNN's heuristics (cudnnGet...Algorithm_v7: a choice made
///   from the shapes and the GPU, never from timings) filtered to CUDNN_DETERMINISTIC entries
///   whose workspace query succeeds, else IMPLICIT_GEMM (forward) and ALGO_1 (backward), which
///   are deterministic; the choice is cached per device, scalar type and geometry;
/// - CUDNN_FMA_MATH: FP32 convolutions never run in TF32 (the results must match the CPU to
///   1e-4);
/// - workspace from the context's caching allocator, descriptors created per call (host-side,
///   cheap); the bias and its gradient by invar's own kernels (the gradient in double, one
///   block per channel, the fixed block tree).
/// Without cuDNN: im2col + cuBLAS GEMM per image (images in order, so dw += ... is a fixed
/// sequence of GEMMs) and a gather-form col2im (one thread per input pixel adds its patch
/// entries in a fixed order): deterministic, slower. Both paths are always compiled (the GEMM
/// path as cuda::detail::conv2d_*_gemm), so the fallback builds wherever cuDNN does.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/conv2d.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cstddef>
#include <type_traits>

#include "invar/backend/conv2d_geometry.hpp"
#include "invar/backend/cuda/common.cuh"
#include "invar/backend/cuda/gemm.cuh"

#if defined(INVAR_CUDA_HAVE_CUDNN)
#include <cudnn.h>

#include <array>
#include <map>
#include <mutex>
#endif

namespace invar::cuda {

namespace detail {

/// y[b][c][p] += bias[c].
template <class T>
__global__ void conv_add_bias_kernel(index_t batch, index_t channels, index_t positions, const T* bias, T* y) {
  const index_t n = batch * channels * positions;
  for (index_t e = global_thread(); e < n; e += grid_threads()) y[e] += bias[(e / positions) % channels];
}

/// dbias[c] += sum over images and positions of dy[b][c][p] (double, one block per channel).
template <int Block, class T>
__global__ void conv_bias_grad_kernel(index_t batch, index_t channels, index_t positions, const T* dy, T* dbias) {
  const index_t n = batch * positions;
  for (index_t c = blockIdx.x; c < channels; c += gridDim.x) {
    double s = 0;
    for (index_t e = threadIdx.x; e < n; e += Block) {
      const index_t b = e / positions, p = e - b * positions;
      s += double(dy[(b * channels + c) * positions + p]);
    }
    s = block_sum<Block>(s);
    if (threadIdx.x == 0) dbias[c] = static_cast<T>(double(dbias[c]) + s);
  }
}

/// The patch matrix of one image: cols[(c k + i) k + j][oy out_w + ox] = x[c][oy s - p + i][ox s - p + j].
template <class T>
__global__ void im2col_kernel(index_t channels, index_t height, index_t width, index_t kernel, index_t stride,
                              index_t pad, index_t out_h, index_t out_w, const T* x, T* cols) {
  const index_t positions = out_h * out_w, n = channels * kernel * kernel * positions;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t r = e / positions, q = e - r * positions;
    const index_t c = r / (kernel * kernel), i = (r / kernel) % kernel, j = r % kernel;
    const index_t oy = q / out_w, ox = q - oy * out_w;
    const index_t yy = oy * stride - pad + i, xx = ox * stride - pad + j;
    cols[e] = (yy >= 0 && yy < height && xx >= 0 && xx < width) ? x[(c * height + yy) * width + xx] : T(0);
  }
}

/// The adjoint of im2col for one image, gathered: dx[c][y][x] = sum of the patch entries read from
/// it, in (i, j) order (the order of the CPU's col2im); overwrites dx.
template <class T>
__global__ void col2im_kernel(index_t channels, index_t height, index_t width, index_t kernel, index_t stride,
                              index_t pad, index_t out_h, index_t out_w, const T* cols, T* dx) {
  const index_t plane = height * width, n = channels * plane, positions = out_h * out_w;
  for (index_t e = global_thread(); e < n; e += grid_threads()) {
    const index_t c = e / plane, q = e - c * plane;
    const index_t yy = q / width, xx = q - yy * width;
    T v = T(0);
    for (index_t i = 0; i < kernel; ++i) {
      const index_t ty = yy + pad - i;
      if (ty < 0 || ty % stride != 0 || ty / stride >= out_h) continue;
      const index_t oy = ty / stride;
      for (index_t j = 0; j < kernel; ++j) {
        const index_t tx = xx + pad - j;
        if (tx < 0 || tx % stride != 0 || tx / stride >= out_w) continue;
        v += cols[((c * kernel + i) * kernel + j) * positions + oy * out_w + tx / stride];
      }
    }
    dx[e] = v;
  }
}

template <class T>
void conv_add_bias(Context& ctx, const Conv2dGeometry& g, const T* bias, T* y) {
  const index_t n = g.batch * g.out_image();
  if (bias == nullptr || n <= 0) return;
  conv_add_bias_kernel<<<blocks_for(n), block_threads, 0, ctx.stream()>>>(g.batch, g.out_channels, g.positions(),
                                                                          bias, y);
  INVAR_CUDA_CHECK_LAUNCH("conv_add_bias_kernel");
}

template <class T>
void conv_bias_grad(Context& ctx, const Conv2dGeometry& g, const T* dy, T* dbias) {
  if (dbias == nullptr || g.out_channels <= 0 || g.batch * g.positions() <= 0) return;
  conv_bias_grad_kernel<block_threads><<<blocks_for(g.out_channels, 1), block_threads, 0, ctx.stream()>>>(
      g.batch, g.out_channels, g.positions(), dy, dbias);
  INVAR_CUDA_CHECK_LAUNCH("conv_bias_grad_kernel");
}

/// Whether the convolution has no arithmetic (an empty batch, channel count or output).
inline bool conv_degenerate(const Conv2dGeometry& g) {
  return g.batch <= 0 || g.in_channels <= 0 || g.out_channels <= 0 || g.positions() <= 0;
}

/// Forward and backward of a convolution without arithmetic: y = bias (or 0), dw and dbias
/// unchanged but for the bias sums, dx = 0.
template <class T>
void conv2d_forward_degenerate(Context& ctx, const Conv2dGeometry& g, const T* bias, T* y) {
  const index_t n = g.batch * g.out_image();
  if (n <= 0) return;
  INVAR_CUDA_CHECK(cudaMemsetAsync(y, 0, static_cast<std::size_t>(n) * sizeof(T), ctx.stream()));
  conv_add_bias(ctx, g, bias, y);
}
template <class T>
void conv2d_backward_degenerate(Context& ctx, const Conv2dGeometry& g, const T* dy, T* dbias, T* dx) {
  conv_bias_grad(ctx, g, dy, dbias);
  const index_t n = g.batch * g.in_image();
  if (dx != nullptr && n > 0)
    INVAR_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<std::size_t>(n) * sizeof(T), ctx.stream()));
}

/// The patch matrix of image b (the image itself for a pointwise convolution).
template <class T>
const T* conv_patches(Context& ctx, const Conv2dGeometry& g, const T* x, index_t b, T* cols) {
  const T* image = x + b * g.in_image();
  if (g.pointwise()) return image;
  const index_t n = g.patch_rows() * g.positions();
  im2col_kernel<<<blocks_for(n), block_threads, 0, ctx.stream()>>>(g.in_channels, g.height, g.width, g.kernel,
                                                                   g.stride, g.padding, g.out_h(), g.out_w(), image,
                                                                   cols);
  INVAR_CUDA_CHECK_LAUNCH("im2col_kernel");
  return cols;
}

/// The fallback forward: per image, im2col and one GEMM (O x P = W (O x K) patches (K x P)).
template <class T>
void conv2d_forward_gemm(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  Context& ctx = Context::current();
  if (conv_degenerate(g)) {
    conv2d_forward_degenerate(ctx, g, bias, y);
    return;
  }
  const index_t p = g.positions(), k = g.patch_rows(), o = g.out_channels;
  Scratch<T> cols(ctx, g.pointwise() ? 0 : k * p);
  for (index_t b = 0; b < g.batch; ++b) {
    const T* patches = conv_patches(ctx, g, x, b, cols.get());
    gemm(false, false, o, p, k, T(1), w, k, patches, p, T(0), y + b * g.out_image(), p);
  }
  conv_add_bias(ctx, g, bias, y);
}

/// The fallback backward: per image in order, dw += dy_b patches^T; dx_b = col2im(W^T dy_b).
template <class T>
void conv2d_backward_gemm(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dw, T* dbias, T* dx) {
  Context& ctx = Context::current();
  if (conv_degenerate(g)) {
    conv2d_backward_degenerate(ctx, g, dy, dbias, dx);
    return;
  }
  const index_t p = g.positions(), k = g.patch_rows(), o = g.out_channels;
  const bool need_cols = !g.pointwise() && dw != nullptr;
  const bool need_dcols = !g.pointwise() && dx != nullptr;
  Scratch<T> cols(ctx, need_cols ? k * p : 0), dcols(ctx, need_dcols ? k * p : 0);
  for (index_t b = 0; b < g.batch; ++b) {
    const T* dyb = dy + b * g.out_image();
    if (dw != nullptr) {
      const T* patches = conv_patches(ctx, g, x, b, cols.get());
      gemm(false, true, o, k, p, T(1), dyb, p, patches, p, T(1), dw, k);
    }
    if (dx != nullptr) {
      T* dxb = dx + b * g.in_image();
      if (g.pointwise()) {
        gemm(true, false, k, p, o, T(1), w, k, dyb, p, T(0), dxb, p);
      } else {
        gemm(true, false, k, p, o, T(1), w, k, dyb, p, T(0), dcols.get(), p);
        const index_t n = g.in_image();
        col2im_kernel<<<blocks_for(n), block_threads, 0, ctx.stream()>>>(g.in_channels, g.height, g.width, g.kernel,
                                                                         g.stride, g.padding, g.out_h(), g.out_w(),
                                                                         dcols.get(), dxb);
        INVAR_CUDA_CHECK_LAUNCH("col2im_kernel");
      }
    }
  }
  conv_bias_grad(ctx, g, dy, dbias);
}

#if defined(INVAR_CUDA_HAVE_CUDNN)

// cuDNN 9 marks its classic convolution API deprecated (in favour of the graph API); it is still
// the simplest deterministic path. Where the user turns cuDNN's deprecation warnings on
// (CUDNN_WARN_DEPRECATED), keep them out of invar's code.
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
#if defined(__NVCC__)
#pragma nv_diag_suppress 1444
#pragma nv_diag_suppress 1215
#endif

template <class T>
inline cudnnDataType_t cudnn_data_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuDNN path: float or double");
  return std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

/// The four descriptors of a convolution, destroyed with it.
class ConvDescriptors {
 public:
  ConvDescriptors(const Conv2dGeometry& g, cudnnDataType_t type) {
    try {
      INVAR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
      INVAR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
      INVAR_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
      INVAR_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
      INVAR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, type, to_int(g.batch, "batch"),
                                                   to_int(g.in_channels, "in_channels"), to_int(g.height, "height"),
                                                   to_int(g.width, "width")));
      INVAR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, type, to_int(g.batch, "batch"),
                                                   to_int(g.out_channels, "out_channels"),
                                                   to_int(g.out_h(), "out_h"), to_int(g.out_w(), "out_w")));
      INVAR_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, type, CUDNN_TENSOR_NCHW, to_int(g.out_channels, "out_channels"),
                                                   to_int(g.in_channels, "in_channels"), to_int(g.kernel, "kernel"),
                                                   to_int(g.kernel, "kernel")));
      INVAR_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, to_int(g.padding, "padding"),
                                                        to_int(g.padding, "padding"), to_int(g.stride, "stride"),
                                                        to_int(g.stride, "stride"), 1, 1, CUDNN_CROSS_CORRELATION,
                                                        type));
      INVAR_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~ConvDescriptors() { destroy(); }
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;

  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

 private:
  void destroy() noexcept {
    if (conv) (void)cudnnDestroyConvolutionDescriptor(conv);
    if (w) (void)cudnnDestroyFilterDescriptor(w);
    if (y) (void)cudnnDestroyTensorDescriptor(y);
    if (x) (void)cudnnDestroyTensorDescriptor(x);
  }
};

/// An algorithm and its workspace size.
struct ConvAlgorithm {
  int algo = 0;
  std::size_t workspace = 0;
};

/// Cached algorithm choices: key = (direction, device, scalar size, geometry).
using ConvKey = std::array<long long, 11>;
struct ConvCache {
  std::mutex mutex;
  std::map<ConvKey, ConvAlgorithm> choices;
};
inline ConvCache& conv_cache() {
  static ConvCache* cache = new ConvCache;  // leaked on purpose: no static destructor
  return *cache;
}
inline ConvKey conv_key(int direction, int device, std::size_t scalar, const Conv2dGeometry& g) {
  return {direction, device,          static_cast<long long>(scalar), g.batch,  g.in_channels, g.height,
          g.width,   g.out_channels,  g.kernel,                       g.stride, g.padding};
}

/// Heuristic candidates larger than this are skipped (FFT algorithms can ask for gigabytes).
inline constexpr std::size_t conv_workspace_limit = std::size_t{1} << 30;

template <class Perf>
bool conv_candidate(const Perf& p) {
  return p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC &&
         p.mathType != CUDNN_TENSOR_OP_MATH && p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
         p.memory <= conv_workspace_limit;
}

/// Runs `choose` once per key and caches its answer.
template <class Choose>
ConvAlgorithm conv_cached(const ConvKey& key, Choose&& choose) {
  ConvCache& cache = conv_cache();
  {
    const std::lock_guard<std::mutex> lock(cache.mutex);
    const auto it = cache.choices.find(key);
    if (it != cache.choices.end()) return it->second;
  }
  const ConvAlgorithm a = choose();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  cache.choices.emplace(key, a);
  return a;
}

inline ConvAlgorithm choose_forward(cudnnHandle_t h, const ConvDescriptors& d) {
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  INVAR_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                           &returned, perf));
  for (int q = 0; q < returned; ++q) {
    if (!conv_candidate(perf[q])) continue;
    std::size_t bytes = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, perf[q].algo, &bytes) ==
        CUDNN_STATUS_SUCCESS)
      return {static_cast<int>(perf[q].algo), bytes};
  }
  ConvAlgorithm a{static_cast<int>(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM), 0};
  INVAR_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &a.workspace));
  return a;
}

inline ConvAlgorithm choose_backward_filter(cudnnHandle_t h, const ConvDescriptors& d) {
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int returned = 0;
  INVAR_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      h, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf));
  for (int q = 0; q < returned; ++q) {
    if (!conv_candidate(perf[q])) continue;
    std::size_t bytes = 0;
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, perf[q].algo, &bytes) ==
        CUDNN_STATUS_SUCCESS)
      return {static_cast<int>(perf[q].algo), bytes};
  }
  ConvAlgorithm a{static_cast<int>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1), 0};
  INVAR_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, &a.workspace));
  return a;
}

inline ConvAlgorithm choose_backward_data(cudnnHandle_t h, const ConvDescriptors& d) {
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  int returned = 0;
  INVAR_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
      h, d.w, d.y, d.conv, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
  for (int q = 0; q < returned; ++q) {
    if (!conv_candidate(perf[q])) continue;
    std::size_t bytes = 0;
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, perf[q].algo, &bytes) ==
        CUDNN_STATUS_SUCCESS)
      return {static_cast<int>(perf[q].algo), bytes};
  }
  ConvAlgorithm a{static_cast<int>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1), 0};
  INVAR_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, &a.workspace));
  return a;
}

template <class T>
void conv2d_forward_cudnn(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  Context& ctx = Context::current();
  if (conv_degenerate(g)) {
    conv2d_forward_degenerate(ctx, g, bias, y);
    return;
  }
  cudnnHandle_t h = ctx.cudnn();
  const ConvDescriptors d(g, cudnn_data_type<T>());
  const ConvAlgorithm a =
      conv_cached(conv_key(0, ctx.device(), sizeof(T), g), [&] { return choose_forward(h, d); });
  Scratch<unsigned char> workspace(ctx, static_cast<index_t>(a.workspace));
  const T one = 1, zero = 0;
  INVAR_CUDNN_CHECK(cudnnConvolutionForward(h, &one, d.x, x, d.w, w, d.conv,
                                            static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), workspace.get(),
                                            a.workspace, &zero, d.y, y));
  conv_add_bias(ctx, g, bias, y);
}

template <class T>
void conv2d_backward_cudnn(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dw, T* dbias, T* dx) {
  Context& ctx = Context::current();
  if (conv_degenerate(g)) {
    conv2d_backward_degenerate(ctx, g, dy, dbias, dx);
    return;
  }
  cudnnHandle_t h = ctx.cudnn();
  const ConvDescriptors d(g, cudnn_data_type<T>());
  const T one = 1, zero = 0;
  if (dw != nullptr) {
    const ConvAlgorithm a =
        conv_cached(conv_key(1, ctx.device(), sizeof(T), g), [&] { return choose_backward_filter(h, d); });
    Scratch<unsigned char> workspace(ctx, static_cast<index_t>(a.workspace));
    INVAR_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, d.x, x, d.y, dy, d.conv,
                                                     static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo),
                                                     workspace.get(), a.workspace, &one, d.w, dw));  // beta = 1: adds
  }
  conv_bias_grad(ctx, g, dy, dbias);
  if (dx != nullptr) {
    const ConvAlgorithm a =
        conv_cached(conv_key(2, ctx.device(), sizeof(T), g), [&] { return choose_backward_data(h, d); });
    Scratch<unsigned char> workspace(ctx, static_cast<index_t>(a.workspace));
    INVAR_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, d.w, w, d.y, dy, d.conv,
                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo),
                                                   workspace.get(), a.workspace, &zero, d.x, dx));
  }
}

#if defined(__NVCC__)
#pragma nv_diag_default 1444
#pragma nv_diag_default 1215
#endif
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // INVAR_CUDA_HAVE_CUDNN

}  // namespace detail

/// y = conv(x, w) + bias.
template <class T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
#if defined(INVAR_CUDA_HAVE_CUDNN)
  detail::conv2d_forward_cudnn(g, x, w, bias, y);
#else
  detail::conv2d_forward_gemm(g, x, w, bias, y);
#endif
}

/// dw += dL/dw, dbias += dL/dbias, dx = dL/dx; each may be null (not computed).
template <class T>
void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dw, T* dbias, T* dx) {
#if defined(INVAR_CUDA_HAVE_CUDNN)
  detail::conv2d_backward_cudnn(g, x, w, dy, dw, dbias, dx);
#else
  detail::conv2d_backward_gemm(g, x, w, dy, dw, dbias, dx);
#endif
}

}  // namespace invar::cuda
