#pragma once
/// \file analysis.hpp
/// invar-report's second step: every measure of one run, on the run's test set with batch norm in
/// eval mode (RunAnalysis; Analyzer computes it), and analyse_runs, which loads each data set
/// once and analyses every run on it:
///   - accuracy of the model's own classifier (when its objective trained one) and of a linear and
///     a one-hidden-layer probe fitted on the frozen top features of training images;
///   - PCA of the top features: explained-variance ratios, PC1 share, effective rank;
///   - the dissimilarity matrix of N test images per class, sorted by class, with its within- and
///     between-class (and, on CIFAR-10, animate / inanimate) contrast;
///   - per layer: the authors' invariance score and CKA (linear, RBF; biased and debiased) between
///     the features of test images and of one augmentation each;
///   - a t-SNE embedding of the top features.
/// Adversarial robustness, which needs every run at once, is robustness.hpp.
///
/// Collapsed features (dead units, rank-1 or constant features, as an invariance-only objective
/// gives) are measured like any other: what is defined is reported, and a number that is
/// mathematically undefined for this model (the PC1 share of features with no variance, the
/// Pearson dissimilarity of a constant row, CKA of a constant representation...) is NaN with its
/// reason in RunAnalysis::undefined (report.json writes null and the reason, the page
/// "undefined"). Nothing about a model's features stops the report.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/datasets.hpp"
#include "common/model_zoo.hpp"
#include "common/run_config.hpp"
#include "common/run_setup.hpp"
#include "invar/cpu.hpp"
#include "invar/analysis/cka.hpp"
#include "invar/analysis/classifier_accuracy.hpp"
#include "invar/analysis/dissimilarity.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/invariance_score.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/analysis/mlp_probe.hpp"
#include "invar/analysis/pca.hpp"
#include "invar/analysis/tsne.hpp"
#include "invar/attacks/robustness.hpp"
#include "invar/data/assemble_batch.hpp"
#include "invar/io/npy.hpp"
#include "invar/train/checkpoint.hpp"
#include "report/discovery.hpp"
#include "report/options.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

using apps::RunConfig;

/// White-box robustness of one run (attacks/robustness.hpp).
struct Robustness {
  std::string target;  // "classifier" or "linear probe" (backbone + probe, attacked end to end)
  index_t images = 0;
  double clean_accuracy = NAN;
  std::vector<attacks::CurvePoint> fgsm, pgd;
};

/// Black-box transfer: adversarials made on `substitute`, accuracy of `target`.
struct Transfer {
  std::string substitute, target;
  double epsilon = 0, clean_accuracy = NAN, fgsm_accuracy = NAN, pgd_accuracy = NAN;
};

/// Everything measured on one run (what report.json holds, plus what the figures draw).
struct RunAnalysis {
  RunInput input;
  std::shared_ptr<nn::Sequential<float>> model;  // kept for the attacks
  const apps::Datasets* data = nullptr;
  std::optional<Robustness> robustness;
  std::string top_tap;
  index_t test_images = 0, probe_images = 0;
  bool classifier_trained = false;
  double classifier_accuracy = NAN;
  analysis::LinearProbe linear_probe;
  double linear_train_accuracy = NAN, linear_test_accuracy = NAN;
  std::optional<analysis::MlpProbe> mlp_probe;
  double mlp_train_accuracy = NAN, mlp_test_accuracy = NAN;
  analysis::PcaResult pca;
  std::vector<double> explained;  // the first pca_components ratios
  Tensor<double> rdm;
  std::vector<index_t> rdm_labels;
  index_t rdm_constant_rows = 0;  // correlation: rows whose dissimilarities are undefined (NaN)
  analysis::ClassContrast class_contrast;
  std::optional<analysis::BlockContrast> animate_contrast;  // CIFAR-10 only
  struct Layer {
    std::string tap;
    index_t dims = 0;
    double score = NAN, cka_linear = NAN, cka_linear_debiased = NAN, cka_rbf = NAN;
    std::map<std::string, std::string> undefined;  // measure ("cka_rbf") -> why it is NaN
  };
  /// Why a number is undefined (NaN), by its place in report.json: "pca/pc1_share",
  /// "rdm/within_class", "rdm/animate_inanimate/between"...
  std::map<std::string, std::string> undefined;
  std::vector<Layer> layers;
  analysis::TsneResult tsne;
  std::vector<index_t> tsne_labels;
  double seconds = 0;
};

