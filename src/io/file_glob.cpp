#include "shardflow/io/file_glob.hpp"

#include <glob.h>

#include <algorithm>
#include <filesystem>

#include "shardflow/common/error.hpp"

namespace shardflow::io {

bool has_glob_characters(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

std::vector<std::string> expand_paths(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  for (const auto& pattern : patterns) {
    std::error_code exists_ec;
    // A file whose name merely contains '[', '*' or '?' (a workdir named "runs/a[1]") is that
    // file, not a pattern.
    if (!has_glob_characters(pattern) || std::filesystem::is_regular_file(pattern, exists_ec)) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(pattern, ec)) {
        if (std::filesystem::exists(pattern, ec)) {
          throw InputError("input path '{}' is not a regular file (a directory? use '{}/*.csv')",
                           pattern, pattern);
        }
        throw InputError("input file '{}' does not exist", pattern);
      }
      files.push_back(pattern);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), GLOB_MARK, nullptr, &g);
    size_t found = 0;
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::string path = g.gl_pathv[i];
        if (!path.empty() && path.back() == '/') continue;  // GLOB_MARK: a directory
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) continue;
        files.push_back(std::move(path));
        ++found;
      }
    }
    globfree(&g);
    if (rc == GLOB_NOSPACE) throw RuntimeError("out of memory expanding '{}'", pattern);
    if (found == 0) throw InputError("no file matches '{}'", pattern);
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

}  // namespace shardflow::io
