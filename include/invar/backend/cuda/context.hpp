#pragma once
/// \file context.hpp
/// cuda::Context: the state a GPU needs (in the style of Eigen's GpuDevice): a device ordinal, one
/// stream, a cuBLAS handle, a cuDNN handle (created on first use), a caching allocator and two
/// small pinned host buffers for transfers.
///
/// The device model:
/// - Every op of DeviceBackend<Cuda> runs on `Context::current().stream()`: the context made
///   current on this thread by a ContextGuard, else the process-wide default context of device 0.
///   All work of a context is on its ONE stream, so ops are ordered without any synchronisation,
///   and memory freed by one op can be reused by the next (see caching_allocator.hpp).
/// - The stream is created non-blocking (no implicit synchronisation with the legacy default
///   stream). The host waits only where it needs data: copies to the host, reduce_all and the
///   loss sums that return a value, synchronize().
/// - Kernels are launched on the calling thread's current CUDA device, which must be the
///   context's: ContextGuard sets it (and restores the previous one); the default context is
///   device 0, the runtime's default device. Memory is always allocated on the context's device.
/// - cuBLAS runs on the context's stream with a workspace the context owns (cublasSetWorkspace):
///   with a fixed workspace and one stream, cuBLAS gives the same bits run to run on the same GPU
///   model (NVIDIA's condition; a MIG slice with another SM count may differ). Pointer mode host,
///   default math (FP32 GEMMs never use TF32).
/// - The default context is created on first use and deliberately never destroyed by a static
///   destructor (that would run after the CUDA runtime has been torn down, and fail). Call
///   `release()` to free its resources explicitly (it synchronises, frees the cached memory,
///   destroys the handles and the stream); the next use creates them again.
/// - A Context is used by one host thread at a time (like a stream). Threads that run GPU work
///   concurrently each make their own context current (ContextGuard); the allocator alone is
///   thread-safe (tensors may be freed from any thread).
///
/// Plain host code: compiles with g++ (no kernels); link CUDA::cudart and CUDA::cublas.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/context.hpp> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cuda_runtime_api.h>
#include <cublas_v2.h>

#if defined(INVAR_CUDA_HAVE_CUDNN)
#include <cudnn.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "invar/backend/cuda/caching_allocator.hpp"
#include "invar/backend/cuda/error.hpp"

namespace invar::cuda {

/// Whether a CUDA device can be used: cudaGetDeviceCount succeeds and finds one. Never throws
/// (a machine without a driver answers false).
inline bool available() noexcept {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

/// Why available() is false, for messages ("" when a device is available).
inline std::string unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status);
  }
  if (count == 0) return "no CUDA device found";
  return {};
}

class Context;

namespace detail {
/// The calling thread's current context (nullptr: the default one).
inline Context*& current_slot() noexcept {
  thread_local Context* slot = nullptr;
  return slot;
}
/// Every live context, so that a block freed while another context is current goes back to the
/// allocator it came from. Leaked on purpose: tensors may be freed during static destruction.
struct Registry {
  std::mutex mutex;
  std::vector<Context*> contexts;
};
inline Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}
}  // namespace detail

/// One GPU's stream, library handles, caching allocator and staging buffers (see the file
/// comment for the device model). Not copyable; used by one host thread at a time.
class Context {
 public:
  /// Bytes of the cuBLAS workspace (NVIDIA's recommendation for Hopper; enough for others).
  static constexpr std::size_t cublas_workspace_bytes = std::size_t{32} << 20;
  /// Pinned staging for small host -> device copies: two halves used alternately.
  static constexpr std::size_t upload_staging_bytes = std::size_t{1} << 20;
  /// Pinned staging for small device -> host copies (scalars, per-group sums).
  static constexpr std::size_t download_staging_bytes = std::size_t{64} << 10;

