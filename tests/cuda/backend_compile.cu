// Compile check of the CUDA backend: every member of DeviceBackend<Cuda> is explicitly
// instantiated for float and double (the functor ops with invar::fn functors, the pairwise ops
// with CosineDistance and with a non-symmetric metric), so that nvcc compiles every kernel;
// with cuDNN, the im2col + cuBLAS fallback of the convolution is instantiated as well.
// Then, where a GPU is present, a smoke test of a few ops against host loops (gemm 3x5x7 in all
// four transpose combinations, reduce_all, scatter_add_rows with repeated indices), each run
// twice for the same bits. The full GPU-against-CPU tests are tests/device and device_ops_cuda.
// Exit codes: 0 pass, 1 mismatch or CUDA error, 77 no CUDA device (ctest reports "skipped").

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include "invar/cuda.hpp"
#include "invar/metrics/cosine_distance.hpp"

namespace invar {

namespace compile_check {
/// d(a, b) = sum_k (a_k - 2 b_k)^2: not symmetric, so the two-call branch of the pairwise
/// gradient is compiled too.
struct SkewProbe {
  static constexpr const char* name = "skew_probe";
  static constexpr bool symmetric = false;
  static constexpr bool translation_invariant = false;
  static constexpr int homogeneity = 2;
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    T s = 0;
    for (index_t k = 0; k < d; ++k) s += (a[k] - 2 * b[k]) * (a[k] - 2 * b[k]);
    return s;
  }
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    for (index_t k = 0; k < d; ++k) {
      const T r = a[k] - 2 * b[k];
      if (ga) ga[k] += w * 2 * r;
      if (gb) gb[k] -= w * 4 * r;
    }
  }
};
}  // namespace compile_check

using B = DeviceBackend<Cuda>;
using compile_check::SkewProbe;

#define INVAR_INSTANTIATE_CUDA_BACKEND(T)                                                                              \
  template void B::gemm<T>(bool, bool, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, T*,      \
                           index_t);                                                                                   \
  template void B::map<T, fn::Square, T>(index_t, T*, fn::Square, const T*);                                           \
  template void B::map<T, fn::Constant<T>>(index_t, T*, fn::Constant<T>);                                             \
  template void B::broadcast_rows<T, fn::Multiply>(index_t, index_t, T*, const T*, const T*, fn::Multiply);           \
  template void B::broadcast_cols<T, fn::Multiply>(index_t, index_t, T*, const T*, const T*, fn::Multiply);           \
  template void B::reduce_rows<T, fn::Square, T>(index_t, index_t, T*, fn::Square, const T*);                          \
  template void B::reduce_cols<T, fn::Square, T>(index_t, index_t, T*, fn::Square, const T*);                          \
  template T B::reduce_all<T, fn::Multiply, T, T>(index_t, fn::Multiply, const T*, const T*);                          \
  template void B::gather_rows<T>(index_t, index_t, const T*, const index_t*, T*);                                     \
  template void B::scatter_add_rows<T>(index_t, index_t, const T*, const index_t*, T, T*);                             \
  template void B::group_sums<T>(index_t, index_t, const T*, const T*, const index_t*, const index_t*, index_t,        \
                                 double*, double*, double*);                                                           \
  template void B::group_centered_combination<T>(index_t, index_t, const T*, const T*, const index_t*,                 \
                                                 const CenteredTerms&, T, T*);                                         \
  template void B::gram_pair_sums<T>(index_t, index_t, const T*, const T*, const unsigned char*, double, PairSet,      \
                                     const index_t*, const double*, const index_t*, const double*, double*, double*);  \
  template void B::gram_pair_coefficients<T>(index_t, index_t, const T*, const T*, const unsigned char*, double,       \
                                             PairSet, const index_t*, const double*, const index_t*, const double*,    \
                                             T*);                                                                      \
  template void B::conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*);                         \
  template void B::conv2d_backward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*, T*, T*);                \
  template void B::batch_norm_statistics<T>(index_t, index_t, index_t, const T*, double*, double*);                    \
  template void B::batch_norm_forward<T>(index_t, index_t, index_t, const T*, const T*, const T*, T*, bool);           \
  template void B::batch_norm_backward<T>(index_t, index_t, index_t, const T*, const T*, const double*,                \
                                          const double*, const T*, T*, T*, T*);                                        \
  template void B::batch_norm_finish<T>(index_t, bool, double, double, double, double*, double*, T*, T*, const T*,     \
                                        const T*, double*, T*, T*, unsigned char*);                                    \
  template void B::max_pool2d<T>(index_t, index_t, index_t, index_t, index_t, index_t, index_t, index_t, const T*, T*, \
                                 index_t*);                                                                            \
  template void B::max_pool2d_backward<T>(index_t, index_t, index_t, index_t, index_t, const T*, const index_t*, T*);  \
  template void B::avg_pool2d<T>(index_t, index_t, index_t, index_t, index_t, index_t, index_t, index_t, bool,         \
                                 const T*, T*);                                                                        \
  template void B::avg_pool2d_backward<T>(index_t, index_t, index_t, index_t, index_t, index_t, index_t, index_t,      \
                                          bool, const T*, T*);                                                         \
  template void B::softmax_cross_entropy<T>(index_t, index_t, const T*, const index_t*, double, T, T*, double*,        \
                                            unsigned char*);                                                           \
  template void B::euclid_gram_pair_sums<T>(index_t, index_t, const T*, const T*, const T*, double, PairSet,           \
                                            const index_t*, const double*, const index_t*, const double*, double*,     \
                                            double*);                                                                  \
  template void B::euclid_gram_coefficients<T>(index_t, index_t, const T*, const T*, const T*, double, PairSet,        \
                                               const index_t*, const double*, const index_t*, const double*, T*, T*);  \
  template void B::group_pair_sums<CosineDistance, T>(const CosineDistance&, index_t, index_t, const T*, PairSet,      \
                                                      const index_t*, const double*, const index_t*, const double*,    \
                                                      double*, double*);                                               \
  template void B::group_pair_gradient<CosineDistance, T>(const CosineDistance&, index_t, index_t, const T*, PairSet,  \
                                                          const index_t*, const double*, const index_t*,               \
                                                          const double*, T, T*);                                       \
  template void B::group_pair_sums<SkewProbe, T>(const SkewProbe&, index_t, index_t, const T*, PairSet,                \
                                                 const index_t*, const double*, const index_t*, const double*,         \
                                                 double*, double*);                                                    \
  template void B::group_pair_gradient<SkewProbe, T>(const SkewProbe&, index_t, index_t, const T*, PairSet,            \
                                                     const index_t*, const double*, const index_t*, const double*, T,  \
                                                     T*);

