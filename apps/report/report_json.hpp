#pragma once
/// \file report_json.hpp
/// report.json: every number of the report, one object per run (to_json) and the report's own
/// (data set, options, figures, transfer); with seed groups (discovery.hpp), one object per group
/// too, with the mean, spread and every seed's value of each measure (groups.hpp). The file
/// holds no NaN: a number that is undefined for a model (collapsed features: analysis.hpp) is
/// null, and the object that holds it has an "undefined" object that gives the reason under the
/// same key, e.g. "pca": {"pc1_share": null, ..., "undefined": {"pc1_share": "every feature of
/// 'hidden2' is constant over the 400 test images (total variance 0)"}}. A number that does not
/// apply (no classifier trained) is left out.

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "invar/attacks/robustness.hpp"
#include "invar/core/error.hpp"
#include "report/analysis.hpp"
#include "report/discovery.hpp"
#include "report/groups.hpp"
#include "report/options.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

inline json curve_json(const std::vector<attacks::CurvePoint>& curve) {
  json out = json::array();
  for (const auto& p : curve) out.push_back({{"epsilon", p.epsilon}, {"accuracy", p.accuracy}});
  return out;
}

inline json number(double v) {
  check(std::isfinite(v), "a report number is not finite (", v, ")");
  return v;
}

/// obj[key] = v, or, when v is not finite, null with obj["undefined"][key] = the reason analysis.hpp
/// gave for it. A non-finite value without a reason (a numerical failure, not a property of the
/// model) is null too, with what was computed: the report is still written, and says so.
inline void put_number(json& obj, const std::string& key, double v, const std::map<std::string, std::string>& reasons,
                       const std::string& reason_key) {
  if (std::isfinite(v)) {
    obj[key] = v;
    return;
  }
  const auto it = reasons.find(reason_key);
  obj[key] = nullptr;
  obj["undefined"][key] = it != reasons.end() && std::isnan(v)
                              ? it->second
                              : invar::detail::concat("the computation gave ", v, ", not a number (please report it)");
}