  /// A context for `device`. Resources are created on first use, not here.
  explicit Context(int device = 0) : device_(device), allocator_(device) {
    detail::Registry& r = detail::registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    r.contexts.push_back(this);
  }
  /// Releases everything (see release()); memory still held by tensors of this context is then
  /// freed with cudaFree when they are destroyed.
  ~Context() {
    {
      detail::Registry& r = detail::registry();
      const std::lock_guard<std::mutex> lock(r.mutex);
      r.contexts.erase(std::remove(r.contexts.begin(), r.contexts.end(), this), r.contexts.end());
    }
    try {
      release();
    } catch (...) {  // a destructor does not throw; release() has freed what it could
    }
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// The process-wide context of device 0, created on first use, never destroyed.
  static Context& default_context() {
    static Context* context = new Context(0);
    return *context;
  }
  /// The calling thread's current context: the innermost ContextGuard's, else the default one.
  static Context& current() {
    Context* c = detail::current_slot();
    return c ? *c : default_context();
  }

  /// The CUDA device ordinal this context's memory and work live on.
  [[nodiscard]] int device() const noexcept { return device_; }

  /// The context's stream (created on first use).
  cudaStream_t stream() {
    ensure();
    return stream_;
  }
  /// The cuBLAS handle, bound to stream() with the context's workspace.
  cublasHandle_t cublas() {
    ensure();
    return cublas_;
  }
#if defined(INVAR_CUDA_HAVE_CUDNN)
  /// The cuDNN handle, bound to stream(); created on first use.
  cudnnHandle_t cudnn() {
    ensure();
    const std::lock_guard<std::mutex> lock(mutex_);
    if (cudnn_ == nullptr) {
      const detail::DeviceGuard guard(device_);
      cudnnHandle_t h = nullptr;
      INVAR_CUDNN_CHECK(cudnnCreate(&h));
      const cudnnStatus_t status = cudnnSetStream(h, stream_);
      if (status != CUDNN_STATUS_SUCCESS) {
        (void)cudnnDestroy(h);
        INVAR_CUDNN_CHECK(status);
      }
      cudnn_ = h;
      // release() may be compiled in a translation unit without cuDNN: it calls this instead.
      destroy_cudnn_ = [](void* handle) { (void)cudnnDestroy(static_cast<cudnnHandle_t>(handle)); };
    }
    return static_cast<cudnnHandle_t>(cudnn_);
  }
#endif
  /// The context's caching allocator (thread-safe), which Cuda::allocate draws from.
  CachingAllocator& allocator() noexcept { return allocator_; }

  /// Waits for all work queued on the context's stream (no-op before the first use).
  void synchronize() {
    if (!ready_.load(std::memory_order_acquire)) return;
    INVAR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  /// Synchronises, frees the cached device memory, destroys the handles, the staging buffers
  /// and the stream. The context stays usable: the next use creates them again. Memory held by
  /// live tensors is not touched.
  void release() {
    const std::lock_guard<std::mutex> lock(mutex_);
    const std::lock_guard<std::mutex> up(upload_mutex_);
    const std::lock_guard<std::mutex> down(download_mutex_);
    if (!ready_.load(std::memory_order_acquire)) {
      allocator_.release_cached();
      return;
    }
    int previous = -1;
    const bool switch_device =
        cudaGetDevice(&previous) == cudaSuccess && previous != device_ && cudaSetDevice(device_) == cudaSuccess;
    // Best effort: free everything even if one step fails, report the first failure at the end.
    cudaError_t first = cudaStreamSynchronize(stream_);
    const char* what = "cudaStreamSynchronize(stream_)";
    allocator_.release_cached();
    if (cudnn_ != nullptr && destroy_cudnn_ != nullptr) destroy_cudnn_(cudnn_);
    cudnn_ = nullptr;
    destroy_cudnn_ = nullptr;
    if (cublas_ != nullptr) (void)cublasDestroy(cublas_);
    cublas_ = nullptr;
    auto keep_first = [&](cudaError_t e, const char* call) {
      if (first == cudaSuccess && e != cudaSuccess) {
        first = e;
        what = call;
      }
    };
    if (cublas_workspace_ != nullptr) keep_first(cudaFree(cublas_workspace_), "cudaFree(cublas_workspace_)");
    cublas_workspace_ = nullptr;
    for (cudaEvent_t& e : upload_done_) {
      if (e != nullptr) keep_first(cudaEventDestroy(e), "cudaEventDestroy(upload_done_)");
      e = nullptr;
    }
    if (upload_staging_ != nullptr) keep_first(cudaFreeHost(upload_staging_), "cudaFreeHost(upload_staging_)");
    upload_staging_ = nullptr;
    if (download_staging_ != nullptr)
      keep_first(cudaFreeHost(download_staging_), "cudaFreeHost(download_staging_)");
    download_staging_ = nullptr;
    if (stream_ != nullptr) keep_first(cudaStreamDestroy(stream_), "cudaStreamDestroy(stream_)");
    stream_ = nullptr;
    ready_.store(false, std::memory_order_release);
    if (switch_device) (void)cudaSetDevice(previous);
    if (first != cudaSuccess) detail::throw_cuda_error(first, what, __FILE__, __LINE__);
  }

  /// Host -> device copy that is safe for any host buffer, which the caller may free or reuse
  /// as soon as this returns:
  /// - up to 256 KiB: copied into pinned staging memory, then an asynchronous copy on the stream
  ///   (the host does not wait; the staging halves alternate, and a half is refilled only after
  ///   the copies queued from it have run);
  /// - larger, from pageable memory: cudaMemcpyAsync, which stages pageable memory itself and
  ///   returns once the source has been read (CUDA's documented behaviour for pageable sources);
  /// - larger, from pinned (page-locked or registered) memory: cudaMemcpyAsync, then the host
  ///   waits for the stream, since the driver reads such memory while the copy runs.
  void upload(void* dst, const void* host, std::size_t bytes) {
    if (bytes == 0) return;
    ensure();
    if (bytes <= upload_staging_bytes / 4) {
      const std::lock_guard<std::mutex> lock(upload_mutex_);
      constexpr std::size_t half = upload_staging_bytes / 2;
      if (upload_used_ + bytes > half) {
        // Leave this half: mark where its last copy is; take the other half once its copies ran.
        INVAR_CUDA_CHECK(cudaEventRecord(upload_done_[upload_half_], stream_));
        upload_half_ ^= 1;
        INVAR_CUDA_CHECK(cudaEventSynchronize(upload_done_[upload_half_]));
        upload_used_ = 0;
      }
      unsigned char* staged = static_cast<unsigned char*>(upload_staging_) + upload_half_ * half + upload_used_;
      std::memcpy(staged, host, bytes);
      upload_used_ += (bytes + 255) / 256 * 256;
      INVAR_CUDA_CHECK(cudaMemcpyAsync(dst, staged, bytes, cudaMemcpyHostToDevice, stream_));
      return;
    }
    cudaPointerAttributes attributes{};
    bool pinned = false;
    if (cudaPointerGetAttributes(&attributes, host) == cudaSuccess)
      pinned = attributes.type == cudaMemoryTypeHost || attributes.type == cudaMemoryTypeManaged;
    (void)cudaGetLastError();
    INVAR_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_));
    if (pinned) INVAR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  /// Device -> host copy; returns when the data is in `host` (waits for the stream). Small copies
  /// go through pinned staging memory (a faster DMA than into pageable memory).
  void download(void* host, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    ensure();
    if (bytes <= download_staging_bytes) {
      const std::lock_guard<std::mutex> lock(download_mutex_);
      INVAR_CUDA_CHECK(cudaMemcpyAsync(download_staging_, src, bytes, cudaMemcpyDeviceToHost, stream_));
      INVAR_CUDA_CHECK(cudaStreamSynchronize(stream_));
      std::memcpy(host, download_staging_, bytes);
      return;
    }
    INVAR_CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_));
    INVAR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  void ensure() {
    if (ready_.load(std::memory_order_acquire)) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    if (ready_.load(std::memory_order_relaxed)) return;
    const detail::DeviceGuard guard(device_);
    try {
      INVAR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      INVAR_CUBLAS_CHECK(cublasCreate(&cublas_));
      // cublasSetStream resets the workspace to cuBLAS's own pool: set the stream first.
      INVAR_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
      INVAR_CUDA_CHECK(cudaMalloc(&cublas_workspace_, cublas_workspace_bytes));
      INVAR_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, cublas_workspace_bytes));
      INVAR_CUBLAS_CHECK(cublasSetPointerMode(cublas_, CUBLAS_POINTER_MODE_HOST));
      INVAR_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
      INVAR_CUDA_CHECK(cudaMallocHost(&upload_staging_, upload_staging_bytes));
      INVAR_CUDA_CHECK(cudaMallocHost(&download_staging_, download_staging_bytes));
      for (cudaEvent_t& e : upload_done_) INVAR_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    } catch (...) {
      // Undo what was created, leave the context unready (the next use tries again).
      for (cudaEvent_t& e : upload_done_) {
        if (e != nullptr) (void)cudaEventDestroy(e);
        e = nullptr;
      }
      if (download_staging_ != nullptr) (void)cudaFreeHost(download_staging_);
      if (upload_staging_ != nullptr) (void)cudaFreeHost(upload_staging_);
      if (cublas_workspace_ != nullptr) (void)cudaFree(cublas_workspace_);
      if (cublas_ != nullptr) (void)cublasDestroy(cublas_);
      if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
      download_staging_ = upload_staging_ = cublas_workspace_ = nullptr;
      cublas_ = nullptr;
      stream_ = nullptr;
      (void)cudaGetLastError();
      throw;
    }
    upload_half_ = 0;
    upload_used_ = 0;
    ready_.store(true, std::memory_order_release);
  }

  int device_;
  CachingAllocator allocator_;
  std::mutex mutex_;           // creation and destruction of the resources
  std::mutex upload_mutex_;    // the upload staging buffer
  std::mutex download_mutex_;  // the download staging buffer
  std::atomic<bool> ready_{false};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  // The cuDNN handle as void*, so that the class has one layout with and without cuDNN.
  void* cudnn_ = nullptr;
  void (*destroy_cudnn_)(void*) = nullptr;
  void* upload_staging_ = nullptr;
  void* download_staging_ = nullptr;
  cudaEvent_t upload_done_[2] = {nullptr, nullptr};
  int upload_half_ = 0;
  std::size_t upload_used_ = 0;
};

