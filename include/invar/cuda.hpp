#pragma once
/// \file cuda.hpp
/// The GPU as an invar device: `invar::Cuda` (backend/cuda/device.hpp), its context
/// (cuda::Context, cuda::ContextGuard: stream, cuBLAS / cuDNN handles, caching allocator;
/// backend/cuda/context.hpp) and its backend, DeviceBackend<Cuda> (backend/cuda/backend.cuh).
/// Include this in a translation unit compiled as CUDA that runs invar ops, layers or losses on
/// `Tensor<T, Cuda>`; link the CMake target invar::cuda (find_package(invar COMPONENTS cuda)).
/// Host-only code that just holds or moves device tensors can include
/// <invar/backend/cuda/device.hpp> instead, which compiles with a plain C++ compiler.

#if !defined(INVAR_COMPONENT_CUDA)
#error "invar: <invar/cuda.hpp> is part of the component invar::cuda: find_package(invar COMPONENTS cuda) and link the target invar::cuda"
#endif

#if !defined(__CUDACC__)
#error "<invar/cuda.hpp> contains CUDA kernels: compile this translation unit as CUDA (a .cu file, or set_source_files_properties(... LANGUAGE CUDA)) with nvcc and link the invar::cuda CMake target. Host-only code that only holds device tensors may include <invar/backend/cuda/device.hpp>."
#endif

#include "invar/backend/backend_concept.hpp"
#include "invar/backend/cuda/backend.cuh"
#include "invar/backend/cuda/context.hpp"
#include "invar/backend/cuda/device.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/device.hpp"

static_assert(invar::assert_backend<invar::DeviceBackend<invar::Cuda>>());
static_assert(invar::Backend<invar::DeviceBackend<invar::Cuda>>);
