#pragma once
/// \file figures.hpp
/// invar-report's figures, as SVG files in <out>/figures: test accuracy (classifier and probes),
/// PCA explained variance, the dissimilarity matrices, the per-layer invariance score and CKA,
/// t-SNE panels and, with --robustness, the white-box curves.

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "invar/report/bar_chart.hpp"
#include "invar/report/heatmap.hpp"
#include "invar/report/line_chart.hpp"
#include "invar/report/scatter_plot.hpp"
#include "report/analysis.hpp"
#include "report/options.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

/// The figures, written into <out>/figures; returns their paths relative to <out> with captions.
inline std::vector<std::pair<std::string, std::string>> write_figures(const std::vector<RunAnalysis>& runs,
                                                               const std::vector<std::string>& class_names,
                                                               const ReportOptions& o) {
  const fs::path dir = fs::path(o.out) / "figures";
  fs::create_directories(dir);
  std::vector<std::pair<std::string, std::string>> figures;
  auto save = [&](const report::Svg& svg, const std::string& file, const std::string& caption) {
    svg.save((dir / file).string());
    figures.emplace_back("figures/" + file, caption);
  };
  std::vector<std::string> names;
  for (const auto& r : runs) names.push_back(r.input.name);

  // Accuracy: classifier and probes, per run.
  report::BarChart acc;
  acc.text = {"Test accuracy", "", "accuracy (%)"};
  acc.categories = names;
  acc.y_max = 100;
  report::BarSeries classifier{"classifier", {}}, linear{"linear probe", {}}, mlp{"MLP probe", {}};
  for (const auto& r : runs) {
    classifier.values.push_back(100 * r.classifier_accuracy);
    linear.values.push_back(100 * r.linear_test_accuracy);
    mlp.values.push_back(100 * r.mlp_test_accuracy);
  }
  acc.series = {classifier, linear};
  if (o.mlp_probe) acc.series.push_back(mlp);
  save(acc.to_svg(), "accuracy.svg",
       "Test accuracy of each model's own classifier (n/a: its objective trained none) and of probes fitted on its "
       "frozen, standardised top features.");

  // PCA: explained-variance ratio of the top components.
  report::LineChart pca;
  pca.text = {"Explained variance of the top features", "principal component", "explained variance ratio"};
  pca.y_min = 0;
  pca.y_max = 1;
  for (const auto& r : runs) {
    report::Series s(r.input.name);
    for (std::size_t i = 0; i < r.explained.size(); ++i) s.x.push_back(double(i + 1)), s.y.push_back(r.explained[i]);
    pca.series.push_back(s);
  }
  save(pca.to_svg(), "pca.svg",
       "Explained-variance ratio of the first principal components of the top-layer features on the test set (the "
       "paper: PC1 0.085 baseline, 0.743 mixed, 0.996 invariance-only).");

  // Dissimilarity matrices side by side, one colour range.
  const double panel = 400;
  double hi = 0;
  for (const auto& r : runs)
    for (index_t i = 0; i < r.rdm.numel(); ++i) hi = std::max(hi, r.rdm[i]);
  if (!(hi > 0)) hi = 1;
  report::Svg rdm(panel * double(runs.size()) + 90, panel + 30);
  rdm.rect(0, 0, rdm.width(), rdm.height(), "white");
  for (std::size_t k = 0; k < runs.size(); ++k) {
    report::Heatmap h;
    h.title = runs[k].input.name;
    h.matrix = runs[k].rdm.view();
    h.labels = runs[k].rdm_labels;
    h.class_names = class_names;
    h.hi = hi;
    h.draw(rdm, {panel * double(k), 0, panel, panel + 30});
  }
  report::draw_colorbar(rdm, {panel * double(runs.size()) + 10, 40, 14, panel - 60}, 0, hi,
                        o.rdm_metric == "correlation" ? "1 - Pearson r" : "squared distance / D");
  save(rdm, "rdm.svg",
       "Dissimilarity matrices of the top features, " + std::to_string(o.per_class) +
           " test images per class sorted by class (the paper's Figure 2).");

  // Per-layer invariance score and CKA.
  std::vector<std::string> taps;
  for (const auto& r : runs)
    for (const auto& l : r.layers)
      if (std::find(taps.begin(), taps.end(), l.tap) == taps.end()) taps.push_back(l.tap);
  report::LineChart score, cka;
  score.text = {"Invariance score per layer", "layer", "score S"};
  cka.text = {"CKA between test images and their augmentations", "layer", "CKA"};
  score.categories = cka.categories = taps;
  cka.y_max = 1;
  for (std::size_t k = 0; k < runs.size(); ++k) {
    report::Series s(runs[k].input.name), lin(runs[k].input.name + " (linear)"), rbf(runs[k].input.name + " (RBF)");
    lin.color = rbf.color = report::category_color(index_t(k));
    rbf.markers = false;
    rbf.dash = "6 4";
    for (const auto& l : runs[k].layers) {
      const double x = double(std::find(taps.begin(), taps.end(), l.tap) - taps.begin());
      s.x.push_back(x), s.y.push_back(l.score);
      lin.x.push_back(x), lin.y.push_back(l.cka_linear);
      rbf.x.push_back(x), rbf.y.push_back(l.cka_rbf);
    }
    score.series.push_back(s);
    cka.series.push_back(lin);
    cka.series.push_back(rbf);
  }
  save(score.to_svg(720, 420), "invariance_score.svg",
       "The authors' invariance score per layer, S = 1 - N d(x, g(x)) / sum_j d(x, x_j) (mean squared difference), "
       "on the first " + std::to_string(o.layer_images) + " test images and one augmentation each.");
  save(cka.to_svg(720, 420), "cka.svg",
       "CKA (linear: solid with dots; RBF, bandwidth 0.8 x the median distance: dashed) between the features of test images "
       "and of their augmentations, per layer.");

  // t-SNE panels.
  const double tw = 420, th = 400;
  report::Svg tsne(tw * double(runs.size()) + 150, th);
  tsne.rect(0, 0, tsne.width(), tsne.height(), "white");
  for (std::size_t k = 0; k < runs.size(); ++k) {
    report::ScatterPlot s;
    s.text.title = runs[k].input.name;
    s.classes = runs[k].tsne_labels;
    s.class_names = class_names;
    s.legend = k + 1 == runs.size();
    const auto& e = runs[k].tsne.embedding;
    for (index_t i = 0; i < e.dim(0); ++i) s.x.push_back(e[i * 2]), s.y.push_back(e[i * 2 + 1]);
    s.draw(tsne, {tw * double(k), 0, s.legend ? tw + 150 : tw, th});
  }
  save(tsne, "tsne.svg", "t-SNE of the top features of test images, coloured by class (seeded).");

  if (!runs.empty() && runs.front().robustness) {
    report::LineChart rob;
    rob.text = {"White-box robustness", "epsilon (L-inf, pixels in [0, 1])", "accuracy"};
    rob.log_x = true;
    rob.y_min = 0;
    rob.y_max = 1;
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const auto& rb = *runs[k].robustness;
      report::Series f(runs[k].input.name + " FGSM"), p(runs[k].input.name + " PGD");
      f.color = p.color = report::category_color(index_t(k));
      p.dash = "6 4";
      for (const auto& pt : rb.fgsm) f.x.push_back(pt.epsilon), f.y.push_back(pt.accuracy);
      for (const auto& pt : rb.pgd) p.x.push_back(pt.epsilon), p.y.push_back(pt.accuracy);
      rob.series.push_back(f);
      rob.series.push_back(p);
    }
    save(rob.to_svg(760, 420), "robustness.svg",
         "Accuracy under white-box attacks against epsilon: FGSM (solid) and PGD (dashed; step " +
             std::to_string(o.pgd_step).substr(0, 5) + ", " + std::to_string(o.pgd_iterations) +
             " iterations, random start), on the first " + std::to_string(o.attack_images) +
             " test images. Invariance-only models are attacked through their backbone and linear probe.");
  }
  return figures;
}

}  // namespace invar::apps::reporting
