// invar-report: the paper's analysis of trained models, as one folder: a self-contained HTML
// page, SVG figures and every number in one JSON file. Takes invar-train run folders (each with
// config.json and checkpoint.invar; config.json rebuilds the model and names the data set) or
// invar-train output folders (every run in them), typically baseline, invariance-only and mixed.
//
// For each run, on the run's test set (batch norm in eval mode):
//   - accuracy of the model's own classifier (when its objective trained one) and of a linear and
//     a one-hidden-layer probe fitted on the frozen top features of training images;
//   - PCA of the top features: explained-variance ratios, PC1 share, effective rank;
//   - the dissimilarity matrix of N test images per class, sorted by class, with its within- and
//     between-class (and, on CIFAR-10, animate / inanimate) contrast;
//   - per layer: the authors' invariance score and CKA (linear, RBF; biased and debiased) between
//     the features of test images and of one augmentation each;
//   - a t-SNE embedding of the top features.
// Output (--out, default runs/invar-report):
//   report.html, report.json, figures/{accuracy,pca,rdm,invariance_score,cka,tsne}.svg
//   features/<run>_<tap>_{train,test}.npy with --save-features
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/datasets.hpp"
#include "common/json_file.hpp"
#include "common/model_zoo.hpp"
#include "common/run_config.hpp"
#include "common/run_setup.hpp"
#include "invar/cpu.hpp"
#include "invar/analysis/cka.hpp"
#include "invar/attacks/robustness.hpp"
#include "invar/attacks/target.hpp"
#include "invar/analysis/dissimilarity.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/invariance_score.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/analysis/mlp_probe.hpp"
#include "invar/analysis/pca.hpp"
#include "invar/analysis/tsne.hpp"
#include "invar/data/assemble_batch.hpp"
#include "invar/io/npy.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/report/bar_chart.hpp"
#include "invar/report/heatmap.hpp"
#include "invar/report/html_page.hpp"
#include "invar/report/line_chart.hpp"
#include "invar/report/scatter_plot.hpp"
#include "invar/train/checkpoint.hpp"

namespace {

using namespace invar;
using apps::RunConfig;
using nlohmann::json;
namespace fs = std::filesystem;

struct ReportOptions {
  std::string out = "runs/invar-report";
  std::string data_dir;       // overrides every run's data folder
  long test_images = 0;       // 0: each run's own test set
  long probe_images = 10000;  // first N training images the probes are fitted on
  long per_class = 100;       // dissimilarity matrix: test images per class
  long layer_images = 500;    // per-layer score and CKA: first N test images
  long tsne_images = 1000;    // t-SNE: first N test images
  long pca_components = 10;   // explained-variance ratios reported (and drawn)
  std::string rdm_metric = "correlation";
  bool mlp_probe = true;
  bool save_features = false;
  // Adversarial robustness (--robustness): white-box curves per run, transfer between runs.
  bool robustness = false;
  long attack_images = 500;  // first N test images
  std::string fgsm_epsilons = "0.00003,0.0001,0.0003,0.001,0.003,0.01,0.03,0.1,0.3";  // method.md
  std::string pgd_epsilons = "0.003,0.03,0.3";
  double pgd_step = 0.01;
  long pgd_iterations = 40;
  long pgd_restarts = 1;
  double transfer_epsilon = 0.03;
  bool quiet = false;
};

/// One run to analyse: its folder and configuration.
struct RunInput {
  std::string name, folder;
  RunConfig config;
};

/// Everything measured on one run (what report.json holds, plus what the figures draw).
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
  analysis::ClassContrast class_contrast;
  std::optional<analysis::BlockContrast> animate_contrast;  // CIFAR-10 only
  struct Layer {
    std::string tap;
    index_t dims = 0;
    double score = NAN, cka_linear = NAN, cka_linear_debiased = NAN, cka_rbf = NAN;
  };
  std::vector<Layer> layers;
  analysis::TsneResult tsne;
  std::vector<index_t> tsne_labels;
  double seconds = 0;
};

class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), t0_(std::chrono::steady_clock::now()) {}
  template <class... A>
  void operator()(const char* format, A... args) const {
    if (quiet_) return;
    std::fprintf(stderr, "[%6.1fs] ", seconds());
    std::fprintf(stderr, format, args...);
    std::fputc('\n', stderr);
  }
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  bool quiet_;
  std::chrono::steady_clock::time_point t0_;
};

