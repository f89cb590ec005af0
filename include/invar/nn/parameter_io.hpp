#pragma once
/// \file parameter_io.hpp
/// A model's parameters and buffers (batch norm's running statistics) in a parameter file
/// (io::Archive: versioned, checksummed, written atomically). Entries are named
/// "<prefix><parameter name>", e.g. "model/fc1.weight", so a file can also hold optimiser and
/// training state. Loading checks that every entry exists with the right shape, and that the file
/// has no entry under the prefix that the model lacks, and names the first problem; it changes
/// nothing in the model unless all entries are good.

#include <string>
#include <vector>

#include "invar/io/archive.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

template <class T, Device D>
void store_parameters(io::Archive& archive, Layer<T, D>& model, const std::string& prefix = "model/") {
  for (auto* p : model.parameters()) archive.put(prefix + p->name, Tensor<T, Cpu>::copy_of(p->value.view()).view());
  for (auto& [name, buffer] : model.buffers()) archive.put(prefix + name, Tensor<T, Cpu>::copy_of(buffer->view()).view());
}

template <class T, Device D>
void restore_parameters(const io::Archive& archive, Layer<T, D>& model, const std::string& prefix = "model/") {
  std::vector<std::pair<Tensor<T, D>*, Tensor<T, Cpu>>> loaded;
  auto take = [&](const std::string& name, Tensor<T, D>* target) {
    const std::string key = prefix + name;
    check(archive.contains(key), "restore_parameters: the file has no entry '", key, "' for ", model.name());
    auto t = archive.get<T>(key);
    check(t.shape() == target->shape(), "restore_parameters: entry '", key, "' has shape ", t.shape(), ", the model's ",
          name, " has ", target->shape());
    loaded.emplace_back(target, std::move(t));
  };
  for (auto* p : model.parameters()) take(p->name, &p->value);
  for (auto& [name, buffer] : model.buffers()) take(name, buffer);
  // A file with more entries than the model comes from another architecture: refuse, do not half-load.
  std::size_t in_file = 0;
  std::string extra;
  for (const auto& name : archive.names())
    if (name.rfind(prefix, 0) == 0) {
      ++in_file;
      bool used = false;
      for (auto* p : model.parameters()) used |= name == prefix + p->name;
      for (auto& b : model.buffers()) used |= name == prefix + b.first;
      if (!used && extra.empty()) extra = name;
    }
  check(in_file == loaded.size(), "restore_parameters: the file has ", in_file, " entries under '", prefix,
        "' but ", model.name(), " has ", loaded.size(), " (first unused: '", extra, "')");
  for (auto& [target, values] : loaded) *target = Tensor<T, D>::copy_of(values.view());
}

/// Writes the model's parameters to `path` (atomically: a failed save leaves any old file intact).
template <class T, Device D>
void save_parameters(Layer<T, D>& model, const std::string& path) {
  io::Archive archive;
  archive.put_text("invar/content", "model parameters");
  store_parameters(archive, model);
  archive.save(path);
}

/// Reads parameters written by save_parameters into a model of the same architecture.
template <class T, Device D>
void load_parameters(Layer<T, D>& model, const std::string& path) {
  restore_parameters(io::Archive::load(path), model);
}

}  // namespace invar::nn
