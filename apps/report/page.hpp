#pragma once
/// \file page.hpp
/// invar-report's page: report.html (tables of the runs, their key numbers, the per-layer
/// measures and robustness, then the figures) and the summary table printed at the end. Both show
/// the report's numbers as report.json holds them (report_json.hpp): a run's number as it is, a
/// seed group's as "mean ± std (n seeds)" (groups.hpp); "n/a" where a number does not apply (no
/// classifier trained, an epsilon not attacked), "undefined" where it is undefined for the model
/// (collapsed features), with the reason listed under the table.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "invar/report/html_page.hpp"
#include "report/analysis.hpp"
#include "report/groups.hpp"
#include "report/options.hpp"
#include "report/report_json.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

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

/// The point of a robustness curve (a JSON array of {"epsilon", "accuracy"}) at `eps`; null when
/// the curve has no such point.
inline json at_epsilon(const json& curve, double eps) {
  if (curve.is_array())
    for (const auto& p : curve)
      if (std::abs(p["epsilon"].get<double>() - eps) <= 1e-12 * std::max(1.0, eps)) return p;
  return nullptr;
}

/// Table cells from report.json's numbers (file comment); the reasons of the undefined ones are
/// collected, one line each, to print under the table.
class Cells {
 public:
  /// `as_percent`: a fraction shown in %; else `decimals` decimals. A statistic counts its values
  /// as `unit`s ("seed": "(3 seeds)").
  std::string operator()(const json& parent, const std::string& key, const std::string& who, const std::string& what,
                         bool as_percent, int decimals = 3, const std::string& unit = "seed") {
    if (!parent.is_object() || !parent.contains(key)) return "n/a";
    const json& v = parent[key];
    auto show = [&](double x) { return as_percent ? percent(x) : fixed(x, decimals); };
    if (v.is_number()) return show(v.get<double>());
    if (v.is_null()) {
      const bool why = parent.contains("undefined") && parent["undefined"].contains(key);
      note(who, what, why ? parent["undefined"][key].get<std::string>() : "no value");
      return "undefined";
    }
    if (!is_statistic(v)) return "n/a";
    if (v.contains("undefined")) note(who, what, v["undefined"].get<std::string>());
    if (!v["mean"].is_number()) return "undefined";
    const std::size_t n = v["n"].get<std::size_t>(), seeds = v["values"].size();
    std::string text = as_percent ? fixed(100 * v["mean"].get<double>(), 2) : fixed(v["mean"].get<double>(), decimals);
    if (v["std"].is_number())
      text += " ± " + (as_percent ? fixed(100 * v["std"].get<double>(), 2) : fixed(v["std"].get<double>(), decimals));
    if (as_percent) text += " %";
    text += " (" + (n < seeds ? std::to_string(n) + " of " + std::to_string(seeds) : std::to_string(n)) + " " + unit +
            (seeds == 1 ? ")" : "s)");
    return text;
  }

  /// Writes the collected reasons under the last table ("dead, PC1 share and effective rank:
  /// undefined: <reason>"), and forgets them.
  void flush(report::HtmlPage& page) {
    if (notes_.empty()) return;
    std::string text = "Undefined numbers (collapsed or constant features): ";
    for (std::size_t i = 0; i < notes_.size(); ++i) {
      const auto& n = notes_[i];
      std::string whats;
      for (std::size_t k = 0; k < n.whats.size(); ++k)
        whats += (k == 0 ? "" : k + 1 == n.whats.size() ? " and " : ", ") + n.whats[k];
      text += (i ? "; " : "") + n.who + ", " + whats + ": undefined: " + n.why;
    }
    page.paragraph(text + ".");
    notes_.clear();
  }

 private:
  struct Note {
    std::string who, why;
    std::vector<std::string> whats;
  };
  void note(const std::string& who, const std::string& what, const std::string& why) {
    for (auto& n : notes_)
      if (n.who == who && n.why == why) {
        if (std::find(n.whats.begin(), n.whats.end(), what) == n.whats.end()) n.whats.push_back(what);
        return;
      }
    notes_.push_back({who, why, {what}});
  }
  std::vector<Note> notes_;
};

