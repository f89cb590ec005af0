// The data-parallel bookkeeping on parameters, on the CPU and on the separate-memory test device
// (host staging: the device's tensors are reached only through its copies): allreduce_gradients
// sums the gradients of the parameters that require them, in rank order, and leaves frozen ones;
// average_buffers replaces buffers by their mean over the ranks; the replicas agree to the bit.
// Also the losses across ranks on that device (the linear path's all-reduces of device sums).
#include <doctest/doctest.h>

#include "invar/distributed/gradients.hpp"
#include "invar/distributed/thread_team.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/squared_euclidean.hpp"
#include "support/separate_device.hpp"

using namespace invar;
using distributed::Communicator;

TEST_SUITE_BEGIN("distributed");

namespace {
template <Device D>
Tensor<float, D> filled(const Shape& s, float base) {
  std::vector<float> h(static_cast<std::size_t>(s.numel()));
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = base + 0.125f * float(i);
  auto t = Tensor<float, D>::uninitialized(s);
  D::copy_from_host(t.data(), h.data(), h.size() * sizeof(float));
  return t;
}
template <Device D>
std::vector<float> host_of(const Tensor<float, D>& t) {
  std::vector<float> h(static_cast<std::size_t>(t.numel()));
  if (!h.empty()) D::copy_to_host(h.data(), t.data(), h.size() * sizeof(float));
  return h;
}

template <Device D>
void gradients_and_buffers_across() {
  const int n = 3;
  std::vector<std::vector<float>> grads(n), frozen(n), buffers(n);
  distributed::ThreadTeam(n).run([&](const Communicator& comm) {
    const float r = float(comm.rank());
    Parameter<float, D> a("a", Shape{2, 3}), b("b", Shape{4}), c("c", Shape{1});
    a.grad = filled<D>(a.value.shape(), 1.0f + r);
    b.grad = filled<D>(b.value.shape(), 10.0f * r);
    c.grad = filled<D>(c.value.shape(), 7.0f + r);
    c.requires_grad = false;
    distributed::allreduce_gradients<float, D>(comm, {&a, &b, &c});
    Tensor<float, D> running = filled<D>(Shape{3}, 2.0f * r);
    distributed::average_buffers<float, D>(comm, {{"running", &running}});
    auto g = host_of(a.grad);
    const auto gb = host_of(b.grad);
    g.insert(g.end(), gb.begin(), gb.end());
    grads[std::size_t(comm.rank())] = g;
    frozen[std::size_t(comm.rank())] = host_of(c.grad);
    buffers[std::size_t(comm.rank())] = host_of(running);
  });
  for (int r = 0; r < n; ++r) {
    CHECK(grads[std::size_t(r)] == grads[0]);
    CHECK(buffers[std::size_t(r)] == buffers[0]);
    CHECK(frozen[std::size_t(r)][0] == 7.0f + float(r));  // frozen: untouched
  }
  // a: sum over r of (1 + r + 0.125 i) = 6 + 0.375 i; b: sum of (10 r + 0.125 i) = 30 + 0.375 i.
  for (std::size_t i = 0; i < 6; ++i) CHECK(grads[0][i] == doctest::Approx(6.0 + 0.375 * double(i)));
  for (std::size_t i = 0; i < 4; ++i) CHECK(grads[0][6 + i] == doctest::Approx(30.0 + 0.375 * double(i)));
  for (std::size_t i = 0; i < 3; ++i) CHECK(buffers[0][i] == doctest::Approx(2.0 + 0.125 * double(i)));
}
}  // namespace

TEST_CASE("allreduce_gradients and average_buffers on the CPU") { gradients_and_buffers_across<Cpu>(); }

TEST_CASE("allreduce_gradients and average_buffers stage the separate-memory device through the host") {
  gradients_and_buffers_across<test::SeparateHost>();
}

TEST_CASE("the linear path across ranks on the separate-memory device equals the CPU's whole batch") {
  const index_t rows = 10, cols = 6;
  Tensor<float> x(Shape{rows, cols});
  for (index_t i = 0; i < x.numel(); ++i) x[i] = float((i * 37) % 11) * 0.25f - 1.0f;
  std::vector<index_t> ids = {0, 1, 2, 0, 1, 2, 0, 1, 3, 3};
  Tensor<float> g_ref(x.shape());
  const auto ref = augmentation_invariance(SquaredEuclidean{}, x, TensorView<const index_t>(ids.data(), Shape{rows}), g_ref);
  std::vector<float> g(static_cast<std::size_t>(x.numel()));
  double value = 0;
  distributed::ThreadTeam(3).run([&](const Communicator& comm) {
    const auto s = distributed::shard_range(rows, comm.rank(), comm.size());
    const auto xd = Tensor<float, test::SeparateHost>::copy_of(x.view().slice_rows(s.begin, s.end));
    Tensor<float, test::SeparateHost> gd(xd.shape());
    const auto v = augmentation_invariance(SquaredEuclidean{}, xd, TensorView<const index_t>(ids.data() + s.begin, Shape{s.size()}),
                                           gd, GroupLossOptions{}.across(comm));
    if (comm.rank() == 0) value = v.value;
    if (s.size() > 0) test::SeparateHost::copy_to_host(g.data() + s.begin * cols, gd.data(), std::size_t(gd.numel()) * sizeof(float));
  });
  CHECK(value == doctest::Approx(ref.value).epsilon(1e-6));
  for (index_t i = 0; i < x.numel(); ++i) CHECK(g[std::size_t(i)] == doctest::Approx(g_ref[i]).epsilon(1e-5));
}
