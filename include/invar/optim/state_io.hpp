#pragma once
/// \file state_io.hpp
/// An optimiser's state (momentum buffers, Adam moments, step counts) in a parameter file,
/// under "<prefix><entry name>", next to the model's parameters, so that training resumes with
/// exactly the updates it would have made.

#include <string>

#include "invar/io/archive.hpp"
#include "invar/optim/optimizer.hpp"

namespace invar::optim {

/// Puts every entry of optimizer.state() into `archive` as "<prefix><entry>" (copied to the host,
/// stored as the optimiser's scalar type), plus the current learning rate as the scalar
/// "<prefix>learning_rate". Existing entries of the same names are replaced.
template <class Opt>
void store_state(io::Archive& archive, const Opt& optimizer, const std::string& prefix = "optimizer/") {
  using T = typename Opt::value_type;
  for (const auto& [name, tensor] : optimizer.state())
    archive.put(prefix + name, Tensor<T, Cpu>::copy_of(tensor.view()).view());
  archive.put_scalar(prefix + "learning_rate", optimizer.learning_rate());
}

/// The inverse of store_state: collects the tensor entries under `prefix` (converted to the
/// optimiser's scalar type and copied to its device), hands them to optimizer.load_state, then sets
/// the stored learning rate if there is one. A missing or foreign entry throws invar::Error (from
/// load_state; the optimiser is then unchanged).
template <class Opt>
void restore_state(const io::Archive& archive, Opt& optimizer, const std::string& prefix = "optimizer/") {
  using T = typename Opt::value_type;
  using D = typename Opt::device_type;
  OptimizerState<T, D> entries;
  for (const auto& name : archive.names()) {
    if (name.rfind(prefix, 0) != 0 || name == prefix + "learning_rate") continue;
    entries.emplace_back(name.substr(prefix.size()), Tensor<T, D>::copy_of(archive.get<T>(name).view()));
  }
  optimizer.load_state(entries);
  if (archive.contains(prefix + "learning_rate")) optimizer.set_learning_rate(archive.scalar<double>(prefix + "learning_rate"));
}

}  // namespace invar::optim
