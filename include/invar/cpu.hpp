#pragma once
/// \file cpu.hpp
/// The host as an invar device: `invar::Cpu` (core/device.hpp) and its backend, Eigen's GEMM and
/// OpenMP loops (backend/cpu/). Include this (or the umbrella <invar/invar.hpp>) in a translation
/// unit that runs invar ops, layers or losses on CPU tensors; device-generic headers (losses,
/// metrics, layers) do not include it, so a CUDA translation unit never sees Eigen.

#include "invar/backend/backend_concept.hpp"
#include "invar/backend/cpu/backend.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/device.hpp"

static_assert(invar::assert_backend<invar::DeviceBackend<invar::Cpu>>());
static_assert(invar::Backend<invar::DeviceBackend<invar::Cpu>>);
