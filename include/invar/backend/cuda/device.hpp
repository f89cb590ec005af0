#pragma once
/// \file device.hpp
/// invar::Cuda, the GPU as an invar Device (core/device.hpp): `Tensor<T, Cuda>` lives in device
/// memory of the current cuda::Context (backend/cuda/context.hpp).
///
/// - allocate / deallocate: the context's caching allocator (cudaMalloc only, never managed
///   memory). A block freed while another context is current goes back to the allocator it
///   came from.
/// - copy: cudaMemcpyAsync device -> device on the context's stream (ordered with the kernels;
///   the host does not wait).
/// - copy_to_host: returns when the data is on the host (the stream is synchronised).
/// - copy_from_host: the host buffer may be freed or changed as soon as the call returns, also
///   when it is pageable memory the caller frees at once (Tensor::copy_of, packed uploads):
///   small copies go through the context's pinned staging memory and do not make the host wait;
///   large ones use cudaMemcpyAsync, which returns only after it has read a pageable source, and
///   wait for the stream when the source is pinned (Context::upload).
/// - set_zero: cudaMemsetAsync on the context's stream (no host buffer of zeros).
///
/// Plain host code: compiles with g++ as well as nvcc (no kernels), so host-side code that only
/// moves tensors can live in .cpp files; link the invar::cuda target.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/device.hpp> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cstddef>

#include "invar/backend/cuda/context.hpp"
#include "invar/core/device.hpp"

namespace invar {

/// The GPU device type (see the file comment for how each operation behaves); every operation
/// uses the calling thread's current cuda::Context.
struct Cuda {
  static constexpr const char* name = "cuda";     ///< the device's name in messages and files
  static constexpr bool host_accessible = false;  ///< the host cannot dereference its pointers

  /// At least `bytes` bytes of device memory from the current context's caching allocator
  /// (nullptr for 0); out of memory, even after the cache is released, throws invar::Error.
  static void* allocate(std::size_t bytes) { return cuda::Context::current().allocator().allocate(bytes); }
  /// Returns p to the allocator it came from, whichever context is current; never throws.
  static void deallocate(void* p) noexcept { cuda::detail::deallocate_anywhere(p); }
  /// Device-to-device copy, queued on the current context's stream (the host does not wait).
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0 || dst == src) return;
    INVAR_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda::Context::current().stream()));
  }
  /// Copies device memory to the host; returns when the data is there (synchronises the stream).
  static void copy_to_host(void* host, const void* src, std::size_t bytes) {
    cuda::Context::current().download(host, src, bytes);
  }
  /// Copies host memory to the device; `host` may be reused or freed as soon as this returns.
  static void copy_from_host(void* dst, const void* host, std::size_t bytes) {
    cuda::Context::current().upload(dst, host, bytes);
  }
  /// Zeroes `bytes` bytes of device memory, queued on the current context's stream.
  static void set_zero(void* p, std::size_t bytes) {
    if (bytes == 0) return;
    INVAR_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda::Context::current().stream()));
  }
};

static_assert(Device<Cuda>);

}  // namespace invar