inline json to_json(const RunAnalysis& a, const ReportOptions& o) {
  json r;
  r["name"] = a.input.name;
  r["folder"] = a.input.folder;
  r["config"] = a.input.config;
  r["top_tap"] = a.top_tap;
  r["test_images"] = a.test_images;
  r["classifier_trained"] = a.classifier_trained;
  if (a.classifier_trained) r["classifier_accuracy"] = number(a.classifier_accuracy);
  const auto& lr = a.linear_probe.report();
  r["linear_probe"] = {{"train_images", a.probe_images},
                       {"train_accuracy", number(a.linear_train_accuracy)},
                       {"test_accuracy", number(a.linear_test_accuracy)},
                       {"iterations", lr.iterations},
                       {"converged", lr.converged},
                       {"stop_reason", lr.stop_reason}};
  if (a.mlp_probe) {
    const auto& mr = a.mlp_probe->report();
    r["mlp_probe"] = {{"train_images", a.probe_images},
                      {"hidden", analysis::MlpProbeOptions{}.hidden},
                      {"train_accuracy", number(a.mlp_train_accuracy)},
                      {"test_accuracy", number(a.mlp_test_accuracy)},
                      {"iterations", mr.iterations},
                      {"converged", mr.converged},
                      {"stop_reason", mr.stop_reason}};
  }
  const auto& why = a.undefined;
  json ratios = json::array();
  const bool pca_defined = a.pca.defined();
  for (const double v : a.explained) ratios.push_back(pca_defined ? number(v) : json(nullptr));
  r["pca"] = {{"tap", a.top_tap},
              {"images", a.test_images},
              {"dims", a.pca.eigenvalues.size()},
              {"explained_variance_ratio", ratios}};
  if (!pca_defined) r["pca"]["undefined"]["explained_variance_ratio"] = why.at("pca/explained_variance_ratio");
  put_number(r["pca"], "pc1_share", a.pca.pc1_share, why, "pca/pc1_share");
  put_number(r["pca"], "effective_rank", a.pca.effective_rank, why, "pca/effective_rank");
  r["rdm"] = {{"tap", a.top_tap},
              {"metric", o.rdm_metric},
              {"images", a.rdm_labels.size()},
              {"per_class", o.per_class},
              {"constant_rows", a.rdm_constant_rows}};
  put_number(r["rdm"], "within_class", a.class_contrast.within_class, why, "rdm/within_class");
  put_number(r["rdm"], "between_class", a.class_contrast.between_class, why, "rdm/between_class");
  if (a.animate_contrast) {
    const auto& b = *a.animate_contrast;
    json& ai = r["rdm"]["animate_inanimate"];
    put_number(ai, "within_animate", b.within_a, why, "rdm/animate_inanimate/within_animate");
    put_number(ai, "within_inanimate", b.within_b, why, "rdm/animate_inanimate/within_inanimate");
    put_number(ai, "between", b.between, why, "rdm/animate_inanimate/between");
    // The page's contrast: between the groups minus the mean within them.
    std::map<std::string, std::string> contrast_why;
    for (const char* key : {"within_animate", "within_inanimate", "between"})
      if (ai.contains("undefined") && ai["undefined"].contains(key))
        contrast_why["contrast"] = ai["undefined"][key].get<std::string>();
    put_number(ai, "contrast", b.between - 0.5 * (b.within_a + b.within_b), contrast_why, "contrast");
  }
  json layers = json::array();
  for (const auto& l : a.layers) {
    json lj = {{"tap", l.tap}, {"dims", l.dims}};
    put_number(lj, "invariance_score", l.score, l.undefined, "invariance_score");
    put_number(lj, "cka_linear", l.cka_linear, l.undefined, "cka_linear");
    put_number(lj, "cka_linear_debiased", l.cka_linear_debiased, l.undefined, "cka_linear_debiased");
    put_number(lj, "cka_rbf", l.cka_rbf, l.undefined, "cka_rbf");
    layers.push_back(lj);
  }
  r["layers"] = {{"images", std::min<index_t>(o.layer_images, a.test_images)}, {"taps", layers}};
  r["tsne"] = {{"images", a.tsne_labels.size()},
               {"method", a.tsne.method == analysis::TsneMethod::exact ? "exact" : "barnes-hut"},
               {"iterations", a.tsne.iterations}};
  put_number(r["tsne"], "kl_divergence", a.tsne.kl_divergence, {}, "kl_divergence");
  if (a.robustness) {
    const auto& rb = *a.robustness;
    r["robustness"] = {{"attacked", rb.target},
                       {"images", rb.images},
                       {"clean_accuracy", number(rb.clean_accuracy)},
                       {"fgsm", curve_json(rb.fgsm)},
                       {"pgd",
                        {{"norm", "linf"},
                         {"step_size", o.pgd_step},
                         {"iterations", o.pgd_iterations},
                         {"restarts", o.pgd_restarts},
                         {"random_start", true},
                         {"points", curve_json(rb.pgd)}}}};
  }
  r["seconds"] = number(a.seconds);
  return r;
}

/// The numbers the page and the figures show: every run's JSON (to_json) and, per group, its
/// view: the run's own JSON when no group has several seeds (the report then is as it was before
/// seed groups), else the group's JSON (groups.hpp), whose measures are statistics.
struct ReportNumbers {
  std::vector<json> runs;
  std::vector<RunGroup> groups;
  bool grouped = false;
  std::vector<json> views;  ///< one per group
  json transfer_groups;     ///< grouped, with --robustness: transfer between groups (and between the seeds of one)
};

