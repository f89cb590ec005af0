#pragma once
/// \file json_file.hpp
/// JSON files of the command-line tools, written atomically (never half-written) and read with
/// errors that name the file.

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/io/atomic_file.hpp"

namespace invar::apps {

inline void write_json_file(const std::string& path, const nlohmann::json& j) {
  io::write_file_atomically(path, j.dump(2) + "\n");
}

inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  check(in.good(), "cannot open '", path, "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "' is not valid JSON: " + e.what());
  }
}

}  // namespace invar::apps
