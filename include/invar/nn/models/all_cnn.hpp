#pragma once
/// \file all_cnn.hpp
/// All-CNN-C (Springenberg et al. 2015) as the invariance paper's authors trained it:
///
///   conv3x3 96, conv3x3 96, conv3x3 96 stride 2,
///   conv3x3 192, conv3x3 192, conv3x3 192 stride 2,
///   conv3x3 192 ('same' in the authors' code: 8x8 maps on CIFAR; 'valid' in the original: 6x6),
///   conv1x1 192, conv1x1 classes, global average pooling -> logits,
///
/// with batch norm and ReLU after every convolution, the last one included, and Glorot-uniform
/// initialisation. With batch norm the convolutions have no bias (batch norm's shift replaces
/// it); without batch norm they have one. Taps: "conv1" ... "conv9" after each ReLU and "pool",
/// the pooled top features (which are also the logits). Parameter names: "conv1.weight",
/// "bn1.weight", ...; running statistics "bn1.running_mean", ...
///
/// A width multiplier scales 96 and 192 (rounded, at least 1) for small runs.

#include <algorithm>
#include <cmath>
#include <string>

#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/conv2d.hpp"
#include "invar/nn/layers/global_avg_pool.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/sequential.hpp"

namespace invar::nn {

/// Padding of All-CNN-C's seventh convolution (the last 3x3).
enum class TopConvPadding { same, valid };

/// Options of make_all_cnn(), with chainable setters.
struct AllCnnOptions {
  index_t in_channels = 3;  ///< channels of the input images (3: RGB), > 0
  index_t classes = 10;     ///< output channels of the last convolution = logits, > 0
  double width = 1.0;  ///< multiplies the 96 and 192 channels
  TopConvPadding top_padding = TopConvPadding::same;  ///< seventh convolution: same (the authors') or valid (the original)
  bool batch_norm = true;  ///< batch norm after every convolution (then the convolutions have no bias)
  BatchNormOptions batch_norm_options{};  ///< options of every BatchNorm (used when batch_norm)
  init::Initializer initializer = init::Initializer::glorot_uniform;  ///< initialiser of the convolution weights
  std::uint64_t seed = 0;  ///< initialisation seed
  /// Sets #in_channels; returns *this for chaining.
  AllCnnOptions& with_in_channels(index_t c) { in_channels = c; return *this; }
  /// Sets #classes; returns *this.
  AllCnnOptions& with_classes(index_t c) { classes = c; return *this; }
  /// Sets #width (finite, > 0); returns *this.
  AllCnnOptions& with_width(double w) { width = w; return *this; }
  /// Sets #top_padding; returns *this.
  AllCnnOptions& with_top_padding(TopConvPadding p) { top_padding = p; return *this; }
  /// Sets #batch_norm; returns *this.
  AllCnnOptions& with_batch_norm(bool b) { batch_norm = b; return *this; }
  /// Sets #batch_norm_options; returns *this.
  AllCnnOptions& with_batch_norm_options(const BatchNormOptions& b) { batch_norm_options = b; return *this; }
  /// Sets #initializer; returns *this.
  AllCnnOptions& with_initializer(init::Initializer i) { initializer = i; return *this; }
  /// Sets #seed; returns *this.
  AllCnnOptions& with_seed(std::uint64_t s) { seed = s; return *this; }

  /// The two channel widths after the multiplier: {96 w, 192 w}, rounded, at least 1.
  [[nodiscard]] std::pair<index_t, index_t> widths() const {
    auto scaled = [&](double c) { return std::max<index_t>(1, static_cast<index_t>(std::lround(c * width))); };
    return {scaled(96), scaled(192)};
  }
};

/// Builds and initialises All-CNN-C with the taps of the file comment; input [B, in_channels, H, W].
/// Throws invar::Error unless in_channels and classes are > 0 and width is finite and > 0.
template <class T, Device D = Cpu>
Sequential<T, D> make_all_cnn(const AllCnnOptions& o = {}) {
  check(o.in_channels > 0 && o.classes > 0, "make_all_cnn: in_channels and classes must be positive, got ",
        o.in_channels, " and ", o.classes);
  check(std::isfinite(o.width) && o.width > 0, "make_all_cnn: width must be a positive number, got ", o.width);
  // 192 w channels must be a number of channels, not an overflow (std::lround of 1e300 is undefined).
  check(192.0 * o.width <= double(1 << 20), "make_all_cnn: width ", o.width, " asks for ", 192.0 * o.width,
        " channels; at most ", (1 << 20) / 192, " (2^20 channels)");
  const auto [c1, c2] = o.widths();
  struct Spec {
    index_t out, kernel, stride, padding;
  };
  const index_t top_pad = o.top_padding == TopConvPadding::same ? 1 : 0;
  const Spec specs[9] = {{c1, 3, 1, 1}, {c1, 3, 1, 1}, {c1, 3, 2, 1},       {c2, 3, 1, 1},        {c2, 3, 1, 1},
                         {c2, 3, 2, 1}, {c2, 3, 1, top_pad}, {c2, 1, 1, 0}, {o.classes, 1, 1, 0}};
  Sequential<T, D> model("all_cnn");
  Rng rng(o.seed);
  index_t in = o.in_channels;
  for (int l = 0; l < 9; ++l) {
    const std::string id = std::to_string(l + 1);
    const Spec& s = specs[l];
    auto& conv = model.template emplace<Conv2d<T, D>>(
        "conv" + id, in, s.out,
        Conv2dOptions{}.with_kernel(s.kernel).with_stride(s.stride).with_padding(s.padding).with_bias(!o.batch_norm));
    conv.initialize(o.initializer, rng);
    if (o.batch_norm) model.template emplace<BatchNorm<T, D>>("bn" + id, s.out, o.batch_norm_options);
    model.template emplace<Relu<T, D>>("relu" + id);
    model.add_tap("conv" + id);
    in = s.out;
  }
  model.template emplace<GlobalAvgPool<T, D>>("pool");
  model.add_tap("pool");
  return model;
}

}  // namespace invar::nn
