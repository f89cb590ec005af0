#pragma once
/// \file shared_buffers.hpp
/// The shared dL/dx buffers of a model's backward pass (the memory plan of nn::Sequential).
///
/// A backward pass needs each layer's dL/dx only until the layer below has consumed it, so a
/// chain of layers needs two buffers, not one per layer: layer i writes into the buffer that
/// does not hold its dy. A container (a Sequential, a residual block) gives the layers inside
/// it the buffers of the next *level*, so that a block's inner chain never overwrites the dy
/// the block was given or the dx it returns. Up to three buffers per level: two for a chain, a
/// third for a side branch where needed (a residual block needs one in training, three for the
/// outputs of its inner layers in inference mode). Each buffer grows to the largest tensor it
/// carries and is then reused from step to step.
///
/// For WRN-28-10 at batch 128 a training step then holds three such buffers of at most 84 MB
/// instead of about 4 GB of per-layer gradient buffers (docs/performance.md, "Memory").

#include <cstddef>
#include <cstdint>
#include <deque>

#include "invar/core/tensor.hpp"

namespace invar::nn {

/// The shared dL/dx buffers of a model, by nesting level (see the file comment). References
/// returned by slot() stay valid as long as the object lives (a deque does not move its elements).
template <class T, Device D = Cpu>
class SharedBuffers {
 public:
  /// Buffers per level: two for a chain of layers, one for a side branch.
  static constexpr int per_level = 3;

  /// Buffer `k` (0, 1 or 2) of nesting level `level` (>= 0); empty until a layer grows it.
  Tensor<T, D>& slot(int level, int k) {
    check(level >= 0 && k >= 0 && k < per_level, "SharedBuffers: no slot ", k, " at level ", level);
    const auto i = static_cast<std::size_t>(level * per_level + k);
    while (slots_.size() <= i) slots_.emplace_back();
    return slots_[i];
  }

  /// The chain buffer of `level` that does not hold `p` (the dy a layer reads): the buffer its dL/dx
  /// may be written into.
  Tensor<T, D>& chain_slot_not_holding(int level, const void* p) { return holds(slot(level, 0), p) ? slot(level, 1) : slot(level, 0); }

  /// The chain buffer of `level` that begins at `p` (a dy an element-wise layer may overwrite
  /// with its dL/dx), or null when neither does.
  Tensor<T, D>* chain_slot_starting_at(int level, const void* p) {
    for (int k = 0; k < 2; ++k)
      if (Tensor<T, D>& t = slot(level, k); t.data() != nullptr && static_cast<const void*>(t.data()) == p) return &t;
    return nullptr;
  }
  /// Bytes held by all buffers.
  [[nodiscard]] std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto& t : slots_) n += t.bytes();
    return n;
  }

 private:
  static bool holds(const Tensor<T, D>& t, const void* p) {
    // Integer comparison: ordering pointers into different objects is unspecified in C++.
    const auto b = reinterpret_cast<std::uintptr_t>(t.data()), q = reinterpret_cast<std::uintptr_t>(p);
    return t.data() != nullptr && q >= b && q < b + t.bytes();
  }

  std::deque<Tensor<T, D>> slots_;
};

}  // namespace invar::nn
