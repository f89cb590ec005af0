#pragma once
// Small models of every architecture invar ships, with every parameter and buffer set to seeded
// random values (batch norm's running variances positive), for the safetensors export tests.

#include <cstdint>
#include <random>
#include <string>

#include "invar/cpu.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "support/random.hpp"

namespace invar::test {

/// Every parameter uniform in [-0.5, 0.5), running means in [-0.2, 0.2), running variances in [0.5, 1.5).
template <class Model>
void randomize_for_export(Model& model, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (auto* p : model.parameters())
    for (auto& v : p->value) v = static_cast<typename std::remove_reference_t<decltype(v)>>(uniform(rng, -0.5, 0.5));
  for (auto& [name, buffer] : model.buffers()) {
    const bool variance = name.find("running_var") != std::string::npos;
    for (auto& v : *buffer)
      v = static_cast<typename std::remove_reference_t<decltype(v)>>(variance ? uniform(rng, 0.5, 1.5)
                                                                                : uniform(rng, -0.2, 0.2));
  }
}

/// MLP 12-7-5-3 (input 12 features, or 3 x 2 x 2 images).
template <class T = float>
nn::Sequential<T> export_mlp(bool bias = true) {
  auto m = nn::make_mlp<T>({12, 7, 5, 3}, nn::MlpOptions{}.with_seed(1).with_bias(bias));
  randomize_for_export(m, 11);
  return m;
}

/// All-CNN-C, width 1/16 (6 and 12 channels), 3 input channels, 4 classes; 12 x 12 inputs.
template <class T = float>
nn::Sequential<T> export_all_cnn(nn::TopConvPadding top = nn::TopConvPadding::same, bool batch_norm = true) {
  auto m = nn::make_all_cnn<T>(nn::AllCnnOptions{}
                                   .with_in_channels(3)
                                   .with_classes(4)
                                   .with_width(1.0 / 16)
                                   .with_top_padding(top)
                                   .with_batch_norm(batch_norm)
                                   .with_seed(2));
  randomize_for_export(m, 12);
  return m;
}

/// WRN-10-1 (one block per group), 3 input channels, 4 classes; 8 x 8 inputs.
template <class T = float>
nn::Sequential<T> export_wrn(nn::ResidualShortcut shortcut) {
  auto m = nn::make_wide_resnet<T>(
      nn::WideResnetOptions{}.with_depth(10).with_widen(1).with_classes(4).with_shortcut(shortcut).with_seed(3));
  randomize_for_export(m, 13);
  return m;
}

}  // namespace invar::test
