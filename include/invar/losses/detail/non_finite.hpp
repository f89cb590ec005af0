#pragma once
/// \file non_finite.hpp
/// NaN/Inf in the features: found only when a sum came out non-finite (no extra pass in the
/// normal case), then located for the message.

#include <cmath>

#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::detail {

template <class T, Device D>
[[noreturn]] void throw_non_finite(const char* loss, TensorView<const T, D> x) {
  auto host = Tensor<T, Cpu>::copy_of(x);
  const index_t cols = host.numel() / (host.rows() > 0 ? host.rows() : 1);
  for (index_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(double(host[i])))
      throw Error(concat(loss, ": x has a non-finite value (", double(host[i]), ") at row ", i / cols, ", column ",
                         i % cols, "; the loss is undefined"));
  throw Error(concat(loss, ": the sums over pairs overflowed (features too large for double?)"));
}

}  // namespace invar::detail
