#pragma once
// The checks of the losses across ranks, written once for any Communicator: the ThreadTeam tests
// (tests/distributed/) and the MPI tests (tests/mpi/, under mpirun -np 2 and 3) both run them.
// Every rank builds the same batch, computes the whole batch's loss in this process (the
// reference), then its share across the ranks, and reports how far its value and its rows'
// gradient are from the reference.

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/distributed/communicator.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"

namespace invar::test {

struct AcrossReport {
  double value_error = 0;  // max relative difference of a value (and its numerator, denominator)
  double grad_error = 0;   // max |difference| of a gradient element / max |reference gradient element|
  int cases = 0;
  std::string worst;       // the case of the largest error
  void add(double v, double g, const std::string& what) {
    ++cases;
    if (v > value_error || g > grad_error) worst = what;
    value_error = std::max(value_error, v);
    grad_error = std::max(grad_error, g);
  }
};

/// Row counts per rank: the shard_range split, or (uneven) everything on the last rank but one
/// row per other rank, rank 0 getting none (a rank with no rows must still take part).
inline std::vector<index_t> split_rows(index_t rows, int ranks, bool uneven) {
  std::vector<index_t> n(std::size_t(ranks), 0);
  if (!uneven) {
    for (int r = 0; r < ranks; ++r) n[std::size_t(r)] = distributed::shard_range(rows, r, ranks).size();
    return n;
  }
  index_t left = rows;
  for (int r = 1; r + 1 < ranks; ++r) {
    n[std::size_t(r)] = 1;
    --left;
  }
  n[std::size_t(ranks - 1)] = left;
  return n;
}

/// Every built-in metric x {paper, pooled} x {L_DA all pairs, L_DA same class, L_C, L_DA and L_C
/// in one group_invariances call} x {value only, gradient, accumulating gradient}, on loss_batch (13 rows with groups and classes spread over
/// the ranks, one unlabelled row), split as split_rows says; plus cross-entropy.
inline AcrossReport compare_losses_across(const distributed::Communicator& comm, bool uneven) {
  AcrossReport report;
  const LossBatch b = loss_batch(5, 17);
  const index_t rows = b.x.dim(0), cols = b.x.dim(1);
  const auto counts = split_rows(rows, comm.size(), uneven);
  index_t begin = 0;
  for (int r = 0; r < comm.rank(); ++r) begin += counts[std::size_t(r)];
  const index_t mine = counts[std::size_t(comm.rank())];
  const Tensor<double> x_mine = Tensor<double>::copy_of(b.x.view().slice_rows(begin, begin + mine));
  auto part = [&](const std::vector<index_t>& ids) {
    return std::vector<index_t>(ids.begin() + begin, ids.begin() + begin + mine);
  };
  const std::vector<index_t> seeds_mine = part(b.seeds), classes_mine = part(b.classes);
  auto ids = [](const std::vector<index_t>& v) { return TensorView<const index_t>(v.data(), Shape{index_t(v.size())}); };

  auto one_metric = [&](const auto& metric) {
    using M = std::decay_t<decltype(metric)>;
    for (PairConvention conv : {PairConvention::paper, PairConvention::pooled}) {
      for (int kind = 0; kind < 4; ++kind) {
        for (int mode = 0; mode < 3; ++mode) {  // 0 value only, 1 gradient, 2 accumulating gradient
          const GroupLossOptions base = GroupLossOptions{}.with_convention(conv).with_gradient_scale(0.7);
          // Kinds 0-2 one loss; kind 3 L_DA (same class) and L_C in one group_invariances call.
          auto call = [&](TensorView<const double> x, TensorView<const index_t> s, TensorView<const index_t> c,
                          Tensor<double>* g, const GroupLossOptions& o) -> std::vector<LossValue> {
            if (kind == 0)
              return {g ? augmentation_invariance(metric, x, s, *g, o) : augmentation_invariance(metric, x, s, no_gradient, o)};
            if (kind == 1)
              return {g ? augmentation_invariance(metric, x, s, same_class(c), *g, o)
                        : augmentation_invariance(metric, x, s, same_class(c), no_gradient, o)};
            if (kind == 2) return {g ? class_invariance(metric, x, c, *g, o) : class_invariance(metric, x, c, no_gradient, o)};
            const InvarianceTerm terms[2] = {{s, same_class(c), o, "L_DA"},
                                             {c, all_pairs(), GroupLossOptions{o}.with_gradient_scale(-0.4), "L_C"}};
            return g ? group_invariances(metric, x, terms, *g) : group_invariances(metric, x, terms, no_gradient);
          };
          const GroupLossOptions o = mode == 2 ? GroupLossOptions{base}.accumulating() : base;
          Tensor<double> g_ref(b.x.shape()), g_mine(x_mine.shape());
          for (index_t i = 0; i < g_ref.numel(); ++i) g_ref[i] = mode == 2 ? 0.25 * double(i % 7) : 0.0;
          for (index_t i = 0; i < g_mine.numel(); ++i) g_mine[i] = g_ref[begin * cols + i];
          const auto ref = call(b.x.view(), ids(b.seeds), ids(b.classes), mode ? &g_ref : nullptr, o);
          const auto got = call(x_mine.view(), ids(seeds_mine), ids(classes_mine), mode ? &g_mine : nullptr,
                                GroupLossOptions{o}.across(comm));
          double ve = ref.size() == got.size() ? 0.0 : 1.0;
          for (std::size_t t = 0; t < std::min(ref.size(), got.size()); ++t)
            ve = std::max({ve, rel(ref[t].value, got[t].value), rel(ref[t].numerator, got[t].numerator),
                           rel(ref[t].denominator, got[t].denominator)});
          double scale = 0, diff = 0;
          for (index_t i = 0; i < g_ref.numel(); ++i) scale = std::max(scale, std::abs(g_ref[i]));
          for (index_t i = 0; i < g_mine.numel(); ++i)
            diff = std::max(diff, std::abs(g_mine[i] - g_ref[begin * cols + i]));
          report.add(ve, scale > 0 ? diff / scale : diff,
                     std::string(M::name) + " " + to_string(conv) + " kind " + std::to_string(kind) + " mode " +
                         std::to_string(mode));
        }
      }
    }
  };
  std::apply([&](const auto&... m) { (one_metric(m), ...); }, all_metrics{});

  // Cross-entropy: 4 classes, the unlabelled row included.
  Tensor<double> logits(Shape{rows, 4});
  for (index_t i = 0; i < logits.numel(); ++i) logits[i] = std::sin(0.7 * double(i)) * 2.0;
  std::vector<index_t> labels(b.classes.size());
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = b.classes[i] == no_group ? no_group : b.classes[i] % 4;
  const std::vector<index_t> labels_mine = part(labels);
  Tensor<double> g_ref(logits.shape()), g_mine(Shape{mine, 4});
  const auto ref = softmax_cross_entropy(logits, ids(labels), g_ref, CrossEntropyOptions{}.with_gradient_scale(0.3));
  const Tensor<double> logits_mine = Tensor<double>::copy_of(logits.view().slice_rows(begin, begin + mine));
  const auto got = softmax_cross_entropy(logits_mine, ids(labels_mine), g_mine,
                                         CrossEntropyOptions{}.with_gradient_scale(0.3).across(comm));
  double diff = 0;
  for (index_t i = 0; i < g_mine.numel(); ++i) diff = std::max(diff, std::abs(g_mine[i] - g_ref[begin * 4 + i]));
  const double counts_differ = (ref.labelled != got.labelled || ref.correct != got.correct) ? 1.0 : 0.0;
  report.add(std::max(rel(ref.loss, got.loss), counts_differ), diff, "softmax_cross_entropy");
  return report;
}

}  // namespace invar::test
