#include "shardflow/table/dictionary_encoding.hpp"

#include <algorithm>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::table {

Column dictionary_column_from_local(std::vector<std::string> values_in_code_order,
                                    std::vector<std::int32_t> codes,
                                    std::vector<std::uint8_t> validity) {
  // Sort the dictionary and remap codes so that code order equals string order.
  std::vector<std::int32_t> order(values_in_code_order.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return values_in_code_order[static_cast<size_t>(a)] <
           values_in_code_order[static_cast<size_t>(b)];
  });
  std::vector<std::int32_t> remap(order.size());
  std::vector<std::string> sorted;
  sorted.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    remap[static_cast<size_t>(order[i])] = static_cast<std::int32_t>(i);
    sorted.push_back(std::move(values_in_code_order[static_cast<size_t>(order[i])]));
  }
  for (auto& c : codes)
    c = remap.empty() ? 0 : remap[static_cast<size_t>(c)];
  Column column(DataType::kString);
  column.codes() = std::move(codes);
  column.validity() = std::move(validity);
  column.compact_validity();
  column.set_dictionary(std::make_shared<const Dictionary>(std::move(sorted)));
  return column;
}

namespace {

// Gathers every rank's strings (with duplicates across ranks) and returns the sorted union.
std::vector<std::string> global_union(const mpi::Comm& comm,
                                      const std::vector<std::string>& local) {
  std::vector<idx_t> lengths;
  std::string chars;
  lengths.reserve(local.size());
  for (const auto& s : local) {
    lengths.push_back(static_cast<idx_t>(s.size()));
    chars += s;
  }
  const auto all_lengths = mpi::allgatherv<idx_t>(comm, lengths);
  const auto all_chars =
      mpi::allgatherv<char>(comm, std::span<const char>(chars.data(), chars.size()));
  std::vector<std::string_view> views;
  views.reserve(all_lengths.size());
  idx_t offset = 0;
  for (idx_t len : all_lengths) {
    views.emplace_back(all_chars.data() + offset, static_cast<size_t>(len));
    offset += len;
  }
  std::sort(views.begin(), views.end());
  views.erase(std::unique(views.begin(), views.end()), views.end());
  return std::vector<std::string>(views.begin(), views.end());
}

}  // namespace

void unify_dictionary(const mpi::Comm& comm, Column& column) {
  if (!column.is_dictionary_encoded()) {
    throw RuntimeError("unify_dictionary needs a dictionary-encoded string column");
  }
  const auto& local = column.dictionary()->values();
  std::vector<std::string> merged = global_union(comm, local);
  // Both lists are sorted: one merge pass maps local codes to global codes.
  std::vector<std::int32_t> remap(local.size());
  size_t g = 0;
  for (size_t l = 0; l < local.size(); ++l) {
    while (merged[g] != local[l])
      ++g;
    remap[l] = static_cast<std::int32_t>(g);
  }
  for (auto& c : column.codes()) {
    if (!remap.empty()) c = remap[static_cast<size_t>(c)];
  }
  column.set_dictionary(std::make_shared<const Dictionary>(std::move(merged)));
}

void encode_strings(const mpi::Comm& comm, Column& column, idx_t max_size) {
  if (column.type() != DataType::kString) return;
  if (column.is_dictionary_encoded()) {
    unify_dictionary(comm, column);
    return;
  }
  const PlainStrings& plain = column.plain();
  std::unordered_map<std::string_view, std::int32_t> seen;
  std::vector<std::string> values;
  std::vector<std::int32_t> codes(static_cast<size_t>(plain.size()));
  bool too_many = false;
  for (idx_t i = 0; i < plain.size() && !too_many; ++i) {
    auto [it, inserted] = seen.try_emplace(plain.at(i), static_cast<std::int32_t>(values.size()));
    if (inserted) {
      values.emplace_back(plain.at(i));
      too_many = static_cast<idx_t>(values.size()) > max_size;
    }
    codes[static_cast<size_t>(i)] = it->second;
  }
  // Agree first on the cheap bound (some rank alone is over the limit) before gathering anything.
  if (mpi::allreduce_max(comm, too_many ? 1 : 0) != 0) return;
  Column encoded =
      dictionary_column_from_local(std::move(values), std::move(codes), column.validity());
  unify_dictionary(comm, encoded);
  if (encoded.dictionary()->size() > max_size) return;
  column = std::move(encoded);
}

void encode_all_strings(const mpi::Comm& comm, Table& table, idx_t max_size) {
  for (int i = 0; i < table.num_columns(); ++i) {
    if (table.column(i).type() == DataType::kString)
      encode_strings(comm, table.column(i), max_size);
  }
}

}  // namespace shardflow::table
