#pragma once
/// \file caching_allocator.hpp
/// A caching allocator for device memory (the idea of PyTorch's CUDACachingAllocator, kept
/// small): cudaMalloc and cudaFree synchronise the device and cost tens of microseconds, far more
/// than the kernels of a training step, so freed blocks are kept and handed out again.
///
/// - Memory comes from cudaMalloc only (never managed memory), 256-byte aligned.
/// - Requests are rounded up: to a multiple of 512 B below 1 MiB, of 2 MiB above. A freed block
///   goes to a free list keyed by its size; a request takes the smallest cached block that is at
///   least its rounded size and wastes at most a quarter of it, else a new cudaMalloc.
/// - `release_cached()` gives every cached block back with cudaFree. When cudaMalloc fails, the
///   allocator releases its cache and retries once, then throws invar::Error naming the request.
/// - Statistics: bytes in use, bytes cached, the peak in use, cudaMalloc calls and cache hits.
/// - Thread-safe (one mutex); cudaMalloc runs outside the lock.
///
/// Stream order, why reuse without waiting is safe: each allocator belongs to one
/// cuda::Context, and all the work of a context runs on its ONE stream. A block freed while
/// kernels queued on that stream may still read or write it can be handed out at once: whatever
/// the next owner queues runs on the same stream, hence after those kernels. (cudaFree itself
/// synchronises, so releasing the cache is also safe.) Using a context's memory from another
/// stream breaks this: synchronise the context first (Context::synchronize).

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/caching_allocator.hpp> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "invar/backend/cuda/error.hpp"
#include "invar/core/error.hpp"

namespace invar::cuda {

namespace detail {

/// Makes `device` the calling thread's current device for a scope, and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    INVAR_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) {
      INVAR_CUDA_CHECK(cudaSetDevice(device));
      changed_ = true;
    }
  }
  ~DeviceGuard() {
    if (changed_) (void)cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

}  // namespace detail

/// The allocator's counters (bytes are rounded block sizes).
struct AllocatorStats {
  std::size_t bytes_in_use = 0;       ///< in blocks handed out and not yet freed
  std::size_t bytes_cached = 0;       ///< in freed blocks kept for reuse
  std::size_t peak_bytes_in_use = 0;  ///< the largest bytes_in_use so far (reset_peak)
  std::size_t device_allocations = 0; ///< successful cudaMalloc calls
  std::size_t cache_hits = 0;         ///< requests served from the cache
  [[nodiscard]] std::size_t bytes_reserved() const { return bytes_in_use + bytes_cached; }
};

class CachingAllocator {
 public:
  static constexpr std::size_t small_granularity = 512;
  static constexpr std::size_t large_threshold = std::size_t{1} << 20;
  static constexpr std::size_t large_granularity = std::size_t{2} << 20;

  explicit CachingAllocator(int device) : device_(device), caching_(!caching_disabled_by_environment()) {}

  /// INVAR_CUDA_NO_CACHING=1 turns the cache off: every block is exactly the size asked for,
  /// from cudaMalloc, and goes back with cudaFree. Slower; for compute-sanitizer's memcheck, which
  /// cannot see an access past a request that stays inside a rounded or reused cached block.
  static bool caching_disabled_by_environment() noexcept {
    const char* v = std::getenv("INVAR_CUDA_NO_CACHING");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }
  [[nodiscard]] bool caching() const noexcept { return caching_; }
  ~CachingAllocator() { release_cached(); }
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  [[nodiscard]] int device() const noexcept { return device_; }

  /// The size of the block a request of `bytes` gets.
  static constexpr std::size_t round_size(std::size_t bytes) noexcept {
    const std::size_t g = bytes < large_threshold ? small_granularity : large_granularity;
    return (bytes + g - 1) / g * g;
  }

  /// A device block of at least `bytes` (nullptr for 0). Throws invar::Error when the device is
  /// out of memory even after the cache was released.
  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t size = caching_ ? round_size(bytes) : bytes;
    if (caching_) {
      const std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= size + size / 4) {
        const std::size_t got = it->first;
        void* p = it->second;
        free_.erase(it);
        live_.emplace(p, got);
        stats_.bytes_cached -= got;
        stats_.cache_hits += 1;
        add_in_use(got);
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t status = malloc_on_device(&p, size);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();  // out of memory is not sticky: clear it before retrying
      release_cached();
      status = malloc_on_device(&p, size);
      if (status != cudaSuccess) {
        (void)cudaGetLastError();
        const AllocatorStats s = stats();
        throw Error(invar::detail::concat("cuda: cannot allocate ", bytes, " bytes (", size,
                                          " rounded) of device memory on device ", device_, ": ",
                                          cudaGetErrorString(status), " (", s.bytes_in_use,
                                          " bytes in use by invar's tensors, cache released)"));
      }
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    live_.emplace(p, size);
    stats_.device_allocations += 1;
    add_in_use(size);
    return p;
  }

  /// Returns a block to the cache. False (and nothing done) when p is not a live block of this
  /// allocator; nullptr is accepted (true).
  bool deallocate(void* p) noexcept {
    if (p == nullptr) return true;
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return false;
    const std::size_t size = it->second;
    live_.erase(it);
    if (!caching_) {  // no cache: straight back to the driver (cudaFree waits for the device)
      (void)cudaFree(p);
      (void)cudaGetLastError();
      stats_.bytes_in_use -= size;
      return true;
    }
    try {
      free_.emplace(size, p);
    } catch (...) {  // no memory for the list node: give the block back to the driver instead
      (void)cudaFree(p);
      (void)cudaGetLastError();
      stats_.bytes_in_use -= size;
      return true;
    }
    stats_.bytes_in_use -= size;
    stats_.bytes_cached += size;
    return true;
  }

  /// Whether p is a block this allocator handed out and that is not freed yet.
  [[nodiscard]] bool owns(const void* p) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return live_.count(const_cast<void*>(p)) != 0;
  }

  /// Frees every cached block with cudaFree; returns the bytes given back. Blocks in use stay.
  /// Never throws (errors of cudaFree, e.g. after the CUDA runtime was torn down, are ignored).
  std::size_t release_cached() noexcept {
    std::multimap<std::size_t, void*> blocks;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      stats_.bytes_cached = 0;
    }
    std::size_t bytes = 0;
    if (blocks.empty()) return 0;
    int previous = -1;
    const bool switch_device = cudaGetDevice(&previous) == cudaSuccess && previous != device_ &&
                               cudaSetDevice(device_) == cudaSuccess;
    for (const auto& [size, p] : blocks) {
      (void)cudaFree(p);
      bytes += size;
    }
    if (switch_device) (void)cudaSetDevice(previous);
    (void)cudaGetLastError();
    return bytes;
  }

  [[nodiscard]] AllocatorStats stats() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    const std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }

 private:
  cudaError_t malloc_on_device(void** p, std::size_t size) {
    const detail::DeviceGuard guard(device_);
    return cudaMalloc(p, size);
  }
  void add_in_use(std::size_t size) {
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }

  int device_;
  bool caching_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;       // cached blocks by size
  std::unordered_map<void*, std::size_t> live_;  // blocks handed out -> size
  AllocatorStats stats_;
};

}  // namespace invar::cuda
