#pragma once
/// \file model_zoo.hpp
/// The reference networks by name for the command-line tools: the model of a RunConfig, the taps
/// its invariance terms use by default, the top tap the evaluation measures, and its default
/// learning rate.
///
/// | model   | invariance taps (all)          | top tap  | default lr          |
/// |---------|--------------------------------|----------|---------------------|
/// | mlp     | hidden1 ... hiddenL            | hiddenL  | 0.05                |
/// | all-cnn | conv1 ... conv9 (method.md)    | pool     | 0.01 (the authors') |
/// | wrn     | block1 ... block3n             | pool     | 0.1 (the authors')  |

#include <sstream>
#include <string>
#include <vector>

#include "common/run_config.hpp"
#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"

namespace invar::apps {

/// "512,256" -> {"512", "256"}; empty items are refused.
inline std::vector<std::string> split_list(const std::string& s, const char* what) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    check(!item.empty(), "empty item in the ", what, " list '", s, "'");
    out.push_back(item);
  }
  return out;
}

/// The hidden widths of --mlp-hidden, e.g. "512,256".
inline std::vector<index_t> mlp_hidden_widths(const RunConfig& c) {
  std::vector<index_t> widths;
  for (const auto& w : split_list(c.mlp_hidden, "--mlp-hidden")) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(w, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == w.size() && v > 0, "--mlp-hidden: '", w, "' is not a positive width");
    widths.push_back(v);
  }
  check(!widths.empty(), "--mlp-hidden: give at least one hidden width");
  return widths;
}

/// The model of `c` for images of `channels` x `height` x `width` and `classes` classes.
inline nn::Sequential<float> build_model(const RunConfig& c, index_t channels, index_t height, index_t width,
                                         index_t classes) {
  if (c.model == "mlp") {
    std::vector<index_t> widths{channels * height * width};
    for (index_t h : mlp_hidden_widths(c)) widths.push_back(h);
    widths.push_back(classes);
    return nn::make_mlp<float>(widths, nn::MlpOptions{}.with_seed(c.seed));
  }
  if (c.model == "all-cnn") {
    check(c.top_padding == "same" || c.top_padding == "valid", "--top-padding: expected same or valid, got '",
          c.top_padding, "'");
    return nn::make_all_cnn<float>(nn::AllCnnOptions{}
                                       .with_in_channels(channels)
                                       .with_classes(classes)
                                       .with_width(c.width)
                                       .with_top_padding(c.top_padding == "same" ? nn::TopConvPadding::same
                                                                                 : nn::TopConvPadding::valid)
                                       .with_seed(c.seed));
  }
  if (c.model == "wrn") {
    check(c.shortcut == "zero-pad" || c.shortcut == "projection", "--shortcut: expected zero-pad or projection, got '",
          c.shortcut, "'");
    return nn::make_wide_resnet<float>(nn::WideResnetOptions{}
                                           .with_depth(c.depth)
                                           .with_widen(c.widen)
                                           .with_in_channels(channels)
                                           .with_classes(classes)
                                           .with_shortcut(c.shortcut == "projection"
                                                              ? nn::ResidualShortcut::projection
                                                              : nn::ResidualShortcut::average_pool_zero_pad)
                                           .with_seed(c.seed));
  }
  throw Error("unknown model '" + c.model + "' (expected mlp, all-cnn or wrn)");
}

/// The taps of the invariance terms: --taps, or every layer the paper uses when it is "all".
inline std::vector<std::string> invariance_taps(const RunConfig& c, const nn::Sequential<float>& model) {
  std::vector<std::string> taps;
  if (c.taps != "all") {
    taps = split_list(c.taps, "--taps");
  } else {
    const std::string prefix = c.model == "mlp" ? "hidden" : c.model == "all-cnn" ? "conv" : "block";
    for (const auto& t : model.tap_names())
      if (t.rfind(prefix, 0) == 0) taps.push_back(t);
  }
  for (const auto& t : taps) {
    bool known = false;
    for (const auto& name : model.tap_names()) known = known || name == t;
    check(known, "--taps: the ", c.model, " has no tap '", t, "'");
  }
  return taps;
}

/// The top layer the evaluation measures (invariance score, probe).
inline std::string top_tap(const RunConfig& c, const nn::Sequential<float>& model) {
  if (c.model == "mlp") {
    std::string last;
    for (const auto& t : model.tap_names())
      if (t.rfind("hidden", 0) == 0) last = t;
    return last;
  }
  return "pool";
}

/// The taps of the anti-collapse penalties: --penalty-taps "same" (the invariance taps), "top"
/// (the evaluated top layer) or a comma-separated list of the model's taps.
inline std::vector<std::string> penalty_taps(const RunConfig& c, const nn::Sequential<float>& model) {
  if (c.penalty_taps == "same") return invariance_taps(c, model);
  if (c.penalty_taps == "top") return {top_tap(c, model)};
  auto taps = split_list(c.penalty_taps, "--penalty-taps");
  for (const auto& t : taps) {
    bool known = false;
    for (const auto& name : model.tap_names()) known = known || name == t;
    check(known, "--penalty-taps: the ", c.model, " has no tap '", t, "' (or give same or top)");
  }
  return taps;
}

inline double default_learning_rate(const RunConfig& c) {
  if (c.model == "all-cnn") return 0.01;
  if (c.model == "wrn") return 0.1;
  return 0.05;
}

}  // namespace invar::apps
