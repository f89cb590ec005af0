#pragma once
/// \file cli.hpp
/// The command-line habits the tools share, on top of CLI11: number options checked by
/// validators that refuse what is not a finite number and state the valid range readably
/// ("--lr: 11 is not in [0, 10]"), `--version` with the library version and the git commit, and
/// one parse step that ends a usage error with exit status 2 and one line on stderr.
///
/// Exit statuses of the tools: 0 done, 1 failed while running (data, files, a refused run
/// folder), 2 the command line is wrong (unknown option, bad value, value out of range).

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <system_error>

#include "invar/core/config.hpp"

#ifndef INVAR_GIT_COMMIT
#define INVAR_GIT_COMMIT "unknown"  // apps/CMakeLists.txt passes `git rev-parse --short HEAD`
#endif

namespace invar::apps {

/// `v` in the fewest digits that read back as `v` ("0.05", "1e+300", "inf").
inline std::string format_number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

/// "invar-train 0.1.0 (git 1a2b3c4)": what `--version` prints.
inline std::string version_string(const std::string& program) {
  return program + " " + std::to_string(INVAR_VERSION_MAJOR) + "." + std::to_string(INVAR_VERSION_MINOR) + "." +
         std::to_string(INVAR_VERSION_PATCH) + " (git " + INVAR_GIT_COMMIT + ")";
}

namespace detail {

inline std::string trim_plus(const std::string& s) { return !s.empty() && s[0] == '+' ? s.substr(1) : s; }

/// The interval [lo, hi] (either end open or infinite) as a reader writes it: "[0, 1]",
/// "(0, 10]", ">= 0", "> 0".
inline std::string interval(double lo, double hi, bool lo_open, bool hi_open) {
  if (std::isinf(hi)) return (lo_open ? "> " : ">= ") + format_number(lo);
  if (std::isinf(lo)) return (hi_open ? "< " : "<= ") + format_number(hi);
  return (lo_open ? "(" : "[") + format_number(lo) + ", " + format_number(hi) + (hi_open ? ")" : "]");
}

}  // namespace detail

/// A real number in [lo, hi] (an end is left out when `lo_open` / `hi_open`; ±infinity: no
/// bound). Refuses text that is not a number, NaN and infinities. The value is rewritten as a
/// hexadecimal float, which CLI11 (strtold, then a cast to double) reads back exactly: the
/// option gets the correctly rounded double of the text, as std::from_chars reads it.
inline CLI::Validator real_in(double lo, double hi, bool lo_open = false, bool hi_open = false) {
  const std::string range = detail::interval(lo, hi, lo_open, hi_open);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const std::string s = detail::trim_plus(text);
        double v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec == std::errc::invalid_argument || r.ptr != s.data() + s.size())
          return "'" + text + "' is not a number";
        if (r.ec == std::errc::result_out_of_range || !std::isfinite(v)) return text + " is not a finite number";
        const bool above = lo_open ? v > lo : v >= lo, below = hi_open ? v < hi : v <= hi;
        if (!above || !below) return text + (std::isinf(lo) || std::isinf(hi) ? " is not " : " is not in ") + range;
        char hex[64];
        std::snprintf(hex, sizeof hex, "%a", v);
        text = hex;
        return "";
      },
      range);
}

/// A real number >= lo (> lo when `open`).
inline CLI::Validator real_at_least(double lo, bool open = false) {
  return real_in(lo, std::numeric_limits<double>::infinity(), open, true);
}

/// A whole number in [lo, hi], written in decimal (the text is rewritten in decimal, so that
/// "010" means ten and not CLI11's octal eight).
inline CLI::Validator integer_in(long long lo, long long hi = std::numeric_limits<long long>::max()) {
  const std::string range = hi == std::numeric_limits<long long>::max()
                                ? ">= " + std::to_string(lo)
                                : "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const std::string s = detail::trim_plus(text);
        long long v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec == std::errc::invalid_argument || r.ptr != s.data() + s.size())
          return "'" + text + "' is not a whole number";
        if (r.ec == std::errc::result_out_of_range || v < lo || v > hi)
          return text + (range[0] == '[' ? " is not in " : " is not ") + range;
        text = std::to_string(v);
        return "";
      },
      range);
}

