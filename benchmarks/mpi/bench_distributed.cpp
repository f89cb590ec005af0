// Data-parallel training step on N MPI ranks: how much of a step is communication, measured and
// modelled. All-CNN-C ('same' top conv, batch norm, width --width) on a global batch of 128 =
// K 16 seeds x M 8 copies (random 3 x 32 x 32 inputs), the authors' objective (L_DA, mean squared
// difference, pooled, same-class reference, at the 9 taps conv1..conv9, exponential weights,
// total 0.1; cross-entropy 0.9), SGD with Nesterov momentum. Each rank holds its contiguous share
// of the batch (seed groups straddle ranks). Per step: forward, Eq. 1 across the ranks, backward,
// gradient all-reduce, SGD step. The communicator is wrapped in a TimedCommunicator, so the
// step's time splits into the loss's collectives (the per-group sums, ids, the shift row, the
// cross-entropy counts) and the gradient all-reduce. Plain timing (every rank must run the same
// number of steps, which Google Benchmark's adaptive iteration count cannot promise).
//
// The model: a collective of n bytes per rank costs about c * alpha + n * f(N) / beta, with alpha
// and beta measured here (a 1-double all-reduce; a 16 MiB all-reduce) and f(N) = 2 (N - 1) / N for
// the all-reduce (reduce-scatter + all-gather), (N - 1) for an all-gather of n bytes per rank.
//
// Run (docs/performance.md, "Training across processes"):
//   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec -n 2 --oversubscribe
//       build/release/benchmarks/mpi/bench_distributed --width 0.25 --steps 10
// Prints one JSON line (rank 0) with the medians.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/distributed/gradients.hpp"
#include "invar/distributed/mpi_communicator.hpp"
#include "invar/distributed/timed_communicator.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/objective/objective.hpp"
#include "invar/optim/sgd.hpp"

namespace {

using namespace invar;
namespace obj = invar::objective;
using Clock = std::chrono::steady_clock;

constexpr index_t kSeeds = 16, kCopies = 8, kBatch = kSeeds * kCopies, kClasses = 10;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

/// alpha (s) from a 1-double all-reduce and beta (bytes/s) from a 16 MiB one, on this communicator.
std::pair<double, double> measure_alpha_beta(const distributed::Communicator& comm) {
  std::vector<double> one(1, 1.0), big(std::size_t(2) << 20, 1.0);
  std::vector<double> small_t, big_t;
  for (int i = 0; i < 50; ++i) {
    comm.barrier();
    const auto t0 = Clock::now();
    comm.allreduce_sum(std::span<double>(one));
    small_t.push_back(seconds_since(t0));
  }
  for (int i = 0; i < 5; ++i) {
    comm.barrier();
    const auto t0 = Clock::now();
    comm.allreduce_sum(std::span<double>(big));
    big_t.push_back(seconds_since(t0));
  }
  const int n = comm.size();
  const double alpha = median(small_t);
  const double traffic = 2.0 * double(n - 1) / double(n) * double(big.size() * sizeof(double));
  const double beta = traffic / std::max(median(big_t) - alpha, 1e-9);
  return {alpha, beta};
}

}  // namespace