inline std::vector<index_t> to_vector(TensorView<const index_t> t) { return {t.data(), t.data() + t.numel()}; }

/// Whether every row of N x D features is the same (a layer that maps every image to one point).
template <class T>
bool all_rows_equal(const Tensor<T>& x) {
  const index_t d = x.numel() / std::max<index_t>(1, x.dim(0));
  for (index_t i = 1; i < x.dim(0); ++i)
    if (!std::equal(x.data() + i * d, x.data() + (i + 1) * d, x.data())) return false;
  return true;
}

/// Rows `rows` of `x` (N x D) as a new M x D tensor.
template <class T>
inline Tensor<T> gather_rows(TensorView<const T> x, const std::vector<index_t>& rows) {
  const index_t d = x.row_size();
  auto out = Tensor<T>::uninitialized(Shape{index_t(rows.size()), d});
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy(x.data() + rows[i] * d, x.data() + (rows[i] + 1) * d, out.data() + index_t(i) * d);
  return out;
}

inline std::string file_safe(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return s;
}

class Analyzer {
 public:
  Analyzer(const ReportOptions& o, const Progress& progress) : o_(o), progress_(progress) {}

  RunAnalysis operator()(const RunInput& run, const apps::Datasets& d) {
    const auto t0 = progress_.seconds();
    RunAnalysis a;
    a.input = run;
    const RunConfig& c = run.config;
    const auto& shape = d.test.images.shape();
    a.model = std::make_shared<nn::Sequential<float>>(
        apps::build_model(c, shape[1], shape[2], shape[3], index_t(d.train.class_names.size())));
    a.data = &d;
    auto& model = *a.model;
    model.set_input_gradient(false);
    const auto state = train::load_checkpoint_model((fs::path(run.folder) / "checkpoint.invar").string(), model);
    check(state.epochs_done > 0, "run '", run.name, "': its checkpoint holds no completed epoch");
    a.top_tap = apps::top_tap(c, model);
    a.test_images = d.test.size();
    a.probe_images = d.train.size();
    const auto taps = apps::invariance_taps(RunConfig(c), model);
    a.classifier_trained = apps::trains_classifier(c, taps);
    if (a.classifier_trained) a.classifier_accuracy = analysis::classifier_accuracy(model, d.test.images, d.test.labels);

    step(run, "features of '%s' for %ld training and %ld test images", a.top_tap.c_str(), long(a.probe_images),
         long(a.test_images));
    const auto train_features = analysis::extract_features(model, d.train.images, a.top_tap);
    const auto test_features = analysis::extract_features(model, d.test.images, a.top_tap);
    if (o_.save_features) save_features(run, a.top_tap, train_features, test_features);

    step(run, "linear probe");
    a.linear_probe = analysis::fit_linear_probe(train_features, d.train.labels);
    a.linear_train_accuracy = a.linear_probe.accuracy(train_features, d.train.labels);
    a.linear_test_accuracy = a.linear_probe.accuracy(test_features, d.test.labels);
    if (o_.mlp_probe) {
      step(run, "MLP probe");
      a.mlp_probe = analysis::fit_mlp_probe(train_features, d.train.labels);
      a.mlp_train_accuracy = a.mlp_probe->accuracy(train_features, d.train.labels);
      a.mlp_test_accuracy = a.mlp_probe->accuracy(test_features, d.test.labels);
    }

    step(run, "PCA");
    a.pca = analysis::pca(test_features);
    const auto& ratios = a.pca.explained_variance_ratio;
    a.explained.assign(ratios.begin(), ratios.begin() + std::min<std::ptrdiff_t>(o_.pca_components, ratios.size()));
    if (!a.pca.defined()) {
      const std::string why = "every feature of '" + a.top_tap + "' is constant over the " +
                              std::to_string(a.test_images) + " test images (total variance 0)";
      for (const char* key : {"pca/explained_variance_ratio", "pca/pc1_share", "pca/effective_rank"})
        a.undefined[key] = why;
    }

    step(run, "dissimilarity matrix (%ld images per class)", o_.per_class);
    const auto rows = analysis::select_per_class(d.test.labels, o_.per_class);
    const auto rows_v = to_vector(rows.view());
    const auto selected = gather_rows(test_features.view(), rows_v);
    a.rdm = analysis::rdm(selected, o_.rdm_metric == "correlation" ? analysis::RdmMetric::correlation
                                                                    : analysis::RdmMetric::squared_euclidean_per_dim);
    for (const index_t r : rows_v) a.rdm_labels.push_back(d.test.labels[r]);
    const Tensor<index_t> rdm_labels = Tensor<index_t>::copy_of(
        TensorView<const index_t>(a.rdm_labels.data(), Shape{index_t(a.rdm_labels.size())}));
    if (o_.rdm_metric == "correlation") a.rdm_constant_rows = index_t(analysis::constant_rows(selected).size());
    const std::string rdm_why = "every such pair involves one of the " + std::to_string(a.rdm_constant_rows) +
                                " images whose features are constant (their Pearson r is undefined)";
    a.class_contrast = analysis::class_contrast(a.rdm, rdm_labels);
    if (std::isnan(a.class_contrast.within_class)) a.undefined["rdm/within_class"] = rdm_why;
    if (std::isnan(a.class_contrast.between_class)) a.undefined["rdm/between_class"] = rdm_why;
    // CIFAR-10's animate / inanimate split, by class name so that a class subset (--classes)
    // keeps its meaning; needs at least one class of each group among the rows.
    if (c.dataset == "cifar10") {
      std::vector<index_t> animate, inanimate;
      for (index_t k = 0; k < index_t(d.test.class_names.size()); ++k) {
        const auto& name = d.test.class_names[std::size_t(k)];
        for (const index_t g : analysis::cifar10_animate)
          if (name == data::cifar10_class_names()[std::size_t(g)]) animate.push_back(k);
        for (const index_t g : analysis::cifar10_inanimate)
          if (name == data::cifar10_class_names()[std::size_t(g)]) inanimate.push_back(k);
      }
      if (!animate.empty() && !inanimate.empty()) {
        a.animate_contrast = analysis::block_contrast(a.rdm, rdm_labels, animate, inanimate);
        const auto& b = *a.animate_contrast;
        for (const auto& [key, v] : {std::pair{"within_animate", b.within_a}, std::pair{"within_inanimate", b.within_b},
                                     std::pair{"between", b.between}})
          if (std::isnan(v)) a.undefined[std::string("rdm/animate_inanimate/") + key] = rdm_why;
      }
    }

    per_layer(run, model, taps, a, d);

    const index_t nt = std::min<index_t>(o_.tsne_images, a.test_images);
    step(run, "t-SNE of %ld test images", long(nt));
    analysis::TsneOptions to;
    to.seed = c.seed;
    to.progress = [&](index_t it, double kl) { step(run, "  t-SNE iteration %ld, KL %.3f", long(it), kl); };
    to.progress_interval = 250;
    a.tsne = analysis::tsne(test_features.view().slice_rows(0, nt), to);
    a.tsne_labels = to_vector(d.test.labels.view().slice_rows(0, nt));
    a.seconds = progress_.seconds() - t0;
    return a;
  }

