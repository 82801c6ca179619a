#pragma once
// Lookups shared by every registry (steps, input formats, models, optimizers, transforms,
// metrics): each is a vector of entries with a name member, listed once in its registry file.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace shardflow {

/// The entry whose `name_member` equals `name`, or nullptr.
template <typename Entry>
const Entry* find_entry(const std::vector<Entry>& entries, std::string_view name,
                        std::string Entry::*name_member) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const Entry& e) { return e.*name_member == name; });
  return it == entries.end() ? nullptr : &*it;
}

/// The entries' names, in registry order (for did-you-mean lists and messages).
template <typename Entry>
std::vector<std::string> entry_names(const std::vector<Entry>& entries,
                                     std::string Entry::*name_member) {
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (const auto& e : entries)
    names.push_back(e.*name_member);
  return names;
}

}  // namespace shardflow
