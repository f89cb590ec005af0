#pragma once
/// \file reduce.cuh
/// Row, column and full reductions on the GPU, in a fixed order (the same bits on every run),
/// accumulated in double for float and double data (as the CPU backend does); each term is
/// f(...) converted to T first, as on the CPU.
/// - reduce_rows: a warp per row (rows shorter than 1024) or a block per row: lane-strided
///   partial sums, then the fixed shuffle tree.
/// - reduce_cols: tiles of 32 columns x 8 row lanes over chunks of 1024 rows; each tile's
///   8 lane sums are added in a fixed pairwise order; with more than one chunk, the chunks'
///   partial sums (in scratch memory) are added in chunk order by a second kernel.
/// - reduce_all: at most 1024 blocks (the count depends on n only) of grid-strided partial sums
///   and block trees, then one block adds the block sums; the value is copied to the host.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/reduce.cuh> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include "invar/backend/cuda/common.cuh"

namespace invar::cuda {

namespace detail {

template <class T>
using accumulator_t = decltype(T{} + 0.0);

inline constexpr index_t rows_per_warp_limit = 1024;  // below: a warp per row; from here: a block
inline constexpr index_t col_chunk_rows = 1024;       // rows per partial sum of reduce_cols
inline constexpr int col_tile = 32, col_lanes = 8;

template <class T, class F, class... In>
__global__ void reduce_rows_warp_kernel(index_t rows, index_t cols, T* out, F f, const In*... in) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const index_t warps = grid_threads() >> 5;
  for (index_t i = global_thread() >> 5; i < rows; i += warps) {
    const index_t base = i * cols;
    accumulator_t<T> s = 0;
    for (index_t j = lane; j < cols; j += 32) s += static_cast<T>(f(in[base + j]...));
    s = warp_sum(s);
    if (lane == 0) out[i] = static_cast<T>(s);
  }
}

template <int Block, class T, class F, class... In>
__global__ void reduce_rows_block_kernel(index_t rows, index_t cols, T* out, F f, const In*... in) {
  for (index_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const index_t base = i * cols;
    accumulator_t<T> s = 0;
    for (index_t j = threadIdx.x; j < cols; j += Block) s += static_cast<T>(f(in[base + j]...));
    s = block_sum<Block>(s);
    if (threadIdx.x == 0) out[i] = static_cast<T>(s);
  }
}

/// blockDim (32, 8): column j = 32 blockIdx.x + threadIdx.x; lane threadIdx.y takes rows
/// r0 + y, r0 + y + 8, ... of chunk blockIdx.y (grid-strided over chunks).
template <class T, class F, class... In>
__global__ void reduce_cols_kernel(index_t rows, index_t cols, index_t chunks, accumulator_t<T>* partial, T* out,
                                   F f, const In*... in) {
  using A = accumulator_t<T>;
  __shared__ A tile[col_lanes][col_tile + 1];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const index_t j = static_cast<index_t>(blockIdx.x) * col_tile + tx;
  for (index_t chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const index_t r0 = chunk * col_chunk_rows;
    const index_t r1 = r0 + col_chunk_rows < rows ? r0 + col_chunk_rows : rows;
    A s = 0;
    if (j < cols)
      for (index_t r = r0 + ty; r < r1; r += col_lanes) s += static_cast<T>(f(in[r * cols + j]...));
    tile[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && j < cols) {
      const A t = ((tile[0][tx] + tile[1][tx]) + (tile[2][tx] + tile[3][tx])) +
                  ((tile[4][tx] + tile[5][tx]) + (tile[6][tx] + tile[7][tx]));
      if (partial) partial[chunk * cols + j] = t;
      else out[j] = static_cast<T>(t);
    }
    __syncthreads();
  }
}

template <class T>
__global__ void reduce_cols_finish_kernel(index_t cols, index_t chunks, const accumulator_t<T>* partial, T* out) {
  for (index_t j = global_thread(); j < cols; j += grid_threads()) {
    accumulator_t<T> s = 0;
    for (index_t c = 0; c < chunks; ++c) s += partial[c * cols + j];
    out[j] = static_cast<T>(s);
  }
}

template <int Block, class T, class F, class... In>
__global__ void reduce_all_kernel(index_t n, accumulator_t<T>* partial, F f, const In*... in) {
  accumulator_t<T> s = 0;
  for (index_t i = global_thread(); i < n; i += grid_threads()) s += static_cast<T>(f(in[i]...));
  s = block_sum<Block>(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

}  // namespace detail

/// out[i] = sum_j f(in0[i,j], ...).
template <class T, class F, class... In>
void reduce_rows(index_t rows, index_t cols, T* out, F f, const In*... in) {
  if (rows <= 0) return;
  cudaStream_t stream = Context::current().stream();
  if (cols < detail::rows_per_warp_limit) {
    detail::reduce_rows_warp_kernel<<<detail::blocks_for(rows * 32), detail::block_threads, 0, stream>>>(rows, cols,
                                                                                                      out, f, in...);
    INVAR_CUDA_CHECK_LAUNCH("reduce_rows_warp_kernel");
  } else {
    constexpr int block = detail::block_threads;
    detail::reduce_rows_block_kernel<block><<<detail::blocks_for(rows, 1), block, 0, stream>>>(rows, cols, out, f,
                                                                                               in...);
    INVAR_CUDA_CHECK_LAUNCH("reduce_rows_block_kernel");
  }
}

/// out[j] = sum_i f(in0[i,j], ...).
template <class T, class F, class... In>
void reduce_cols(index_t rows, index_t cols, T* out, F f, const In*... in) {
  if (cols <= 0) return;
  using A = detail::accumulator_t<T>;
  Context& ctx = Context::current();
  const index_t chunks = rows > 0 ? (rows + detail::col_chunk_rows - 1) / detail::col_chunk_rows : 1;
  const dim3 block(detail::col_tile, detail::col_lanes);
  const dim3 grid(detail::blocks_for(cols, detail::col_tile, index_t{1} << 30),
                  static_cast<unsigned>(chunks < detail::max_grid_y ? chunks : detail::max_grid_y));
  if (chunks == 1) {
    detail::reduce_cols_kernel<<<grid, block, 0, ctx.stream()>>>(rows, cols, chunks, static_cast<A*>(nullptr), out,
                                                                 f, in...);
    INVAR_CUDA_CHECK_LAUNCH("reduce_cols_kernel");
    return;
  }
  detail::Scratch<A> partial(ctx, chunks * cols);
  detail::reduce_cols_kernel<<<grid, block, 0, ctx.stream()>>>(rows, cols, chunks, partial.get(), out, f, in...);
  INVAR_CUDA_CHECK_LAUNCH("reduce_cols_kernel");
  detail::reduce_cols_finish_kernel<T><<<detail::blocks_for(cols), detail::block_threads, 0, ctx.stream()>>>(
      cols, chunks, partial.get(), out);
  INVAR_CUDA_CHECK_LAUNCH("reduce_cols_finish_kernel");
}

/// sum_i f(in0[i], ...), returned to the host (waits for the stream).
template <class T, class F, class... In>
T reduce_all(index_t n, F f, const In*... in) {
  if (n <= 0) return T(0);
  using A = detail::accumulator_t<T>;
  Context& ctx = Context::current();
  constexpr int block = detail::block_threads;
  const unsigned blocks = detail::blocks_for(n, index_t{block} * 8, 1024);
  detail::Scratch<A> partial(ctx, blocks + 1);
  detail::reduce_all_kernel<block, T><<<blocks, block, 0, ctx.stream()>>>(n, partial.get(), f, in...);
  INVAR_CUDA_CHECK_LAUNCH("reduce_all_kernel");
  A* result = partial.get();
  if (blocks > 1) {
    result = partial.get() + blocks;
    detail::sum_parts_kernel<1024><<<1, 1024, 0, ctx.stream()>>>(blocks, partial.get(), nullptr, result);
    INVAR_CUDA_CHECK_LAUNCH("sum_parts_kernel");
  }
  A total = 0;
  ctx.download(&total, result, sizeof(A));
  return static_cast<T>(total);
}

}  // namespace invar::cuda
