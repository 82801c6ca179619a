#pragma once
// "Did you mean" suggestions for unknown names (keys, columns, ops).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardflow {

/// Levenshtein edit distance.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `name` if it is close enough to be a plausible typo, else nullopt.
std::optional<std::string> closest_match(std::string_view name,
                                         const std::vector<std::string>& candidates);

/// "; did you mean 'x'?" or "" — ready to append to an error message.
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace shardflow
