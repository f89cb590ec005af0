// The memory plan of nn::Sequential (shared dL/dx buffers, in-place ReLUs, the residual addition
// over conv2's output): the same bits as the same model without it, for every model kind, in
// training and evaluation, with tap gradients and batch sizes that grow and shrink the buffers;
// and the memory it promises: bounded shared buffers, ReLUs in place only where allowed.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/flatten.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/model.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("nn");

namespace {

std::vector<double> plan_values(TensorView<const double> t) { return {t.data(), t.data() + t.numel()}; }

struct PlanStep {
  std::vector<double> output, dx;
  std::vector<std::vector<double>> taps, grads;
};

// One forward and backward with an output gradient and gradients at two taps (the first and the
// middle one), all from `seed`.
PlanStep plan_step(nn::Sequential<double>& model, const Shape& input, std::uint64_t seed) {
  model.zero_grad();
  const auto x = test::random_tensor<double>(input, seed, 0.0, 1.0);
  model.forward(x);
  const auto& names = model.tap_names();
  std::vector<std::string> used;
  if (!names.empty()) used = {names.front(), names[names.size() / 2]};
  for (std::size_t k = 0; k < used.size(); ++k) {
    const auto g = test::random_tensor<double>(model.tap(used[k]).shape(), seed + 10 + k);
    ops::copy(g, model.tap_grad(used[k]));
  }
  PlanStep r;
  r.output = plan_values(model.output());
  for (const auto& n : names) r.taps.push_back(plan_values(model.tap(n)));
  const auto dy = test::random_tensor<double>(model.output().shape(), seed + 1);
  const auto dx = model.backward(dy);
  if (model.input_gradient()) r.dx = plan_values(dx);
  for (auto* p : model.parameters()) r.grads.push_back(plan_values(p->grad));
  return r;
}

// A model with a nested Sequential between a Flatten and the top layer: the nested chain shares
// the next level's buffers, and the Flatten returns a view of its dy.
nn::Sequential<double> plan_nested_model() {
  Rng rng(21);
  nn::Sequential<double> model("outer");
  model.emplace<nn::Flatten<double>>("flatten");
  model.emplace<nn::Linear<double>>("fc1", 12, 9, true).initialize(nn::init::Initializer::glorot_uniform, rng);
  auto inner = std::make_unique<nn::Sequential<double>>("inner");
  inner->emplace<nn::Relu<double>>("relu1");
  inner->emplace<nn::Linear<double>>("fc2", 9, 7, true).initialize(nn::init::Initializer::glorot_uniform, rng);
  inner->emplace<nn::Relu<double>>("relu2");
  model.add(std::move(inner));
  model.add_tap("inner");
  model.emplace<nn::Linear<double>>("fc3", 7, 4, true).initialize(nn::init::Initializer::glorot_uniform, rng);
  model.add_tap("logits");
  return model;
}

struct PlanCase {
  std::string name;
  std::function<nn::Sequential<double>()> make;
  Shape input;  // batch axis first; the steps change it
};

std::vector<PlanCase> plan_cases() {
  using nn::ResidualShortcut;
  auto wrn = [](ResidualShortcut s) {
    return [s] {
      return nn::make_wide_resnet<double>(
          nn::WideResnetOptions{}.with_depth(10).with_widen(1).with_shortcut(s).with_seed(5));
    };
  };
  return {
      {"mlp", [] { return nn::make_mlp<double>({12, 9, 7, 4}, nn::MlpOptions{}.with_seed(3)); }, Shape{5, 12}},
      {"all-cnn, batch norm",
       [] { return nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_width(0.1).with_seed(4)); }, Shape{3, 3, 12, 12}},
      {"all-cnn, no batch norm",
       [] { return nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_width(0.1).with_batch_norm(false).with_seed(4)); },
       Shape{3, 3, 12, 12}},
      {"wide-resnet, zero-pad shortcut", wrn(ResidualShortcut::average_pool_zero_pad), Shape{3, 3, 8, 8}},
      {"wide-resnet, projection shortcut", wrn(ResidualShortcut::projection), Shape{3, 3, 8, 8}},
      {"nested sequential", plan_nested_model, Shape{5, 3, 2, 2}},
  };
}

Shape plan_with_batch(const Shape& s, index_t b) {
  std::vector<index_t> e(s.extents().begin(), s.extents().end());
  e[0] = b;
  return Shape(std::span<const index_t>(e));
}

}  // namespace