INVAR_INSTANTIATE_CUDA_BACKEND(float)
INVAR_INSTANTIATE_CUDA_BACKEND(double)
#undef INVAR_INSTANTIATE_CUDA_BACKEND

#if defined(INVAR_CUDA_HAVE_CUDNN)
// The fallback for builds without cuDNN, compiled here too.
template void cuda::detail::conv2d_forward_gemm<float>(const Conv2dGeometry&, const float*, const float*,
                                                       const float*, float*);
template void cuda::detail::conv2d_backward_gemm<float>(const Conv2dGeometry&, const float*, const float*,
                                                        const float*, float*, float*, float*);
template void cuda::detail::conv2d_forward_gemm<double>(const Conv2dGeometry&, const double*, const double*,
                                                        const double*, double*);
template void cuda::detail::conv2d_backward_gemm<double>(const Conv2dGeometry&, const double*, const double*,
                                                         const double*, double*, double*, double*);
#endif

}  // namespace invar

namespace {

using invar::Cuda;
using invar::index_t;

/// A device array filled from / read back to host vectors.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host)
      : n_(host.size()), p_(static_cast<T*>(Cuda::allocate(host.size() * sizeof(T)))) {
    Cuda::copy_from_host(p_, host.data(), n_ * sizeof(T));
  }
  ~DeviceArray() { Cuda::deallocate(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return p_; }
  std::vector<T> to_host() const {
    std::vector<T> h(n_);
    Cuda::copy_to_host(h.data(), p_, n_ * sizeof(T));
    return h;
  }

 private:
  std::size_t n_;
  T* p_;
};

bool close(double x, double y, double tol) { return std::fabs(x - y) <= tol * (1.0 + std::fabs(x) + std::fabs(y)); }

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

template <class T>
bool check_gemm() {
  const index_t m = 3, n = 5, k = 7;
  bool ok = true;
  for (int mode = 0; mode < 4; ++mode) {
    const bool ta = mode & 1, tb = mode & 2;
    // Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k when transposed).
    const index_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
    std::vector<T> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
        c(static_cast<std::size_t>(m * n));
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = T(0.25) * T(int(i % 11) - 5);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = T(0.5) * T(int(i % 7) - 3);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = T(int(i % 5));
    const T alpha = T(1.5), beta = T(0.5);
    std::vector<T> expect = c;
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        double s = 0;
        for (index_t q = 0; q < k; ++q) {
          const double av = ta ? a[std::size_t(q * lda + i)] : a[std::size_t(i * lda + q)];
          const double bv = tb ? b[std::size_t(j * ldb + q)] : b[std::size_t(q * ldb + j)];
          s += av * bv;
        }
        expect[std::size_t(i * ldc + j)] = T(double(alpha) * s + double(beta) * c[std::size_t(i * ldc + j)]);
      }
    std::vector<T> runs[2];
    for (auto& run : runs) {
      const DeviceArray<T> da(a), db(b), dc(c);
      invar::DeviceBackend<Cuda>::gemm(ta, tb, m, n, k, alpha, da.get(), lda, db.get(), ldb, beta, dc.get(), ldc);
      run = dc.to_host();
    }
    for (std::size_t i = 0; i < expect.size(); ++i)
      if (!close(expect[i], runs[0][i], tolerance<T>())) {
        std::fprintf(stderr, "gemm<%s> trans_a=%d trans_b=%d element %zu: host %.17g device %.17g\n",
                     sizeof(T) == 4 ? "float" : "double", int(ta), int(tb), i, double(expect[i]),
                     double(runs[0][i]));
        ok = false;
      }
    if (!same_bits(runs[0], runs[1])) {
      std::fprintf(stderr, "gemm<%s>: two runs differ\n", sizeof(T) == 4 ? "float" : "double");
      ok = false;
    }
  }
  return ok;
}

