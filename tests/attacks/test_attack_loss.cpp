// The loss the attacks ascend: per row CE(z, y) = logsumexp(z) - z_y (or -CE towards a
// target) and its gradient softmax(z) - e_y (negated when targeted), against hand-computed
// values; attack_loss per image whatever the batch; accuracy with ties to the smaller class;
// errors by name.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/target.hpp"
#include "support/error_message.hpp"

using namespace invar;

TEST_SUITE_BEGIN("attacks");

namespace {

/// Logits = the images' pixels (N x K).
struct AttackLossPixelLogits {
  Tensor<float> grad;
  TensorView<const float> logits(TensorView<const float> x) { return x; }
  TensorView<const float> input_gradient(TensorView<const float> dlogits) {
    grad = Tensor<float>::copy_of(dlogits);
    return grad.view();
  }
};

Tensor<float> attackloss_images(const std::vector<float>& v, index_t k) {
  Tensor<float> t(Shape{static_cast<index_t>(v.size()) / k, k});
  for (std::size_t i = 0; i < v.size(); ++i) t[index_t(i)] = v[i];
  return t;
}

Tensor<index_t> attackloss_labels(const std::vector<index_t>& v) {
  Tensor<index_t> t(Shape{static_cast<index_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t[index_t(i)] = v[i];
  return t;
}

}  // namespace

TEST_CASE("attacks::detail::row_attack_loss is the cross-entropy and its gradient, negated when targeted") {
  const float z[3] = {1.0f, 2.0f, 3.0f};
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  for (index_t y = 0; y < 3; ++y) {
    CAPTURE(y);
    float g[3], gt[3];
    const double l = attacks::detail::row_attack_loss(z, 3, y, false, g, "test");
    const double lt = attacks::detail::row_attack_loss(z, 3, y, true, gt, "test");
    CHECK(l == doctest::Approx(lse - double(z[y])).epsilon(1e-14));
    CHECK(lt == -l);
    double sum = 0;
    for (index_t k = 0; k < 3; ++k) {
      const double want = std::exp(double(z[k]) - lse) - (k == y ? 1.0 : 0.0);
      CHECK(double(g[k]) == doctest::Approx(want).epsilon(1e-7));
      CHECK(gt[k] == -g[k]);
      sum += double(g[k]);
    }
    CHECK(std::abs(sum) < 3e-7);  // softmax sums to one
    CHECK(attacks::detail::row_attack_loss(z, 3, y, false, nullptr, "test") == l);  // no gradient asked
  }
  // Large logits: no overflow (the maximum is subtracted first).
  const float big[2] = {1000.0f, 999.0f};
  CHECK(attacks::detail::row_attack_loss(big, 2, 1, false, nullptr, "test") ==
        doctest::Approx(1.0 + std::log1p(std::exp(-1.0))).epsilon(1e-12));

  const float nan_row[3] = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f};
  CHECK_ERROR_CONTAINS(attacks::detail::row_attack_loss(nan_row, 3, 0, false, nullptr, "who"), "who: the logits are not finite");
  const float inf_row[2] = {0.0f, std::numeric_limits<float>::infinity()};
  CHECK_ERROR_CONTAINS(attacks::detail::row_attack_loss(inf_row, 2, 0, false, nullptr, "who"), "not finite");
  CHECK_ERROR_CONTAINS(attacks::detail::row_attack_loss(z, 3, 3, false, nullptr, "who"), "who: label 3 is not a class of the 3 logits");
}

TEST_CASE("attacks::attack_loss is per image, whatever the batch, and accuracy breaks ties to the smaller class") {
  AttackLossPixelLogits target;
  const Tensor<float> x = attackloss_images({0.5f, 0.25f, 0.25f,  //
                                             0.0f, 1.0f, 0.5f,    //
                                             0.5f, 0.5f, 0.0f,    //
                                             0.125f, 0.75f, 1.0f},
                                            3);
  const Tensor<index_t> y = attackloss_labels({0, 2, 1, 2});
  const std::vector<double> loss = attacks::attack_loss(target, x, y);
  REQUIRE(loss.size() == 4);
  for (index_t i = 0; i < 4; ++i) {
    double s = 0;
    for (index_t k = 0; k < 3; ++k) s += std::exp(double(x(i, k)));
    CHECK(loss[std::size_t(i)] == doctest::Approx(std::log(s) - double(x(i, y[i]))).epsilon(1e-14));
  }
  for (const index_t batch : {1, 3, 4, 100}) CHECK(attacks::attack_loss(target, x, y, false, batch) == loss);
  const std::vector<double> towards = attacks::attack_loss(target, x, y, true, 3);
  for (std::size_t i = 0; i < 4; ++i) CHECK(towards[i] == -loss[i]);

  // Argmax 0, 1, 0 (tie 0.5 / 0.5), 2: right, wrong, wrong, right.
  CHECK(attacks::accuracy(target, x, y) == 0.5);
  CHECK(attacks::accuracy(target, x, y, 1) == 0.5);
  CHECK(attacks::accuracy(target, x, attackloss_labels({0, 1, 0, 2}), 3) == 1.0);

  CHECK_ERROR_CONTAINS(attacks::attack_loss(target, x, y, false, 0), "attack_loss: batch must be >= 1, got 0");
  CHECK_ERROR_CONTAINS(attacks::attack_loss(target, x, attackloss_labels({0, 1})), "attack_loss: need one label per image (4)");
  CHECK_ERROR_CONTAINS(attacks::attack_loss(target, attackloss_images({0.5f, 2.0f, 0.0f}, 3), attackloss_labels({0})),
                       "attack_loss: pixel 1 of image 0 is 2");
  CHECK_ERROR_CONTAINS(attacks::accuracy(target, x, y, 0), "accuracy: batch must be >= 1");
  CHECK_ERROR_CONTAINS(attacks::accuracy(target, x, attackloss_labels({0})), "accuracy: need one label per image (4)");
}

TEST_SUITE_END();
