#pragma once
/// \file sequential.hpp
/// Sequential: a model as a list of layers, with named taps.
///
/// A tap names the output of a layer ("hidden1", "conv3"): after forward() its activation is
/// `tap(name)`, and `tap_grad(name)` is a gradient buffer of the same shape, zero after each
/// forward, into which a loss adds its dL/d(tap) (e.g. augmentation_invariance with
/// GroupLossOptions::accumulating()). backward() adds each used tap gradient to the gradient
/// flowing through that point, so a loss attached at a tap trains every layer below it.
///
///   model.forward(x);
///   augmentation_invariance(metric, model.tap("hidden1"), seeds, model.tap_grad("hidden1"), opts.accumulating());
///   softmax_cross_entropy(model.output(), labels, dlogits);
///   model.backward(dlogits);           // or model.backward_from_taps() without a top-level loss
///
/// A Sequential is itself a Layer, so blocks nest.
///
/// Memory plan (on by default; set_memory_plan(false) turns it off): the layers' dL/dx buffers are
/// lent from a SharedBuffers shared by the whole model, each layer writing into the buffer that
/// does not hold its dy (two buffers for the chain, more only inside nested blocks) or, for an
/// element-wise layer (backward_in_place), over its dy where that lies in those buffers, and a ReLU
/// runs in place over the output of a layer that allows it (output_overwritable) unless that
/// output is a tap; a layer that can (can_fuse_relu: batch norm) then applies that ReLU in its own
/// pass, and the ReLU only records it. Results are the same bits with and without the plan; what changes is that
/// dL/dx views returned by the layers inside the model stay valid only until the layer below has
/// run its backward (the model's own returned dL/dx stays valid until its next backward()).
///
/// Inference mode (set_inference(true): evaluation, feature extraction, no backward): the outputs
/// of layers that are neither taps nor the model's output share the plan's buffers too, so a
/// forward holds the taps and a few activations instead of every layer's output. backward() then
/// throws invar::Error. It is independent of eval() (batch norm's statistics).
///
/// Profiling: enable_profile(true) accumulates the wall time of every layer's forward and
/// backward (one steady_clock read per layer call), read back with profile(): where the time of a
/// training step goes, layer by layer (the benchmarks print it).

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/nn/layer.hpp"
#include "invar/nn/layers/relu.hpp"

namespace invar::nn {

/// A model as an owned list of layers with named taps; itself a Layer (see the file comment).
/// Movable, not copyable.
template <class T, Device D = Cpu>
class Sequential : public Layer<T, D> {
 public:
  /// An empty model named `name` (used in error messages).
  explicit Sequential(std::string name = "model") : name_(std::move(name)) {}
  /// Moves the layers and taps; views returned by the moved-from model stay valid.
  Sequential(Sequential&&) noexcept = default;
  /// As the move constructor.
  Sequential& operator=(Sequential&&) noexcept = default;

  /// Appends a layer; returns it for configuration (initialisation).
  template <class L>
  L& add(std::unique_ptr<L> layer) {
    L& ref = *layer;
    auto* relu = dynamic_cast<Relu<T, D>*>(&ref);  // found once here, not on every forward
    stages_.push_back(Stage{std::move(layer), {}, {}, {}, false, 0, 0, false, relu});
    return ref;
  }
  /// Constructs an `L` from `args` and appends it (as add()); returns it.
  template <class L, class... Args>
  L& emplace(Args&&... args) {
    return add(std::make_unique<L>(std::forward<Args>(args)...));
  }

