#pragma once
// An immutable, sorted set of distinct strings. A dictionary-encoded string column stores int32
// codes into one; shardflow keeps it identical on every rank (see dictionary_encoding.hpp), so
// codes compare, hash and shuffle as integers, and code order equals string order.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"

namespace shardflow::table {

class Dictionary {
 public:
  Dictionary() = default;
  /// `sorted_unique` must be strictly increasing; throws RuntimeError otherwise.
  explicit Dictionary(std::vector<std::string> sorted_unique);

  idx_t size() const { return static_cast<idx_t>(values_.size()); }
  const std::string& at(std::int32_t code) const { return values_[static_cast<size_t>(code)]; }
  const std::vector<std::string>& values() const { return values_; }
  /// Code of `value`, or nullopt if absent (binary search).
  std::optional<std::int32_t> find(std::string_view value) const;

 private:
  std::vector<std::string> values_;
};

using DictionaryPtr = std::shared_ptr<const Dictionary>;

}  // namespace shardflow::table
