// Checkpoints: a run saved and restored continues with exactly the updates it would have made;
// the training state round-trips (including a seed above 2^63); other configurations, plain
// parameter files and damaged files are refused with clear messages; a checkpoint of a model and
// optimiser on a separate-memory device continues on the CPU, and the other way, with the same bits.
#include <doctest/doctest.h>

#include <filesystem>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/train/checkpoint.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"
#include "support/separate_device.hpp"
#include "support/temp_dir.hpp"

using namespace invar;

TEST_SUITE_BEGIN("train");

namespace {
/// An MLP and SGD with momentum on device D (inputs copied over), one seed per run.
template <Device D = Cpu>
struct RunOn {
  nn::Sequential<float, D> model;
  optim::Sgd<float, D> sgd{optim::SgdOptions(0.1).with_momentum(0.9).with_nesterov()};
  Tensor<float, D> x;
  Tensor<index_t> y{Shape{10}};
  Tensor<float, D> dlogits{Shape{10, 3}};
  explicit RunOn(std::uint64_t seed = 1)
      : model(nn::make_mlp<float, D>({6, 8, 3}, nn::MlpOptions{}.with_seed(seed))),
        x(Tensor<float, D>::copy_of(test::random_tensor<float>(Shape{10, 6}, 2).view())) {
    for (index_t i = 0; i < 10; ++i) y[i] = i % 3;
  }
  void step() {
    model.forward(x);
    softmax_cross_entropy(model.output(), y, dlogits);
    model.zero_grad();
    model.backward(dlogits);
    auto params = model.parameters();
    sgd.step(params);
  }
  /// Every parameter, copied to the host.
  std::vector<std::vector<float>> values() {
    std::vector<std::vector<float>> out;
    for (auto* p : model.parameters()) {
      const auto host = Tensor<float>::copy_of(p->value.view());
      out.emplace_back(host.begin(), host.end());
    }
    return out;
  }
};
using Run = RunOn<Cpu>;
}  // namespace

TEST_CASE("a checkpointed run continues exactly as the uninterrupted one") {
  test::TempDir dir;
  Run straight, first;
  for (int i = 0; i < 3; ++i) {
    straight.step();
    first.step();
  }
  const train::TrainingState state{3, 3, 0xF000000000000001ULL, R"({"model":"mlp"})"};
  train::save_checkpoint(dir.file("ckpt.invar"), first.model, first.sgd, state);
  for (int i = 0; i < 4; ++i) straight.step();

  Run resumed;  // fresh model and optimiser, other initial weights are overwritten
  const std::string config = R"({"model":"mlp"})";
  const auto loaded = train::load_checkpoint(dir.file("ckpt.invar"), resumed.model, resumed.sgd, &config);
  CHECK(loaded.epochs_done == 3);
  CHECK(loaded.global_step == 3);
  CHECK(loaded.seed == 0xF000000000000001ULL);
  CHECK(loaded.config == config);
  for (int i = 0; i < 4; ++i) resumed.step();
  const auto a = straight.model.parameters(), b = resumed.model.parameters();
  for (std::size_t p = 0; p < a.size(); ++p)
    for (index_t i = 0; i < a[p]->value.numel(); ++i) CHECK(a[p]->value[i] == b[p]->value[i]);
  CHECK(dir.listing() == std::vector<std::string>{"ckpt.invar"});
}

TEST_CASE("checkpoints of another configuration, parameter files and damaged files are refused") {
  test::TempDir dir;
  Run run;
  run.step();
  train::save_checkpoint(dir.file("ckpt.invar"), run.model, run.sgd, {1, 1, 7, "config A"});
  Run other;
  const std::string b = "config B";
  CHECK_ERROR_CONTAINS(train::load_checkpoint(dir.file("ckpt.invar"), other.model, other.sgd, &b),
                       "another configuration");
  nn::save_parameters(run.model, dir.file("params.invar"));
  CHECK_ERROR_CONTAINS(train::load_checkpoint(dir.file("params.invar"), other.model, other.sgd), "not a training checkpoint");
  CHECK_ERROR_CONTAINS(train::load_checkpoint(dir.file("missing.invar"), other.model, other.sgd), "missing.invar");
  std::filesystem::resize_file(dir.file("ckpt.invar"), std::filesystem::file_size(dir.file("ckpt.invar")) - 9);
  CHECK_ERROR_CONTAINS(train::load_checkpoint(dir.file("ckpt.invar"), other.model, other.sgd), "ckpt.invar");
  // A model of another architecture: refused, the model is left as it was.
  auto wider = nn::make_mlp<float>({6, 9, 3});
  train::save_checkpoint(dir.file("ok.invar"), run.model, run.sgd, {1, 1, 7, ""});
  const float before = wider.parameters()[0]->value[0];
  CHECK_ERROR_CONTAINS(train::load_checkpoint(dir.file("ok.invar"), wider, other.sgd), "shape");
  CHECK(wider.parameters()[0]->value[0] == before);
}

TEST_SUITE_END();

TEST_CASE("a checkpoint with a valid CRC but impossible content is refused, naming the field") {
  test::TempDir dir;
  Run run;
  run.step();
  // A NaN weight: saved with a correct checksum, refused on load, and the model left as it was.
  run.model.parameters().front()->value[2] = std::numeric_limits<float>::quiet_NaN();
  train::save_checkpoint(dir.file("nan.invar"), run.model, run.sgd, train::TrainingState{1, 1, 5, "{}"});
  Run other;
  const auto& w = other.model.parameters().front()->value;
  const std::vector<float> before(w.begin(), w.end());
  CHECK_ERROR_CONTAINS(train::load_checkpoint(dir.file("nan.invar"), other.model, other.sgd),
                       "entry 'model/fc1.weight' holds a non-finite value (nan) at element 2");
  CHECK(std::vector<float>(w.begin(), w.end()) == before);
}

TEST_CASE("a checkpoint written on a separate-memory device continues on the CPU with the same bits, and back") {
  test::TempDir dir;
  const std::string from_device = dir.file("device.invar");
  const std::string from_cpu = dir.file("cpu.invar");
  RunOn<test::SeparateHost> device(1);
  device.step();
  device.step();
  train::save_checkpoint(from_device, device.model, device.sgd, train::TrainingState{1, 2, 7, "device"});
  device.step();  // the uninterrupted run's third step

  RunOn<Cpu> cpu(99);  // other initial weights: the checkpoint must replace them
  const auto s = train::load_checkpoint(from_device, cpu.model, cpu.sgd);
  CHECK(s.global_step == 2);
  cpu.step();
  CHECK(cpu.values() == device.values());  // the momentum came along: the third steps agree

  train::save_checkpoint(from_cpu, cpu.model, cpu.sgd, train::TrainingState{1, 3, 7, "cpu"});
  cpu.step();
  RunOn<test::SeparateHost> back(42);
  train::load_checkpoint(from_cpu, back.model, back.sgd);
  back.step();
  CHECK(back.values() == cpu.values());
}
