// analysis::classifier_accuracy / evaluate_classifier: the one accuracy of a classifier's own
// logits (trainer, invar-report, attacks::accuracy): argmax with the smaller class on ties,
// unlabelled rows skipped, the same result for every batch size, eval mode, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/classifier_accuracy.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "support/error_message.hpp"

using namespace invar;

TEST_SUITE_BEGIN("analysis");

namespace {

/// A "model" whose logits are its input rows, counting its forwards.
struct IdentityClassifier {
  bool training = true;
  index_t forwards = 0;
  TensorView<const float> out;
  void set_training(bool t) { training = t; }
  void forward(TensorView<const float> x) {
    ++forwards;
    out = x;
  }
  [[nodiscard]] TensorView<const float> output() const { return out; }
};

Tensor<float> accuracy_logits(const std::vector<std::vector<float>>& rows) {
  Tensor<float> t(Shape{index_t(rows.size()), index_t(rows[0].size())});
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t k = 0; k < rows[i].size(); ++k) t[index_t(i * rows[i].size() + k)] = rows[i][k];
  return t;
}

Tensor<index_t> accuracy_labels(const std::vector<index_t>& v) {
  Tensor<index_t> t(Shape{index_t(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t[index_t(i)] = v[i];
  return t;
}

}  // namespace

TEST_CASE("classifier_accuracy: argmax (the smaller class on ties), unlabelled rows skipped, any batch size") {
  const auto z = accuracy_logits({{3, 1, 0},     // 0, right
                                  {0, 2, 2},     // tie 1 / 2 -> 1, label 2: wrong
                                  {1, 1, 1},     // tie -> 0, right
                                  {0, 0, 5},     // 2, unlabelled
                                  {-1, 4, 0}});  // 1, label 0: wrong
  const auto y = accuracy_labels({0, 2, 0, no_group, 0});
  // cross-entropy of the labelled rows, by hand
  double ce = 0;
  const std::vector<std::vector<double>> rows = {{3, 1, 0}, {0, 2, 2}, {1, 1, 1}, {-1, 4, 0}};
  const std::vector<int> ys = {0, 2, 0, 0};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    double s = 0;
    for (double v : rows[i]) s += std::exp(v);
    ce += std::log(s) - rows[i][std::size_t(ys[i])];
  }
  ce /= 4;
  for (index_t batch : {1, 2, 3, 500}) {
    CAPTURE(batch);
    IdentityClassifier m;
    const auto e = analysis::evaluate_classifier(m, z, y, batch);
    CHECK(e.rows == 5);
    CHECK(e.labelled == 4);
    CHECK(e.correct == 2);
    CHECK(e.accuracy() == 0.5);
    CHECK(e.cross_entropy == doctest::Approx(ce).epsilon(1e-12));
    CHECK(m.forwards == (5 + batch - 1) / batch);
    CHECK_FALSE(m.training);
    IdentityClassifier m2;
    CHECK(analysis::classifier_accuracy(m2, z, y, batch) == 0.5);
  }
}

TEST_CASE("classifier_accuracy: no labelled row gives NaN, bad labels and sizes are invar::Error") {
  const auto z = accuracy_logits({{1, 0}, {0, 1}});
  IdentityClassifier m;
  const auto none = analysis::evaluate_classifier(m, z, accuracy_labels({no_group, no_group}));
  CHECK(none.labelled == 0);
  CHECK(std::isnan(none.accuracy()));
  CHECK(std::isnan(none.cross_entropy));
  CHECK_ERROR_CONTAINS(analysis::classifier_accuracy(m, z, accuracy_labels({0, 2})), "label 2 of row 1 is outside [0, 2)");
  CHECK_ERROR_CONTAINS(analysis::classifier_accuracy(m, z, accuracy_labels({0})), "need one label per image (2)");
  CHECK_ERROR_CONTAINS(analysis::classifier_accuracy(m, z, accuracy_labels({0, 1}), 0), "batch must be >= 1");
}

TEST_CASE("classifier_accuracy of an MLP equals the cross-entropy's count on the whole batch") {
  auto model = nn::make_mlp<float>({6, 5, 3}, nn::MlpOptions{}.with_seed(2));
  Tensor<float> x(Shape{37, 6});
  Tensor<index_t> y(Shape{37});
  for (index_t i = 0; i < x.numel(); ++i) x[i] = std::sin(0.37f * float(i));
  for (index_t i = 0; i < 37; ++i) y[i] = i % 3;
  model.set_training(false);
  model.forward(x);
  const auto whole = softmax_cross_entropy(model.output(), y, no_gradient);
  const auto e = analysis::evaluate_classifier(model, x, y, 8);
  CHECK(e.correct == whole.correct);
  CHECK(e.accuracy() == whole.accuracy());
  CHECK(e.cross_entropy == doctest::Approx(whole.loss).epsilon(1e-9));
}

TEST_SUITE_END();
