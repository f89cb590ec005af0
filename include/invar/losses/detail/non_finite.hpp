#pragma once
/// \file non_finite.hpp
/// NaN/Inf in the features: found only when a sum came out non-finite (no extra pass in the
/// normal case), then located for the message.

#include <cmath>

#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/losses/detail/shard.hpp"

namespace invar::detail {

/// The message naming x's first non-finite value (row numbers from `first_row`); empty if none.
template <class T, Device D>
std::string non_finite_message(const char* loss, TensorView<const T, D> x, index_t first_row = 0) {
  auto host = Tensor<T, Cpu>::copy_of(x);
  const index_t cols = host.numel() / (host.rows() > 0 ? host.rows() : 1);
  for (index_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(double(host[i])))
      return concat(loss, ": x has a non-finite value (", double(host[i]), ") at row ", first_row + i / cols,
                    ", column ", i % cols, "; the loss is undefined");
  return {};
}

template <class T, Device D>
[[noreturn]] void throw_non_finite(const char* loss, TensorView<const T, D> x) {
  if (auto m = non_finite_message(loss, x); !m.empty()) throw Error(m);
  throw Error(concat(loss, ": the sums over pairs overflowed (features too large for double?)"));
}

/// As above for a rank's rows of a batch held by several ranks: every rank throws (the message of
/// the first rank that holds a non-finite value, its row numbered in the whole batch).
template <class T, Device D>
[[noreturn]] void throw_non_finite(const char* loss, TensorView<const T, D> x, const Shard& shard) {
  if (!shard.distributed()) throw_non_finite(loss, x);
  distributed::agree_or_throw(*shard.comm, non_finite_message(loss, x, shard.begin));
  throw Error(concat(loss, ": the sums over pairs overflowed (features too large for double?)"));
}

}  // namespace invar::detail
