#pragma once
/// \file report_json.hpp
/// report.json: every number of the report, one object per run (to_json) and the report's own
/// (data set, options, figures, transfer). A number that is not finite is an error: the file
/// holds no NaN and no null.

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "invar/attacks/robustness.hpp"
#include "invar/core/error.hpp"
#include "report/analysis.hpp"
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
  json ratios = json::array();
  for (const double v : a.explained) ratios.push_back(number(v));
  r["pca"] = {{"tap", a.top_tap},
              {"images", a.test_images},
              {"dims", a.pca.explained_variance_ratio.size()},
              {"explained_variance_ratio", ratios},
              {"pc1_share", number(a.pca.explained_variance_ratio.at(0))},
              {"effective_rank", number(a.pca.effective_rank)}};
  r["rdm"] = {{"tap", a.top_tap},
              {"metric", o.rdm_metric},
              {"images", a.rdm_labels.size()},
              {"per_class", o.per_class},
              {"within_class", number(a.class_contrast.within_class)},
              {"between_class", number(a.class_contrast.between_class)}};
  if (a.animate_contrast)
    r["rdm"]["animate_inanimate"] = {{"within_animate", number(a.animate_contrast->within_a)},
                                     {"within_inanimate", number(a.animate_contrast->within_b)},
                                     {"between", number(a.animate_contrast->between)}};
  json layers = json::array();
  for (const auto& l : a.layers)
    layers.push_back({{"tap", l.tap},
                      {"dims", l.dims},
                      {"invariance_score", number(l.score)},
                      {"cka_linear", number(l.cka_linear)},
                      {"cka_linear_debiased", number(l.cka_linear_debiased)},
                      {"cka_rbf", number(l.cka_rbf)}});
  r["layers"] = {{"images", std::min<index_t>(o.layer_images, a.test_images)}, {"taps", layers}};
  r["tsne"] = {{"images", a.tsne_labels.size()},
               {"method", a.tsne.method == analysis::TsneMethod::exact ? "exact" : "barnes-hut"},
               {"iterations", a.tsne.iterations},
               {"kl_divergence", number(a.tsne.kl_divergence)}};
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

/// The whole of report.json.
inline json report_json(const Analyses& analyses, const std::vector<Transfer>& transfers,
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
  j["runs"] = json::array();
  for (const auto& a : runs) j["runs"].push_back(to_json(a, o));
  if (o.robustness) {
    j["transfer"] = json::array();
    for (const auto& t : transfers)
      j["transfer"].push_back({{"substitute", t.substitute},
                               {"target", t.target},
                               {"epsilon", t.epsilon},
                               {"clean_accuracy", number(t.clean_accuracy)},
                               {"fgsm_accuracy", number(t.fgsm_accuracy)},
                               {"pgd_accuracy", number(t.pgd_accuracy)}});
  }
  return j;
}

}  // namespace invar::apps::reporting
