#pragma once
/// \file groups.hpp
/// invar-report's seed groups (discovery.hpp) as numbers: the mean and spread of every measure of
/// the runs of a group. A group's JSON has the shape of a run's (report_json.hpp), with every
/// measure replaced by a statistic of its seeds:
///
///   {"mean": 0.864, "std": 0.003, "n": 3, "values": [0.861, 0.866, 0.865]}
///
/// `values` holds every seed's value in the group's seed order (null where it is undefined for
/// that seed); `n` counts the defined ones; `mean` is their mean and `std` the sample standard
/// deviation (divided by n - 1). Where mean or std cannot be given (no defined value; fewer than
/// two for std), it is null and "undefined" says why, as does a statistic with undefined seeds.
/// The measures are the keys in measure_keys(); every other item (images, taps, epsilons...) is
/// the same in every seed and is kept as it is, or, when it differs (a probe's iterations), is the
/// list of the seeds' values. The figures and the page read a group through mean_of(), which also
/// reads a plain run's numbers, so one code path draws both.

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "invar/core/error.hpp"

namespace invar::apps::reporting {

using nlohmann::json;

/// The keys of report.json whose values are measurements (aggregated over seeds): accuracies,
/// PCA, dissimilarity contrasts, per-layer score and CKA, t-SNE's KL, robustness, seconds.
inline const std::set<std::string>& measure_keys() {
  static const std::set<std::string> keys{
      "classifier_accuracy", "train_accuracy", "test_accuracy", "explained_variance_ratio", "pc1_share",
      "effective_rank", "within_class", "between_class", "within_animate", "within_inanimate", "between",
      "invariance_score", "cka_linear", "cka_linear_debiased", "cka_rbf", "kl_divergence", "clean_accuracy",
      "accuracy", "fgsm_accuracy", "pgd_accuracy", "contrast", "constant_rows", "seconds"};
  return keys;
}

/// Whether j is a statistic of a group (as opposed to a run's plain number).
inline bool is_statistic(const json& j) { return j.is_object() && j.contains("mean") && j.contains("values"); }

/// A number of a run (NaN: null or missing) or the mean of a group's statistic (NaN when undefined).
inline double mean_of(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (is_statistic(j) && j["mean"].is_number()) return j["mean"].get<double>();
  return NAN;
}
/// As mean_of(parent[key]), NaN when parent has no such key.
inline double mean_of(const json& parent, const std::string& key) {
  return parent.is_object() && parent.contains(key) ? mean_of(parent[key]) : NAN;
}

/// The statistic of the values of one measure (null: undefined for that seed, with `reasons[i]`).
inline json statistic(const std::vector<json>& values, const std::vector<std::string>& reasons,
                      const std::vector<std::string>& seeds) {
  double sum = 0;
  std::vector<double> defined;
  std::vector<std::string> missing, why;
  json list = json::array();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].is_number()) {
      defined.push_back(values[i].get<double>());
      sum += defined.back();
      list.push_back(values[i]);
      continue;
    }
    list.push_back(nullptr);
    missing.push_back(seeds[i]);
    const std::string r = i < reasons.size() && !reasons[i].empty() ? reasons[i] : "no value";
    if (std::find(why.begin(), why.end(), r) == why.end()) why.push_back(r);
  }
  const auto n = defined.size();
  json s = {{"mean", nullptr}, {"std", nullptr}, {"n", n}, {"values", list}};
  if (n > 0) s["mean"] = sum / double(n);
  if (n > 1) {
    const double mean = sum / double(n);
    double ss = 0;
    for (const double v : defined) ss += (v - mean) * (v - mean);
    s["std"] = std::sqrt(ss / double(n - 1));
  }
  std::string note;
  if (!missing.empty()) {
    note = (missing.size() == values.size() ? std::string("every seed") : "seed" + std::string(missing.size() > 1 ? "s " : " "));
    if (missing.size() < values.size())
      for (std::size_t k = 0; k < missing.size(); ++k) note += (k ? ", " : "") + missing[k];
    note += ": ";
    for (std::size_t k = 0; k < why.size(); ++k) note += (k ? "; " : "") + why[k];
  }
  if (n == 1) note += std::string(note.empty() ? "" : "; ") + "the spread needs two defined values, there is one";
  if (!note.empty()) s["undefined"] = note;
  return s;
}