bool is_run_folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p / "config.json", ec) && fs::is_regular_file(p / "checkpoint.invar", ec);
}

/// Rank of a run folder's name in the report's order (the paper's: baseline, invariance, mixed).
int objective_rank(const std::string& name) {
  static const std::vector<std::string> order{"baseline", "invariance", "mixed", "authors"};
  const auto it = std::find(order.begin(), order.end(), name);
  return it == order.end() ? int(order.size()) : int(it - order.begin());
}

/// The runs named on the command line: run folders as given, output folders expanded into their
/// run folders (baseline, invariance, mixed, authors first, then by name).
std::vector<RunInput> collect_runs(const std::vector<std::string>& paths) {
  std::vector<RunInput> runs;
  for (const auto& path : paths) {
    const fs::path p(path);
    std::error_code ec;
    check(fs::is_directory(p, ec), "'", path, "' is not a folder (give invar-train run folders or output folders)");
    std::vector<fs::path> found;
    if (is_run_folder(p)) {
      found.push_back(p);
    } else {
      for (const auto& entry : fs::directory_iterator(p, ec))
        if (entry.is_directory() && is_run_folder(entry.path())) found.push_back(entry.path());
      std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
        const int ra = objective_rank(a.filename().string()), rb = objective_rank(b.filename().string());
        return ra != rb ? ra < rb : a.filename() < b.filename();
      });
      check(!found.empty(), "'", path, "' holds no run: expected config.json and checkpoint.invar in it or in its "
                            "sub-folders (an invar-train output folder)");
    }
    for (const auto& f : found) {
      RunInput r;
      r.folder = f.string();
      r.name = f.filename().string();
      const json j = apps::read_json_file((f / "config.json").string());
      try {
        r.config = j.get<RunConfig>();
      } catch (const json::exception& e) {
        throw Error("'" + (f / "config.json").string() + "' is not a run configuration: " + e.what());
      }
      runs.push_back(std::move(r));
    }
  }
  // Names label figures and files: make them unique with the parent folder's name.
  for (auto& r : runs) {
    const auto same = std::count_if(runs.begin(), runs.end(), [&](const RunInput& o) { return o.name == r.name; });
    if (same > 1) r.name = fs::path(r.folder).parent_path().filename().string() + "/" + r.name;
  }
  for (std::size_t i = 0; i < runs.size(); ++i)
    for (std::size_t j = i + 1; j < runs.size(); ++j)
      check(runs[i].name != runs[j].name, "the run '", runs[i].name, "' is given twice");
  return runs;
}

/// Accuracy of the model's own classifier (argmax of its output) on the test set, eval mode.
double classifier_accuracy(nn::Sequential<float>& model, const data::ImageSet& test) {
  model.set_training(false);
  const index_t n = test.images.dim(0), batch = 500;
  index_t correct = 0, labelled = 0;
  for (index_t b0 = 0; b0 < n; b0 += batch) {
    const index_t b1 = std::min(n, b0 + batch);
    model.forward(test.images.view().slice_rows(b0, b1));
    const auto v = softmax_cross_entropy(model.output(), test.labels.view().slice_rows(b0, b1), no_gradient);
    correct += v.correct;
    labelled += v.labelled;
  }
  return labelled > 0 ? double(correct) / double(labelled) : NAN;
}

std::vector<index_t> to_vector(TensorView<const index_t> t) { return {t.data(), t.data() + t.numel()}; }

/// Rows `rows` of `x` (N x D) as a new M x D tensor.
template <class T>
Tensor<T> gather_rows(TensorView<const T> x, const std::vector<index_t>& rows) {
  const index_t d = x.row_size();
  auto out = Tensor<T>::uninitialized(Shape{index_t(rows.size()), d});
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy(x.data() + rows[i] * d, x.data() + (rows[i] + 1) * d, out.data() + index_t(i) * d);
  return out;
}