 private:
  template <class... A>
  void step(const RunInput& run, const char* format, A... args) const {
    progress_((std::string("%s: ") + format).c_str(), run.name.c_str(), args...);
  }

  /// The score and CKA of every invariance tap and the top tap, between the first layer_images
  /// test images and one augmentation each (drawn as invar-train's score draws it, so the top
  /// tap's score equals the run's result.json).
  void per_layer(const RunInput& run, nn::Sequential<float>& model, std::vector<std::string> taps, RunAnalysis& a,
                 const apps::Datasets& d) {
    if (std::find(taps.begin(), taps.end(), a.top_tap) == taps.end()) taps.push_back(a.top_tap);
    const index_t n = std::min<index_t>(o_.layer_images, a.test_images);
    check(n >= 4, "--layer-images: the per-layer measures need at least 4 test images, got ", n);
    const auto images = d.test.images.view().slice_rows(0, n);
    Tensor<float> augmented(images.shape());
    const auto augmentation = apps::make_augmentation(run.config, /*fallback_light=*/true);
    data::augment_batch(augmentation, images, augmented, run.config.seed, /*key=*/0x5C0BE);
    for (std::size_t i = 0; i < taps.size(); ++i) {
      step(run, "layer %s (%zu/%zu): invariance score and CKA on %ld images", taps[i].c_str(), i + 1, taps.size(),
           long(n));
      const auto fx = analysis::extract_features(model, images, taps[i]);
      const auto fg = analysis::extract_features(model, augmented, taps[i]);
      RunAnalysis::Layer l;
      l.tap = taps[i];
      l.dims = fx.dim(1);
      l.score = analysis::invariance_score(MeanSquaredDifference{}, fx, fg).mean;
      const auto gx = analysis::cka_gram_matrix(fx), gg = analysis::cka_gram_matrix(fg);
      l.cka_linear = analysis::cka_from_grams(gx, gg, false);
      l.cka_linear_debiased = analysis::cka_from_grams(gx, gg, true);
      l.cka_rbf = analysis::cka(fx, fg, analysis::CkaOptions{}.with_kernel(analysis::CkaKernel::rbf));
      // Why a measure is undefined: a layer that gives every image (or every augmentation) the
      // same features has no spread to compare against.
      const bool same_x = all_rows_equal(fx), same_g = all_rows_equal(fg);
      const std::string same = same_x && same_g ? "every test image and every augmentation"
                               : same_x         ? "every test image"
                                                : "every augmentation";
      const std::string constant = "'" + l.tap + "' gives " + same + " the same features";
      if (std::isnan(l.score))
        l.undefined["invariance_score"] = constant + ": the score's denominator, the mean distance to other images, is 0";
      for (const auto& [key, v] : {std::pair{"cka_linear", l.cka_linear}, std::pair{"cka_linear_debiased", l.cka_linear_debiased},
                                   std::pair{"cka_rbf", l.cka_rbf}})
        if (std::isnan(v))
          l.undefined[key] = same_x || same_g ? constant + ": HSIC(K, K) or HSIC(L, L) is 0"
                                              : "the debiased estimate of HSIC(K, K) or HSIC(L, L) is not positive";
      a.layers.push_back(l);
    }
  }

