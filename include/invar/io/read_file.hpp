#pragma once
/// \file read_file.hpp
/// A whole file's bytes, for the readers that parse from memory (Archive, Safetensors). Reads as
/// many bytes as the file system reports (never a size taken from a header), then whatever else is
/// there (a file that grew, or one whose size is unknown). Errors name the file and what it was
/// meant to be: "cannot load parameter file 'x': no such file".

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "invar/core/error.hpp"

namespace invar::io {

/// The bytes of `path`; `what` names the kind of file in messages ("parameter file"). Throws
/// invar::Error when the path does not exist, is a folder, cannot be opened or cannot be read.
inline std::vector<unsigned char> read_file_bytes(const std::string& path, const char* what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  check(fs::exists(status), "cannot load ", what, " '", path, "': no such file");
  check(!fs::is_directory(status), "cannot load ", what, " '", path, "': it is a directory");
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, Close> file(std::fopen(path.c_str(), "rb"));
  check(file != nullptr, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  const auto size = fs::file_size(path, ec);
  std::vector<unsigned char> bytes(ec ? 0 : static_cast<std::size_t>(size));
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), file.get()));
  unsigned char more[4096];
  for (std::size_t got = 0; (got = std::fread(more, 1, sizeof more, file.get())) > 0;)
    bytes.insert(bytes.end(), more, more + got);
  check(!std::ferror(file.get()), "cannot read ", what, " '", path, "': ", std::strerror(errno));
  return bytes;
}

}  // namespace invar::io