TEST_CASE("memory plan: the same bits as every layer with buffers of its own") {
  for (const auto& c : plan_cases()) {
    for (const bool training : {true, false}) {
      for (const bool input_gradient : {true, false}) {
        CAPTURE(c.name);
        CAPTURE(training);
        CAPTURE(input_gradient);
        auto planned = c.make();
        auto own = c.make();
        own.set_memory_plan(false);
        CHECK(planned.memory_plan());
        for (auto* m : {&planned, &own}) {
          m->set_training(training);
          m->set_input_gradient(input_gradient);
        }
        // Batches that grow, shrink and grow again the shared buffers.
        const index_t batches[] = {c.input[0], c.input[0] + 2, 2, c.input[0] + 3};
        std::uint64_t seed = 100;
        for (const index_t b : batches) {
          CAPTURE(b);
          const PlanStep p = plan_step(planned, plan_with_batch(c.input, b), seed);
          const PlanStep o = plan_step(own, plan_with_batch(c.input, b), seed);
          CHECK(p.output == o.output);
          CHECK(p.taps == o.taps);
          CHECK(p.dx == o.dx);
          CHECK(p.grads == o.grads);
          seed += 7;
        }
      }
    }
  }
}

TEST_CASE("memory plan: ReLUs run in place after a layer that allows it (fused into a batch norm), never over a tap or the input") {
  auto cnn = nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_width(0.1).with_seed(4));
  const auto x = test::random_tensor<double>(Shape{2, 3, 12, 12}, 1, 0.0, 1.0);
  cnn.forward(x);
  int relus = 0;
  for (std::size_t i = 0; i < cnn.size(); ++i)
    if (cnn.layer(i).supports_in_place()) {
      ++relus;
      CHECK(cnn.layer(i).in_place());  // after its batch norm, which backward does not read
    }
  CHECK(relus == 9);
  // Each batch norm applies its ReLU in the same pass.
  int fused = 0;
  for (std::size_t i = 0; i < cnn.size(); ++i) fused += cnn.layer(i).fused_relu();
  CHECK(fused == 9);
  // Every ReLU knows it: it takes its input as rectified exactly where its producer rectifies.
  auto relu_pairs_agree = [&] {
    for (std::size_t i = 1; i < cnn.size(); ++i)
      if (const auto* relu = dynamic_cast<const nn::Relu<double>*>(&cnn.layer(i)))
        REQUIRE(relu->input_rectified() == cnn.layer(i - 1).fused_relu());
  };
  relu_pairs_agree();
  cnn.set_memory_plan(false);
  cnn.forward(x);
  for (std::size_t i = 0; i < cnn.size(); ++i) {
    CHECK_FALSE(cnn.layer(i).in_place());
    CHECK_FALSE(cnn.layer(i).fused_relu());
  }
  relu_pairs_agree();

  // A batch norm whose output is a tap keeps it: the ReLU after it runs on its own.
  nn::Sequential<double> tapped_bn("tapped_bn");
  tapped_bn.emplace<nn::BatchNorm<double>>("bn", 4);
  tapped_bn.add_tap("normalised");
  tapped_bn.emplace<nn::Relu<double>>("relu");
  tapped_bn.add_tap("rectified");
  const auto u = test::random_tensor<double>(Shape{8, 4}, 4);
  tapped_bn.forward(u);
  CHECK_FALSE(tapped_bn.layer(0).fused_relu());
  CHECK_FALSE(dynamic_cast<const nn::Relu<double>&>(tapped_bn.layer(1)).input_rectified());
  const auto normalised = plan_values(tapped_bn.tap("normalised"));
  CHECK(std::any_of(normalised.begin(), normalised.end(), [](double a) { return a < 0; }));
  const auto rectified = plan_values(tapped_bn.tap("rectified"));
  for (std::size_t i = 0; i < rectified.size(); ++i) CHECK(rectified[i] == std::max(normalised[i], 0.0));

  // A ReLU after a tap keeps the tap's values: the pre-activation stays readable.
  nn::Sequential<double> tapped("tapped");
  Rng rng(2);
  tapped.emplace<nn::Linear<double>>("fc", 4, 6, true).initialize(nn::init::Initializer::glorot_uniform, rng);
  tapped.add_tap("pre");
  tapped.emplace<nn::Relu<double>>("relu");
  const auto v = test::random_tensor<double>(Shape{8, 4}, 3);
  tapped.forward(v);
  CHECK_FALSE(tapped.layer(1).in_place());
  const auto pre = plan_values(tapped.tap("pre"));
  CHECK(std::any_of(pre.begin(), pre.end(), [](double a) { return a < 0; }));

  // A ReLU first in the model never writes over the caller's input.
  nn::Sequential<double> first("first");
  first.emplace<nn::Relu<double>>("relu");
  const auto before = plan_values(v);
  first.forward(v);
  CHECK_FALSE(first.layer(0).in_place());
  CHECK(plan_values(v) == before);
}

