#pragma once
/// \file invar.hpp
/// The umbrella header: everything invar offers on the CPU. Including single headers
/// (e.g. invar/metrics/euclidean.hpp) keeps compile times down where that matters.

#include "invar/core/config.hpp"
#include "invar/core/device.hpp"
#include "invar/core/eigen.hpp"
#include "invar/core/error.hpp"
#include "invar/core/shape.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/tensor_view.hpp"

#include "invar/backend/cpu/threads.hpp"
#include "invar/backend/ops.hpp"

#include "invar/metrics/metrics.hpp"
#include "invar/metrics/pairwise.hpp"