template <class T>
bool check_reduce_all() {
  const index_t n = 100003;  // several blocks and a ragged end
  std::vector<T> x(static_cast<std::size_t>(n)), y(x.size());
  double expect = 0;
  for (index_t i = 0; i < n; ++i) {
    x[std::size_t(i)] = T(std::sin(0.001 * double(i)));
    y[std::size_t(i)] = T(0.5 + 0.25 * std::cos(0.003 * double(i)));
    expect += double(T(x[std::size_t(i)] * y[std::size_t(i)]));
  }
  const DeviceArray<T> dx(x), dy(y);
  const T first = invar::DeviceBackend<Cuda>::reduce_all<T>(n, invar::fn::Multiply{}, static_cast<const T*>(dx.get()),
                                                             static_cast<const T*>(dy.get()));
  const T second = invar::DeviceBackend<Cuda>::reduce_all<T>(n, invar::fn::Multiply{},
                                                              static_cast<const T*>(dx.get()),
                                                              static_cast<const T*>(dy.get()));
  bool ok = true;
  if (!close(expect, double(first), tolerance<T>())) {
    std::fprintf(stderr, "reduce_all<%s>: host %.17g device %.17g\n", sizeof(T) == 4 ? "float" : "double", expect,
                 double(first));
    ok = false;
  }
  if (std::memcmp(&first, &second, sizeof(T)) != 0) {
    std::fprintf(stderr, "reduce_all<%s>: two runs differ\n", sizeof(T) == 4 ? "float" : "double");
    ok = false;
  }
  return ok;
}

template <class T>
bool check_scatter_add_rows() {
  // 21 source rows into 4 output rows, indices repeated within and across batches of 8.
  const index_t rows = 21, cols = 37, out_rows = 4;
  const std::vector<index_t> idx = {0, 1, 0, 3, 3, 3, 2, 0, 1, 1, 2, 3, 0, 0, 0, 0, 2, 1, 3, 0, 2};
  std::vector<T> src(static_cast<std::size_t>(rows * cols)), out(static_cast<std::size_t>(out_rows * cols));
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = T(0.125) * T(int(i % 13) - 6);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = T(int(i % 3));
  const T alpha = T(-0.75);
  std::vector<T> expect = out;
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j)
      expect[std::size_t(idx[std::size_t(r)] * cols + j)] += alpha * src[std::size_t(r * cols + j)];
  std::vector<T> runs[2];
  for (auto& run : runs) {
    const DeviceArray<T> ds(src), dout(out);
    const DeviceArray<index_t> di(idx);
    invar::DeviceBackend<Cuda>::scatter_add_rows(rows, cols, static_cast<const T*>(ds.get()),
                                                 static_cast<const index_t*>(di.get()), alpha, dout.get());
    run = dout.to_host();
  }
  bool ok = true;
  for (std::size_t i = 0; i < expect.size(); ++i)
    if (!close(expect[i], runs[0][i], tolerance<T>())) {
      std::fprintf(stderr, "scatter_add_rows<%s> element %zu: host %.17g device %.17g\n",
                   sizeof(T) == 4 ? "float" : "double", i, double(expect[i]), double(runs[0][i]));
      ok = false;
    }
  if (!same_bits(runs[0], runs[1])) {
    std::fprintf(stderr, "scatter_add_rows<%s>: two runs differ\n", sizeof(T) == 4 ? "float" : "double");
    ok = false;
  }
  return ok;
}

}  // namespace

int main() {
  if (!invar::cuda::available()) {
    std::printf("invar_cuda_backend_compile: no usable CUDA device (%s), smoke test skipped\n",
                invar::cuda::unavailable_reason().c_str());
    return 77;
  }
  bool ok = true;
  try {
    ok = check_gemm<float>() && ok;
    ok = check_gemm<double>() && ok;
    ok = check_reduce_all<float>() && ok;
    ok = check_reduce_all<double>() && ok;
    ok = check_scatter_add_rows<float>() && ok;
    ok = check_scatter_add_rows<double>() && ok;
    auto& context = invar::cuda::Context::current();
    context.synchronize();
    const auto stats = context.allocator().stats();
    if (stats.bytes_in_use != 0) {
      std::fprintf(stderr, "allocator: %zu bytes still in use after the smoke test\n", stats.bytes_in_use);
      ok = false;
    }
    context.release();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "invar_cuda_backend_compile: %s\n", e.what());
    return 1;
  }
  std::printf("invar_cuda_backend_compile: %s\n", ok ? "smoke test passed" : "MISMATCH");
  return ok ? 0 : 1;
}
