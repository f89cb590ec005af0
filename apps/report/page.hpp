#pragma once
/// \file page.hpp
/// invar-report's page: report.html (tables of the runs, their key numbers, the per-layer
/// measures and robustness, then the figures) and the summary table printed at the end.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "invar/attacks/robustness.hpp"
#include "invar/report/html_page.hpp"
#include "report/analysis.hpp"
#include "report/options.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

/// Accuracy at `eps` on a curve, NaN when the curve has no such point.
inline double at_epsilon(const std::vector<attacks::CurvePoint>& curve, double eps) {
  for (const auto& p : curve)
    if (std::abs(p.epsilon - eps) <= 1e-12 * std::max(1.0, eps)) return p.accuracy;
  return NAN;
}

inline std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%", 100 * v);
  return buf;
}
inline std::string fixed(double v, int decimals = 3) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

inline void write_html(const std::vector<RunAnalysis>& runs, const std::vector<std::pair<std::string, std::string>>& figures,
                const std::vector<Transfer>& transfers, const ReportOptions& o, const std::string& dataset) {
  report::HtmlPage page("invar report: " + dataset);
  page.paragraph("Representations of " + std::to_string(runs.size()) +
                 " trained models, measured by invar-report on the test set with batch norm in eval mode. "
                 "Every number is in report.json.");
  page.heading("Runs");
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    const auto& c = r.input.config;
    rows.push_back({r.input.name, c.objective, c.model + (c.model == "all-cnn" ? " width " + fixed(c.width, 2) : ""),
                    c.dataset, std::to_string(c.epochs), r.input.folder});
  }
  page.table({"run", "objective", "model", "data", "epochs", "folder"}, rows);
  page.heading("Key numbers");
  rows.clear();
  for (const auto& r : runs)
    rows.push_back({r.input.name, percent(r.classifier_accuracy), percent(r.linear_test_accuracy),
                    percent(r.mlp_test_accuracy), fixed(r.pca.explained_variance_ratio.at(0)),
                    fixed(r.pca.effective_rank, 2), fixed(r.class_contrast.within_class),
                    fixed(r.class_contrast.between_class),
                    r.animate_contrast ? fixed(r.animate_contrast->between - 0.5 * (r.animate_contrast->within_a +
                                                                                      r.animate_contrast->within_b))
                                       : "n/a"});
  page.table({"run", "classifier", "linear probe", "MLP probe", "PC1 share", "effective rank", "RDM within class",
              "RDM between classes", "animate/inanimate contrast"},
             rows);
  page.paragraph("Top layer: " + (runs.empty() ? std::string() : runs.front().top_tap) +
                 ". Probes: fitted on the first " + std::to_string(runs.empty() ? 0 : runs.front().probe_images) +
                 " training images (no augmentation), standardised features, L-BFGS. Animate/inanimate contrast "
                 "(CIFAR-10): mean dissimilarity between the groups minus the mean within them.");
  page.heading("Per layer");
  rows.clear();
  for (const auto& r : runs)
    for (const auto& l : r.layers)
      rows.push_back({r.input.name, l.tap, std::to_string(l.dims), fixed(l.score), fixed(l.cka_linear),
                      fixed(l.cka_linear_debiased), fixed(l.cka_rbf)});
  page.table({"run", "layer", "dims", "invariance score", "CKA linear", "CKA linear (debiased)", "CKA RBF"}, rows);
  if (!runs.empty() && runs.front().robustness) {
    page.heading("Adversarial robustness");
    rows.clear();
    for (const auto& r : runs) {
      const auto& rb = *r.robustness;
      rows.push_back({r.input.name, rb.target, percent(rb.clean_accuracy), percent(at_epsilon(rb.fgsm, 0.03)),
                      percent(at_epsilon(rb.pgd, 0.03)), percent(at_epsilon(rb.fgsm, 0.3)),
                      percent(at_epsilon(rb.pgd, 0.3))});
    }
    page.table({"run", "attacked", "clean", "FGSM 0.03", "PGD 0.03", "FGSM 0.3", "PGD 0.3"}, rows);
    page.paragraph("White-box, L-inf, on the first " + std::to_string(o.attack_images) +
                   " test images (n/a: epsilon not in the lists). The paper, CIFAR-10 automobile vs dog, baseline / "
                   "invariance-only: clean 98.9 / 98.7 %, FGSM 0.03 31.5 / 88.5 %, PGD 0.03 7.6 / 62.0 %.");
    if (!transfers.empty()) {
      rows.clear();
      for (const auto& t : transfers)
        rows.push_back({t.substitute, t.target, fixed(t.epsilon, 3), percent(t.clean_accuracy),
                        percent(t.fgsm_accuracy), percent(t.pgd_accuracy)});
      page.table({"adversarials made on", "accuracy of", "epsilon", "clean", "FGSM", "PGD"}, rows);
      page.paragraph("Black-box transfer: adversarial images made on one model (white-box), shown to another.");
    }
  }
  page.heading("Figures");
  for (const auto& [file, caption] : figures) page.figure(file, caption);
  page.save((fs::path(o.out) / "report.html").string());
}

/// The summary table on stdout: each run's accuracies, PC1 share and top-layer score.
inline void print_summary(const std::vector<RunAnalysis>& runs, const ReportOptions& o) {
  std::printf("\n%-14s %10s %12s %10s %9s %10s\n", "run", "classifier", "linear probe", "MLP probe", "PC1", "score");
  for (const auto& a : runs)
    std::printf("%-14s %10s %12s %10s %9.3f %10.3f\n", a.input.name.c_str(), percent(a.classifier_accuracy).c_str(),
                percent(a.linear_test_accuracy).c_str(), percent(a.mlp_test_accuracy).c_str(),
                a.pca.explained_variance_ratio.at(0), a.layers.empty() ? NAN : a.layers.back().score);
  std::printf("\nreport: %s\n", (fs::path(o.out) / "report.html").string().c_str());
}

}  // namespace invar::apps::reporting
