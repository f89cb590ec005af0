#pragma once
/// \file parameter_io.hpp
/// A model's parameters and buffers (batch norm's running statistics) in a parameter file
/// (io::Archive: versioned, checksummed, written atomically). Entries are named
/// `prefix + parameter name`, e.g. "model/fc1.weight", so a file can also hold optimiser and
/// training state. Loading checks that every entry exists with the right shape, and that the file
/// has no entry under the prefix that the model lacks, and names the first problem; it changes
/// nothing in the model unless all entries are good.
///
/// Any model works, not only invar's layers: it needs `parameters()` (a vector of Parameter
/// pointers); `buffers()` (name, tensor pointer pairs) and `name()` are used when it has them.

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "invar/io/archive.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

namespace detail {
template <class Model>
std::vector<std::pair<std::string, decltype(std::declval<Model&>().parameters()[0]->value)*>> model_buffers(Model& m) {
  if constexpr (requires { m.buffers(); }) {
    return m.buffers();
  } else {
    return {};
  }
}
template <class T, Device D>
Tensor<T, Cpu> host_copy(const Tensor<T, D>& t) {
  return Tensor<T, Cpu>::copy_of(t.view());
}
template <class Model>
std::string model_name(const Model& m) {
  if constexpr (requires { m.name(); }) {
    return m.name();
  } else {
    return "the model";
  }
}
}  // namespace detail

/// Puts a host copy of every parameter and buffer of `model` into `archive`, named prefix + name.
template <class Model>
void store_parameters(io::Archive& archive, Model& model, const std::string& prefix = "model/") {
  for (auto* p : model.parameters()) archive.put(prefix + p->name, detail::host_copy(p->value).view());
  for (auto& [name, buffer] : detail::model_buffers(model)) archive.put(prefix + name, detail::host_copy(*buffer).view());
}

/// Loads every parameter and buffer of `model` from the entries prefix + name of `archive`.
/// Throws invar::Error, leaving the model unchanged, if an entry is missing or has another shape,
/// or if the archive has entries under `prefix` that the model lacks.
template <class Model>
void restore_parameters(const io::Archive& archive, Model& model, const std::string& prefix = "model/") {
  using TensorT = std::remove_pointer_t<decltype(&model.parameters()[0]->value)>;
  using T = typename TensorT::value_type;
  using D = typename TensorT::device_type;
  const auto buffers = detail::model_buffers(model);
  const std::string model_name = detail::model_name(model);
  std::vector<std::pair<Tensor<T, D>*, Tensor<T, Cpu>>> loaded;
  auto take = [&](const std::string& name, Tensor<T, D>* target) {
    const std::string key = prefix + name;
    check(archive.contains(key), "restore_parameters: the file has no entry '", key, "' for ", model_name);
    auto t = archive.get<T>(key);
    check(t.shape() == target->shape(), "restore_parameters: entry '", key, "' has shape ", t.shape(), ", the model's ",
          name, " has ", target->shape());
    loaded.emplace_back(target, std::move(t));
  };
  for (auto* p : model.parameters()) take(p->name, &p->value);
  for (auto& [name, buffer] : buffers) take(name, buffer);
  // A file with more entries than the model comes from another architecture: refuse, do not half-load.
  std::size_t in_file = 0;
  std::string extra;
  for (const auto& name : archive.names())
    if (name.rfind(prefix, 0) == 0) {
      ++in_file;
      bool used = false;
      for (auto* p : model.parameters()) used |= name == prefix + p->name;
      for (auto& b : buffers) used |= name == prefix + b.first;
      if (!used && extra.empty()) extra = name;
    }
  check(in_file == loaded.size(), "restore_parameters: the file has ", in_file, " entries under '", prefix,
        "' but ", model_name, " has ", loaded.size(), " (first unused: '", extra, "')");
  for (auto& [target, values] : loaded) *target = Tensor<T, D>::copy_of(values.view());
}

/// Writes the model's parameters to `path` (atomically: a failed save leaves any old file intact).
template <class Model>
void save_parameters(Model& model, const std::string& path) {
  io::Archive archive;
  archive.put_text("invar/content", "model parameters");
  store_parameters(archive, model);
  archive.save(path);
}

/// Reads parameters written by save_parameters into a model of the same architecture.
template <class Model>
void load_parameters(Model& model, const std::string& path) {
  restore_parameters(io::Archive::load(path), model);
}

}  // namespace invar::nn
