#pragma once
/// \file options.hpp
/// invar-report's options (ReportOptions, bound to the command line by add_options) and its
/// progress lines on stderr.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/cli.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

/// What invar-report does, as given on the command line.
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

/// "[  12.3s] mixed: ..." lines on stderr (none with --quiet).
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

/// Binds `o` to the command line of `app`.
inline void add_options(CLI::App& app, ReportOptions& o) {
  app.add_option("--out", o.out, "output folder (report.html, report.json, figures/)");
  app.add_option("--data", o.data_dir, "data folder for every run (default: each run's own, from its config.json)");
  app.add_option("--test-images", o.test_images, "first N test images (0: each run's own test set)")
      ->check(apps::integer_in(0));
  app.add_option("--probe-images", o.probe_images, "first N training images the probes are fitted on")
      ->check(apps::integer_in(10, 10000000));
  app.add_option("--per-class", o.per_class, "dissimilarity matrix: test images per class (the paper: 100)")
      ->check(apps::integer_in(2, 100000));
  app.add_option("--layer-images", o.layer_images, "per-layer invariance score and CKA: first N test images")
      ->check(apps::integer_in(4, 100000));
  app.add_option("--tsne-images", o.tsne_images, "t-SNE: first N test images (exact up to 1000, Barnes-Hut above)")
      ->check(apps::integer_in(10, 1000000));
  app.add_option("--pca-components", o.pca_components, "explained-variance ratios reported")->check(apps::integer_in(1, 100000));
  app.add_option("--rdm-metric", o.rdm_metric, "dissimilarity: correlation (1 - Pearson r) or squared-euclidean (/ D)")
      ->check(CLI::IsMember({"correlation", "squared-euclidean"}));
  app.add_flag("!--no-mlp-probe", o.mlp_probe, "skip the one-hidden-layer probe");
  app.add_flag("--save-features", o.save_features, "write the top features as .npy into <out>/features");
  auto* rob = app.add_option_group("robustness (--robustness)");
  rob->add_flag("--robustness", o.robustness,
                "adversarial robustness: white-box FGSM and PGD curves per run, black-box transfer between runs");
  rob->add_option("--attack-images", o.attack_images, "first N test images attacked")->check(apps::integer_in(1, 1000000));
  rob->add_option("--fgsm-epsilons", o.fgsm_epsilons, "FGSM epsilons, comma-separated (L-inf, pixels in [0, 1])")
      ->check(apps::list_of_reals_at_least(0));
  rob->add_option("--pgd-epsilons", o.pgd_epsilons, "PGD epsilons, comma-separated (L-inf)")
      ->check(apps::list_of_reals_at_least(0));
  rob->add_option("--pgd-step", o.pgd_step, "PGD step size")->check(apps::real_at_least(0, /*open=*/true));
  rob->add_option("--pgd-iterations", o.pgd_iterations, "PGD iterations")->check(apps::integer_in(0, 100000));
  rob->add_option("--pgd-restarts", o.pgd_restarts, "PGD random restarts")->check(apps::integer_in(1, 1000));
  rob->add_option("--transfer-epsilon", o.transfer_epsilon, "epsilon of the black-box transfer")
      ->check(apps::real_at_least(0));
  app.add_flag("-q,--quiet", o.quiet, "no progress lines");
}

}  // namespace invar::apps::reporting