  /// Names the output of the last added layer as a tap.
  void add_tap(const std::string& name) {
    check(!stages_.empty(), "Sequential ", name_, ": add a layer before naming a tap");
    check(tap_index_.find(name) == tap_index_.end(), "Sequential ", name_, ": tap '", name, "' exists already");
    stages_.back().tap = name;
    tap_index_[name] = stages_.size() - 1;
    tap_order_.push_back(name);
  }

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    check(!stages_.empty(), "Sequential ", name_, ": the model has no layers");
    TensorView<const T, D> h = x;
    input_shape_ = x.shape();
    forwarded_ = true;
    apply_memory_plan();
    for (std::size_t i = 0; i < stages_.size(); ++i) {
      Stage& s = stages_[i];
      // In place only over an output this model owns the use of: not the model's input, not a tap.
      s.layer->set_in_place(buffers_ != nullptr && i > 0 && !kept(stages_[i - 1]) &&
                            stages_[i - 1].layer->output_overwritable());
      // Inference: an output nobody reads after the next layer goes into the level's chain buffer
      // that does not hold this layer's input; not when the next layer, a tap or the output, may
      // run in place over it (the tap would then live in a shared buffer).
      const bool next_keeps = i + 1 < stages_.size() && stages_[i + 1].layer->supports_in_place() &&
                              (kept(stages_[i + 1]) || i + 2 == stages_.size());
      const bool lend = inference_forward_ && !kept(s) && i + 1 < stages_.size() && !next_keeps;
      s.layer->set_output_buffer(lend ? &buffers_->chain_slot_not_holding(level_, h.data()) : nullptr);
      // A ReLU that will run in place over this output (the condition above, one stage on): the
      // layer rectifies its output in its own pass where it can, and the ReLU leaves it as it is.
      const bool fuse = buffers_ != nullptr && !kept(s) && s.layer->output_overwritable();
      if (Relu<T, D>* next_relu = i + 1 < stages_.size() ? stages_[i + 1].relu : nullptr)
        next_relu->fuse_into(*s.layer, fuse);
      else s.layer->set_fused_relu(false);
      const auto t0 = profile_clock();
      h = s.layer->forward(h);
      if (profiling_) s.forward_seconds += seconds_since(t0);
      s.output = h;
      s.tap_grad_used = false;
    }
    return h;
  }

  /// The output of the last forward().
  [[nodiscard]] TensorView<const T, D> output() const { return stages_.back().output; }

  /// The tap names in order of add_tap() (lowest layer first).
  [[nodiscard]] const std::vector<std::string>& tap_names() const { return tap_order_; }
  /// Whether a tap of that name exists.
  [[nodiscard]] bool has_tap(const std::string& name) const { return tap_index_.count(name) > 0; }

  /// The activation at a tap after the last forward().
  [[nodiscard]] TensorView<const T, D> tap(const std::string& name) const { return stage(name).output; }

  /// The gradient buffer of a tap: zero after each forward(); losses add into it.
  TensorView<T, D> tap_grad(const std::string& name) {
    Stage& s = stage(name);
    if (!s.tap_grad_used) {
      detail::ensure_shape(s.tap_grad, s.output.shape());
      ops::fill(s.tap_grad, 0);
      s.tap_grad_used = true;
    }
    return s.tap_grad;
  }

  /// A tap's gradient buffer as tap_grad_to_write hands it out.
  struct TapGradient {
    TensorView<T, D> grad;  ///< the buffer, of the tap's shape
    bool overwrite;         ///< write every element (true) or add (false)
  };
  /// A tap's gradient buffer for a loss that can either write or add its gradient: tap_grad()
  /// without the zeroing. `overwrite` is true when nothing was added since the last forward:
  /// the buffer then holds stale values and the caller must write every element of it (as the
  /// losses do with accumulate off); false when it holds what earlier losses added, to be added
  /// to. Either way tap_grad() afterwards returns the same buffer with what was written. The
  /// first loss at a tap then writes its gradient in one pass instead of a pass of zeros and a
  /// read-modify-write (the nine taps of All-CNN-C: 46 M floats a step).
  TapGradient tap_grad_to_write(const std::string& name) {
    Stage& s = stage(name);
    if (s.tap_grad_used) return {s.tap_grad, false};
    detail::ensure_shape(s.tap_grad, s.output.shape());
    s.tap_grad_used = true;
    return {s.tap_grad, true};
  }