inline void write_html(const std::vector<RunAnalysis>& runs, const ReportNumbers& numbers,
                       const std::vector<std::pair<std::string, std::string>>& figures,
                       const std::vector<Transfer>& transfers, const ReportOptions& o, const std::string& dataset) {
  report::HtmlPage page("invar report: " + dataset);
  const bool grouped = numbers.grouped;
  page.paragraph("Representations of " + std::to_string(runs.size()) + " trained models" +
                 (grouped ? " in " + std::to_string(numbers.groups.size()) +
                                " groups (runs that differ only in their seed: their numbers are the mean ± the sample "
                                "standard deviation over the seeds, with the number of seeds)"
                          : std::string()) +
                 ", measured by invar-report on the test set with batch norm in eval mode. Every number is in "
                 "report.json" + (grouped ? " (each seed's value too)." : "."));
  page.heading("Runs");
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    const auto& c = r.input.config;
    std::vector<std::string> row{r.input.name, c.objective,
                                 c.model + (c.model == "all-cnn" ? " width " + fixed(c.width, 2) : ""), c.dataset,
                                 std::to_string(c.epochs), r.input.folder};
    if (grouped) row.insert(row.begin() + 1, std::to_string(c.seed));
    rows.push_back(row);
  }
  std::vector<std::string> head{"run", "objective", "model", "data", "epochs", "folder"};
  if (grouped) head.insert(head.begin() + 1, "seed");
  page.table(head, rows);

  Cells cell;
  page.heading("Key numbers");
  rows.clear();
  for (std::size_t k = 0; k < numbers.groups.size(); ++k) {
    const json& v = numbers.views[k];
    const std::string& who = numbers.groups[k].name;
    const json none = json::object();
    const json& lp = v.contains("linear_probe") ? v["linear_probe"] : none;
    const json& mp = v.contains("mlp_probe") ? v["mlp_probe"] : none;
    const json& ai = v["rdm"].contains("animate_inanimate") ? v["rdm"]["animate_inanimate"] : none;
    rows.push_back({who, cell(v, "classifier_accuracy", who, "classifier", true),
                    cell(lp, "test_accuracy", who, "linear probe", true), cell(mp, "test_accuracy", who, "MLP probe", true),
                    cell(v["pca"], "pc1_share", who, "PC1 share", false),
                    cell(v["pca"], "effective_rank", who, "effective rank", false, 2),
                    cell(v["rdm"], "within_class", who, "RDM within class", false),
                    cell(v["rdm"], "between_class", who, "RDM between classes", false),
                    cell(ai, "contrast", who, "animate/inanimate contrast", false)});
  }
  page.table({grouped ? "group" : "run", "classifier", "linear probe", "MLP probe", "PC1 share", "effective rank",
              "RDM within class", "RDM between classes", "animate/inanimate contrast"},
             rows);
  cell.flush(page);
  std::string constant_rows;
  for (std::size_t k = 0; k < numbers.groups.size(); ++k) {
    const double c = mean_of(numbers.views[k]["rdm"], "constant_rows");
    if (c > 0)
      constant_rows += (constant_rows.empty() ? "" : ", ") + numbers.groups[k].name + " " +
                       fixed(c, std::floor(c) == c ? 0 : 1);
  }
  page.paragraph("Top layer: " + (runs.empty() ? std::string() : runs.front().top_tap) +
                 ". Probes: fitted on the first " + std::to_string(runs.empty() ? 0 : runs.front().probe_images) +
                 " training images (no augmentation), standardised features, L-BFGS. Animate/inanimate contrast "
                 "(CIFAR-10): mean dissimilarity between the groups minus the mean within them." +
                 (constant_rows.empty() ? std::string()
                                        : " Images of the dissimilarity matrix whose features are constant (their "
                                          "Pearson r is undefined; grey in the figure, left out of the means): " +
                                              constant_rows + "."));
  page.heading("Per layer");
  rows.clear();
  for (std::size_t k = 0; k < numbers.groups.size(); ++k) {
    const std::string& who = numbers.groups[k].name;
    for (const auto& l : numbers.views[k]["layers"]["taps"]) {
      const std::string tap = l["tap"].get<std::string>(), at = who + " " + tap;
      rows.push_back({who, tap, l["dims"].dump(), cell(l, "invariance_score", at, "invariance score", false),
                      cell(l, "cka_linear", at, "CKA linear", false),
                      cell(l, "cka_linear_debiased", at, "CKA linear (debiased)", false),
                      cell(l, "cka_rbf", at, "CKA RBF", false)});
    }
  }
  page.table({grouped ? "group" : "run", "layer", "dims", "invariance score", "CKA linear", "CKA linear (debiased)",
              "CKA RBF"},
             rows);
  cell.flush(page);
  if (!runs.empty() && runs.front().robustness) {
    page.heading("Adversarial robustness");
    rows.clear();
    for (std::size_t k = 0; k < numbers.groups.size(); ++k) {
      const json& rb = numbers.views[k]["robustness"];
      const std::string& who = numbers.groups[k].name;
      std::vector<std::string> row{who, rb["attacked"].is_string() ? rb["attacked"].get<std::string>() : rb["attacked"].dump(),
                                   cell(rb, "clean_accuracy", who, "clean", true)};
      for (const double eps : {0.03, 0.3}) {  // FGSM 0.03, PGD 0.03, FGSM 0.3, PGD 0.3
        const std::string e = fixed(eps, 2);
        row.push_back(cell(at_epsilon(rb["fgsm"], eps), "accuracy", who, "FGSM " + e, true));
        row.push_back(cell(at_epsilon(rb["pgd"]["points"], eps), "accuracy", who, "PGD " + e, true));
      }
      rows.push_back(row);
    }
    page.table({grouped ? "group" : "run", "attacked", "clean", "FGSM 0.03", "PGD 0.03", "FGSM 0.3", "PGD 0.3"}, rows);
    cell.flush(page);
    page.paragraph("White-box, L-inf, on the first " + std::to_string(o.attack_images) +
                   " test images (n/a: epsilon not in the lists). The paper, CIFAR-10 automobile vs dog, baseline / "
                   "invariance-only: clean 98.9 / 98.7 %, FGSM 0.03 31.5 / 88.5 %, PGD 0.03 7.6 / 62.0 %.");
    rows.clear();
    if (grouped) {
      for (const auto& t : numbers.transfer_groups) {
        const std::string who = t["substitute"].get<std::string>() + " -> " + t["target"].get<std::string>();
        rows.push_back({t["substitute"].get<std::string>(), t["target"].get<std::string>(),
                        fixed(t["epsilon"].get<double>(), 3),
                        cell(t, "clean_accuracy", who, "clean", true, 3, "pair"),
                        cell(t, "fgsm_accuracy", who, "FGSM", true, 3, "pair"),
                        cell(t, "pgd_accuracy", who, "PGD", true, 3, "pair")});
      }
    } else {
      for (const auto& t : transfers)
        rows.push_back({t.substitute, t.target, fixed(t.epsilon, 3), percent(t.clean_accuracy),
                        percent(t.fgsm_accuracy), percent(t.pgd_accuracy)});
    }
    if (!rows.empty()) {
      page.table({"adversarials made on", "accuracy of", "epsilon", "clean", "FGSM", "PGD"}, rows);
      page.paragraph(std::string("Black-box transfer: adversarial images made on one model (white-box), shown to "
                                 "another.") +
                     (grouped ? " Between groups: over every pair of a seed of one and a seed of the other; a "
                                "group against itself: over the pairs of its different seeds."
                              : ""));
    }
  }
  page.heading("Figures");
  for (const auto& [file, caption] : figures) page.figure(file, caption);
  page.save((fs::path(o.out) / "report.html").string());
}