  void save_features(const RunInput& run, const std::string& tap, const Tensor<float>& train,
                     const Tensor<float>& test) const {
    const fs::path dir = fs::path(o_.out) / "features";
    fs::create_directories(dir);
    const std::string stem = file_safe(run.name) + "_" + file_safe(tap);
    io::write_npy((dir / (stem + "_train.npy")).string(), train.view());
    io::write_npy((dir / (stem + "_test.npy")).string(), test.view());
  }

  const ReportOptions& o_;
  const Progress& progress_;
};

/// The data sets of the runs, each loaded once (runs with the same data share it), and the
/// analysis of every run. `data` outlives `runs`, which point into it.
struct Analyses {
  std::map<std::string, apps::Datasets> data;
  std::vector<RunAnalysis> runs;
};

/// The data set key and the configuration of run `in` as the options limit it (--data,
/// --test-images, --probe-images).
inline std::pair<std::string, RunConfig> run_data(const RunInput& in, const ReportOptions& o) {
  RunConfig c = in.config;
  if (!o.data_dir.empty()) c.data_dir = o.data_dir;
  if (o.test_images > 0) c.test_images = o.test_images;
  c.train_images = c.train_images > 0 ? std::min(c.train_images, o.probe_images) : o.probe_images;
  const std::string key = c.dataset + "|" + c.data_dir + "|" + std::to_string(c.train_images) + "|" +
                          std::to_string(c.test_images);
  return {key, c};
}

