#pragma once
// Files written into a fresh temporary directory for one test, removed with it: route files
// for the loader, case files for `switchboard test`.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace switchboard::testing {

/// A fresh temporary directory, removed with everything in it.
struct TempFiles {
  std::filesystem::path dir;

  TempFiles() {
    auto pattern = (std::filesystem::temp_directory_path() / "sb-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
  }
  ~TempFiles() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  TempFiles(const TempFiles&) = delete;
  TempFiles& operator=(const TempFiles&) = delete;

  /// Writes `text` to `name` inside the directory (making its parents) and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto path = dir / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }
};

}  // namespace switchboard::testing