/// A seed: a whole number in [0, 2^64 - 1].
inline CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::string s = detail::trim_plus(text);
        unsigned long long v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec == std::errc::invalid_argument || r.ptr != s.data() + s.size())
          return "'" + text + "' is not a whole number >= 0";
        if (r.ec == std::errc::result_out_of_range) return text + " is not in [0, 2^64 - 1]";
        text = std::to_string(v);
        return "";
      },
      "[0, 2^64 - 1]");
}

/// A comma-separated list of finite numbers >= 0 ("200,250,300"); empty allowed.
inline CLI::Validator list_of_reals_at_least(double lo) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        if (text.empty()) return "";
        std::size_t begin = 0;
        while (true) {
          const std::size_t end = std::min(text.find(',', begin), text.size());
          const std::string item = text.substr(begin, end - begin);
          double v = 0;
          const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
          if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size() || !std::isfinite(v))
            return "'" + item + "' in '" + text + "' is not a finite number";
          if (v < lo) return item + " in '" + text + "' is not >= " + format_number(lo);
          if (end == text.size()) break;
          begin = end + 1;
        }
        return "";
      },
      "comma-separated numbers >= " + format_number(lo));
}

/// CLI11's help with the value's type, range and default in words: "--lr FLOAT [0, 10]
/// (default 0)" rather than "--lr FLOAT:[0, 10]=0".
class HelpFormatter : public CLI::Formatter {
 public:
  /// The names without CLI11's "{false}" after a negated flag ("--no-mlp-probe").
  std::string make_option_name(const CLI::Option* opt, bool positional) const override {
    std::string name = CLI::Formatter::make_option_name(opt, positional);
    for (std::size_t open; (open = name.find('{')) != std::string::npos;) {
      const std::size_t close = name.find('}', open);
      if (close == std::string::npos) break;
      name.erase(open, close - open + 1);
    }
    return name;
  }

  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string out;
    if (!opt->get_option_text().empty()) return " " + opt->get_option_text();
    if (opt->get_type_size() != 0) {
      std::string type = opt->get_type_name();
      std::replace(type.begin(), type.end(), ':', ' ');
      if (!type.empty()) out += " " + type;
      const std::string def = opt->get_default_str();
      if (!def.empty() && def != "[]") out += " (default " + def + ")";
      if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += " ...";
      if (opt->get_required()) out += " (required)";
    }
    for (const CLI::Option* other : opt->get_excludes()) out += " (not with " + other->get_name() + ")";
    return out;
  }
};

/// Common set-up of a tool's CLI::App: every option's default shown in --help (options added
/// after this call, option groups included), an option given twice takes its last value, and
/// --version.
inline void setup_app(CLI::App& app, const std::string& program) {
  app.formatter(std::make_shared<HelpFormatter>());
  app.option_defaults()->always_capture_default();
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // `--epochs 1 ... --epochs 2`: 2
  app.set_version_flag("--version", version_string(program), "print the version (library and git commit) and exit");
}

/// Parses the command line. Returns -1 to go on, else the exit status: 0 after --help or
/// --version, 2 after a usage error, reported as one line on stderr ("invar-train: --lr: nan is
/// not a finite number (see --help)").
inline int parse_command_line(CLI::App& app, const std::string& program, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "%s: %s (see %s --help)\n", program.c_str(), what.c_str(), program.c_str());
    return 2;
  }
  return -1;
}

/// A failure while running, as one line on stderr: "invar-train: <what>" (without invar::Error's
/// own "invar: " prefix).
inline void print_error(const std::string& program, const std::exception& e) {
  std::string what = e.what();
  if (what.rfind("invar: ", 0) == 0) what.erase(0, 7);
  std::fprintf(stderr, "%s: %s\n", program.c_str(), what.c_str());
}

}  // namespace invar::apps