/// Loads every run's data set (each once) into `out.data`.
inline void load_run_data(const std::vector<RunInput>& runs, const ReportOptions& o, Analyses& out) {
  for (const auto& run : runs) {
    const auto [key, c] = run_data(run, o);
    if (out.data.count(key)) continue;
    auto d = apps::load_datasets(c);
    for (const auto& w : d.warnings) std::fprintf(stderr, "invar-report: warning: %s\n", w.c_str());
    out.data.emplace(key, std::move(d));
  }
}

/// The sizes the options ask for, checked against every loaded data set before any analysis
/// runs (a report that would fail after minutes fails at once, naming the option and a value
/// that works).
inline void check_options_against_data(const ReportOptions& o, const Analyses& a) {
  for (const auto& [key, d] : a.data) {
    const index_t n = d.test.size();
    std::map<index_t, index_t> per_class;
    for (index_t i = 0; i < n; ++i)
      if (d.test.labels[i] >= 0) ++per_class[d.test.labels[i]];
    check(!per_class.empty(), "the test set of ", d.dir, " has no labelled image (the dissimilarity matrix needs classes)");
    auto fewest = per_class.begin();
    for (auto it = per_class.begin(); it != per_class.end(); ++it)
      if (it->second < fewest->second) fewest = it;
    const auto& names = d.test.class_names;
    const std::string name = fewest->first < index_t(names.size()) ? " ('" + names[std::size_t(fewest->first)] + "')" : "";
    check(o.per_class <= fewest->second, "--per-class ", o.per_class, ": the test set (", n, " images",
          o.test_images > 0 ? ", --test-images " + std::to_string(o.test_images) : std::string(), ") has only ",
          fewest->second, " images of class ", fewest->first, name, "; give --per-class ", fewest->second, " or less");
    check(std::min<index_t>(o.layer_images, n) >= 4, "--layer-images ", o.layer_images,
          ": the per-layer measures need at least 4 test images, and the test set has ", n);
    const double perplexity = analysis::TsneOptions{}.perplexity;  // t-SNE needs perplexity < N - 1
    const auto tsne_least = index_t(std::floor(perplexity)) + 2;
    check(std::min<index_t>(o.tsne_images, n) >= tsne_least, "--tsne-images ", o.tsne_images, ": t-SNE (perplexity ",
          perplexity, ") needs at least ", tsne_least, " test images, and ", std::min<index_t>(o.tsne_images, n),
          " are used (the test set has ", n, ")");
    check(d.train.size() >= 2, "--probe-images ", o.probe_images, ": the probes need at least 2 training images, got ",
          d.train.size());
  }
}

/// Analyses every run on its data set (load_run_data first).
inline void analyse_runs(const std::vector<RunInput>& runs, const ReportOptions& o, const Progress& progress,
                         Analyses& out) {
  Analyzer analyze(o, progress);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto [key, c] = run_data(runs[i], o);
    if (!out.data.count(key)) load_run_data({runs[i]}, o, out);
    progress("run %zu/%zu: %s (%s, %s, %ld epochs)", i + 1, runs.size(), runs[i].name.c_str(), c.objective.c_str(),
             c.model.c_str(), c.epochs);
    RunInput in = runs[i];
    in.config = c;
    out.runs.push_back(analyze(in, out.data.at(key)));
  }
}

}  // namespace invar::apps::reporting
