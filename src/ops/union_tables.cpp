#include "shardflow/ops/union_tables.hpp"

#include <algorithm>
#include <memory>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::Table;

void check_union_schemas(const std::vector<const Table*>& inputs) {
  if (inputs.empty()) throw ConfigError("union needs at least one input table");
  const table::Schema& first = inputs[0]->schema();
  for (size_t i = 1; i < inputs.size(); ++i) {
    const table::Schema& s = inputs[i]->schema();
    for (const auto& f : first.fields()) {
      const auto at = s.find(f.name);
      if (!at) {
        throw ConfigError(
            "input {} has no column '{}', which input 1 has; union matches columns by name, so "
            "every input needs the same columns (input {}: {}; input 1: {})",
            i + 1, f.name, i + 1, s.to_string(), first.to_string());
      }
      const DataType t = s.field(*at).type;
      if (t != f.type) {
        throw ConfigError(
            "column '{}' is {} in input 1 but {} in input {}; union needs equal types (convert "
            "one of them first)",
            f.name, table::to_string(f.type), table::to_string(t), i + 1);
      }
    }
    for (const auto& f : s.fields()) {
      if (!first.find(f.name)) {
        throw ConfigError(
            "input {} has column '{}', which input 1 lacks; union matches columns by name, so "
            "every input needs the same columns (input {}: {}; input 1: {})",
            i + 1, f.name, i + 1, s.to_string(), first.to_string());
      }
    }
  }
}

namespace {

Column to_plain(const Column& c) {
  if (!c.is_dictionary_encoded()) return c;
  Column out = Column::plain_strings();
  const idx_t n = c.size();
  for (idx_t i = 0; i < n; ++i)
    out.plain().push_back(c.is_valid(i) ? c.string_at(i) : std::string_view());
  if (c.has_nulls()) out.validity() = c.validity();
  return out;
}

// Local: the codes of `c` remapped into `merged` (a sorted superset of c's dictionary).
Column remap(const Column& c, const table::DictionaryPtr& merged) {
  std::vector<std::int32_t> map(static_cast<size_t>(c.dictionary()->size()));
  for (size_t k = 0; k < map.size(); ++k)
    map[k] = *merged->find(c.dictionary()->at(static_cast<std::int32_t>(k)));
  Column out(DataType::kString);
  out.set_dictionary(merged);
  const auto& in = c.codes();
  auto& codes = out.codes();
  codes.resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const std::int32_t code = in[i];
    codes[i] =
        code >= 0 && static_cast<size_t>(code) < map.size() ? map[static_cast<size_t>(code)] : 0;
  }
  if (c.has_nulls()) out.validity() = c.validity();
  return out;
}

// Local (every rank decides the same, as each input's encoding and dictionary are equal on all
// ranks): gives column `col` of every table one encoding and dictionary.
void unify_strings(std::vector<Table>& tables, int col, idx_t max_dictionary_size) {
  bool all_dictionary = true;
  bool same = true;
  for (const auto& t : tables) {
    const Column& c = t.column(col);
    all_dictionary = all_dictionary && c.is_dictionary_encoded();
    if (all_dictionary && c.dictionary() != tables[0].column(col).dictionary() &&
        c.dictionary()->values() != tables[0].column(col).dictionary()->values())
      same = false;
  }
  if (all_dictionary && same) return;
  if (all_dictionary) {
    std::vector<std::string> values;
    for (const auto& t : tables) {
      const auto& v = t.column(col).dictionary()->values();
      values.insert(values.end(), v.begin(), v.end());
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    if (static_cast<idx_t>(values.size()) <= max_dictionary_size) {
      const auto merged = std::make_shared<const table::Dictionary>(std::move(values));
      for (auto& t : tables)
        t.replace_column(col, remap(t.column(col), merged));
      return;
    }
  }
  for (auto& t : tables)
    t.replace_column(col, to_plain(t.column(col)));
}

}  // namespace

Table union_tables(const mpi::Comm& comm, const std::vector<const Table*>& inputs,
                   const UnionOptions& options) {
  // Equal on all ranks, but agreed so that the error is reported once.
  comm.agree([&] { check_union_schemas(inputs); });
  const std::vector<std::string> names = inputs[0]->schema().names();
  std::vector<Table> parts;
  parts.reserve(inputs.size());
  for (const Table* t : inputs)
    parts.push_back(t->select(names));
  for (int c = 0; c < static_cast<int>(names.size()); ++c) {
    if (parts[0].schema().field(c).type == DataType::kString)
      unify_strings(parts, c, options.max_dictionary_size);
  }
  const int p = comm.size();
  if (p > 1) {
    // Global position of every row in the concatenation, and the rank that owns it.
    std::vector<idx_t> local(parts.size());
    for (size_t i = 0; i < parts.size(); ++i)
      local[i] = parts[i].num_rows();
    std::vector<idx_t> totals = local;
    std::vector<idx_t> before(parts.size(), 0);
    mpi::allreduce_inplace(comm, std::span<idx_t>(totals), mpi::Reduce::kSum);
    for (size_t i = 0; i < parts.size(); ++i)
      before[i] = mpi::exscan_sum(comm, local[i]);
    idx_t total = 0;
    for (idx_t t : totals)
      total += t;
    std::vector<idx_t> bound(static_cast<size_t>(p) + 1);
    for (int r = 0; r <= p; ++r)
      bound[static_cast<size_t>(r)] = static_cast<idx_t>(static_cast<__int128>(total) * r / p);
    idx_t base = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      std::vector<int> destination(static_cast<size_t>(local[i]));
      int r = 0;
      for (idx_t j = 0; j < local[i]; ++j) {
        const idx_t q = base + before[i] + j;
        while (bound[static_cast<size_t>(r) + 1] <= q)
          ++r;
        destination[static_cast<size_t>(j)] = r;
      }
      parts[i] = shuffle_to(comm, parts[i], destination, options.shuffle);
      base += totals[i];
    }
  }
  Table out = std::move(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i)
    out.append(parts[i]);
  return out;
}

}  // namespace shardflow::ops
