#pragma once
/// \file state_io.hpp
/// An optimiser's state (momentum buffers, Adam moments, step counts) in a parameter file,
/// under "<prefix><entry name>", next to the model's parameters, so that training resumes with
/// exactly the updates it would have made.

#include <string>

#include "invar/io/archive.hpp"
#include "invar/optim/optimizer.hpp"

namespace invar::optim {

template <class Opt>
void store_state(io::Archive& archive, const Opt& optimizer, const std::string& prefix = "optimizer/") {
  using T = typename Opt::value_type;
  for (const auto& [name, tensor] : optimizer.state())
    archive.put(prefix + name, Tensor<T, Cpu>::copy_of(tensor.view()).view());
  archive.put_scalar(prefix + "learning_rate", optimizer.learning_rate());
}

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
