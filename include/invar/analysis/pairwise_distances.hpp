#pragma once
/// \file pairwise_distances.hpp
/// pairwise_distances: the B x B matrix of d(x_i, x_j) between the rows of a feature matrix
/// (representational dissimilarity matrices, checks of the losses' fast paths, custom metrics).

#include <type_traits>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/tensor_view.hpp"
#include "invar/metrics/metric.hpp"

namespace invar {

/// out(i, j) = metric.value(row i of x, row j of x). x has B rows along dim 0 and any further
/// dims flattened into the row (a conv layer's B x C x H x W output is B rows of C*H*W); out is
/// B x B. Throws invar::Error on wrong shapes. Rows are split across threads; each entry is
/// computed by one call to value(), so the result does not depend on the thread count.
/// For symmetric metrics only j >= i is evaluated and mirrored, so out is exactly symmetric.
template <class M, class T>
  requires Metric<M, T>
void pairwise_distances(const M& metric, TensorView<const T> x, TensorView<T> out) {
  check(x.rank() >= 1, "pairwise_distances: x must have one row per sample along dim 0, got a scalar (shape ",
        x.shape(), ")");
  const index_t b = x.dim(0);
  const index_t d = x.row_size();
  check(out.rank() == 2 && out.dim(0) == b && out.dim(1) == b, "pairwise_distances: out must have shape [", b,
        ", ", b, "] for x of shape ", x.shape(), ", got ", out.shape());
  const T* xs = x.data();
  T* o = out.data();
  auto row = [&](index_t i) { return xs + i * d; };

  if constexpr (M::symmetric) {
    // Work item p fills rows p and b-1-p from the diagonal on: (b - p) + (p + 1) = b + 1 entries
    // per item, so contiguous chunks of items are balanced. Entry (i, j), j >= i, and its mirror
    // are written only by the item that owns row i: no two threads write the same entry.
    auto fill_upper = [&](index_t i) {
      for (index_t j = i; j < b; ++j) {
        const T v = metric.value(row(i), row(j), d);
        o[i * b + j] = v;
        o[j * b + i] = v;
      }
    };
    cpu::parallel_for((b + 1) / 2, (b + 1) * (d + 1), [&](index_t begin, index_t end) {
      for (index_t p = begin; p < end; ++p) {
        fill_upper(p);
        if (b - 1 - p != p) fill_upper(b - 1 - p);
      }
    });
  } else {
    cpu::parallel_for(b, b * (d + 1), [&](index_t begin, index_t end) {
      for (index_t i = begin; i < end; ++i)
        for (index_t j = 0; j < b; ++j) o[i * b + j] = metric.value(row(i), row(j), d);
    });
  }
}

/// The same for anything invar::to_view accepts: Tensor, const Tensor, mutable or const views.
/// `pairwise_distances(Euclidean{}, features, rdm);` with `Tensor<float> features, rdm;`.
template <class M, class X, class O>
  requires Viewable<const X> && Viewable<O> &&
           (!std::is_same_v<std::remove_cvref_t<X>, TensorView<const typename view_t<const X>::value_type>> ||
            !std::is_same_v<std::remove_cvref_t<O>, TensorView<typename view_t<O>::value_type>>)
void pairwise_distances(const M& metric, const X& x, O&& out) {
  using XV = view_t<const X>;
  using OV = view_t<O>;
  using T = typename XV::value_type;
  static_assert(std::is_same_v<typename OV::value_type, T>,
                "pairwise_distances: x and out must have the same element type");
  static_assert(!std::is_const_v<typename OV::element_type>, "pairwise_distances: out must be writable");
  static_assert(HostDevice<typename XV::device_type> && HostDevice<typename OV::device_type>,
                "pairwise_distances runs on the CPU: x and out must be host tensors");
  static_assert(assert_metric<M, T>());
  pairwise_distances<M, T>(metric, TensorView<const T>(to_view(x)), to_view(out));
}

}  // namespace invar