/// Makes `context` the current one on this thread for a scope (and its device the current
/// device); restores the previous context and device on exit. Nests.
class ContextGuard {
 public:
  /// Makes `context` current and, if needed, switches the thread's CUDA device to its device; a
  /// failed cudaGetDevice / cudaSetDevice throws invar::Error. `context` must outlive the guard.
  explicit ContextGuard(Context& context) : previous_(detail::current_slot()) {
    INVAR_CUDA_CHECK(cudaGetDevice(&previous_device_));
    if (previous_device_ != context.device()) INVAR_CUDA_CHECK(cudaSetDevice(context.device()));
    detail::current_slot() = &context;
  }
  ~ContextGuard() {
    Context* mine = detail::current_slot();
    detail::current_slot() = previous_;
    if (mine != nullptr && mine->device() != previous_device_) (void)cudaSetDevice(previous_device_);
  }
  ContextGuard(const ContextGuard&) = delete;
  ContextGuard& operator=(const ContextGuard&) = delete;

 private:
  Context* previous_;
  int previous_device_ = 0;
};

namespace detail {
/// Returns a block to the allocator it came from: the current context's, else any live
/// context's; a block whose context is gone is freed with cudaFree. Never creates a context.
inline void deallocate_anywhere(void* p) noexcept {
  if (p == nullptr) return;
  if (Context* c = current_slot(); c != nullptr && c->allocator().deallocate(p)) return;
  {
    Registry& r = registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    for (Context* c : r.contexts)
      if (c->allocator().deallocate(p)) return;
  }
  (void)cudaFree(p);
  (void)cudaGetLastError();
}
}  // namespace detail

}  // namespace invar::cuda
