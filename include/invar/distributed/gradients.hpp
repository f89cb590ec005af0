#pragma once
/// \file gradients.hpp
/// Data-parallel bookkeeping on parameters and buffers: the gradients summed over the ranks (each
/// rank's backward gave the gradient of its rows' share of the whole batch's loss, so the sum is
/// the whole batch's gradient), and state averaged over the ranks (batch norm's running
/// statistics, which each rank updates from its own rows).
///
/// Every rank's tensors are packed into one host buffer and reduced with ONE collective (a
/// latency per step, not one per parameter), in rank order: the same bits on every rank, so the
/// replicas stay identical. Device tensors are staged through the host (docs/distributed.md).

#include <span>
#include <utility>
#include <vector>

#include "invar/core/parameter.hpp"
#include "invar/distributed/communicator.hpp"

namespace invar::distributed {

namespace detail {
/// Sums (or averages, scale = 1 / ranks) the tensors over the ranks, packed into one buffer.
template <class T, Device D>
void reduce_packed(const Communicator& comm, const std::vector<Tensor<T, D>*>& tensors, double scale) {
  std::size_t total = 0;
  for (const auto* t : tensors) total += std::size_t(t->numel());
  std::vector<T> packed(total);
  std::size_t at = 0;
  for (const auto* t : tensors) {
    const std::size_t n = std::size_t(t->numel());
    if (n) D::copy_to_host(packed.data() + at, t->data(), n * sizeof(T));
    at += n;
  }
  comm.allreduce_sum(std::span<T>(packed));
  if (scale != 1.0)
    for (T& v : packed) v = static_cast<T>(double(v) * scale);
  at = 0;
  for (auto* t : tensors) {
    const std::size_t n = std::size_t(t->numel());
    if (n) D::copy_from_host(t->data(), packed.data() + at, n * sizeof(T));
    at += n;
  }
}
}  // namespace detail

/// Sums the gradients of `params` (those with requires_grad) over the ranks, in place. Every rank
/// passes the same parameters in the same order.
template <class T, Device D>
void allreduce_gradients(const Communicator& comm, const std::vector<Parameter<T, D>*>& params) {
  if (comm.size() == 1) return;
  std::vector<Tensor<T, D>*> grads;
  for (auto* p : params)
    if (p->requires_grad) grads.push_back(&p->grad);
  detail::reduce_packed(comm, grads, 1.0);
}

/// Replaces each tensor of `buffers` (name, tensor pairs, e.g. a model's buffers()) by its mean
/// over the ranks, in place.
template <class T, Device D>
void average_buffers(const Communicator& comm, const std::vector<std::pair<std::string, Tensor<T, D>*>>& buffers) {
  if (comm.size() == 1) return;
  std::vector<Tensor<T, D>*> tensors;
  for (const auto& b : buffers) tensors.push_back(b.second);
  detail::reduce_packed(comm, tensors, 1.0 / double(comm.size()));
}

}  // namespace invar::distributed
