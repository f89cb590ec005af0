// invar-report: the paper's analysis of trained models, as one folder: a self-contained HTML
// page, SVG figures and every number in one JSON file. Takes invar-train run folders (each with
// config.json and checkpoint.invar; config.json rebuilds the model and names the data set) or
// invar-train output folders (every run in them, `<objective>/` or `<objective>/seed-<s>/`),
// typically baseline, invariance-only and mixed. Runs that differ only in their seed form a group,
// shown as the mean and spread of its seeds.
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
// A number that is undefined for a model (collapsed features: a constant row's correlation, the
// PC1 share of features with no variance...) is marked as such; it never stops the report.
// Output (--out, default runs/invar-report):
//   report.html, report.json, figures/{accuracy,pca,rdm,invariance_score,cka,tsne}.svg
//   features/<run>_<tap>_{train,test}.npy with --save-features
//
// The steps live in apps/report/: discovery.hpp (the runs named on the command line and their
// seed groups), analysis.hpp (the measures of each run), robustness.hpp (--robustness),
// report_json.hpp (report.json's numbers; groups.hpp: a group's statistics), figures.hpp (SVG),
// page.hpp (report.html and the summary table); options.hpp holds the options.
// Exit status: 0 done; 2 refused before any file was touched (a usage error, a size the data
// cannot give, a folder that holds no run, missing data); 1 failed while running.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/json_file.hpp"
#include "common/staged_folder.hpp"
#include "invar/cpu.hpp"
#include "report/analysis.hpp"
#include "report/discovery.hpp"
#include "report/figures.hpp"
#include "report/options.hpp"
#include "report/page.hpp"
#include "report/report_json.hpp"
#include "report/robustness.hpp"

int main(int argc, char** argv) {
  using namespace invar;
  using namespace invar::apps::reporting;
  CLI::App app{"invar-report: analyse trained models (invar-train run folders) and write one report folder: HTML, SVG "
               "figures and report.json.\nProbes, PCA, dissimilarity matrices, per-layer invariance score and CKA, "
               "t-SNE, as in the paper."};
  apps::setup_app(app, "invar-report");
  ReportOptions o;
  std::vector<std::string> paths;
  int threads = 0;
  app.add_option("runs", paths,
                 "run folders (config.json + checkpoint.invar) or invar-train output folders (<objective>/ or "
                 "<objective>/seed-<s>/ in them; runs that differ only in their seed are shown as mean ± std)")
      ->required();
  app.add_option("--threads", threads, "threads (0: OMP_NUM_THREADS or every core)")->check(apps::integer_in(0, 1024));
  add_options(app, o);
  if (const int status = apps::parse_command_line(app, "invar-report", argc, argv); status >= 0) return status;

  bool started = false;  // whether the output folder has been touched (exit status 1 after, 2 before)
  try {
    if (threads > 0) set_num_threads(threads);
    const Progress progress(o.quiet);
    const auto runs = collect_runs(paths);  // discovery
    check_same_dataset(runs);
    const auto groups = group_runs(runs);

    Analyses analyses;  // the data, and every size the options ask for checked against it first
    load_run_data(runs, o, analyses);
    check_options_against_data(o, analyses);
    // The report folder appears whole or not at all: everything goes to a staging folder beside
    // it, swapped into place at the end (a killed report never leaves a page mixing two runs).
    apps::StagedFolder staged(o.out);
    started = true;  // from here on files change: a failure is exit status 1
    const std::string final_out = o.out;
    o.out = staged.path();
    analyse_runs(runs, o, progress, analyses);  // analysis
    std::vector<Transfer> transfers;
    if (o.robustness) transfers = measure_robustness(analyses.runs, o, progress);

    progress("writing %s", final_out.c_str());
    const auto numbers = report_numbers(analyses, groups, transfers, o);  // report.json's numbers
    const auto figures =
        write_figures(analyses.runs, numbers, analyses.data.begin()->second.test.class_names, o);  // figures
    apps::write_json_file((std::filesystem::path(o.out) / "report.json").string(),
                          report_json(analyses, numbers, transfers, figures, o, progress.seconds()));
    write_html(analyses.runs, numbers, figures, transfers, o, runs.front().config.dataset);  // page
    staged.publish();
    o.out = final_out;
    print_summary(numbers, o);
  } catch (const std::exception& e) {
    apps::print_error("invar-report", e);
    return started ? 1 : 2;  // refused before any file was touched: 2, as a usage error
  }
  return 0;
}