namespace {
// dx = 2 dy, element-wise (y = 2 x): records where its dy was and where it wrote dx.
class PlanDoubling final : public nn::Layer<double> {
 public:
  TensorView<const double> forward(TensorView<const double> x) override {
    const auto y = this->output_buffer(x.shape());
    ops::map(y, [](double v) { return 2 * v; }, x);
    return y;
  }
  TensorView<const double> backward(TensorView<const double> dy) override {
    dy_at = dy.data();
    const auto dx = this->input_gradient_buffer(dy.shape());
    ops::map(dx, [](double v) { return 2 * v; }, dy);
    dx_at = dx.data();
    return dx;
  }
  [[nodiscard]] bool backward_in_place() const override { return true; }
  [[nodiscard]] std::string name() const override { return "doubling"; }
  const double* dy_at = nullptr;
  const double* dx_at = nullptr;
};
}  // namespace

TEST_CASE("memory plan: an element-wise backward writes over its dy only where the model's own layer wrote it") {
  Rng rng(8);
  nn::Sequential<double> model("model");
  model.emplace<nn::Linear<double>>("fc1", 4, 6, true).initialize(nn::init::Initializer::glorot_uniform, rng);
  auto& inner = model.emplace<PlanDoubling>();
  model.add_tap("doubled");
  model.emplace<nn::Linear<double>>("fc2", 6, 3, true).initialize(nn::init::Initializer::glorot_uniform, rng);
  auto& top = model.emplace<PlanDoubling>();
  const auto x = test::random_tensor<double>(Shape{5, 4}, 1);
  const auto dy = test::random_tensor<double>(Shape{5, 3}, 2);
  const auto dy_before = plan_values(dy);

  model.forward(x);
  model.backward(dy);
  // The top layer's dy is the caller's: dx goes elsewhere and the caller's dy is unchanged.
  CHECK(top.dy_at == dy.data());
  CHECK(top.dx_at != dy.data());
  CHECK(plan_values(dy) == dy_before);
  // The inner one's dy was written by fc2 into a chain buffer: dx over it.
  CHECK(inner.dy_at != nullptr);
  CHECK(inner.dx_at == inner.dy_at);

  // With a gradient at its tap, its dy is the tap's gradient buffer, which stays the caller's.
  model.forward(x);
  const auto tap_grad = test::random_tensor<double>(Shape{5, 6}, 3);
  ops::copy(tap_grad, model.tap_grad("doubled"));
  model.backward(dy);
  CHECK(inner.dy_at == model.tap_grad("doubled").data());
  CHECK(inner.dx_at != inner.dy_at);

  // Without the plan every layer writes into a buffer of its own.
  model.set_memory_plan(false);
  model.forward(x);
  model.backward(dy);
  CHECK(inner.dx_at != inner.dy_at);
}

TEST_CASE("memory plan: the shared dL/dx buffers are a few activations, not one per layer") {
  auto model = nn::make_wide_resnet<double>(nn::WideResnetOptions{}.with_depth(16).with_widen(2).with_seed(6));
  const Shape input{4, 3, 16, 16};
  plan_step(model, input, 5);
  // The largest dL/dx: the first group's 32 channels at 16 x 16.
  const std::size_t largest = std::size_t(4 * 32 * 16 * 16) * sizeof(double);
  // Two chain buffers at level 0, three inside the blocks.
  CHECK(model.shared_buffer_bytes() > 0);
  CHECK(model.shared_buffer_bytes() <= 5 * largest);
  nn::Sequential<double> off = nn::make_wide_resnet<double>(nn::WideResnetOptions{}.with_depth(16).with_widen(2));
  off.set_memory_plan(false);
  plan_step(off, input, 5);
  CHECK(off.shared_buffer_bytes() == 0);
  // Every layer's own dL/dx and output: far more than the plan's.
  CHECK(off.buffer_bytes() > 2 * model.buffer_bytes());
}


