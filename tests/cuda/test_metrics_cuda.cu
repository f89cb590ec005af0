// Every metric's value and accumulate_gradient, run on the GPU through INVAR_HOST_DEVICE and
// compared with the same calls on the host, for float and double, at random rows and at the
// defined special points (equal rows, a zero row, a constant row, D == 1).
// Exit codes: 0 pass, 1 mismatch or CUDA error, 77 no CUDA device (ctest reports "skipped").

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>
#include <vector>

#include "invar/metrics/metrics.hpp"

using invar::index_t;

namespace {

#define INVAR_CUDA_CHECK(call)                                                                                \
  do {                                                                                                        \
    const cudaError_t status_ = (call);                                                                       \
    if (status_ != cudaSuccess) {                                                                             \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(status_)); \
      return false;                                                                                           \
    }                                                                                                         \
  } while (0)

// One thread per row pair. Odd pairs pass gb = nullptr (the "skip one side" contract).
template <class M, class T>
__global__ void evaluate(M metric, const T* a, const T* b, index_t pairs, index_t d, T w, T* values, T* ga, T* gb) {
  const index_t p = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= pairs) return;
  values[p] = metric.value(a + p * d, b + p * d, d);
  metric.accumulate_gradient(a + p * d, b + p * d, d, w, ga + p * d, p % 2 ? nullptr : gb + p * d);
}

// Row pairs: random, random, equal rows, zero row first, zero row second, constant row, random.
template <class T>
void make_pairs(index_t d, std::vector<T>& a, std::vector<T>& b) {
  std::mt19937_64 rng(42 + static_cast<std::uint64_t>(d));
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const index_t pairs = 7;
  a.resize(static_cast<std::size_t>(pairs * d));
  b.resize(a.size());
  for (auto& x : a) x = static_cast<T>(u(rng));
  for (auto& x : b) x = static_cast<T>(u(rng));
  auto row = [&](std::vector<T>& v, index_t p) { return v.data() + p * d; };
  for (index_t k = 0; k < d; ++k) {
    row(b, 2)[k] = row(a, 2)[k];  // equal rows: Euclidean / Manhattan kinks
    row(a, 3)[k] = T(0);          // zero rows: cosine's defined point
    row(b, 4)[k] = T(0);
    row(a, 5)[k] = T(0.1);  // constant row: correlation's defined point
  }
}

bool close(double x, double y, double tol) {
  if (std::isnan(x) || std::isnan(y)) return false;
  return std::fabs(x - y) <= tol * (1.0 + std::fmax(std::fabs(x), std::fabs(y)));
}

template <class M, class T>
bool check_metric(index_t d) {
  std::vector<T> a, b;
  make_pairs(d, a, b);
  const index_t pairs = static_cast<index_t>(a.size()) / d;
  const T w = T(0.75);
  // Nonzero starting gradients: the kernel must add, not overwrite.
  std::vector<T> ga(a.size()), gb(a.size());
  for (std::size_t i = 0; i < ga.size(); ++i) {
    ga[i] = T(0.01) * static_cast<T>(i % 7);
    gb[i] = T(-0.02) * static_cast<T>(i % 5);
  }

  // Host reference: the same calls.
  const M metric{};
  std::vector<T> values(static_cast<std::size_t>(pairs));
  std::vector<T> host_ga = ga, host_gb = gb;
  for (index_t p = 0; p < pairs; ++p) {
    values[static_cast<std::size_t>(p)] = metric.value(a.data() + p * d, b.data() + p * d, d);
    metric.accumulate_gradient(a.data() + p * d, b.data() + p * d, d, w, host_ga.data() + p * d,
                               p % 2 ? nullptr : host_gb.data() + p * d);
  }

  T *da = nullptr, *db = nullptr, *dv = nullptr, *dga = nullptr, *dgb = nullptr;
  const std::size_t bytes = a.size() * sizeof(T);
  INVAR_CUDA_CHECK(cudaMalloc(&da, bytes));
  INVAR_CUDA_CHECK(cudaMalloc(&db, bytes));
  INVAR_CUDA_CHECK(cudaMalloc(&dga, bytes));
  INVAR_CUDA_CHECK(cudaMalloc(&dgb, bytes));
  INVAR_CUDA_CHECK(cudaMalloc(&dv, static_cast<std::size_t>(pairs) * sizeof(T)));
  INVAR_CUDA_CHECK(cudaMemcpy(da, a.data(), bytes, cudaMemcpyHostToDevice));
  INVAR_CUDA_CHECK(cudaMemcpy(db, b.data(), bytes, cudaMemcpyHostToDevice));
  INVAR_CUDA_CHECK(cudaMemcpy(dga, ga.data(), bytes, cudaMemcpyHostToDevice));
  INVAR_CUDA_CHECK(cudaMemcpy(dgb, gb.data(), bytes, cudaMemcpyHostToDevice));
  evaluate<<<1, 32>>>(metric, static_cast<const T*>(da), static_cast<const T*>(db), pairs, d, w, dv, dga, dgb);
  INVAR_CUDA_CHECK(cudaGetLastError());
  INVAR_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> dev_values(values.size()), dev_ga(a.size()), dev_gb(a.size());
  INVAR_CUDA_CHECK(cudaMemcpy(dev_values.data(), dv, dev_values.size() * sizeof(T), cudaMemcpyDeviceToHost));
  INVAR_CUDA_CHECK(cudaMemcpy(dev_ga.data(), dga, bytes, cudaMemcpyDeviceToHost));
  INVAR_CUDA_CHECK(cudaMemcpy(dev_gb.data(), dgb, bytes, cudaMemcpyDeviceToHost));
  INVAR_CUDA_CHECK(cudaFree(da));
  INVAR_CUDA_CHECK(cudaFree(db));
  INVAR_CUDA_CHECK(cudaFree(dga));
  INVAR_CUDA_CHECK(cudaFree(dgb));
  INVAR_CUDA_CHECK(cudaFree(dv));

  // The device contracts a * b + c into FMAs and sums in another order than the host's SIMD
  // loops: agreement to rounding, not bit for bit.
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
  bool ok = true;
  for (std::size_t p = 0; p < values.size(); ++p) {
    if (!close(values[p], dev_values[p], tol)) {
      std::fprintf(stderr, "%s<%s> D=%lld pair %zu: value host %.17g device %.17g\n", M::name,
                   sizeof(T) == 4 ? "float" : "double", static_cast<long long>(d), p, static_cast<double>(values[p]),
                   static_cast<double>(dev_values[p]));
      ok = false;
    }
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!close(host_ga[i], dev_ga[i], tol) || !close(host_gb[i], dev_gb[i], tol)) {
      std::fprintf(stderr, "%s<%s> D=%lld element %zu: gradient host (%.17g, %.17g) device (%.17g, %.17g)\n", M::name,
                   sizeof(T) == 4 ? "float" : "double", static_cast<long long>(d), i, static_cast<double>(host_ga[i]),
                   static_cast<double>(host_gb[i]), static_cast<double>(dev_ga[i]), static_cast<double>(dev_gb[i]));
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("invar_cuda_metrics: no CUDA device, skipped\n");
    return 77;
  }
  bool ok = true;
  std::apply(
      [&](auto... metric) {
        for (index_t d : {1, 3, 37}) {
          ((ok = check_metric<decltype(metric), float>(d) && ok), ...);
          ((ok = check_metric<decltype(metric), double>(d) && ok), ...);
        }
      },
      invar::all_metrics{});
  std::printf("invar_cuda_metrics: %s\n", ok ? "all metrics agree with the host" : "MISMATCH");
  return ok ? 0 : 1;
}
