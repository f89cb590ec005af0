// The networks and their memory plan on a device whose memory the host cannot touch
// (tests/support/separate_device.hpp): every layer, the shared buffers, the in-place ReLUs and
// inference mode go through the device interface only, and give the CPU's bits (the device runs
// the CPU kernels). What CUDA part 2 builds on.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "support/random.hpp"
#include "support/separate_device.hpp"

using namespace invar;
using test::SeparateHost;

TEST_SUITE_BEGIN("nn");

namespace {

template <class T, Device D>
std::vector<T> device_values(TensorView<const T, D> v) {
  std::vector<T> out(static_cast<std::size_t>(v.numel()));
  if constexpr (HostDevice<D>) std::copy(v.data(), v.data() + v.numel(), out.begin());
  else D::copy_to_host(out.data(), v.data(), out.size() * sizeof(T));
  return out;
}

struct DeviceRun {
  std::vector<float> output, dx, tap;
  std::vector<std::vector<float>> grads;
};

// One training step (a tap gradient and an output gradient), then an inference forward.
template <Device D>
DeviceRun run_on(nn::Sequential<float, D>& model, const Tensor<float>& x_host, const Tensor<float>& dy_host,
                 const Tensor<float>& tap_grad_host, const std::string& tap) {
  const auto x = Tensor<float, D>::copy_of(x_host.view());
  const auto dy = Tensor<float, D>::copy_of(dy_host.view());
  const auto tg = Tensor<float, D>::copy_of(tap_grad_host.view());
  model.zero_grad();
  model.forward(x);
  ops::copy(tg, model.tap_grad(tap));
  DeviceRun r;
  r.dx = device_values<float, D>(model.backward(dy));
  for (auto* p : model.parameters()) r.grads.push_back(device_values<float, D>(p->grad.view()));
  model.eval();
  model.set_inference(true, {tap});
  model.forward(x);
  r.output = device_values<float, D>(model.output());
  r.tap = device_values<float, D>(model.tap(tap));
  model.set_inference(false);
  model.train();
  return r;
}

}  // namespace

TEST_CASE("models with the memory plan on a separate-memory device: the CPU's bits") {
  struct Case {
    std::string name, tap;
    std::function<nn::Sequential<float>()> cpu;
    std::function<nn::Sequential<float, SeparateHost>()> device;
    Shape input;
  };
  const auto wrn = nn::WideResnetOptions{}.with_depth(10).with_widen(1).with_seed(5);
  const auto wrn_projection = nn::WideResnetOptions{wrn}.with_shortcut(nn::ResidualShortcut::projection);
  const auto cnn = nn::AllCnnOptions{}.with_width(0.1).with_seed(4);
  const std::vector<Case> cases = {
      {"mlp", "hidden1", [] { return nn::make_mlp<float>({12, 9, 4}, nn::MlpOptions{}.with_seed(3)); },
       [] { return nn::make_mlp<float, SeparateHost>({12, 9, 4}, nn::MlpOptions{}.with_seed(3)); }, Shape{5, 12}},
      {"all-cnn", "conv2", [&] { return nn::make_all_cnn<float>(cnn); },
       [&] { return nn::make_all_cnn<float, SeparateHost>(cnn); }, Shape{3, 3, 12, 12}},
      {"wide-resnet", "block2", [&] { return nn::make_wide_resnet<float>(wrn); },
       [&] { return nn::make_wide_resnet<float, SeparateHost>(wrn); }, Shape{3, 3, 8, 8}},
      {"wide-resnet, projection", "block2", [&] { return nn::make_wide_resnet<float>(wrn_projection); },
       [&] { return nn::make_wide_resnet<float, SeparateHost>(wrn_projection); }, Shape{3, 3, 8, 8}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto host_model = c.cpu();
    auto device_model = c.device();
    const auto x = test::random_tensor<float>(c.input, 1, 0.0, 1.0);
    auto shapes = c.cpu();  // the shapes, from a model of its own (a training forward moves batch norm's statistics)
    shapes.forward(x);
    const auto dy = test::random_tensor<float>(shapes.output().shape(), 2);
    const auto tg = test::random_tensor<float>(shapes.tap(c.tap).shape(), 3);
    const DeviceRun h = run_on(host_model, x, dy, tg, c.tap);
    const auto live = SeparateHost::live_blocks();
    const DeviceRun d = run_on(device_model, x, dy, tg, c.tap);
    CHECK(d.dx == h.dx);
    CHECK(d.grads == h.grads);
    CHECK(d.output == h.output);
    CHECK(d.tap == h.tap);
    CHECK(device_model.shared_buffer_bytes() > 0);
    // A second step reuses the device buffers: no new blocks.
    const auto blocks = SeparateHost::live_blocks();
    run_on(device_model, x, dy, tg, c.tap);
    CHECK(SeparateHost::live_blocks() == blocks);
    CHECK(blocks >= live);
  }
}

TEST_SUITE_END();
