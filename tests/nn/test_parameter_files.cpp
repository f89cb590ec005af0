// Save -> load gives identical outputs and identical continued training; broken files are rejected.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "invar/cpu.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/optim/state_io.hpp"
#include "support/random.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using invar::test::TempDir;

TEST_SUITE_BEGIN("nn");

namespace {

void train_steps(nn::Sequential<float>& model, optim::Sgd<float>& sgd, int steps, std::uint64_t seed) {
  auto params = model.parameters();
  Tensor<float> dlogits(Shape{16, 4});
  for (int s = 0; s < steps; ++s) {
    const auto x = test::random_tensor<float>(Shape{16, 12}, seed + std::uint64_t(s));
    Tensor<index_t> y(Shape{16});
    for (index_t i = 0; i < 16; ++i) y[i] = (i + s) % 4;
    model.forward(x);
    softmax_cross_entropy(model.output(), y, dlogits);
    model.zero_grad();
    model.backward(dlogits);
    sgd.step(params);
  }
}

bool same_parameters(nn::Sequential<float>& a, nn::Sequential<float>& b) {
  auto pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    if (std::memcmp(pa[i]->value.data(), pb[i]->value.data(), pa[i]->value.bytes()) != 0) return false;
  return true;
}
}  // namespace

TEST_CASE("save -> load: identical outputs, and identical continued training with the optimiser state") {
  TempDir dir;
  const auto file = (dir.path / "checkpoint.invar").string();
  auto model = nn::make_mlp<float>({12, 8, 4}, nn::MlpOptions{}.with_seed(3));
  optim::Sgd<float> sgd(optim::SgdOptions(0.1).with_momentum(0.9).with_nesterov());
  train_steps(model, sgd, 3, 100);

  io::Archive archive;
  nn::store_parameters(archive, model);
  optim::store_state(archive, sgd);
  archive.save(file);

  auto restored = nn::make_mlp<float>({12, 8, 4}, nn::MlpOptions{}.with_seed(99));  // other initial values
  optim::Sgd<float> sgd2(optim::SgdOptions(0.1).with_momentum(0.9).with_nesterov());
  const auto loaded = io::Archive::load(file);
  nn::restore_parameters(loaded, restored);
  optim::restore_state(loaded, sgd2);
  CHECK(same_parameters(model, restored));

  const auto x = test::random_tensor<float>(Shape{5, 12}, 7);
  const auto y1 = Tensor<float>::copy_of(model.forward(x));
  const auto y2 = Tensor<float>::copy_of(restored.forward(x));
  CHECK(std::memcmp(y1.data(), y2.data(), y1.bytes()) == 0);

  train_steps(model, sgd, 4, 200);
  train_steps(restored, sgd2, 4, 200);
  CHECK(same_parameters(model, restored));  // momentum buffers came back too
}

TEST_CASE("parameter files: wrong architecture, truncated, altered and missing files are invar::Error") {
  TempDir dir;
  const auto file = (dir.path / "mlp.invar").string();
  auto model = nn::make_mlp<float>({12, 8, 4});
  nn::save_parameters(model, file);
  auto wider = nn::make_mlp<float>({12, 9, 4});
  CHECK_THROWS_WITH_AS(nn::load_parameters(wider, file), doctest::Contains("'model/fc1.weight' has shape [8, 12]"),
                       Error);
  auto deeper = nn::make_mlp<float>({12, 8, 8, 4});
  CHECK_THROWS_WITH_AS(nn::load_parameters(deeper, file), doctest::Contains("fc2.weight"), Error);
  auto shallower = nn::make_mlp<float>({12, 4});
  nn::save_parameters(deeper, file + ".deep");
  CHECK_THROWS_WITH_AS(nn::load_parameters(shallower, file + ".deep"), doctest::Contains("has shape [8, 12]"), Error);
  auto mlp3 = nn::make_mlp<float>({12, 8, 8});
  auto mlp4 = nn::make_mlp<float>({12, 8, 8, 8});
  nn::save_parameters(mlp4, file + ".four");
  CHECK_THROWS_WITH_AS(nn::load_parameters(mlp3, file + ".four"), doctest::Contains("first unused: 'model/fc3.weight'"),
                       Error);

  std::vector<char> bytes(std::filesystem::file_size(file));
  std::ifstream(file, std::ios::binary).read(bytes.data(), std::streamsize(bytes.size()));
  const auto truncated = (dir.path / "truncated.invar").string();
  std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
  CHECK_THROWS_AS(nn::load_parameters(model, truncated), Error);
  auto altered = bytes;
  altered[altered.size() / 2] ^= 0x10;
  const auto flipped = (dir.path / "altered.invar").string();
  std::ofstream(flipped, std::ios::binary).write(altered.data(), std::streamsize(altered.size()));
  CHECK_THROWS_WITH_AS(nn::load_parameters(model, flipped), doctest::Contains("checksum"), Error);
  CHECK_THROWS_AS(nn::load_parameters(model, (dir.path / "missing.invar").string()), Error);

  // A failed load leaves the model unchanged.
  auto before = Tensor<float>::copy_of(model.parameters().front()->value.view());
  auto other = nn::make_mlp<float>({12, 8, 4}, nn::MlpOptions{}.with_seed(5));
  CHECK_THROWS_AS(nn::load_parameters(other, truncated), Error);
  nn::load_parameters(other, file);
  CHECK(std::memcmp(other.parameters().front()->value.data(), before.data(), before.bytes()) == 0);
}

TEST_SUITE_END();
