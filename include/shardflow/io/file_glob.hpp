#pragma once
// Expanding input path patterns into file lists.

#include <string>
#include <vector>

namespace shardflow::io {

/// Local: expands every pattern (shell globs `*`, `?`, `[..]`; a pattern without glob characters
/// names one file) and returns the regular files found, sorted by name and without duplicates.
/// Throws InputError "no file matches 'data/*.csv'" for a glob that matches no regular file, and
/// "input file 'x.csv' does not exist" for a missing plain path.
std::vector<std::string> expand_paths(const std::vector<std::string>& patterns);

/// True if `pattern` contains a glob metacharacter (`*`, `?` or `[`).
bool has_glob_characters(const std::string& pattern);

}  // namespace shardflow::io
