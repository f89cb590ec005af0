#pragma once
/// \file robustness.hpp
/// invar-report's adversarial robustness (--robustness), after every run is analysed: white-box
/// FGSM and PGD curves of each run (its classifier, or its backbone plus the report's linear
/// probe when its objective trained no classifier), then black-box transfer between every
/// ordered pair of runs.

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "common/model_zoo.hpp"
#include "invar/attacks/robustness.hpp"
#include "invar/attacks/target.hpp"
#include "invar/core/error.hpp"
#include "report/analysis.hpp"
#include "report/options.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

inline std::vector<double> parse_epsilons(const std::string& list, const char* option) {
  std::vector<double> out;
  for (const auto& item : apps::split_list(list, option)) {
    std::size_t used = 0;
    double v = -1;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == item.size() && std::isfinite(v) && v >= 0, option, ": '", item, "' is not an epsilon >= 0");
    out.push_back(v);
  }
  return out;
}

/// A run as an attack target: its classifier, or (invariance-only runs) its backbone plus the
/// report's linear probe on the top features, differentiated end to end.
struct RunTarget {
  std::unique_ptr<attacks::ModelTarget<nn::Sequential<float>>> classifier;
  std::unique_ptr<attacks::ProbedTarget<nn::Sequential<float>>> probed;
  std::unique_ptr<attacks::AnyTarget> any;
  explicit RunTarget(RunAnalysis& a) {
    if (a.classifier_trained) {
      classifier = std::make_unique<attacks::ModelTarget<nn::Sequential<float>>>(*a.model);
      any = std::make_unique<attacks::AnyTarget>(*classifier);
    } else {
      probed = std::make_unique<attacks::ProbedTarget<nn::Sequential<float>>>(*a.model, a.top_tap, a.linear_probe);
      any = std::make_unique<attacks::AnyTarget>(*probed);
    }
  }
};

/// White-box curves of every run, then transfer between every ordered pair of runs at
/// transfer_epsilon (when they were analysed on the same test images).
inline std::vector<Transfer> measure_robustness(std::vector<RunAnalysis>& runs, const ReportOptions& o,
                                         const Progress& progress) {
  const auto fgsm_eps = parse_epsilons(o.fgsm_epsilons, "--fgsm-epsilons");
  const auto pgd_eps = parse_epsilons(o.pgd_epsilons, "--pgd-epsilons");
  attacks::PgdOptions pgd;
  pgd.with_step_size(o.pgd_step).with_iterations(o.pgd_iterations).with_restarts(o.pgd_restarts).with_random_start(true);
  pgd.validate();
  std::vector<RunTarget> targets;
  for (auto& a : runs) targets.emplace_back(a);
  for (std::size_t k = 0; k < runs.size(); ++k) {
    auto& a = runs[k];
    const index_t n = std::min<index_t>(o.attack_images, a.data->test.size());
    const auto images = a.data->test.images.view().slice_rows(0, n);
    const auto labels = a.data->test.labels.view().slice_rows(0, n);
    Robustness r;
    r.target = a.classifier_trained ? "classifier" : "linear probe";
    r.images = n;
    auto& t = *targets[k].any;
    r.clean_accuracy = attacks::accuracy(t, images, labels);
    auto note = [&](const char* attack, double eps) {
      progress("%s: white-box %s, epsilon %g (%ld images)", a.input.name.c_str(), attack, eps, long(n));
    };
    r.fgsm = attacks::fgsm_curve(t, t, images, labels, fgsm_eps, {}, note);
    r.pgd = attacks::pgd_curve(t, t, images, labels, pgd_eps, attacks::PgdOptions(pgd).with_seed(a.input.config.seed),
                               note);
    a.robustness = r;
  }
  std::vector<Transfer> transfers;
  if (runs.size() < 2) return transfers;
  for (const auto& a : runs)
    if (a.data != runs.front().data) {
      progress("transfer skipped: the runs were not analysed on the same test images");
      return transfers;
    }
  const index_t n = std::min<index_t>(o.attack_images, runs.front().data->test.size());
  const auto images = runs.front().data->test.images.view().slice_rows(0, n);
  const auto labels = runs.front().data->test.labels.view().slice_rows(0, n);
  for (std::size_t s = 0; s < runs.size(); ++s) {
    progress("transfer: adversarials made on %s at epsilon %g (FGSM, PGD)", runs[s].input.name.c_str(),
             o.transfer_epsilon);
    auto& substitute = *targets[s].any;
    const auto by_fgsm = attacks::fgsm(substitute, images, labels, o.transfer_epsilon);
    const auto by_pgd = attacks::pgd(substitute, images, labels,
                                     attacks::PgdOptions(pgd).with_epsilon(o.transfer_epsilon).with_seed(
                                         runs[s].input.config.seed));
    for (std::size_t t = 0; t < runs.size(); ++t) {
      if (t == s) continue;
      auto& target = *targets[t].any;
      transfers.push_back({runs[s].input.name, runs[t].input.name, o.transfer_epsilon,
                           attacks::accuracy(target, images, labels), attacks::accuracy(target, by_fgsm.view(), labels),
                           attacks::accuracy(target, by_pgd.view(), labels)});
    }
  }
  return transfers;
}

}  // namespace invar::apps::reporting
