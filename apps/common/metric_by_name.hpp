#pragma once
/// \file metric_by_name.hpp
/// The built-in metrics by command-line name: `with_metric("cosine", f)` calls f(CosineDistance{})
/// (metrics are template parameters in the library; this is the one runtime switch over them).

#include <string>

#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/metrics/metrics.hpp"

namespace invar::apps {

inline constexpr const char* metric_names = "mse, squared-euclidean, euclidean, manhattan, cosine, correlation";

template <class F>
decltype(auto) with_metric(const std::string& name, F&& f) {
  if (name == "mse") return f(MeanSquaredDifference{});
  if (name == "squared-euclidean") return f(SquaredEuclidean{});
  if (name == "euclidean") return f(Euclidean{});
  if (name == "manhattan") return f(Manhattan{});
  if (name == "cosine") return f(CosineDistance{});
  if (name == "correlation") return f(CorrelationDistance{});
  throw Error("unknown metric '" + name + "' (expected " + metric_names + ")");
}

}  // namespace invar::apps
