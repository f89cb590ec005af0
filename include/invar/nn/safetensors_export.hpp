#pragma once
/// \file safetensors_export.hpp
/// A model's parameters and buffers in the safetensors format (io/safetensors.hpp), the weights
/// file PyTorch users load with `safetensors.torch.load_file` and `module.load_state_dict`.
///
/// \code
/// invar::nn::save_safetensors(model, "run/model.safetensors");        // atomic
/// invar::nn::save_safetensors(model, path, {{"dataset", "fashion-mnist"}});  // extra metadata
/// invar::nn::load_safetensors(model, path);                           // the way back, checked
/// \endcode
///
/// Names and layouts are the model's own, which are PyTorch's: "fc1.weight" is out x in (as
/// torch.nn.Linear), "conv1.weight" is O x I x kH x kW (torch.nn.Conv2d), batch norm has
/// "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var" (torch.nn.BatchNorm2d;
/// PyTorch's extra "num_batches_tracked" counter is not written, and is ignored when loading).
/// docs/export.md lists the names of the MLP, All-CNN-C and Wide ResNets and gives the
/// equivalent torch modules. The dtype is the model's scalar type (float: F32, double: F64).
///
/// Any model works: it needs `parameters()` (Parameter pointers with `name` and `value`);
/// `buffers()` (name, tensor pointer pairs) and `name()` are used when it has them. Parameters
/// come first in the file, then buffers, each in the model's order.
///
/// Metadata ("__metadata__", strings): "format": "pt" (what safetensors.torch writes; some
/// loaders check it), "producer": "invar MAJOR.MINOR.PATCH", "model": model.name() when it has one,
/// then the caller's entries (which may replace these).

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/io/safetensors.hpp"
#include "invar/nn/parameter_io.hpp"

namespace invar::nn {

/// The model's parameters and buffers (host copies) with the default metadata and `metadata`.
template <class Model>
io::Safetensors to_safetensors(Model& model, const std::map<std::string, std::string>& metadata = {}) {
  io::Safetensors st;
  st.set_metadata("format", "pt");
  st.set_metadata("producer", invar::detail::concat("invar ", INVAR_VERSION_MAJOR, ".", INVAR_VERSION_MINOR, ".",
                                                    INVAR_VERSION_PATCH));
  if constexpr (requires { model.name(); }) st.set_metadata("model", model.name());
  for (const auto& [k, v] : metadata) st.set_metadata(k, v);
  for (auto* p : model.parameters()) {
    check(!st.contains(p->name), "save_safetensors: two parameters are named '", p->name, "' in ",
          detail::model_name(model));
    st.put(p->name, detail::host_copy(p->value).view());
  }
  for (auto& [name, buffer] : detail::model_buffers(model)) {
    check(!st.contains(name), "save_safetensors: the buffer '", name, "' has the name of another tensor in ",
          detail::model_name(model));
    st.put(name, detail::host_copy(*buffer).view());
  }
  return st;
}

/// Writes the model's parameters and buffers to `path` in the safetensors format, atomically:
/// `path` holds its old contents or the complete new file. Throws invar::Error naming the path.
template <class Model>
void save_safetensors(Model& model, const std::string& path, const std::map<std::string, std::string>& metadata = {}) {
  to_safetensors(model, metadata).save(path);
}

/// Sets the model's parameters and buffers from safetensors data: every one must be there with
/// its shape (F32 or F64, converted to the model's type); a tensor the model lacks is refused,
/// except PyTorch's "*.num_batches_tracked". Nothing in the model changes unless all are good.
template <class Model>
void restore_safetensors(const io::Safetensors& st, Model& model) {
  using TensorT = std::remove_pointer_t<decltype(&model.parameters()[0]->value)>;
  using T = typename TensorT::value_type;
  using D = typename TensorT::device_type;
  const std::string where = st.source() == "memory" ? std::string("the safetensors data") : "'" + st.source() + "'";
  const std::string model_name = detail::model_name(model);
  const auto buffers = detail::model_buffers(model);
  std::vector<std::pair<Tensor<T, D>*, Tensor<T, Cpu>>> loaded;
  std::map<std::string, int> used;
  auto take = [&](const std::string& name, Tensor<T, D>* target) {
    check(st.contains(name), "load_safetensors: ", where, " has no tensor '", name, "' for ", model_name);
    check(st.dtype(name) != io::DType::int64, "load_safetensors: tensor '", name, "' in ", where,
          " is I64; ", model_name, " needs floating-point values");
    auto t = st.get<T>(name);
    check(t.shape() == target->shape(), "load_safetensors: tensor '", name, "' in ", where, " has shape ", t.shape(),
          ", ", model_name, " has ", target->shape());
    loaded.emplace_back(target, std::move(t));
    used[name] = 1;
  };
  for (auto* p : model.parameters()) take(p->name, &p->value);
  for (auto& [name, buffer] : buffers) take(name, buffer);
  const std::string counter = ".num_batches_tracked";
  for (const auto& name : st.names()) {
    const bool pytorch_counter =
        name.size() > counter.size() && name.compare(name.size() - counter.size(), counter.size(), counter) == 0;
    check(used.count(name) != 0 || pytorch_counter, "load_safetensors: ", where, " has a tensor '", name, "' that ",
          model_name, " does not have (another architecture?)");
  }
  for (auto& [target, values] : loaded) *target = Tensor<T, D>::copy_of(values.view());
}

/// Reads `path` (validated: io::Safetensors::load) into a model of the same architecture.
template <class Model>
void load_safetensors(Model& model, const std::string& path) {
  restore_safetensors(io::Safetensors::load(path), model);
}

}  // namespace invar::nn