/// Transfer between groups: for every ordered pair of groups (S, T) the statistics of the run
/// pairs (s in S, t in T, s != t); with S = T, transfer between the seeds of one group.
inline json transfer_groups_json(const std::vector<Transfer>& transfers, const std::vector<RunGroup>& groups,
                                 const std::vector<RunAnalysis>& runs) {
  json out = json::array();
  for (const auto& s : groups)
    for (const auto& t : groups) {
      std::vector<json> clean, fgsm, pgd;
      std::vector<std::string> labels;
      json pairs = json::array();
      double epsilon = NAN;
      for (const auto& x : transfers)
        for (const auto si : s.runs)
          for (const auto ti : t.runs)
            if (x.substitute == runs[si].input.name && x.target == runs[ti].input.name) {
              clean.push_back(number(x.clean_accuracy));
              fgsm.push_back(number(x.fgsm_accuracy));
              pgd.push_back(number(x.pgd_accuracy));
              labels.push_back(x.substitute + " -> " + x.target);
              pairs.push_back({x.substitute, x.target});
              epsilon = x.epsilon;
            }
      if (labels.empty()) continue;
      out.push_back({{"substitute", s.name},
                     {"target", t.name},
                     {"epsilon", epsilon},
                     {"pairs", pairs},
                     {"clean_accuracy", statistic(clean, {}, labels)},
                     {"fgsm_accuracy", statistic(fgsm, {}, labels)},
                     {"pgd_accuracy", statistic(pgd, {}, labels)}});
    }
  return out;
}

/// Every run's JSON and every group's view (ReportNumbers).
inline ReportNumbers report_numbers(const Analyses& analyses, const std::vector<RunGroup>& groups,
                                    const std::vector<Transfer>& transfers, const ReportOptions& o) {
  ReportNumbers n;
  for (const auto& a : analyses.runs) n.runs.push_back(to_json(a, o));
  n.groups = groups;
  n.grouped = has_seed_groups(groups);
  for (const auto& g : groups) {
    if (!n.grouped) {
      n.views.push_back(n.runs[g.runs.front()]);
      continue;
    }
    std::vector<json> members;
    for (const auto i : g.runs) members.push_back(n.runs[i]);
    n.views.push_back(group_json(g.name, members));
  }
  if (n.grouped && o.robustness) n.transfer_groups = transfer_groups_json(transfers, groups, analyses.runs);
  return n;
}

/// The whole of report.json.
inline json report_json(const Analyses& analyses, const ReportNumbers& numbers, const std::vector<Transfer>& transfers,
                        const std::vector<std::pair<std::string, std::string>>& figures, const ReportOptions& o,
                        double seconds) {
  const auto& runs = analyses.runs;
  json j;
  j["report"] = {{"dataset", runs.front().input.config.dataset},
                 {"class_names", analyses.data.begin()->second.test.class_names},
                 {"options",
                  {{"test_images", o.test_images},
                   {"probe_images", o.probe_images},
                   {"per_class", o.per_class},
                   {"layer_images", o.layer_images},
                   {"tsne_images", o.tsne_images},
                   {"rdm_metric", o.rdm_metric},
                   {"robustness", o.robustness}}},
                 {"figures", json::array()},
                 {"seconds", seconds}};
  for (const auto& [file, caption] : figures) j["report"]["figures"].push_back(file);
  j["runs"] = numbers.runs;
  if (numbers.grouped) j["groups"] = numbers.views;
  if (o.robustness) {
    j["transfer"] = json::array();
    for (const auto& t : transfers)
      j["transfer"].push_back({{"substitute", t.substitute},
                               {"target", t.target},
                               {"epsilon", t.epsilon},
                               {"clean_accuracy", number(t.clean_accuracy)},
                               {"fgsm_accuracy", number(t.fgsm_accuracy)},
                               {"pgd_accuracy", number(t.pgd_accuracy)}});
    if (numbers.grouped) j["transfer_groups"] = numbers.transfer_groups;
  }
  return j;
}

}  // namespace invar::apps::reporting
