#pragma once
/// \file shard.hpp
/// A loss call's share of a batch held by several ranks (GroupLossOptions::communicator): which
/// rows are this rank's, the rows of a global grouping that fall in them, and the collectives the
/// paths need on device arrays (staged through the host where the device is not host memory).

#include <span>
#include <vector>

#include "invar/core/tensor.hpp"
#include "invar/distributed/communicator.hpp"
#include "invar/losses/detail/device_buffers.hpp"
#include "invar/losses/grouping.hpp"

namespace invar::detail {

/// This rank's rows [begin, begin + rows) of a batch of `total` rows.
struct Shard {
  const distributed::Communicator* comm = nullptr;  ///< null or one rank: the whole batch is here
  index_t begin = 0;   ///< global index of this rank's first row
  index_t rows = 0;    ///< this rank's rows
  index_t total = 0;   ///< rows of the whole batch
  int first_owner = 0; ///< the first rank that holds rows (it holds global row 0)
  std::vector<index_t> rows_of_rank;  ///< every rank's row count (distributed only)
  [[nodiscard]] bool distributed() const { return distributed::is_distributed(comm); }
};

/// The rows of global grouping `g` that lie in [begin, begin + rows), in the layout the kernels
/// take (grouping.hpp): local row indices group by group, then the local rows in no group;
/// offsets per global group (empty groups have equal offsets); each local row's dense group.
struct LocalRows {
  std::vector<index_t> order, offsets, dense;
};
inline LocalRows local_rows(const Grouping& g, index_t begin, index_t rows) {
  LocalRows l;
  l.dense.assign(g.dense().begin() + begin, g.dense().begin() + begin + rows);
  l.order.reserve(std::size_t(rows));
  l.offsets.reserve(std::size_t(g.groups()) + 1);
  l.offsets.push_back(0);
  const auto& order = g.order();
  const auto& offsets = g.offsets();
  auto take = [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      const index_t i = order[std::size_t(p)];
      if (i >= begin && i < begin + rows) l.order.push_back(i - begin);
    }
  };
  for (index_t k = 0; k < g.groups(); ++k) {
    take(offsets[std::size_t(k)], offsets[std::size_t(k) + 1]);
    l.offsets.push_back(index_t(l.order.size()));
  }
  take(offsets.back(), index_t(order.size()));  // the rows in no group
  return l;
}

/// Element-wise sum over the ranks of a device array, in rank order (staged through the host
/// where the device's memory is not host memory).
template <class T, Device D>
void allreduce_sum(const distributed::Communicator& comm, TensorView<T, D> v) {
  if (v.numel() == 0) {
    comm.allreduce_sum(std::span<T>{});
    return;
  }
  if constexpr (HostDevice<D>) {
    comm.allreduce_sum(std::span<T>(v.data(), std::size_t(v.numel())));
  } else {
    auto host = to_host(v);
    comm.allreduce_sum(std::span<T>(host));
    D::copy_from_host(v.data(), host.data(), host.size() * sizeof(T));
  }
}

/// Every rank's rows of x (rows x cols, this rank's), concatenated in rank order on every rank.
template <class T, Device D>
Tensor<T, D> gather_rows(const Shard& s, TensorView<const T, D> x, index_t cols) {
  const auto host = to_host(x);
  const auto all = distributed::allgather(*s.comm, std::span<const T>(host));
  auto out = Tensor<T, D>::uninitialized(Shape{s.total, cols});
  if (!all.values.empty()) D::copy_from_host(out.data(), all.values.data(), all.values.size() * sizeof(T));
  return out;
}

}  // namespace invar::detail
