#pragma once
/// \file mlp.hpp
/// MLP of any widths: Flatten, then (Linear, ReLU) for every hidden layer, then a Linear to the
/// logits. Taps: "hidden1", "hidden2", ... after every hidden ReLU, and "logits".
/// Parameters: "fc1.weight", "fc1.bias", ...

#include <string>
#include <vector>

#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layers/flatten.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/sequential.hpp"

namespace invar::nn {

/// Options of make_mlp(), with chainable setters.
struct MlpOptions {
  init::Initializer initializer = init::Initializer::glorot_uniform;  ///< weight initialiser (biases start at 0)
  std::uint64_t seed = 0;  ///< initialisation seed
  bool bias = true;        ///< whether every Linear has a bias
  /// Sets #initializer; returns *this for chaining.
  MlpOptions& with_initializer(init::Initializer i) { initializer = i; return *this; }
  /// Sets #seed; returns *this.
  MlpOptions& with_seed(std::uint64_t s) { seed = s; return *this; }
  /// Sets #bias; returns *this.
  MlpOptions& with_bias(bool b) { bias = b; return *this; }
};

/// widths = {input features, hidden..., classes}, e.g. {784, 256, 128, 10} or {3072, 512, 512, 10}.
template <class T, Device D = Cpu>
Sequential<T, D> make_mlp(const std::vector<index_t>& widths, const MlpOptions& o = {}) {
  check(widths.size() >= 2, "make_mlp: need at least the input and output widths, got ", widths.size(), " widths");
  Sequential<T, D> model("mlp");
  Rng rng(o.seed);
  model.template emplace<Flatten<T, D>>("flatten");
  for (std::size_t l = 1; l < widths.size(); ++l) {
    const std::string id = std::to_string(l);
    auto& fc = model.template emplace<Linear<T, D>>("fc" + id, widths[l - 1], widths[l], o.bias);
    fc.initialize(o.initializer, rng);
    if (l + 1 < widths.size()) {
      model.template emplace<Relu<T, D>>("relu" + id);
      model.add_tap("hidden" + id);
    }
  }
  model.add_tap("logits");
  return model;
}

}  // namespace invar::nn
