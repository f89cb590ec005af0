#pragma once
/// \file config.hpp
/// Version numbers, the host/device function marker and the scalar index type.
/// This header includes nothing heavy: metrics and CUDA translation units include it.

#include <cstdint>

#define INVAR_VERSION_MAJOR 0  ///< major version: incompatible API changes
#define INVAR_VERSION_MINOR 1  ///< minor version: compatible additions
#define INVAR_VERSION_PATCH 0  ///< patch version: fixes only

/// Marks a function that must compile both for the host and, under nvcc, for the GPU
/// (the role EIGEN_DEVICE_FUNC plays in Eigen). Metric kernels and element-wise functors use it.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define INVAR_HOST_DEVICE __host__ __device__
#else
#define INVAR_HOST_DEVICE
#endif

/// `INVAR_PRAGMA_SIMD` asks for a vectorised reduction loop where OpenMP SIMD is available;
/// it changes the summation order (fixed for a given build), never the thread count dependence.
#if defined(_OPENMP) && !defined(__CUDA_ARCH__)
#define INVAR_PRAGMA(x) _Pragma(#x)
#define INVAR_SIMD_REDUCTION(op, var) INVAR_PRAGMA(omp simd reduction(op : var))
#else
#define INVAR_SIMD_REDUCTION(op, var)
#endif

namespace invar {

/// Signed index type for sizes, shapes and element offsets (signed so that loops and
/// differences never wrap; 64-bit so that tensors beyond 2^31 elements work).
using index_t = std::int64_t;

}  // namespace invar
