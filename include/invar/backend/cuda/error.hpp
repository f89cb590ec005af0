#pragma once
/// \file error.hpp
/// Checks for CUDA runtime, cuBLAS and cuDNN calls: a failed call throws invar::Error naming the
/// call as written, file:line and the library's own message, e.g.
///   invar: CUDA call cudaMalloc(&p, bytes) failed at context.hpp:120: out of memory (cudaError 2)
///
/// - INVAR_CUDA_CHECK(call)     for cudaError_t results (cudaGetErrorString),
/// - INVAR_CUBLAS_CHECK(call)   for cublasStatus_t results (cublasGetStatusString),
/// - INVAR_CUDNN_CHECK(call)    for cudnnStatus_t results (cudnnGetErrorString; only where
///                              INVAR_CUDA_HAVE_CUDNN is defined),
/// - INVAR_CUDA_CHECK_LAUNCH(name) after a kernel launch: cudaGetLastError (a bad launch
///   configuration, no kernel image for this GPU). Errors inside a running kernel surface at the
///   next synchronising call; define INVAR_CUDA_DEBUG_SYNC to synchronise after every launch
///   and name the failing kernel (slow; for debugging).
///
/// Plain host code (no kernels): compiles with g++ as well as nvcc.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/backend/cuda/error.hpp> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#include <cuda_runtime_api.h>
#include <cublas_v2.h>

#if defined(INVAR_CUDA_HAVE_CUDNN)
#include <cudnn.h>
#endif

#include "invar/core/error.hpp"

namespace invar::cuda::detail {

[[noreturn]] inline void throw_call_error(const char* library, const char* call, const char* file, int line,
                                          const char* message, const char* code_name, int code) {
  throw Error(invar::detail::concat(library, " call ", call, " failed at ", file, ":", line, ": ", message, " (",
                                    code_name, " ", code, ")"));
}

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  // A non-sticky error is also recorded as the thread's "last error": clear it, so that the next
  // launch check does not report it again under another name.
  (void)cudaGetLastError();
  throw_call_error("CUDA", call, file, line, cudaGetErrorString(status), "cudaError", static_cast<int>(status));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw_call_error("cuBLAS", call, file, line, cublasGetStatusString(status), "cublasStatus",
                   static_cast<int>(status));
}

#if defined(INVAR_CUDA_HAVE_CUDNN)
[[noreturn]] inline void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  throw_call_error("cuDNN", call, file, line, cudnnGetErrorString(status), "cudnnStatus", static_cast<int>(status));
}
#endif

}  // namespace invar::cuda::detail

/// Evaluates `call` (a CUDA runtime call returning cudaError_t) once; on failure clears the
/// thread's last error and throws invar::Error naming the call, file:line and the message.
#define INVAR_CUDA_CHECK(call)                                                                   \
  do {                                                                                           \
    const cudaError_t invar_cuda_status_ = (call);                                               \
    if (invar_cuda_status_ != cudaSuccess)                                                       \
      ::invar::cuda::detail::throw_cuda_error(invar_cuda_status_, #call, __FILE__, __LINE__);    \
  } while (0)

/// Evaluates `call` (a cuBLAS call returning cublasStatus_t) once; on failure throws invar::Error
/// naming the call, file:line and cuBLAS's message.
#define INVAR_CUBLAS_CHECK(call)                                                                 \
  do {                                                                                           \
    const cublasStatus_t invar_cublas_status_ = (call);                                          \
    if (invar_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::invar::cuda::detail::throw_cublas_error(invar_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

#if defined(INVAR_CUDA_HAVE_CUDNN)
/// Evaluates `call` (a cuDNN call returning cudnnStatus_t) once; on failure throws invar::Error
/// naming the call, file:line and cuDNN's message.
#define INVAR_CUDNN_CHECK(call)                                                                  \
  do {                                                                                           \
    const cudnnStatus_t invar_cudnn_status_ = (call);                                            \
    if (invar_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                             \
      ::invar::cuda::detail::throw_cudnn_error(invar_cudnn_status_, #call, __FILE__, __LINE__);   \
  } while (0)
#endif

#if defined(INVAR_CUDA_DEBUG_SYNC)
/// Debug form: checks the launch, then synchronises the device so that an error inside kernel
/// `name` (a string literal) is reported here, under its name.
#define INVAR_CUDA_CHECK_LAUNCH(name)                                                                             \
  do {                                                                                                            \
    INVAR_CUDA_CHECK(cudaGetLastError());                                                                         \
    const cudaError_t invar_cuda_status_ = cudaDeviceSynchronize();                                               \
    if (invar_cuda_status_ != cudaSuccess)                                                                        \
      ::invar::cuda::detail::throw_cuda_error(invar_cuda_status_, "kernel " name, __FILE__, __LINE__);            \
  } while (0)
#else
/// Put after a kernel launch: throws invar::Error naming kernel `name` (a string literal) if the
/// launch failed (cudaGetLastError). Errors while the kernel runs surface at the next
/// synchronising call; define INVAR_CUDA_DEBUG_SYNC to catch them here.
#define INVAR_CUDA_CHECK_LAUNCH(name)                                                                             \
  do {                                                                                                            \
    const cudaError_t invar_cuda_status_ = cudaGetLastError();                                                    \
    if (invar_cuda_status_ != cudaSuccess)                                                                        \
      ::invar::cuda::detail::throw_cuda_error(invar_cuda_status_, "launch of kernel " name, __FILE__, __LINE__);  \
  } while (0)
#endif
