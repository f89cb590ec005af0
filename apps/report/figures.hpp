#pragma once
/// \file figures.hpp
/// invar-report's figures, as SVG files in <out>/figures: test accuracy (classifier and probes),
/// PCA explained variance, the dissimilarity matrices, the per-layer invariance score and CKA,
/// t-SNE panels and, with --robustness, the white-box curves. One series or panel per run, or per
/// seed group (discovery.hpp): the charts draw a group's means (report_json.hpp's views), the
/// per-model figures (dissimilarity matrices, t-SNE) the group's first seed, and say so. An
/// undefined number (collapsed features) draws nothing, and the figure says why: "n/a" bars, a
/// legend entry marked "undefined", grey cells in a dissimilarity matrix.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "invar/report/bar_chart.hpp"
#include "invar/report/heatmap.hpp"
#include "invar/report/line_chart.hpp"
#include "invar/report/scatter_plot.hpp"
#include "report/analysis.hpp"
#include "report/groups.hpp"
#include "report/options.hpp"
#include "report/report_json.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

/// Whether every number of a series is undefined (NaN): its legend entry says so.
inline bool all_undefined(const std::vector<double>& v) {
  return std::none_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

/// The figures, written into <out>/figures; returns their paths relative to <out> with captions.
inline std::vector<std::pair<std::string, std::string>> write_figures(const std::vector<RunAnalysis>& runs,
                                                                      const ReportNumbers& numbers,
                                                                      const std::vector<std::string>& class_names,
                                                                      const ReportOptions& o) {
  const fs::path dir = fs::path(o.out) / "figures";
  fs::create_directories(dir);
  std::vector<std::pair<std::string, std::string>> figures;
  auto save = [&](const report::Svg& svg, const std::string& file, const std::string& caption) {
    svg.save((dir / file).string());
    figures.emplace_back("figures/" + file, caption);
  };
  const auto& views = numbers.views;
  const std::string of_groups =
      numbers.grouped ? " Groups of seeds: the mean of their seeds (the spread is in the tables, every seed's value "
                        "in report.json)."
                      : "";
  std::vector<std::string> names;
  for (const auto& g : numbers.groups) names.push_back(g.name);

  // Accuracy: classifier and probes, per run.
  report::BarChart acc;
  acc.text = {"Test accuracy", "", "accuracy (%)"};
  acc.categories = names;
  acc.y_max = 100;
  report::BarSeries classifier{"classifier", {}}, linear{"linear probe", {}}, mlp{"MLP probe", {}};
  const json none = json::object();
  for (const auto& v : views) {
    classifier.values.push_back(100 * mean_of(v, "classifier_accuracy"));
    linear.values.push_back(100 * mean_of(v.contains("linear_probe") ? v["linear_probe"] : none, "test_accuracy"));
    mlp.values.push_back(100 * mean_of(v.contains("mlp_probe") ? v["mlp_probe"] : none, "test_accuracy"));
  }
  acc.series = {classifier, linear};
  if (o.mlp_probe) acc.series.push_back(mlp);
  save(acc.to_svg(), "accuracy.svg",
       "Test accuracy of each model's own classifier (n/a: its objective trained none) and of probes fitted on its "
       "frozen, standardised top features." + of_groups);

  // PCA: explained-variance ratio of the top components.
  report::LineChart pca;
  pca.text = {"Explained variance of the top features", "principal component", "explained variance ratio"};
  pca.y_min = 0;
  pca.y_max = 1;
  std::string pca_note;
  for (std::size_t k = 0; k < views.size(); ++k) {
    report::Series s(names[k]);
    const json& ratios = views[k]["pca"]["explained_variance_ratio"];
    for (std::size_t i = 0; i < ratios.size(); ++i) s.x.push_back(double(i + 1)), s.y.push_back(mean_of(ratios[i]));
    if (all_undefined(s.y)) {
      s.name += " (undefined)";
      pca_note += " " + names[k] + ": undefined, its features have no variance (every feature constant).";
    }
    pca.series.push_back(s);
  }
  save(pca.to_svg(), "pca.svg",
       "Explained-variance ratio of the first principal components of the top-layer features on the test set (the "
       "paper: PC1 0.085 baseline, 0.743 mixed, 0.996 invariance-only)." + of_groups + pca_note);

  // The per-model figures: one panel per group, from its first seed.
  auto panel_title = [&](std::size_t k) {
    const auto& g = numbers.groups[k];
    if (g.runs.size() == 1) return g.name;
    return g.name + " (seed " + std::to_string(runs[g.runs.front()].input.config.seed) + " of " +
           std::to_string(g.runs.size()) + ")";
  };
  const std::string first_seed =
      numbers.grouped ? " Groups of seeds: the first seed of each (its number in the panel's title)." : "";

  // Dissimilarity matrices side by side, one colour range; undefined cells (the pairs of an image
  // whose features are constant) are grey.
  const double panel = 400;
  double hi = 0;
  std::string rdm_note;
  for (std::size_t k = 0; k < numbers.groups.size(); ++k) {
    const auto& r = runs[numbers.groups[k].runs.front()];
    for (index_t i = 0; i < r.rdm.numel(); ++i)
      if (std::isfinite(r.rdm[i])) hi = std::max(hi, r.rdm[i]);
    if (r.rdm_constant_rows > 0)
      rdm_note += " " + panel_title(k) + ": " + std::to_string(r.rdm_constant_rows) + " of " +
                  std::to_string(r.rdm_labels.size()) + " images have constant features (grey: undefined).";
  }
  if (!(hi > 0)) hi = 1;
  const std::size_t panels = numbers.groups.size();
  report::Svg rdm(panel * double(panels) + 90, panel + 30);
  rdm.rect(0, 0, rdm.width(), rdm.height(), "white");
  for (std::size_t k = 0; k < panels; ++k) {
    const auto& r = runs[numbers.groups[k].runs.front()];
    report::Heatmap h;
    h.title = panel_title(k) + (r.rdm_constant_rows > 0 ? " (grey: undefined)" : "");
    h.matrix = r.rdm.view();
    h.labels = r.rdm_labels;
    h.class_names = class_names;
    h.hi = hi;
    h.draw(rdm, {panel * double(k), 0, panel, panel + 30});
  }
  report::draw_colorbar(rdm, {panel * double(panels) + 10, 40, 14, panel - 60}, 0, hi,
                        o.rdm_metric == "correlation" ? "1 - Pearson r" : "squared distance / D");
  save(rdm, "rdm.svg",
       "Dissimilarity matrices of the top features, " + std::to_string(o.per_class) +
           " test images per class sorted by class (the paper's Figure 2)." + first_seed + rdm_note);

  // Per-layer invariance score and CKA.
  std::vector<std::string> taps;
  for (const auto& v : views)
    for (const auto& l : v["layers"]["taps"])
      if (std::find(taps.begin(), taps.end(), l["tap"].get<std::string>()) == taps.end())
        taps.push_back(l["tap"].get<std::string>());
  report::LineChart score, cka;
  score.text = {"Invariance score per layer", "layer", "score S"};
  cka.text = {"CKA between test images and their augmentations", "layer", "CKA"};
  score.categories = cka.categories = taps;
  cka.y_max = 1;
  std::string score_note, cka_note;  // "dead at hidden2": the points that are undefined, not drawn
  for (std::size_t k = 0; k < views.size(); ++k) {
    report::Series s(names[k]), lin(names[k] + " (linear)"), rbf(names[k] + " (RBF)");
    lin.color = rbf.color = report::category_color(index_t(k));
    rbf.markers = false;
    rbf.dash = "6 4";
    for (const auto& l : views[k]["layers"]["taps"]) {
      const double x = double(std::find(taps.begin(), taps.end(), l["tap"].get<std::string>()) - taps.begin());
      s.x.push_back(x), s.y.push_back(mean_of(l, "invariance_score"));
      lin.x.push_back(x), lin.y.push_back(mean_of(l, "cka_linear"));
      rbf.x.push_back(x), rbf.y.push_back(mean_of(l, "cka_rbf"));
      const std::string at = names[k] + " at " + l["tap"].get<std::string>();
      if (!std::isfinite(s.y.back())) score_note += (score_note.empty() ? "" : ", ") + at;
      if (!std::isfinite(lin.y.back()) || !std::isfinite(rbf.y.back())) cka_note += (cka_note.empty() ? "" : ", ") + at;
    }
    for (auto* series : {&s, &lin, &rbf})
      if (all_undefined(series->y)) series->name += " (undefined)";
    score.series.push_back(s);
    cka.series.push_back(lin);
    cka.series.push_back(rbf);
  }
  auto not_drawn = [](const std::string& where) {
    return where.empty() ? where : " Undefined, not drawn (the layer gives every image the same features): " + where + ".";
  };
  save(score.to_svg(720, 420), "invariance_score.svg",
       "The authors' invariance score per layer, S = 1 - N d(x, g(x)) / sum_j d(x, x_j) (mean squared difference), "
       "on the first " + std::to_string(o.layer_images) + " test images and one augmentation each." + of_groups +
           not_drawn(score_note));
  save(cka.to_svg(720, 420), "cka.svg",
       "CKA (linear: solid with dots; RBF, bandwidth 0.8 x the median distance: dashed) between the features of test "
       "images and of their augmentations, per layer." + of_groups + not_drawn(cka_note));

  // t-SNE panels.
  const double tw = 420, th = 400;
  report::Svg tsne(tw * double(panels) + 150, th);
  tsne.rect(0, 0, tsne.width(), tsne.height(), "white");
  for (std::size_t k = 0; k < panels; ++k) {
    const auto& r = runs[numbers.groups[k].runs.front()];
    report::ScatterPlot s;
    s.text.title = panel_title(k);
    s.classes = r.tsne_labels;
    s.class_names = class_names;
    s.legend = k + 1 == panels;
    const auto& e = r.tsne.embedding;
    for (index_t i = 0; i < e.dim(0); ++i) s.x.push_back(e[i * 2]), s.y.push_back(e[i * 2 + 1]);
    s.draw(tsne, {tw * double(k), 0, s.legend ? tw + 150 : tw, th});
  }
  save(tsne, "tsne.svg", "t-SNE of the top features of test images, coloured by class (seeded)." + first_seed);

  if (!runs.empty() && runs.front().robustness) {
    report::LineChart rob;
    rob.text = {"White-box robustness", "epsilon (L-inf, pixels in [0, 1])", "accuracy"};
    rob.log_x = true;
    rob.y_min = 0;
    rob.y_max = 1;
    for (std::size_t k = 0; k < views.size(); ++k) {
      const json& rb = views[k]["robustness"];
      report::Series f(names[k] + " FGSM"), p(names[k] + " PGD");
      f.color = p.color = report::category_color(index_t(k));
      p.dash = "6 4";
      for (const auto& pt : rb["fgsm"]) f.x.push_back(pt["epsilon"].get<double>()), f.y.push_back(mean_of(pt, "accuracy"));
      for (const auto& pt : rb["pgd"]["points"])
        p.x.push_back(pt["epsilon"].get<double>()), p.y.push_back(mean_of(pt, "accuracy"));
      rob.series.push_back(f);
      rob.series.push_back(p);
    }
    save(rob.to_svg(760, 420), "robustness.svg",
         "Accuracy under white-box attacks against epsilon: FGSM (solid) and PGD (dashed; step " +
             std::to_string(o.pgd_step).substr(0, 5) + ", " + std::to_string(o.pgd_iterations) +
             " iterations, random start), on the first " + std::to_string(o.attack_images) +
             " test images. Invariance-only models are attacked through their backbone and linear probe." + of_groups);
  }
  return figures;
}

}  // namespace invar::apps::reporting
