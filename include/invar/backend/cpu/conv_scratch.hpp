#pragma once
/// \file conv_scratch.hpp
/// The CPU convolutions' and float GEMM's scratch memory: one buffer per purpose and thread.
///
/// Each buffer grows to the largest layer that asked for it and is kept for the next call (a
/// training step asks for the same sizes every time); it is released when its thread ends
/// (OpenMP keeps its pool until the end of the process). Every purpose has its own slot, so a
/// call that runs inside another (the implicit GEMM inside a task of the backward pass) never
/// takes the buffer its caller is using. Aligned to 64 bytes: a vector load of a panel never
/// straddles two cache lines.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace invar::cpu::detail {

/// What a scratch buffer holds.
enum class ConvScratch : int {
  patches,         ///< im2col: a chunk's patch matrix
  gathered,        ///< im2col: a chunk's output, or its dL/dy, in columns
  partial_weights, ///< the backward pass: each task's partial dL/dw
  partial_bias,    ///< the backward pass: each task's partial dL/dbias (double)
  input_columns,   ///< the backward pass: W^T dY of a chunk, before col2im
  packed_patches,  ///< implicit GEMM: a block of a panel's patch rows
  panel,           ///< implicit GEMM: a panel's output, when it cannot be written in place
  packed_weights,  ///< implicit GEMM: the weights in tiles
  padded_images,   ///< implicit GEMM: a chunk's images, padded
  dy_transposed,   ///< implicit GEMM, weight gradient: a chunk's dL/dy, one row per position
  gemm_a,          ///< float GEMM (packed_gemm.hpp): a block of A in panels
  gemm_b,          ///< float GEMM: a block of B in panels
  count
};

/// Scratch buffer `slot` of the calling thread: at least n elements of T, 64-byte aligned. The
/// pointer stays valid until the same thread asks the same slot for more.
template <class T>
T* conv_scratch(ConvScratch slot, std::size_t n) {
  static_assert(64 % alignof(T) == 0 && 64 % sizeof(T) == 0, "conv_scratch: T must divide a cache line");
  constexpr std::size_t lead = 64 / sizeof(T);  // room to move the start to a 64-byte boundary
  thread_local std::vector<T> buffers[static_cast<int>(ConvScratch::count)];
  auto& b = buffers[static_cast<int>(slot)];
  if (b.size() < n + lead) b.resize(n + lead);
  const auto address = reinterpret_cast<std::uintptr_t>(b.data());
  return b.data() + (64 - address % 64) % 64 / sizeof(T);
}

}  // namespace invar::cpu::detail
