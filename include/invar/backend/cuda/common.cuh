#pragma once
/// \file common.cuh
/// What the CUDA kernels of invar share: launch geometry, grid-stride loops with 64-bit indices,
/// deterministic warp and block sums, scratch memory from the context's allocator, and the
/// transfer of small results to the host.
///
/// Determinism: every sum here has a fixed shape. A warp sum is the shuffle-down tree
/// (offsets 16, 8, 4, 2, 1); a block sum is each warp's tree, then the tree over the warps'
/// results in warp order. Block sizes are compile-time constants and the split of the work
/// over threads depends on the problem's sizes only (never on the GPU, the clock or the
/// occupancy), so the same inputs give the same bits on every run. No floating-point atomics
/// anywhere in invar's kernels.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/common.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>

#include "invar/backend/cuda/context.hpp"
#include "invar/backend/cuda/error.hpp"
#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar::cuda::detail {

/// Threads per block of the 1-D kernels.
inline constexpr int block_threads = 256;
/// At most this many blocks for grid-stride kernels (more work: each thread loops).
inline constexpr index_t max_blocks = index_t{1} << 16;
/// gridDim.y and gridDim.z are limited to 65535.
inline constexpr index_t max_grid_y = 65535;

/// Blocks for n items of `per_block` each, at least 1, at most `cap`.
inline unsigned blocks_for(index_t n, index_t per_block = block_threads, index_t cap = max_blocks) {
  index_t b = (n + per_block - 1) / per_block;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b);
}

/// The global index of this thread and the stride of a grid-stride loop, in 64 bits.
__device__ inline index_t global_thread() {
  return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline index_t grid_threads() { return static_cast<index_t>(gridDim.x) * blockDim.x; }

/// Sum over the 32 lanes of a warp (all lanes must take part); lane 0 holds the result.
template <class A>
__device__ inline A warp_sum(A v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

/// Sum over the `Block` threads of a block (all threads must take part, blockDim.x == Block);
/// every thread gets the result. Contains __syncthreads: call it from uniform control flow.
template <int Block, class A>
__device__ inline A block_sum(A v) {
  static_assert(Block % 32 == 0 && Block >= 32 && Block <= 1024, "block_sum: Block is a multiple of 32");
  constexpr int warps = Block / 32;
  __shared__ A warp_part[warps];
  __shared__ A total;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  v = warp_sum(v);
  if constexpr (warps == 1) {
    if (threadIdx.x == 0) total = v;
  } else {
    if (lane == 0) warp_part[warp] = v;
    __syncthreads();
    if (warp == 0) {
      A w = lane < warps ? warp_part[lane] : A(0);
      w = warp_sum(w);
      if (lane == 0) total = w;
    }
  }
  __syncthreads();
  const A result = total;
  __syncthreads();  // `total` and `warp_part` may be reused by the next call
  return result;
}

/// Scratch device memory for the duration of one op, from the context's caching allocator.
/// Freed when it goes out of scope: safe while kernels on the context's stream still use it
/// (stream order, see caching_allocator.hpp).
template <class T>
class Scratch {
 public:
  Scratch(Context& context, index_t n)
      : allocator_(&context.allocator()),
        data_(static_cast<T*>(allocator_->allocate(static_cast<std::size_t>(n > 0 ? n : 0) * sizeof(T)))) {}
  ~Scratch() { allocator_->deallocate(data_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  [[nodiscard]] T* get() const noexcept { return data_; }

 private:
  CachingAllocator* allocator_;
  T* data_;
};

/// cuBLAS, cuDNN and a few kernels take int sizes: checks that a size fits.
inline int to_int(index_t v, const char* what) {
  check(v >= 0 && v <= std::numeric_limits<int>::max(), "cuda: ", what, " = ", v,
        " does not fit the 32-bit size this library call takes");
  return static_cast<int>(v);
}

/// Sums part[0..n) (doubles, in device memory) into out[0] with one block: thread t adds
/// part[t], part[t + 1024], ... in order, then the fixed block tree. Used as the second stage
/// of two-stage reductions; `pairs` sums two interleaved arrays (a and b) at once.
template <int Block>
__global__ void sum_parts_kernel(index_t n, const double* part_a, const double* part_b, double* out) {
  double a = 0, b = 0;
  for (index_t i = threadIdx.x; i < n; i += Block) {
    a += part_a[i];
    if (part_b) b += part_b[i];
  }
  a = block_sum<Block>(a);
  if (part_b) b = block_sum<Block>(b);
  if (threadIdx.x == 0) {
    out[0] = a;
    if (part_b) out[1] = b;
  }
}

/// Reduces per-row partial sums a[0..n), b[0..n) (device) to two doubles on the host: one launch
/// and one transfer. part_b may be null (then *sum_b is untouched and may be null).
inline void sum_parts_to_host(Context& ctx, index_t n, const double* part_a, const double* part_b, double* sum_a,
                              double* sum_b) {
  if (n == 0) {
    *sum_a = 0;
    if (part_b && sum_b) *sum_b = 0;
    return;
  }
  Scratch<double> out(ctx, 2);
  sum_parts_kernel<1024><<<1, 1024, 0, ctx.stream()>>>(n, part_a, part_b, out.get());
  INVAR_CUDA_CHECK_LAUNCH("sum_parts_kernel");
  double host[2] = {0, 0};
  ctx.download(host, out.get(), (part_b ? 2 : 1) * sizeof(double));
  *sum_a = host[0];
  if (part_b && sum_b) *sum_b = host[1];
}

/// The contribution weight of the pair (i, j) to a grouped pair sum: w[g] when rows i and j share
/// the group g = ids[i] = ids[j] >= 0, else 0 (also when ids is null).
__host__ __device__ inline double pair_weight(const index_t* ids, const double* w, index_t i, index_t j) {
  if (ids == nullptr) return 0.0;
  const index_t g = ids[i];
  return (g >= 0 && g == ids[j]) ? w[g] : 0.0;
}

}  // namespace invar::cuda::detail