  /// Forgets what losses added to the tap gradients since the last forward, as the next forward
  /// does: the next tap_grad() reads zero again (e.g. to evaluate another loss on the same
  /// forward from scratch).
  void clear_tap_grads() {
    for (auto& s : stages_) s.tap_grad_used = false;
  }

  /// Backward from dL/d(output) plus every used tap gradient; returns dL/dx (an empty view after
  /// set_input_gradient(false), which training uses to skip the first layer's dL/dx).
  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == output().shape(), "Sequential ", name_, ": dy has shape ", dy.shape(), ", output has ",
          output().shape());
    return backward_impl(dy);
  }

  /// Backward when only tap losses contribute (no loss on the output).
  TensorView<const T, D> backward_from_taps() { return backward_impl(TensorView<const T, D>()); }

  /// Turns the memory plan (file comment) on (the default) or off; off, every layer keeps buffers
  /// of its own, as a layer written for another framework might expect. Takes effect at the next
  /// forward(). A Sequential nested in another follows the outer model's plan.
  void set_memory_plan(bool on) { memory_plan_ = on; }
  /// Whether the memory plan is on (set_memory_plan).
  [[nodiscard]] bool memory_plan() const { return memory_plan_; }
  /// Inference mode (file comment): on, forward() keeps only the taps and the output, and
  /// backward() throws; needs the memory plan. Takes effect at the next forward().
  void set_inference(bool on) {
    inference_ = on;
    keep_all_taps_ = true;
  }
  /// Inference mode that keeps only the activations of `kept_taps` (none: only the output, as
  /// for classification); reading another tap after such a forward throws. Throws invar::Error
  /// for a name that is not a tap.
  void set_inference(bool on, const std::vector<std::string>& kept_taps) {
    for (const auto& t : kept_taps)
      check(tap_index_.count(t) > 0, "Sequential ", name_, ": no tap named '", t, "' to keep (taps: ", list_taps(), ")");
    inference_ = on;
    keep_all_taps_ = false;
    for (auto& s : stages_) s.kept_in_inference = false;
    for (const auto& t : kept_taps) stages_[tap_index_.at(t)].kept_in_inference = true;
  }
  /// Whether inference mode is on (set_inference).
  [[nodiscard]] bool inference() const { return inference_; }
  /// Bytes of every activation and gradient buffer the model holds: its layers', the tap
  /// gradients and the plan's shared buffers (parameters and their gradients not counted).
  [[nodiscard]] std::size_t buffer_bytes() const override {
    std::size_t n = Layer<T, D>::buffer_bytes() + zero_input_grad_.bytes() + shared_buffer_bytes();
    for (const auto& s : stages_) n += s.layer->buffer_bytes() + s.tap_grad.bytes();
    return n;
  }
  /// Bytes of the memory plan's shared buffers (0 without the plan or before a forward).
  [[nodiscard]] std::size_t shared_buffer_bytes() const { return own_buffers_ ? own_buffers_->bytes() : 0; }

  /// A nested model: follows the outer model's plan.
  void plan_memory(const MemoryPlan<T, D>& plan) override {
    nested_ = true;
    outer_plan_ = plan;
  }

  std::vector<Parameter<T, D>*> parameters() override {
    std::vector<Parameter<T, D>*> all;
    for (auto& s : stages_)
      for (auto* p : s.layer->parameters()) all.push_back(p);
    return all;
  }
  std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() override {
    std::vector<std::pair<std::string, Tensor<T, D>*>> all;
    for (auto& s : stages_)
      for (auto& b : s.layer->buffers()) all.push_back(b);
    return all;
  }
  /// Passes the communicator to every layer (batch norm synchronises its statistics across it).
  void set_communicator(const distributed::Communicator* comm) override {
    for (auto& s : stages_) s.layer->set_communicator(comm);
  }
  void set_training(bool training) override {
    Layer<T, D>::set_training(training);
    for (auto& s : stages_) s.layer->set_training(training);
  }
  /// Training mode for every layer (batch statistics in batch norm).
  void train() { set_training(true); }
  /// Evaluation mode for every layer (running statistics in batch norm).
  void eval() { set_training(false); }
  /// Sets every parameter's gradient to 0.
  void zero_grad() {
    for (auto* p : parameters()) p->zero_grad();
  }
  /// Total number of trainable scalars (buffers not counted).
  [[nodiscard]] index_t parameter_count() {
    index_t n = 0;
    for (auto* p : parameters()) n += p->value.numel();
    return n;
  }
  [[nodiscard]] std::string name() const override { return name_; }
  /// Number of layers (top-level only; a nested Sequential counts as one).
  [[nodiscard]] std::size_t size() const { return stages_.size(); }

  /// Accumulated time of one layer, since profiling was enabled.
  struct LayerTime {
    std::string layer;  ///< the layer's name()
    /// Wall time in seconds summed over the layer's forward() calls.
    double forward_seconds, backward_seconds;  ///< the same for its backward() calls
  };
  /// Starts (and resets) or stops the per-layer timing.
  void enable_profile(bool on) {
    profiling_ = on;
    for (auto& s : stages_) s.forward_seconds = s.backward_seconds = 0;
  }
  /// One entry per layer, in order; zeros when profiling was never enabled.
  [[nodiscard]] std::vector<LayerTime> profile() const {
    std::vector<LayerTime> out;
    for (const auto& s : stages_) out.push_back({s.layer->name(), s.forward_seconds, s.backward_seconds});
    return out;
  }
  /// Layer i in order of addition; std::out_of_range for i >= size().
  Layer<T, D>& layer(std::size_t i) { return *stages_.at(i).layer; }

 private:
  struct Stage {
    std::unique_ptr<Layer<T, D>> layer;
    std::string tap;
    TensorView<const T, D> output;
    Tensor<T, D> tap_grad;
    bool tap_grad_used;
    double forward_seconds = 0, backward_seconds = 0;
    bool kept_in_inference = false;  ///< set_inference(on, kept_taps)
    Relu<T, D>* relu = nullptr;      ///< the layer, where it is a ReLU (fused with the stage before)
  };
  using Clock = std::chrono::steady_clock;
  Clock::time_point profile_clock() const { return profiling_ ? Clock::now() : Clock::time_point{}; }
  static double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }

  Stage& stage(const std::string& name) {
    auto it = tap_index_.find(name);
    check(it != tap_index_.end(), "Sequential ", name_, ": no tap named '", name, "' (taps: ", list_taps(), ")");
    check(forwarded_, "Sequential ", name_, ": tap '", name, "' has no activation yet: call forward() first");
    Stage& s = stages_[it->second];
    check(kept(s) || it->second + 1 == stages_.size(), "Sequential ", name_, ": tap '", name,
          "' was not kept by the last forward (inference mode with other kept taps)");
    return s;
  }

  // Whether a stage's output is kept for the caller: a tap, unless inference keeps other taps.
  bool kept(const Stage& s) const {
    return !s.tap.empty() && (!inference_forward_ || keep_all_taps_ || s.kept_in_inference);
  }
  const Stage& stage(const std::string& name) const { return const_cast<Sequential*>(this)->stage(name); }

  std::string list_taps() const {
    std::string s;
    for (const auto& t : tap_order_) s += (s.empty() ? "" : ", ") + t;
    return s.empty() ? "none" : s;
  }

  // Chooses the buffers of this model's layers (the outer model's, its own, or none) and passes
  // the next level to the layers that contain layers.
  void apply_memory_plan() {
    if (nested_) {
      buffers_ = outer_plan_.buffers;
      level_ = outer_plan_.level;
      inference_forward_ = outer_plan_.inference;
    } else if (memory_plan_) {
      if (!own_buffers_) own_buffers_ = std::make_unique<SharedBuffers<T, D>>();
      buffers_ = own_buffers_.get();
      level_ = 0;
      inference_forward_ = inference_;
    } else {
      check(!inference_, "Sequential ", name_, ": inference mode needs the memory plan (set_memory_plan(true))");
      buffers_ = nullptr;
      inference_forward_ = false;
    }
    inference_forward_ = inference_forward_ && buffers_ != nullptr;
    for (auto& s : stages_) s.layer->plan_memory(MemoryPlan<T, D>{buffers_, level_ + 1, inference_forward_});
  }

  TensorView<const T, D> backward_impl(TensorView<const T, D> dy) {
    check(forwarded_, "Sequential ", name_, ": backward() before forward()");
    check(!inference_forward_, "Sequential ", name_,
          ": backward() after a forward in inference mode, which keeps no activations (set_inference(false) first)");
    bool have = dy.data() != nullptr;
    TensorView<const T, D> g = dy;
    // Without an input gradient, backward stops at the lowest layer with parameters, which is
    // told not to compute its own dL/dx.
    std::size_t lowest = 0;
    if (!this->input_gradient()) {
      while (lowest + 1 < stages_.size() && stages_[lowest].layer->parameters().empty()) ++lowest;
    }
    for (std::size_t i = 0; i < stages_.size(); ++i)
      stages_[i].layer->set_input_gradient(this->input_gradient() || i > lowest);
    for (std::size_t i = stages_.size(); i-- > lowest;) {
      Stage& s = stages_[i];
      // Both dy and the tap's gradient flow in: the layer's backward of their sum
      // (Layer::backward_sum; the tap's buffer is not read again before the next forward).
      const bool sum = s.tap_grad_used && have;
      if (s.tap_grad_used && !have) {
        g = s.tap_grad;
        have = true;
      }
      if (!have) continue;  // nothing flows above the highest used tap
      // dL/dx into the chain buffer that does not hold dy, or over dy itself for an element-wise
      // layer whose dy a layer of this model wrote into a chain buffer (not the caller's dy, not
      // a tap gradient): nothing reads that dy after this layer.
      Tensor<T, D>* over_dy = buffers_ != nullptr && s.layer->backward_in_place()
                                  ? buffers_->chain_slot_starting_at(level_, g.data())
                                  : nullptr;
      s.layer->set_input_gradient_buffer(over_dy != nullptr ? over_dy
                                         : buffers_         ? &buffers_->chain_slot_not_holding(level_, g.data())
                                                            : nullptr);
      const auto t0 = profile_clock();
      g = sum ? s.layer->backward_sum(g, s.tap_grad) : s.layer->backward(g);
      if (profiling_) s.backward_seconds += seconds_since(t0);
    }
    if (!this->input_gradient()) return {};
    if (have && nested_ && buffers_ != nullptr) {
      // The chain's buffers are lent to the outer model's other blocks next: return dL/dx in the
      // buffer the outer model lent this model.
      const TensorView<T, D> dx = this->input_gradient_buffer(input_shape_);
      ops::copy(g, dx);
      return dx;
    }
    if (!have) {
      // No gradient at all: dL/dx = 0.
      detail::ensure_shape(zero_input_grad_, input_shape_);
      ops::fill(zero_input_grad_, 0);
      return zero_input_grad_;
    }
    return g;
  }

  std::string name_;
  std::vector<Stage> stages_;
  std::map<std::string, std::size_t> tap_index_;
  std::vector<std::string> tap_order_;
  Tensor<T, D> zero_input_grad_;
  Shape input_shape_;
  bool forwarded_ = false;
  bool profiling_ = false;
  // Memory plan: whether it is on (top-level model), the buffers in use (own, the outer model's,
  // or none), their level, and whether an outer model plans for this one.
  bool memory_plan_ = true, nested_ = false, inference_ = false, inference_forward_ = false, keep_all_taps_ = true;
  std::unique_ptr<SharedBuffers<T, D>> own_buffers_;
  MemoryPlan<T, D> outer_plan_;
  SharedBuffers<T, D>* buffers_ = nullptr;
  int level_ = 0;
};

}  // namespace invar::nn