std::string file_safe(std::string s) {
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
    if (a.classifier_trained) a.classifier_accuracy = classifier_accuracy(model, d.test);

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

    step(run, "dissimilarity matrix (%ld images per class)", o_.per_class);
    const auto rows = analysis::select_per_class(d.test.labels, o_.per_class);
    const auto rows_v = to_vector(rows.view());
    const auto selected = gather_rows(test_features.view(), rows_v);
    a.rdm = analysis::rdm(selected, o_.rdm_metric == "correlation" ? analysis::RdmMetric::correlation
                                                                    : analysis::RdmMetric::squared_euclidean_per_dim);
    for (const index_t r : rows_v) a.rdm_labels.push_back(d.test.labels[r]);
    const Tensor<index_t> rdm_labels = Tensor<index_t>::copy_of(
        TensorView<const index_t>(a.rdm_labels.data(), Shape{index_t(a.rdm_labels.size())}));
    a.class_contrast = analysis::class_contrast(a.rdm, rdm_labels);
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
      if (!animate.empty() && !inanimate.empty())
        a.animate_contrast = analysis::block_contrast(a.rdm, rdm_labels, animate, inanimate);
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

std::vector<double> parse_epsilons(const std::string& list, const char* option) {
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
std::vector<Transfer> measure_robustness(std::vector<RunAnalysis>& runs, const ReportOptions& o,
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

json curve_json(const std::vector<attacks::CurvePoint>& curve) {
  json out = json::array();
  for (const auto& p : curve) out.push_back({{"epsilon", p.epsilon}, {"accuracy", p.accuracy}});
  return out;
}

/// Accuracy at `eps` on a curve, NaN when the curve has no such point.
double at_epsilon(const std::vector<attacks::CurvePoint>& curve, double eps) {
  for (const auto& p : curve)
    if (std::abs(p.epsilon - eps) <= 1e-12 * std::max(1.0, eps)) return p.accuracy;
  return NAN;
}

json number(double v) {
  check(std::isfinite(v), "a report number is not finite (", v, ")");
  return v;
}

json to_json(const RunAnalysis& a, const ReportOptions& o) {
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

std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%", 100 * v);
  return buf;
}
std::string fixed(double v, int decimals = 3) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

/// The figures, written into <out>/figures; returns their paths relative to <out> with captions.
std::vector<std::pair<std::string, std::string>> write_figures(const std::vector<RunAnalysis>& runs,
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

void write_html(const std::vector<RunAnalysis>& runs, const std::vector<std::pair<std::string, std::string>>& figures,
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

void add_options(CLI::App& app, ReportOptions& o) {
  app.add_option("--out", o.out, "output folder (report.html, report.json, figures/)");
  app.add_option("--data", o.data_dir, "data folder for every run (default: each run's own, from its config.json)");
  app.add_option("--test-images", o.test_images, "first N test images (0: each run's own test set)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--probe-images", o.probe_images, "first N training images the probes are fitted on")
      ->check(CLI::Range(10L, 10000000L));
  app.add_option("--per-class", o.per_class, "dissimilarity matrix: test images per class (the paper: 100)")
      ->check(CLI::Range(2L, 100000L));
  app.add_option("--layer-images", o.layer_images, "per-layer invariance score and CKA: first N test images")
      ->check(CLI::Range(4L, 100000L));
  app.add_option("--tsne-images", o.tsne_images, "t-SNE: first N test images (exact up to 1000, Barnes-Hut above)")
      ->check(CLI::Range(10L, 1000000L));
  app.add_option("--pca-components", o.pca_components, "explained-variance ratios reported")->check(CLI::Range(1L, 100000L));
  app.add_option("--rdm-metric", o.rdm_metric, "dissimilarity: correlation (1 - Pearson r) or squared-euclidean (/ D)")
      ->check(CLI::IsMember({"correlation", "squared-euclidean"}));
  app.add_flag("!--no-mlp-probe", o.mlp_probe, "skip the one-hidden-layer probe");
  app.add_flag("--save-features", o.save_features, "write the top features as .npy into <out>/features");
  auto* rob = app.add_option_group("robustness (--robustness)");
  rob->add_flag("--robustness", o.robustness,
                "adversarial robustness: white-box FGSM and PGD curves per run, black-box transfer between runs");
  rob->add_option("--attack-images", o.attack_images, "first N test images attacked")->check(CLI::Range(1L, 1000000L));
  rob->add_option("--fgsm-epsilons", o.fgsm_epsilons, "FGSM epsilons, comma-separated (L-inf, pixels in [0, 1])");
  rob->add_option("--pgd-epsilons", o.pgd_epsilons, "PGD epsilons, comma-separated (L-inf)");
  rob->add_option("--pgd-step", o.pgd_step, "PGD step size")->check(CLI::PositiveNumber);
  rob->add_option("--pgd-iterations", o.pgd_iterations, "PGD iterations")->check(CLI::Range(0L, 100000L));
  rob->add_option("--pgd-restarts", o.pgd_restarts, "PGD random restarts")->check(CLI::Range(1L, 1000L));
  rob->add_option("--transfer-epsilon", o.transfer_epsilon, "epsilon of the black-box transfer")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", o.quiet, "no progress lines");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"invar-report: analyse trained models (invar-train run folders) and write one report folder: HTML, SVG "
               "figures and report.json.\nProbes, PCA, dissimilarity matrices, per-layer invariance score and CKA, "
               "t-SNE, as in the paper."};
  ReportOptions o;
  std::vector<std::string> paths;
  int threads = 0;
  app.add_option("runs", paths, "run folders (config.json + checkpoint.invar) or invar-train output folders")
      ->required();
  app.add_option("--threads", threads, "threads (0: OMP_NUM_THREADS or every core)")->check(CLI::Range(0, 1024));
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_num_threads(threads);
    const Progress progress(o.quiet);
    const auto runs = collect_runs(paths);
    // Every run is analysed on the same kind of data (the figures share class names).
    for (const auto& r : runs)
      check(r.config.dataset == runs.front().config.dataset, "runs on different data sets: '", runs.front().name,
            "' on ", runs.front().config.dataset, ", '", r.name, "' on ", r.config.dataset);

    std::map<std::string, apps::Datasets> cache;  // runs with the same data share one load
    std::vector<RunAnalysis> analyses;
    Analyzer analyze(o, progress);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      RunConfig c = runs[i].config;
      if (!o.data_dir.empty()) c.data_dir = o.data_dir;
      if (o.test_images > 0) c.test_images = o.test_images;
      c.train_images = c.train_images > 0 ? std::min(c.train_images, o.probe_images) : o.probe_images;
      const std::string key = c.dataset + "|" + c.data_dir + "|" + std::to_string(c.train_images) + "|" +
                              std::to_string(c.test_images);
      if (!cache.count(key)) cache.emplace(key, apps::load_datasets(c));
      progress("run %zu/%zu: %s (%s, %s, %ld epochs)", i + 1, runs.size(), runs[i].name.c_str(),
               c.objective.c_str(), c.model.c_str(), c.epochs);
      RunInput in = runs[i];
      in.config = c;
      analyses.push_back(analyze(in, cache.at(key)));
    }

    std::vector<Transfer> transfers;
    if (o.robustness) transfers = measure_robustness(analyses, o, progress);

    progress("writing %s", o.out.c_str());
    fs::create_directories(o.out);
    const auto& class_names = cache.begin()->second.test.class_names;
    const auto figures = write_figures(analyses, class_names, o);
    json j;
    j["report"] = {{"dataset", runs.front().config.dataset},
                   {"class_names", class_names},
                   {"options",
                    {{"test_images", o.test_images},
                     {"probe_images", o.probe_images},
                     {"per_class", o.per_class},
                     {"layer_images", o.layer_images},
                     {"tsne_images", o.tsne_images},
                     {"rdm_metric", o.rdm_metric},
                     {"robustness", o.robustness}}},
                   {"figures", json::array()},
                   {"seconds", progress.seconds()}};
    for (const auto& [file, caption] : figures) j["report"]["figures"].push_back(file);
    j["runs"] = json::array();
    for (const auto& a : analyses) j["runs"].push_back(to_json(a, o));
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
    apps::write_json_file((fs::path(o.out) / "report.json").string(), j);
    write_html(analyses, figures, transfers, o, runs.front().config.dataset);

    std::printf("\n%-14s %10s %12s %10s %9s %10s\n", "run", "classifier", "linear probe", "MLP probe", "PC1", "score");
    for (const auto& a : analyses)
      std::printf("%-14s %10s %12s %10s %9.3f %10.3f\n", a.input.name.c_str(), percent(a.classifier_accuracy).c_str(),
                  percent(a.linear_test_accuracy).c_str(), percent(a.mlp_test_accuracy).c_str(),
                  a.pca.explained_variance_ratio.at(0), a.layers.empty() ? NAN : a.layers.back().score);
    std::printf("\nreport: %s\n", (fs::path(o.out) / "report.html").string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "invar-report: %s\n", e.what());
    return 1;
  }
  return 0;
}