namespace detail {

/// Merges the same item of every run of a group (`key` is its name in its object, "" in arrays).
inline json merge_item(const std::vector<json>& items, const std::string& key, bool measure,
                       const std::vector<std::string>& reasons, const std::vector<std::string>& seeds);

inline json merge_objects(const std::vector<json>& items, const std::vector<std::string>& seeds) {
  json out = json::object();
  std::vector<std::string> keys;  // in the first run's order, then any that only others have
  for (const auto& o : items)
    for (const auto& [k, v] : o.items())
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  for (const auto& k : keys) {
    if (k == "undefined") continue;  // carried by each statistic
    std::vector<json> values;
    std::vector<std::string> reasons;
    for (const auto& o : items) {
      values.push_back(o.contains(k) ? o[k] : json(nullptr));
      const bool why = o.contains("undefined") && o["undefined"].contains(k);
      reasons.push_back(why ? o["undefined"][k].get<std::string>() : o.contains(k) ? "" : "not measured");
    }
    out[k] = merge_item(values, k, measure_keys().count(k) > 0, reasons, seeds);
  }
  return out;
}

inline json merge_item(const std::vector<json>& items, const std::string& key, bool measure,
                       const std::vector<std::string>& reasons, const std::vector<std::string>& seeds) {
  const json& first = items.front();
  const bool all_objects = std::all_of(items.begin(), items.end(), [](const json& j) { return j.is_object(); });
  if (all_objects) return merge_objects(items, seeds);
  const bool same_arrays = std::all_of(items.begin(), items.end(), [&](const json& j) {
    return j.is_array() && j.size() == first.size();
  });
  if (same_arrays) {
    json out = json::array();
    for (std::size_t i = 0; i < first.size(); ++i) {
      std::vector<json> column;
      for (const auto& j : items) column.push_back(j[i]);
      out.push_back(merge_item(column, key, measure, reasons, seeds));
    }
    return out;
  }
  const bool scalars = std::all_of(items.begin(), items.end(), [](const json& j) { return j.is_number() || j.is_null(); });
  if (measure && scalars) return statistic(items, reasons, seeds);
  if (std::all_of(items.begin(), items.end(), [&](const json& j) { return j == first; })) return first;
  return json(items);  // a setting that differs between seeds: each seed's value
}

}  // namespace detail

/// A group's JSON from its runs' JSON objects (report_json.hpp's to_json, in the group's seed
/// order) and their seeds: the shape of a run's, every measure a statistic (file comment). The
/// runs' own keys "name", "folder" and "config" are replaced by the group's.
inline json group_json(const std::string& name, const std::vector<json>& runs) {
  check(!runs.empty(), "group_json: the group '", name, "' has no run");
  std::vector<json> measured;
  std::vector<std::string> seeds;
  json run_names = json::array(), seed_values = json::array();
  for (const auto& r : runs) {
    json m = r;
    for (const char* key : {"name", "folder", "config"}) m.erase(key);
    measured.push_back(std::move(m));
    const std::uint64_t seed = r["config"]["seed"].get<std::uint64_t>();
    seeds.push_back(std::to_string(seed));
    seed_values.push_back(seed);
    run_names.push_back(r["name"]);
  }
  json config = runs.front()["config"];
  config.erase("seed");
  json g = {{"name", name}, {"runs", run_names}, {"seeds", seed_values}, {"config", config}};
  g.update(detail::merge_objects(measured, seeds));
  return g;
}

}  // namespace invar::apps::reporting
