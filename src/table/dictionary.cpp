#include "shardflow/table/dictionary.hpp"

#include <algorithm>

namespace shardflow::table {

Dictionary::Dictionary(std::vector<std::string> sorted_unique) : values_(std::move(sorted_unique)) {
  for (size_t i = 1; i < values_.size(); ++i) {
    if (!(values_[i - 1] < values_[i])) {
      throw RuntimeError("dictionary values must be sorted and distinct ('{}' then '{}')",
                         values_[i - 1], values_[i]);
    }
  }
}

std::optional<std::int32_t> Dictionary::find(std::string_view value) const {
  auto it = std::lower_bound(values_.begin(), values_.end(), value,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it == values_.end() || *it != value) return std::nullopt;
  return static_cast<std::int32_t>(it - values_.begin());
}

}  // namespace shardflow::table
