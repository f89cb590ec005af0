#pragma once
/// \file wide_resnet.hpp
/// Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016), pre-activation:
///
///   conv3x3 16, then 3 groups of n = (d - 4) / 6 residual blocks with 16k, 32k, 64k channels
///   (the first block of groups 2 and 3 has stride 2), batch norm, ReLU, global average pooling
///   (the "avg-pool 8" of 32x32 inputs), linear -> logits.
///
/// WRN-28-10 (the paper's) has n = 4; WRN-16-4 has n = 2. He-normal initialisation for the
/// convolutions; the linear layer keeps its bias, the convolutions have none. The shortcut of
/// the blocks that change shape is chosen by ResidualShortcut (the authors' average pooling +
/// zero padding by default; the 1x1 projection gives the usual published parameter counts).
/// Taps: "block1" ... "block3n" after every residual addition, "pool" (pooled top features after
/// the final batch norm and ReLU) and "logits".

#include <string>

#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/conv2d.hpp"
#include "invar/nn/layers/global_avg_pool.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/layers/residual_block.hpp"
#include "invar/nn/sequential.hpp"

namespace invar::nn {

/// Options of make_wide_resnet(), with chainable setters.
struct WideResnetOptions {
  index_t depth = 16;  ///< d: 6 n + 4
  index_t widen = 4;   ///< k
  index_t in_channels = 3;  ///< channels of the input images (3: RGB), > 0
  index_t classes = 10;     ///< outputs of the final linear layer = logits, > 0
  ResidualShortcut shortcut = ResidualShortcut::average_pool_zero_pad;  ///< shortcut of the blocks that change shape
  BatchNormOptions batch_norm_options{};  ///< options of every BatchNorm
  init::Initializer initializer = init::Initializer::he_normal;  ///< initialiser of the convolutions and the linear layer
  std::uint64_t seed = 0;  ///< initialisation seed
  /// Sets #depth (6 n + 4, n >= 1); returns *this for chaining.
  WideResnetOptions& with_depth(index_t d) { depth = d; return *this; }
  /// Sets #widen (>= 1); returns *this.
  WideResnetOptions& with_widen(index_t k) { widen = k; return *this; }
  /// Sets #in_channels; returns *this.
  WideResnetOptions& with_in_channels(index_t c) { in_channels = c; return *this; }
  /// Sets #classes; returns *this.
  WideResnetOptions& with_classes(index_t c) { classes = c; return *this; }
  /// Sets #shortcut; returns *this.
  WideResnetOptions& with_shortcut(ResidualShortcut s) { shortcut = s; return *this; }
  /// Sets #batch_norm_options; returns *this.
  WideResnetOptions& with_batch_norm_options(const BatchNormOptions& b) { batch_norm_options = b; return *this; }
  /// Sets #initializer; returns *this.
  WideResnetOptions& with_initializer(init::Initializer i) { initializer = i; return *this; }
  /// Sets #seed; returns *this.
  WideResnetOptions& with_seed(std::uint64_t s) { seed = s; return *this; }

  /// Blocks per group, n = (d - 4) / 6.
  [[nodiscard]] index_t blocks_per_group() const { return (depth - 4) / 6; }
};

/// Builds and initialises WRN-depth-widen with the taps of the file comment; input
/// [B, in_channels, H, W]. Throws invar::Error unless depth = 6 n + 4 with n >= 1, widen >= 1, and
/// in_channels and classes are > 0.
template <class T, Device D = Cpu>
Sequential<T, D> make_wide_resnet(const WideResnetOptions& o = {}) {
  check(o.depth >= 10 && (o.depth - 4) % 6 == 0, "make_wide_resnet: depth must be 6 n + 4 with n >= 1 (10, 16, 22, 28, ...), got ",
        o.depth);
  check(o.widen >= 1, "make_wide_resnet: the widening factor must be at least 1, got ", o.widen);
  check(o.in_channels > 0 && o.classes > 0, "make_wide_resnet: in_channels and classes must be positive, got ",
        o.in_channels, " and ", o.classes);
  Sequential<T, D> model("wrn_" + std::to_string(o.depth) + "_" + std::to_string(o.widen));
  Rng rng(o.seed);
  auto& stem = model.template emplace<Conv2d<T, D>>(
      "conv1", o.in_channels, 16, Conv2dOptions{}.with_kernel(3).with_stride(1).with_padding(1).with_bias(false));
  stem.initialize(o.initializer, rng);
  index_t in = 16, block = 0;
  for (index_t group = 0; group < 3; ++group) {
    const index_t out = (16 << group) * o.widen;
    for (index_t i = 0; i < o.blocks_per_group(); ++i) {
      const index_t stride = (group > 0 && i == 0) ? 2 : 1;
      const std::string id = std::to_string(++block);
      auto& b = model.template emplace<ResidualBlock<T, D>>("block" + id, in, out, stride, o.shortcut,
                                                            o.batch_norm_options);
      b.initialize(o.initializer, rng);
      model.add_tap("block" + id);
      in = out;
    }
  }
  model.template emplace<BatchNorm<T, D>>("bn", in, o.batch_norm_options);
  model.template emplace<Relu<T, D>>("relu");
  model.template emplace<GlobalAvgPool<T, D>>("pool");
  model.add_tap("pool");
  auto& fc = model.template emplace<Linear<T, D>>("fc", in, o.classes, true);
  fc.initialize(o.initializer, rng);
  model.add_tap("logits");
  return model;
}

}  // namespace invar::nn