TEST_CASE("inference mode: the same outputs and taps, only the taps held, and no backward") {
  for (const auto& c : plan_cases()) {
    for (const bool training : {true, false}) {
      CAPTURE(c.name);
      CAPTURE(training);
      auto inference = c.make();
      auto normal = c.make();
      inference.set_inference(true);
      CHECK(inference.inference());
      for (auto* m : {&inference, &normal}) m->set_training(training);
      std::uint64_t seed = 300;
      for (const index_t b : {c.input[0], c.input[0] + 2, index_t{2}}) {
        CAPTURE(b);
        const auto x = test::random_tensor<double>(plan_with_batch(c.input, b), seed++, 0.0, 1.0);
        const auto before = plan_values(x);
        inference.forward(x);
        normal.forward(x);
        CHECK(plan_values(x) == before);
        CHECK(plan_values(inference.output()) == plan_values(normal.output()));
        for (const auto& t : inference.tap_names()) CHECK(plan_values(inference.tap(t)) == plan_values(normal.tap(t)));
      }
      const auto dy = test::random_tensor<double>(inference.output().shape(), 9);
      CHECK_THROWS_WITH_AS(inference.backward(dy), doctest::Contains("inference mode"), Error);
      // Out of inference the model trains again, with the same results as the other.
      inference.set_inference(false);
      CHECK(plan_step(inference, c.input, 40).grads == plan_step(normal, c.input, 40).grads);
    }
  }
}

TEST_CASE("inference mode holds the taps and a few shared buffers, training every activation") {
  const auto options = nn::WideResnetOptions{}.with_depth(16).with_widen(2).with_seed(6);
  const Shape input{4, 3, 16, 16};
  const auto x = test::random_tensor<double>(input, 8, 0.0, 1.0);
  const std::size_t largest = std::size_t(4 * 32 * 16 * 16) * sizeof(double);

  auto inference = nn::make_wide_resnet<double>(options);
  inference.eval();
  inference.set_inference(true);
  inference.forward(x);
  std::size_t taps = 0;
  for (const auto& t : inference.tap_names()) taps += std::size_t(inference.tap(t).numel()) * sizeof(double);
  CHECK(inference.buffer_bytes() - inference.shared_buffer_bytes() == taps);
  CHECK(inference.shared_buffer_bytes() <= 5 * largest);

  auto trained = nn::make_wide_resnet<double>(options);
  plan_step(trained, input, 5);
  CHECK(trained.buffer_bytes() > 2 * inference.buffer_bytes());

  nn::Sequential<double> off = nn::make_wide_resnet<double>(options);
  off.set_memory_plan(false);
  off.set_inference(true);
  CHECK_THROWS_WITH_AS(off.forward(x), doctest::Contains("needs the memory plan"), Error);
}


TEST_CASE("inference mode with chosen taps keeps only those, and the output") {
  auto model = nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_width(0.1).with_seed(4));
  auto normal = nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_width(0.1).with_seed(4));
  model.eval();
  normal.eval();
  const auto x = test::random_tensor<double>(Shape{3, 3, 12, 12}, 2, 0.0, 1.0);
  normal.forward(x);
  model.set_inference(true);
  model.forward(x);
  const std::size_t all_taps = model.buffer_bytes();
  model.set_inference(true, {"conv3"});
  model.forward(x);
  CHECK(plan_values(model.tap("conv3")) == plan_values(normal.tap("conv3")));
  CHECK(plan_values(model.output()) == plan_values(normal.output()));
  CHECK(plan_values(model.tap("pool")) == plan_values(normal.tap("pool")));  // the output is always kept
  CHECK_THROWS_WITH_AS((void)model.tap("conv1"), doctest::Contains("was not kept"), Error);
  CHECK(model.buffer_bytes() < all_taps);
  CHECK_THROWS_WITH_AS(model.set_inference(true, {"conv10"}), doctest::Contains("no tap named 'conv10'"), Error);
  {
    const nn::InferenceScope<nn::Sequential<double>> scope(model, {});
    model.forward(x);
    CHECK(plan_values(model.output()) == plan_values(normal.output()));
    CHECK_THROWS_AS((void)model.tap("conv3"), Error);
  }
  CHECK(model.inference());  // it was on before the scope
  model.set_inference(false);
  {
    const nn::InferenceScope<nn::Sequential<double>> scope(model);
    CHECK(model.inference());
  }
  CHECK_FALSE(model.inference());
  model.forward(x);
  CHECK(plan_values(model.tap("conv1")) == plan_values(normal.tap("conv1")));
}

TEST_SUITE_END();