int main(int argc, char** argv) {
  distributed::MpiSession mpi(argc, argv);
  const distributed::MpiCommunicator world;
  double width = 0.25;
  int steps = 10, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--width") width = std::atof(argv[i + 1]);
    else if (a == "--steps") steps = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      if (world.rank() == 0) std::fprintf(stderr, "bench_distributed: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const ThreadScope scope(threads);
  distributed::TimedCommunicator timed(world);
  const bool across = world.size() > 1;

  // The global batch (the same on every rank) and this rank's share.
  Tensor<float> x(Shape{kBatch, 3, 32, 32});
  Tensor<index_t> seeds(Shape{kBatch}), labels(Shape{kBatch});
  Rng rng(1);
  for (auto& v : x) v = float(rng.uniform());
  for (index_t k = 0; k < kSeeds; ++k) {
    const auto label = index_t(rng.below(std::uint64_t(kClasses)));
    for (index_t m = 0; m < kCopies; ++m) {
      seeds[k * kCopies + m] = k;
      labels[k * kCopies + m] = label;
    }
  }
  const auto s = distributed::shard_range(kBatch, world.rank(), world.size());
  const Tensor<float> xs = Tensor<float>::copy_of(x.view().slice_rows(s.begin, s.end));
  const Tensor<index_t> ss = Tensor<index_t>::copy_of(seeds.view().slice_rows(s.begin, s.end));
  const Tensor<index_t> ls = Tensor<index_t>::copy_of(labels.view().slice_rows(s.begin, s.end));

  auto model = nn::make_all_cnn<float>(nn::AllCnnOptions{}.with_width(width).with_classes(kClasses).with_batch_norm(true));
  model.set_input_gradient(false);
  auto params = model.parameters();
  optim::Sgd<float> sgd(optim::SgdOptions(0.01).with_momentum(0.9).with_nesterov());
  const std::vector<std::string> taps = {"conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8", "conv9"};
  obj::Objective<float> objective;
  objective
      .augmentation(taps, MeanSquaredDifference{}, obj::WeightProfile::exponential, 10.0,
                    GroupLossOptions{}.with_convention(PairConvention::pooled))
      .with_augmentation_reference(obj::AugmentationReference::same_class)
      .with_schedule(obj::WeightSchedule::constant(0.1, 0.0, 0.9));
  if (across) objective.across(timed);
  Tensor<float> dlogits;
  double param_count = 0;
  for (auto* p : params) param_count += double(p->value.numel());

  std::vector<double> step_t, loss_comm_t, grad_comm_t, loss_bytes, grad_bytes, loss_calls;
  for (int step = -1; step < steps; ++step) {  // step -1: warm-up (first-touch allocations)
    if (across) world.barrier();
    const auto t0 = Clock::now();
    model.forward(xs);
    timed.reset();
    objective.evaluate(model, ss, ls, &dlogits);
    const auto loss = timed.total();
    model.zero_grad();
    objective.backward(model, dlogits);
    timed.reset();
    if (across) distributed::allreduce_gradients(timed, params);
    const auto grad = timed.total();
    sgd.step(params);
    const double t = seconds_since(t0);
    if (step < 0) continue;
    step_t.push_back(t);
    loss_comm_t.push_back(loss.seconds);
    grad_comm_t.push_back(grad.seconds);
    loss_bytes.push_back(loss.bytes);
    grad_bytes.push_back(grad.bytes);
    loss_calls.push_back(double(loss.calls));
  }
  const auto [alpha, beta] = across ? measure_alpha_beta(world) : std::pair<double, double>{0.0, 0.0};
  // The model: all-reduces move 2 (N - 1) / N of their bytes; the loss's all-gathers (ids, sizes:
  // bytes per rank x (N - 1)) are small, so the model counts every loss byte as all-reduce traffic
  // and every call as 2 (N - 1) latencies (reduce-scatter + all-gather rounds).
  const int n = world.size();
  const double f = n > 1 ? 2.0 * double(n - 1) / double(n) : 0.0;
  const double lat = 2.0 * double(n - 1) * alpha;
  const double model_loss = n > 1 ? median(loss_calls) * lat + median(loss_bytes) * f / beta : 0.0;
  const double model_grad = n > 1 ? lat + median(grad_bytes) * f / beta : 0.0;
  if (world.rank() == 0)
    std::printf("{\"ranks\": %d, \"threads_per_rank\": %d, \"width\": %.3g, \"parameters\": %.0f, \"steps\": %d, "
                "\"step_ms\": %.2f, \"loss_comm_ms\": %.3f, \"grad_comm_ms\": %.3f, \"loss_calls\": %.0f, "
                "\"loss_bytes_per_rank\": %.0f, \"grad_bytes_per_rank\": %.0f, \"alpha_us\": %.2f, "
                "\"beta_GBps\": %.3f, \"model_loss_comm_ms\": %.3f, \"model_grad_comm_ms\": %.3f}\n",
                n, threads, width, param_count, steps, 1e3 * median(step_t), 1e3 * median(loss_comm_t),
                1e3 * median(grad_comm_t), median(loss_calls), median(loss_bytes), median(grad_bytes), 1e6 * alpha,
                beta / 1e9, 1e3 * model_loss, 1e3 * model_grad);
  return 0;
}
