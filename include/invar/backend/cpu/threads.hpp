#pragma once
/// \file threads.hpp
/// How invar's threads and Eigen's threads share the cores.
///
/// Policy (one knob, no oversubscription, no nesting):
/// - `invar::set_num_threads(n)` sets the thread count of both invar's OpenMP loops and
///   Eigen's GEMM (Eigen::setNbThreads). Unset, both use omp_get_max_threads() (OMP_NUM_THREADS).
/// - invar's element-wise loops and reductions open an OpenMP region only when they are not
///   already inside one (omp_in_parallel()), and only for work large enough to pay for it.
/// - Eigen's GEMM is only called outside invar's parallel regions; Eigen itself runs serially
///   when called inside any parallel region (Parallelizer.h checks omp_get_num_threads() > 1),
///   so a user's own `#pragma omp parallel` around invar calls never multiplies threads.
/// Without OpenMP (-fopenmp absent) everything runs on one thread and these calls are no-ops.

#include <atomic>

#include <Eigen/Core>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace invar {

namespace detail {
/// 0 means "not set": follow OpenMP's default.
inline std::atomic<int> configured_threads{0};
}  // namespace detail

/// Number of threads invar's CPU ops (and Eigen's GEMM under invar) use.
inline int num_threads() {
  const int n = detail::configured_threads.load(std::memory_order_relaxed);
#if defined(_OPENMP)
  return n > 0 ? n : omp_get_max_threads();
#else
  (void)n;
  return 1;
#endif
}

/// Sets the thread count for invar's loops and Eigen's GEMM together (n >= 1).
inline void set_num_threads(int n) {
  check(n >= 1, "set_num_threads: need at least one thread, got ", n);
  detail::configured_threads.store(n, std::memory_order_relaxed);
  Eigen::setNbThreads(n);
}

/// True when called from inside an OpenMP parallel region (then invar runs serially).
inline bool in_parallel_region() {
#if defined(_OPENMP)
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

/// Sets the thread count for a scope and restores the previous setting on exit.
class ThreadScope {
 public:
  /// Remembers the current setting (invar's and Eigen's) and calls set_num_threads(n): n < 1
  /// throws invar::Error. The setting is process-wide, so nest scopes; do not overlap them on
  /// different threads.
  explicit ThreadScope(int n)
      : saved_(detail::configured_threads.load()), saved_eigen_(Eigen::nbThreads()) {
    set_num_threads(n);
  }
  ~ThreadScope() {
    detail::configured_threads.store(saved_);
    Eigen::setNbThreads(saved_eigen_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
  int saved_eigen_;
};

namespace cpu {

/// Runs body(begin, end) over [0, n) split into contiguous chunks, one per thread, when the
/// work (n * cost_per_item) is large enough and we are not already in a parallel region.
/// The split never changes what an item computes, so results do not depend on the thread count.
template <class Body>
void parallel_for(index_t n, index_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  constexpr index_t min_work = 1 << 15;  // below ~32k element-operations a fork costs more than it saves
  const int threads = num_threads();
  if (threads <= 1 || n < 2 || n * cost_per_item < min_work || in_parallel_region()) {
    body(index_t{0}, n);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
  {
    const index_t t = omp_get_thread_num();
    const index_t nt = omp_get_num_threads();
    const index_t begin = n * t / nt;
    const index_t end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
#else
  body(index_t{0}, n);
#endif
}

/// Runs body(i) for every i in [0, n), handing out items dynamically (for items of unequal cost,
/// such as the rows of a triangular loop over pairs). Each item is computed by one thread, so
/// per-item results do not depend on the schedule.
template <class Body>
void parallel_for_each_dynamic(index_t n, index_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  constexpr index_t min_work = 1 << 15;
  const int threads = num_threads();
  if (threads <= 1 || n < 2 || n * cost_per_item < min_work || in_parallel_region()) {
    for (index_t i = 0; i < n; ++i) body(i);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (index_t i = 0; i < n; ++i) body(i);
#else
  for (index_t i = 0; i < n; ++i) body(i);
#endif
}

}  // namespace cpu
}  // namespace invar
