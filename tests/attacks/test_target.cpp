// Attack targets: ModelTarget puts the model in eval mode (batch norm on its running statistics)
// and its input gradient is the gradient of the per-image attack loss (central differences, per
// image, not averaged over the batch; targeted flips it); ProbedTarget reads a tap through a
// fitted linear probe: its logits are the probe's, its gradient goes back through the probe's
// standardisation and weights into the network below the tap only; probes that do not cover
// the classes 0 .. K-1, unknown taps and mismatched widths are refused. A user-defined target
// satisfies the concept and is attacked like the built-in ones. Both targets take a model on a
// separate-memory device and give the CPU model's bits.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/fgsm.hpp"
#include "invar/attacks/pgd.hpp"
#include "invar/attacks/target.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/sequential.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"
#include "support/separate_device.hpp"

using namespace invar;

TEST_SUITE_BEGIN("attacks");

namespace {

/// A classifier of N x K "images" whose logits are the pixels themselves.
struct TargetIdentityClassifier {
  Tensor<float> grad;
  TensorView<const float> logits(TensorView<const float> x) { return x; }
  TensorView<const float> input_gradient(TensorView<const float> dlogits) {
    grad = Tensor<float>::copy_of(dlogits);
    return grad.view();
  }
};

static_assert(attacks::AttackTarget<attacks::ModelTarget<nn::Sequential<float>>>);
static_assert(attacks::AttackTarget<attacks::ProbedTarget<nn::Sequential<float>>>);
static_assert(attacks::AttackTarget<TargetIdentityClassifier>);
static_assert(!attacks::AttackTarget<int>);
static_assert(!attacks::AttackTarget<nn::Sequential<float>>);

Parameter<float>& target_parameter(nn::Sequential<float>& model, const std::string& name) {
  Parameter<float>* found = nullptr;
  for (auto* p : model.parameters())
    if (p->name == name) found = p;
  REQUIRE(found != nullptr);
  return *found;
}

/// An MLP in_features-hidden...-classes with random (non-zero) biases too.
nn::Sequential<float> target_mlp(const std::vector<index_t>& widths, std::uint64_t seed) {
  auto model = nn::make_mlp<float>(widths, nn::MlpOptions{}.with_seed(seed));
  std::uint64_t s = seed * 100;
  for (auto* p : model.parameters())
    if (p->name.find(".bias") != std::string::npos) p->value = test::random_tensor<float>(p->value.shape(), ++s, -0.3, 0.3);
  return model;
}

/// dL/dx of sum_i L_i by the target, with L_i the attack loss of image i.
template <class Target>
Tensor<float> target_analytic_gradient(Target& target, const Tensor<float>& x, const Tensor<index_t>& y, bool targeted) {
  const TensorView<const float> z = target.logits(x);
  const index_t k = z.dim(1);
  Tensor<float> dz(z.shape());
  for (index_t i = 0; i < x.dim(0); ++i)
    attacks::detail::row_attack_loss(z.data() + i * k, k, y[i], targeted, dz.data() + i * k, "test");
  return Tensor<float>::copy_of(target.input_gradient(dz));
}

struct TargetFdResult {
  double relative_error = 0, analytic_norm = 0;
  index_t checked = 0;
};

/// Central differences of sum_i attack_loss_i (float model, h about 1e-2) on the given flat
/// pixel indices, against the analytic gradient: ||g - fd|| / ||g + fd||.
template <class Target>
TargetFdResult target_central_differences(Target& target, const Tensor<float>& x, const Tensor<index_t>& y,
                                          bool targeted, const Tensor<float>& analytic,
                                          const std::vector<index_t>& pixels, float h) {
  TargetFdResult r;
  double diff = 0, sum = 0;
  Tensor<float> xp = x;
  auto total = [&] {
    double s = 0;
    for (const double v : attacks::attack_loss(target, xp, y, targeted)) s += v;
    return s;
  };
  for (const index_t p : pixels) {
    const float x0 = x[p];
    xp[p] = x0 + h;
    const double plus = double(xp[p]), fp = total();
    xp[p] = x0 - h;
    const double minus = double(xp[p]), fm = total();
    xp[p] = x0;
    const double fd = (fp - fm) / (plus - minus);  // the float steps actually taken
    const double g = double(analytic[p]);
    diff += (g - fd) * (g - fd);
    sum += (g + fd) * (g + fd);
    r.analytic_norm += g * g;
    ++r.checked;
  }
  r.analytic_norm = std::sqrt(r.analytic_norm);
  r.relative_error = std::sqrt(diff / sum);
  return r;
}

/// The pixels (flat indices) of an MLP's input whose +-h change does not cross a ReLU kink of
/// the first layer: |pre-activation_u| > 2 h |W1[u][j]| for every hidden unit u. Above the first
/// hidden layer the check does not matter for a tap at "hidden1"; for the full MLP the deeper
/// layers are checked by the relative error (a crossed kink there shows as a large error).
std::vector<index_t> target_smooth_pixels(nn::Sequential<float>& model, const Tensor<float>& x, float h) {
  const auto& w = target_parameter(model, "fc1.weight").value;
  const auto& b = target_parameter(model, "fc1.bias").value;
  const index_t hidden = w.dim(0), d = w.dim(1);
  std::vector<index_t> out;
  for (index_t i = 0; i < x.dim(0); ++i) {
    std::vector<double> pre(static_cast<std::size_t>(hidden));
    for (index_t u = 0; u < hidden; ++u) {
      pre[std::size_t(u)] = double(b[u]);
      for (index_t j = 0; j < d; ++j) pre[std::size_t(u)] += double(w(u, j)) * double(x[i * d + j]);
    }
    for (index_t j = 0; j < d; ++j) {
      bool smooth = true;
      for (index_t u = 0; u < hidden; ++u)
        if (std::abs(pre[std::size_t(u)]) <= 2.0 * double(h) * std::abs(double(w(u, j))) + 1e-4) smooth = false;
      if (smooth) out.push_back(i * d + j);
    }
  }
  return out;
}

/// Whether the first hidden layer has both active and inactive ReLUs on x (so the gradient
/// check exercises the gating).
bool target_gates_both_ways(nn::Sequential<float>& model, const Tensor<float>& x) {
  model.forward(x);
  const auto h = model.tap("hidden1");
  index_t on = 0, off = 0;
  for (index_t p = 0; p < h.numel(); ++p) (h.data()[p] > 0 ? on : off) += 1;
  return on > 0 && off > 0;
}

Tensor<index_t> target_labels(const std::vector<index_t>& v) {
  Tensor<index_t> t(Shape{static_cast<index_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t[index_t(i)] = v[i];
  return t;
}

}  // namespace

TEST_CASE("attacks::ModelTarget evaluates in eval mode: batch norm uses its running statistics") {
  // Linear 4 -> 3, BatchNorm(3) with set running statistics, Linear 3 -> 2: smooth everywhere.
  nn::Sequential<float> model("bn");
  auto& fc1 = model.emplace<nn::Linear<float>>("fc1", 4, 3);
  auto& bn = model.emplace<nn::BatchNorm<float>>("bn", 3);
  auto& fc2 = model.emplace<nn::Linear<float>>("fc2", 3, 2);
  fc1.weight().value = test::random_tensor<float>(Shape{3, 4}, 21);
  fc1.bias().value = test::random_tensor<float>(Shape{3}, 22);
  fc2.weight().value = test::random_tensor<float>(Shape{2, 3}, 23);
  fc2.bias().value = test::random_tensor<float>(Shape{2}, 24);
  for (auto& [name, buffer] : model.buffers()) {
    if (name == "bn.running_mean") *buffer = test::random_tensor<float>(Shape{3}, 25, -0.5, 0.5);
    if (name == "bn.running_var") *buffer = test::random_tensor<float>(Shape{3}, 26, 0.5, 2.0);
  }
  for (auto* p : bn.parameters()) p->value = test::random_tensor<float>(Shape{3}, p->name == "bn.weight" ? 27 : 28, 0.5, 1.5);
  model.train();
  const Tensor<float> x = test::random_tensor<float>(Shape{5, 4}, 29, 0.0, 1.0);
  // In training mode one image cannot be normalised by its own batch.
  CHECK_ERROR_CONTAINS(model.forward(x.view().slice_rows(0, 1)), "needs more than one value per channel");

  attacks::ModelTarget target(model);
  const Tensor<float> z = Tensor<float>::copy_of(target.logits(x));
  REQUIRE(z.shape() == Shape{5, 2});
  std::vector<Tensor<float>> stats;
  for (auto& [name, buffer] : model.buffers()) stats.push_back(*buffer);
  for (index_t i = 0; i < 5; ++i) {
    // The explicit eval-mode network in double.
    double h[3];
    for (index_t c = 0; c < 3; ++c) {
      double a = double(fc1.bias().value[c]);
      for (index_t j = 0; j < 4; ++j) a += double(fc1.weight().value(c, j)) * double(x(i, j));
      const double mean = double(stats[0][c]), var = double(stats[1][c]);
      double gamma = 1, beta = 0;
      for (auto* p : bn.parameters()) (p->name == "bn.weight" ? gamma : beta) = double(p->value[c]);
      h[c] = gamma * (a - mean) / std::sqrt(var + 1e-5) + beta;
    }
    for (index_t k = 0; k < 2; ++k) {
      double want = double(fc2.bias().value[k]);
      for (index_t c = 0; c < 3; ++c) want += double(fc2.weight().value(k, c)) * h[c];
      CHECK(double(z(i, k)) == doctest::Approx(want).epsilon(1e-5));
    }
    // Alone, the image gets the same logits (to the GEMM's rounding).
    const auto alone = target.logits(x.view().slice_rows(i, i + 1));
    for (index_t k = 0; k < 2; ++k) CHECK(alone.data()[k] == doctest::Approx(z(i, k)).epsilon(1e-6));
  }
  // Evaluating changed no running statistic.
  std::size_t b = 0;
  for (auto& [name, buffer] : model.buffers()) {
    for (index_t c = 0; c < 3; ++c) CHECK((*buffer)[c] == stats[b][c]);
    ++b;
  }

  // Smooth model: the gradient matches central differences on every pixel.
  const Tensor<index_t> y = target_labels({0, 1, 1, 0, 1});
  std::vector<index_t> all(20);
  for (index_t p = 0; p < 20; ++p) all[std::size_t(p)] = p;
  const Tensor<float> x_mid = test::random_tensor<float>(Shape{5, 4}, 30, 0.1, 0.9);
  for (const bool targeted : {false, true}) {
    CAPTURE(targeted);
    const Tensor<float> g = target_analytic_gradient(target, x_mid, y, targeted);
    const TargetFdResult r = target_central_differences(target, x_mid, y, targeted, g, all, 1e-2f);
    CHECK(r.analytic_norm > 0.05);
    CHECK(r.relative_error < 1e-3);
  }
}

TEST_CASE("attacks::ModelTarget input gradient matches central differences of the per-image attack loss") {
  auto model = target_mlp({6, 10, 3}, 7);
  attacks::ModelTarget target(model);
  const Tensor<float> x = test::random_tensor<float>(Shape{4, 1, 2, 3}, 31, 0.15, 0.85);
  const Tensor<index_t> y = target_labels({2, 0, 1, 2});
  const float h = 1e-2f;
  const std::vector<index_t> pixels = target_smooth_pixels(model, x, h);
  MESSAGE("ModelTarget gradient check on ", pixels.size(), " of 24 pixels (away from the first layer's kinks)");
  REQUIRE(pixels.size() >= 8);
  CHECK(target_gates_both_ways(model, x));
  for (const bool targeted : {false, true}) {
    CAPTURE(targeted);
    const Tensor<float> g = target_analytic_gradient(target, x, y, targeted);
    REQUIRE(g.numel() == x.numel());
    const TargetFdResult r = target_central_differences(target, x, y, targeted, g, pixels, h);
    CHECK(r.analytic_norm > 0.05);
    CHECK(r.relative_error < 1e-3);
  }
  // Per image, not averaged: image 0 alone has the same gradient as within the batch.
  const Tensor<float> g = target_analytic_gradient(target, x, y, false);
  Tensor<float> x0 = Tensor<float>::copy_of(x.view().slice_rows(0, 1));
  const Tensor<float> g0 = target_analytic_gradient(target, x0, target_labels({2}), false);
  for (index_t j = 0; j < 6; ++j) CHECK(g0[j] == doctest::Approx(g[j]).epsilon(1e-5));
  // Targeted on the same labels is the exact negation.
  const Tensor<float> gt = target_analytic_gradient(target, x, y, true);
  for (index_t p = 0; p < x.numel(); ++p) CHECK(gt[p] == -g[p]);
}

TEST_CASE("attacks::ModelTarget refuses a model whose output is not one row of logits per image") {
  nn::Sequential<float> model("no-logits");
  model.emplace<nn::Relu<float>>("relu");
  attacks::ModelTarget target(model);
  const Tensor<float> x = test::random_tensor<float>(Shape{2, 1, 2, 2}, 41, 0.0, 1.0);
  CHECK_ERROR_CONTAINS(target.logits(x), "ModelTarget: the model's output has shape");
}

TEST_CASE("attacks::ProbedTarget logits are the probe's on the tap, its gradient goes through the probe") {
  // 6-8-5-3 MLP; the probe reads "hidden1" (8 features) and ignores everything above it.
  auto model = target_mlp({6, 8, 5, 3}, 9);
  const Tensor<float> fit_x = test::random_tensor<float>(Shape{90, 6}, 51, 0.0, 1.0);
  const Tensor<index_t> fit_y = test::random_indices(90, 3, 52);
  model.eval();
  model.forward(fit_x);
  const Tensor<float> fit_features = Tensor<float>::copy_of(model.tap("hidden1"));
  REQUIRE(fit_features.shape() == Shape{90, 8});
  const analysis::LinearProbe probe = analysis::fit_linear_probe(fit_features, fit_y);
  REQUIRE(probe.classes() == 3);

  attacks::ProbedTarget target(model, "hidden1", probe);
  const Tensor<float> x = test::random_tensor<float>(Shape{5, 6}, 53, 0.15, 0.85);
  const Tensor<index_t> y = target_labels({0, 1, 2, 2, 1});
  model.forward(x);
  const Tensor<double> want = probe.logits(Tensor<float>::copy_of(model.tap("hidden1")));
  const Tensor<float> z = Tensor<float>::copy_of(target.logits(x));
  REQUIRE(z.shape() == Shape{5, 3});
  for (index_t p = 0; p < z.numel(); ++p) CHECK(z[p] == static_cast<float>(want[p]));
  // Not the network's own logits.
  model.forward(x);
  double off = 0;
  for (index_t p = 0; p < z.numel(); ++p) off += std::abs(double(z[p]) - double(model.output().data()[p]));
  CHECK(off > 0.1);

  const float h = 1e-2f;
  const std::vector<index_t> pixels = target_smooth_pixels(model, x, h);
  MESSAGE("ProbedTarget gradient check on ", pixels.size(), " of 30 pixels");
  REQUIRE(pixels.size() >= 8);
  CHECK(target_gates_both_ways(model, x));
  for (const bool targeted : {false, true}) {
    CAPTURE(targeted);
    const Tensor<float> g = target_analytic_gradient(target, x, y, targeted);
    REQUIRE(g.numel() == x.numel());
    const TargetFdResult r = target_central_differences(target, x, y, targeted, g, pixels, h);
    CHECK(r.analytic_norm > 0.05);
    CHECK(r.relative_error < 1e-3);
  }
  // A second input_gradient after the same logits gives the same gradient (not twice it).
  {
    Tensor<float> dz(Shape{5, 3});
    for (index_t p = 0; p < dz.numel(); ++p) dz[p] = float(p % 3) - 1.0f;
    (void)target.logits(x);
    const Tensor<float> g1 = Tensor<float>::copy_of(target.input_gradient(dz));
    const Tensor<float> g2 = Tensor<float>::copy_of(target.input_gradient(dz));
    double diff = 0, norm = 0;
    for (index_t p = 0; p < g1.numel(); ++p) diff += std::abs(double(g1[p]) - double(g2[p])), norm += std::abs(double(g1[p]));
    CHECK(norm > 0);
    CHECK(diff == 0);
  }
  static_assert(!std::is_constructible_v<attacks::ProbedTarget<nn::Sequential<float>>, nn::Sequential<float>&,
                                         std::string, analysis::LinearProbe&&>,
                "a temporary probe would dangle");
  // Attacking through the probe raises the probe's loss.
  const std::vector<double> clean = attacks::attack_loss(target, x, y);
  const std::vector<double> attacked = attacks::attack_loss(target, attacks::fgsm(target, x, y, 0.01), y);
  for (std::size_t i = 0; i < clean.size(); ++i) CHECK(attacked[i] > clean[i]);
}

TEST_CASE("attacks::ProbedTarget refuses probes that do not cover 0 .. K-1, unknown taps and other widths") {
  auto model = target_mlp({6, 8, 5, 3}, 9);
  const Tensor<float> fit_x = test::random_tensor<float>(Shape{60, 6}, 55, 0.0, 1.0);
  model.eval();
  model.forward(fit_x);
  const Tensor<float> h1 = Tensor<float>::copy_of(model.tap("hidden1"));
  const Tensor<float> h2 = Tensor<float>::copy_of(model.tap("hidden2"));

  Tensor<index_t> zero_two = test::random_indices(60, 2, 56);
  for (auto& v : zero_two) v *= 2;  // labels 0 and 2: class 1 never seen
  const auto probe02 = analysis::fit_linear_probe(h1, zero_two);
  CHECK_ERROR_CONTAINS(attacks::ProbedTarget(model, "hidden1", probe02),
                       "the probe's classes must be 0 .. K-1 (its class 1 is label 2)");
  Tensor<index_t> one_two = test::random_indices(60, 2, 57);
  for (auto& v : one_two) v += 1;
  const auto probe12 = analysis::fit_linear_probe(h1, one_two);
  CHECK_ERROR_CONTAINS(attacks::ProbedTarget(model, "hidden1", probe12), "(its class 0 is label 1)");

  const Tensor<index_t> y = test::random_indices(60, 3, 58);
  const auto probe1 = analysis::fit_linear_probe(h1, y);
  CHECK_ERROR_CONTAINS(attacks::ProbedTarget(model, "hidden7", probe1), "the model has no tap named 'hidden7'");
  const analysis::LinearProbe unfitted;
  CHECK_ERROR_CONTAINS(attacks::ProbedTarget(model, "hidden1", unfitted), "the probe is not fitted");

  const auto probe2 = analysis::fit_linear_probe(h2, y);  // 5 features, read at an 8-wide tap
  attacks::ProbedTarget wrong(model, "hidden1", probe2);
  CHECK_ERROR_CONTAINS(wrong.logits(fit_x), "the probe expects 5 features per image");
  // The same probe at its own tap works.
  attacks::ProbedTarget right(model, "hidden2", probe2);
  CHECK(right.logits(fit_x).shape() == Shape{60, 3});
}

TEST_CASE("attacks: a user-defined AttackTarget is attacked like the built-in ones") {
  // Logits = pixels, so dL/dx = softmax(x) - e_y: FGSM lowers the label's pixel and raises the others.
  TargetIdentityClassifier target;
  Tensor<float> x(Shape{2, 3});
  const float v[6] = {0.5f, 0.25f, 0.75f, 0.0f, 1.0f, 0.5f};
  for (index_t p = 0; p < 6; ++p) x[p] = v[p];
  const Tensor<index_t> y = target_labels({2, 0});
  const Tensor<float> adv = attacks::fgsm(target, x, y, 0.125);
  const float want[6] = {0.625f, 0.375f, 0.625f, 0.0f, 1.0f, 0.625f};
  for (index_t p = 0; p < 6; ++p) CHECK(adv[p] == want[p]);
  const Tensor<float> towards = attacks::fgsm(target, x, y, 0.5, attacks::FgsmOptions{}.with_targeted());
  const float want_t[6] = {0.0f, 0.0f, 1.0f, 0.5f, 0.5f, 0.0f};
  for (index_t p = 0; p < 6; ++p) CHECK(towards[p] == want_t[p]);
  // Ties go to the smaller class: image 0 of adv is classified 0, image 1 of towards 0.
  CHECK(attacks::accuracy(target, x, y) == 0.5);
  CHECK(attacks::accuracy(target, adv, y) == 0.0);
  CHECK(attacks::accuracy(target, towards, y) == 1.0);
}

TEST_SUITE_END();

TEST_CASE("attack targets freeze the model's parameters while they live: same input gradient, no weight gradients") {
  auto model = target_mlp({6, 8, 5, 3}, 13);
  const Tensor<float> x = test::random_tensor<float>(Shape{5, 6}, 61, 0.1, 0.9);
  const Tensor<index_t> y = target_labels({0, 1, 2, 2, 1});
  // The input gradient with every weight gradient computed, before any target exists.
  model.eval();
  model.set_input_gradient(true);
  model.forward(x);
  const Tensor<float> dlogits = test::random_tensor<float>(Shape{5, 3}, 62);
  const Tensor<float> full = Tensor<float>::copy_of(model.backward(dlogits));
  model.zero_grad();
  const float sentinel = 3.5f;
  for (auto* p : model.parameters()) ops::fill(p->grad, sentinel);

  model.forward(x);
  const analysis::LinearProbe probe = analysis::fit_linear_probe(Tensor<float>::copy_of(model.tap("hidden1")), y);
  {
    attacks::ModelTarget target(model);
    attacks::ProbedTarget probed(model, "hidden1", probe);
    for (auto* p : model.parameters()) CHECK_FALSE(p->requires_grad);
    target.logits(x);
    const TensorView<const float> g = target.input_gradient(dlogits);
    for (index_t i = 0; i < g.numel(); ++i) REQUIRE(g.data()[i] == full.data()[i]);
    attacks::fgsm(target, x, y, 0.03);
    attacks::fgsm(probed, x, y, 0.03);
    for (auto* p : model.parameters())
      for (index_t i = 0; i < p->grad.numel(); ++i) REQUIRE(p->grad.data()[i] == sentinel);
  }
  // The targets' end makes the parameters trainable again.
  for (auto* p : model.parameters()) CHECK(p->requires_grad);
}

TEST_CASE("attacks on a model on a separate-memory device: the CPU model's logits, gradients and adversarial images") {
  // All-CNN-C (batch norm, convolutions) on a device whose memory the host cannot touch, and the
  // same model on the CPU: ModelTarget and ProbedTarget stage each batch to the device and bring
  // logits and input gradients back, so FGSM and PGD give the same bits on both.
  const auto options = nn::AllCnnOptions{}.with_width(0.1).with_seed(6).with_classes(3);
  auto cpu_model = nn::make_all_cnn<float>(options);
  auto device_model = nn::make_all_cnn<float, test::SeparateHost>(options);
  const auto images = test::random_tensor<float>(Shape{5, 3, 12, 12}, 9, 0.0, 1.0);
  Tensor<index_t> labels(Shape{5});
  for (index_t i = 0; i < 5; ++i) labels[i] = i % 3;
  const auto same = [](const Tensor<float>& a, const Tensor<float>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
  };
  const auto pgd_options = attacks::PgdOptions{}.with_epsilon(0.05).with_step_size(0.02).with_iterations(3).with_batch(2);
  {
    attacks::ModelTarget cpu_target(cpu_model);
    attacks::ModelTarget device_target(device_model);
    CHECK(same(attacks::fgsm(device_target, images, labels, 0.03), attacks::fgsm(cpu_target, images, labels, 0.03)));
    CHECK(same(attacks::pgd(device_target, images, labels, pgd_options),
               attacks::pgd(cpu_target, images, labels, pgd_options)));
  }
  // Through a probe on conv3's features (fitted on the CPU model's, used by both).
  const auto features = analysis::extract_features(cpu_model, images, "conv3");
  const analysis::LinearProbe probe = analysis::fit_linear_probe(features, labels);
  attacks::ProbedTarget cpu_probed(cpu_model, "conv3", probe);
  attacks::ProbedTarget device_probed(device_model, "conv3", probe);
  CHECK(same(attacks::pgd(device_probed, images, labels, pgd_options),
             attacks::pgd(cpu_probed, images, labels, pgd_options)));
  const auto cpu_logits = Tensor<float>::copy_of(cpu_probed.logits(images.view()));
  CHECK(same(Tensor<float>::copy_of(device_probed.logits(images.view())), cpu_logits));
}