/// The summary table on stdout: each run's (or group's) accuracies, PC1 share and top-layer score.
inline void print_summary(const ReportNumbers& numbers, const ReportOptions& o) {
  Cells cell;
  std::vector<std::vector<std::string>> rows{{numbers.grouped ? "group" : "run", "classifier", "linear probe",
                                              "MLP probe", "PC1", "score"}};
  for (std::size_t k = 0; k < numbers.groups.size(); ++k) {
    const json& v = numbers.views[k];
    const std::string& who = numbers.groups[k].name;
    const json none = json::object();
    const json& taps = v["layers"]["taps"];
    rows.push_back({who, cell(v, "classifier_accuracy", who, "", true),
                    cell(v.contains("linear_probe") ? v["linear_probe"] : none, "test_accuracy", who, "", true),
                    cell(v.contains("mlp_probe") ? v["mlp_probe"] : none, "test_accuracy", who, "", true),
                    cell(v["pca"], "pc1_share", who, "", false),
                    cell(taps.empty() ? none : taps.back(), "invariance_score", who, "", false)});
  }
  std::vector<std::size_t> width(rows.front().size(), 0);  // in characters: "±" is one
  auto length = [](const std::string& s) {
    return std::size_t(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  };
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], length(row[c]));
  std::printf("\n");
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - length(row[c]), ' ');  // the name left-aligned, numbers right
      const std::string text = c == 0 ? row[c] + pad : "  " + pad + row[c];
      std::fputs(text.c_str(), stdout);
    }
    std::printf("\n");
  }
  std::printf("\nreport: %s\n", (fs::path(o.out) / "report.html").string().c_str());
}

}  // namespace invar::apps::reporting
