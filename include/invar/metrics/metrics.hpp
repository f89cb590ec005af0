#pragma once
/// \file metrics.hpp
/// All of invar's distance metrics and their concept. Like each metric header, this one
/// includes nothing heavier than config.hpp and `<cmath>`, so CUDA translation units may include
/// it; pairwise_distances (CPU tensors, OpenMP) lives in analysis/pairwise_distances.hpp.

#include <tuple>

#include "invar/metrics/correlation_distance.hpp"
#include "invar/metrics/cosine_distance.hpp"
#include "invar/metrics/euclidean.hpp"
#include "invar/metrics/manhattan.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/metrics/metric.hpp"
#include "invar/metrics/squared_euclidean.hpp"

namespace invar {

/// Every built-in metric, for tests and benchmarks that run over all of them.
using all_metrics = std::tuple<MeanSquaredDifference, SquaredEuclidean, Euclidean, Manhattan, CosineDistance,
                               CorrelationDistance>;

static_assert(Metric<MeanSquaredDifference, float> && SquaredDifferenceMetric<MeanSquaredDifference, float>);
static_assert(Metric<SquaredEuclidean, float> && SquaredDifferenceMetric<SquaredEuclidean, float>);
static_assert(Metric<Euclidean, float> && Metric<Manhattan, float> && Metric<CosineDistance, float> &&
              Metric<CorrelationDistance, float>);

}  // namespace invar
