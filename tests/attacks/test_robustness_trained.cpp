// Gradient-masking sanity checks on a trained model (the usual list for adversarial
// evaluations): an MLP trained for two epochs on 3000 Fashion-MNIST images, attacked on 300
// test images. PGD accuracy must not rise with epsilon, PGD must be at least as strong as FGSM
// at every epsilon, FGSM must hurt at epsilon 0.3, and PGD at 0.3 (a huge budget for
// Fashion-MNIST) must leave almost nothing. Skipped without Fashion-MNIST.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/fgsm.hpp"
#include "invar/attacks/pgd.hpp"
#include "invar/attacks/target.hpp"
#include "invar/data/idx.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "support/skip.hpp"
#include "support/train_classifier.hpp"

using namespace invar;

TEST_SUITE_BEGIN("attacks");

namespace {

bool trained_have_fashion_mnist(const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(dir) / "train-images-idx3-ubyte")) return true;
  return INVAR_REQUIRE_FILE(dir + "/train-images-idx3-ubyte.gz", "Fashion-MNIST (Debian package dataset-fashion-mnist)");
}

double trained_seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("attacks: PGD and FGSM on a trained Fashion-MNIST MLP pass the gradient-masking sanity checks") {
  const std::string dir = data::default_fashion_mnist_dir();
  if (!trained_have_fashion_mnist(dir)) return;
  const auto t0 = std::chrono::steady_clock::now();
  const auto train = data::load_fashion_mnist(dir, true, 3000);
  const auto test = data::load_fashion_mnist(dir, false, 300);
  REQUIRE(test.images.shape() == Shape{300, 1, 28, 28});

  // make_mlp flattens its N x 1 x 28 x 28 input itself.
  auto model = nn::make_mlp<float>({784, 64, 10}, nn::MlpOptions{}.with_seed(3));
  model.set_input_gradient(false);
  optim::Sgd<float> sgd(optim::SgdOptions(0.05).with_momentum(0.9));
  invar::test::train_classifier(model, sgd, train, 64, 2, 17);
  const double train_seconds = trained_seconds_since(t0);

  attacks::ModelTarget target(model);  // eval mode, input gradient on
  const double clean = attacks::accuracy(target, test.images, test.labels);
  MESSAGE("784-64-10 MLP, 3000 images, 2 epochs: clean test accuracy ", 100 * clean, " % (", train_seconds, " s)");
  REQUIRE(clean > 0.70);

  const std::vector<double> eps = {0, 0.01, 0.03, 0.1, 0.3};
  std::vector<double> pgd_acc, fgsm_acc;
  for (const double e : eps) {
    const auto f = attacks::fgsm(target, test.images, test.labels, e);
    const auto p = attacks::pgd(target, test.images, test.labels,
                                attacks::PgdOptions{}.with_epsilon(e).with_step_size(0.01).with_iterations(40).with_seed(1));
    fgsm_acc.push_back(attacks::accuracy(target, f, test.labels));
    pgd_acc.push_back(attacks::accuracy(target, p, test.labels));
    MESSAGE("epsilon ", e, ": FGSM accuracy ", 100 * fgsm_acc.back(), " %, PGD-40 accuracy ", 100 * pgd_acc.back(), " %");
  }
  const double seconds = trained_seconds_since(t0);
  MESSAGE("robustness sweep done in ", seconds, " s in all");

  CHECK(pgd_acc[0] == clean);
  CHECK(fgsm_acc[0] == clean);
  for (std::size_t k = 0; k < eps.size(); ++k) {
    CAPTURE(eps[k]);
    CHECK(pgd_acc[k] <= fgsm_acc[k]);                     // the iterative attack is the stronger one
    if (k > 0) CHECK(pgd_acc[k] <= pgd_acc[k - 1]);       // a larger ball never helps the model
    if (k > 0) CHECK(pgd_acc[k] < clean);                 // every budget hurts
  }
  CHECK(fgsm_acc.back() < clean);
  CHECK(pgd_acc.back() <= 0.02);
}

TEST_SUITE_END();
