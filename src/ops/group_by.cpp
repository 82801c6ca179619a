#include "shardflow/ops/group_by.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/hash_table.hpp"
#include "shardflow/ops/key_packing.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::PlainStrings;
using table::Schema;
using table::Table;

table::Schema group_by_output_schema(const Schema& input, const std::vector<std::string>& keys,
                                     const std::vector<AggSpec>& aggs) {
  std::vector<table::Field> fields;
  std::set<std::string> names;
  auto add = [&](std::string name, DataType type) {
    if (!names.insert(name).second) {
      throw ConfigError(
          "group-by output column '{}' appears twice; give the aggregates distinct output names",
          name);
    }
    fields.push_back({std::move(name), type});
  };
  for (const auto& k : keys)
    add(k, input.field(input.index_of(k, "group-by keys")).type);
  const AggregateFunction* expanding = nullptr;
  for (const auto& a : aggs) {
    const AggregateFunction& f = aggregate_function(a.function);
    if (f.expands_rows) {
      if (expanding != nullptr) {
        throw ConfigError(
            "a group-by may have one aggregate that gives several rows per group ({} and {}), "
            "not two",
            expanding->name, f.name);
      }
      expanding = &f;
    }
    if (a.column.empty()) {
      if (!f.allows_no_column) {
        throw ConfigError("aggregate {} needs a column; only count may be used without one",
                          f.name);
      }
      add(output_name(a), f.output_type(DataType::kInt64, ""));
      continue;
    }
    const DataType in = input.field(input.index_of(a.column, "group-by aggregates")).type;
    if (f.two_columns != !a.column2.empty()) {
      if (f.two_columns) throw ConfigError("{} needs two columns: {}(x, y)", f.name, f.name);
      throw ConfigError("{} takes one column", f.name);
    }
    if (f.two_columns)
      check_second_column(f, input.field(input.index_of(a.column2, "group-by aggregates")).type,
                          a.column2);
    const DataType out = f.output_type(in, a.column);
    for (const auto& leading : f.leading_outputs)
      add(output_name(a) + leading.name, leading.type);
    add(output_name(a), out);
  }
  return Schema(std::move(fields));
}

namespace {

// =============================================================================================
// Aggregate states
// =============================================================================================

using States = std::vector<std::unique_ptr<AggregateState>>;

States make_states(const Table& t, const std::vector<AggSpec>& aggs) {
  States states;
  states.reserve(aggs.size());
  for (const auto& a : aggs) {
    AggregateInput input;
    if (a.column.empty()) {
      input.count_star = true;
    } else {
      const Column& c = t.column(a.column);
      input.type = c.type();
      input.plain_strings = c.is_plain_strings();
      input.dictionary = c.dictionary();
      if (!a.column2.empty()) input.type2 = t.column(a.column2).type();
    }
    states.push_back(make_aggregate_state(a, input));
  }
  return states;
}

// Rank 0's progress through a group-by, which is a fixed sequence of passes over its rows
// (grouping the keys, each aggregate's update, a shuffle, the regrouping or merge on arrival):
// done counts as the share of passes finished times the input rows, so the rate is the
// group-by's throughput in input rows and the ETA assumes the remaining passes take as long as
// the done ones. The kernels run whole columns, so progress moves at pass boundaries.
class PassProgress {
 public:
  PassProgress(const mpi::Comm& comm, idx_t rows)
      : progress_("group-by", rows, "rows", comm.is_root()), rows_(rows) {}
  /// The path is chosen: it takes `passes` passes in all.
  void plan(int passes) { passes_ = std::max(passes, 1); }
  void pass_done() {
    ++done_;
    progress_.update(rows_ * std::min(done_, passes_) / passes_);
  }

 private:
  Progress progress_;
  idx_t rows_;
  int passes_ = 1;
  int done_ = 0;
};

// With many groups (GroupByOptions), the rows are taken in slice order (order_by_group_slice) so
// that each aggregate's updates stay in cache. db-benchmark at 1e8 rows, 2 ranks: q3 (1e6 groups)
// went from 6.7 s to 2.3 s, q5 from 7.8 s to 2.4 s; q2 (1e4 groups, whose states fit in cache
// anyway) went from 0.35 s to 1.3 s when sliced, hence the threshold.
void update_states(States& states, const Table& t, const std::vector<AggSpec>& aggs,
                   std::span<const std::int32_t> gid, idx_t groups, const GroupByOptions& options,
                   PassProgress& progress) {
  for (auto& st : states)
    st->resize(groups);
  const GroupSliceOrder order = groups > options.slice_above_groups
                                    ? order_by_group_slice(gid, groups, options.groups_per_slice)
                                    : GroupSliceOrder{};
  const bool sliced_order = !order.dest.empty();
  const std::span<const std::int32_t> rows_gid =
      sliced_order ? std::span<const std::int32_t>(order.gid.data(), order.gid.size()) : gid;
  // In slice order, each value column is scattered once and dropped after its last use.
  std::map<std::string, size_t> last_use;
  for (size_t j = 0; j < aggs.size(); ++j)
    for (const std::string* c : {&aggs[j].column, &aggs[j].column2})
      if (!c->empty()) last_use[*c] = j;
  std::map<std::string, Column> sliced;
  auto column = [&](const std::string& name) -> const Column& {
    if (!sliced_order) return t.column(name);
    auto it = sliced.find(name);
    if (it == sliced.end()) it = sliced.emplace(name, t.column(name).scatter(order.dest)).first;
    return it->second;
  };
  for (size_t j = 0; j < aggs.size(); ++j) {
    if (!aggs[j].column2.empty()) {
      states[j]->update_pair(column(aggs[j].column), column(aggs[j].column2), rows_gid);
    } else {
      states[j]->update(aggs[j].column.empty() ? nullptr : &column(aggs[j].column), rows_gid);
    }
    for (const std::string* c : {&aggs[j].column, &aggs[j].column2})
      if (!c->empty() && last_use[*c] == j) sliced.erase(*c);
    progress.pass_done();
  }
}

std::vector<std::string> value_columns(const std::vector<AggSpec>& aggs) {
  std::vector<std::string> names;
  for (const auto& a : aggs) {
    for (const std::string* c : {&a.column, &a.column2})
      if (!c->empty() && std::find(names.begin(), names.end(), *c) == names.end())
        names.push_back(*c);
  }
  return names;
}

// The local and global numbers of groups, estimated from a strided sample of the packed keys of
// every rank (collective; see estimated_distinct).
struct DistinctEstimate {
  double local_groups = 0;   // on this rank
  double group_ratio = 1.0;  // (sum of the ranks' local groups) / (all rows): what pre-aggregation
                             // leaves of the rows to shuffle
};
// Collective: the estimate from this rank's `local_groups` among `n` rows.
DistinctEstimate distinct_from(const mpi::Comm& comm, double local_groups, size_t n) {
  DistinctEstimate e;
  e.local_groups = local_groups;
  // Sums in whole groups and rows (int64 allreduce: the same on every rank).
  std::vector<idx_t> sums = {static_cast<idx_t>(std::llround(e.local_groups)),
                             static_cast<idx_t>(n)};
  mpi::allreduce_inplace(comm, std::span<idx_t>(sums), mpi::Reduce::kSum);
  e.group_ratio = sums[1] > 0 ? static_cast<double>(sums[0]) / static_cast<double>(sums[1]) : 1.0;
  return e;
}
DistinctEstimate estimate_distinct(const mpi::Comm& comm, std::span<const std::uint64_t> keys) {
  constexpr size_t kSample = 1 << 16;
  const size_t n = keys.size();
  const size_t step = std::max<size_t>(1, n / kSample);
  std::vector<std::uint64_t> sample;
  sample.reserve(std::min(n, kSample + 1));
  for (size_t i = 0; i < n; i += step)
    sample.push_back(keys[i]);
  std::sort(sample.begin(), sample.end());
  const auto distinct =
      static_cast<idx_t>(std::unique(sample.begin(), sample.end()) - sample.begin());
  return distinct_from(
      comm, estimated_distinct(static_cast<idx_t>(n), static_cast<idx_t>(sample.size()), distinct),
      n);
}

// Hash-table size for the local grouping: the estimate with some slack (the table grows if it
// is short).
idx_t expected_groups(const DistinctEstimate& e, idx_t rows) {
  return std::min<idx_t>(rows, static_cast<idx_t>(1.25 * e.local_groups) + 1024);
}

// Collective: `table` with row i sent to the rank that owns packed key keys[i]
// (rank_of_hash(hash_u64(keys[i]))). Up to 256 ranks the destinations are bytes: a quarter of the
// memory of ints, and shuffle_to skips its narrowing pass over them.
Table shuffle_by_packed_key(const mpi::Comm& comm, const Table& table,
                            std::span<const std::uint64_t> keys, const ShuffleOptions& options) {
  const int ranks = comm.size();
  if (ranks <= 256) {
    table::Buffer<std::uint8_t> dest(keys.size());
    for (size_t i = 0; i < keys.size(); ++i)
      dest[i] = static_cast<std::uint8_t>(rank_of_hash(hash_u64(keys[i]), ranks));
    return shuffle_to(comm, table, std::span<const std::uint8_t>(dest), options);
  }
  std::vector<int> dest(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    dest[i] = rank_of_hash(hash_u64(keys[i]), ranks);
  return shuffle_to(comm, table, dest, options);
}

Column keys_as_column(std::span<const std::uint64_t> keys) {
  Column c(DataType::kInt64);
  auto& v = c.values<std::int64_t>();
  v.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    v[i] = static_cast<std::int64_t>(keys[i]);
  return c;
}
// The packed keys of a shuffled key column, in place (int64 and uint64 may alias).
std::span<const std::uint64_t> keys_from_column(const Column& c) {
  const auto& v = c.values<std::int64_t>();
  return {reinterpret_cast<const std::uint64_t*>(v.data()), v.size()};
}

// The output table. An integer sum that does not fit int64 is described in `overflow` (rank
// local: the caller agrees on it) instead of being wrapped.
Table assemble(const std::vector<std::string>& keys, std::vector<Column> key_columns,
               const std::vector<AggSpec>& aggs, const States& states, std::string& overflow) {
  // An aggregate with several rows per group (top_k) decides the rows; the group's keys and
  // other aggregates repeat on them.
  std::vector<idx_t> rows;
  Column expanded;
  std::vector<Column> leading;  // its leading columns (histogram's bin edges)
  size_t expanding = aggs.size();
  for (size_t j = 0; j < aggs.size(); ++j) {
    if (aggregate_function(aggs[j].function).expands_rows) {
      expanding = j;
      expanded = states[j]->finalize_rows(rows, leading);
    }
  }
  auto per_row = [&](Column c) { return expanding == aggs.size() ? std::move(c) : c.take(rows); };
  Table out;
  for (size_t j = 0; j < keys.size(); ++j)
    out.add_column(keys[j], per_row(std::move(key_columns[j])));
  for (size_t j = 0; j < aggs.size(); ++j) {
    std::string problem;
    if (j == expanding) {
      const std::vector<std::string> names = output_names(aggs[j]);
      for (size_t c = 0; c < leading.size(); ++c)
        out.add_column(names[c], std::move(leading[c]));
      out.add_column(names.back(), std::move(expanded));
      continue;
    }
    out.add_column(output_name(aggs[j]), per_row(states[j]->finalize(&problem)));
    if (!problem.empty() && overflow.empty()) {
      overflow = fmt::format("sum of column '{}' overflows int64: {}; sum a float64 column instead",
                             aggs[j].column, problem);
    }
  }
  return out;
}

constexpr const char* kKeyColumn = "__packed_key";

// Collective: shuffles each rank's partial states of its local groups (packed keys
// `local_keys`, group g's states at index g) to the ranks that own the groups, merges them there
// and finalizes.
Table merge_partial_states(const mpi::Comm& comm, const Table& table,
                           const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                           const KeyPacking& packing, const std::vector<std::uint64_t>& local_keys,
                           States& states, const GroupByOptions& options, PassProgress& progress,
                           std::string& overflow) {
  // Exact float sums whose values spread beyond the fast tier carry an extra (string) column;
  // every rank must send the same columns, so the ranks agree on it. Aggregates and schema are
  // equal on all ranks (so is may_need_wide_state), so either all ranks take this allreduce or
  // none.
  bool with_wide = false;
  const bool float_sums = std::any_of(states.begin(), states.end(),
                                      [](const auto& st) { return st->may_need_wide_state(); });
  if (float_sums) {
    const bool local_wide = std::any_of(states.begin(), states.end(),
                                        [](const auto& st) { return st->needs_wide_state(); });
    with_wide = mpi::allreduce_max<std::int64_t>(comm, local_wide ? 1 : 0) != 0;
  }
  Table partial;
  partial.add_column(kKeyColumn, keys_as_column(local_keys));
  for (size_t j = 0; j < states.size(); ++j) {
    auto cols = states[j]->state_columns(with_wide);
    for (size_t c = 0; c < cols.size(); ++c)
      partial.add_column("__state" + std::to_string(j) + "_" + std::to_string(c),
                         std::move(cols[c]));
  }
  const Table moved = shuffle_by_packed_key(comm, partial, local_keys, options.shuffle);
  progress.pass_done();
  partial = Table();
  const std::span<const std::uint64_t> mk = keys_from_column(moved.column(0));
  const PackedGroups g = group_packed(mk, packing.domain, moved.num_rows());
  auto merged = make_states(table, aggs);
  int col = 1;
  for (auto& st : merged) {
    st->resize(static_cast<idx_t>(g.keys.size()));
    const int w = st->num_state_columns(with_wide);
    st->merge(std::span<const Column>(moved.columns().data() + col, static_cast<size_t>(w)), g.gid);
    col += w;
  }
  progress.pass_done();
  return assemble(keys, unpack_keys(g.keys, packing), aggs, merged, overflow);
}

// Collective: whether group_fused takes this group-by (equal on all ranks: the packing, the
// aggregates and the schema are). Its pre-aggregation must pay (every rank's groups, at most the
// domain each, are at most half of all rows: the test the other paths make on their estimate).
bool fused_pays(const mpi::Comm& comm, const Table& table, const KeyPacking& packing,
                const States& states, bool holistic, const GroupByOptions& options) {
  if (!packing.packable || holistic || packing.domain > options.fused_max_domain) return false;
  if (!std::all_of(states.begin(), states.end(),
                   [](const auto& st) { return st->updates_row_ranges(); }))
    return false;
  if (comm.size() == 1) return true;
  const idx_t rows = mpi::allreduce_sum<idx_t>(comm, table.num_rows());
  return static_cast<double>(packing.domain) * comm.size() * 2 <= static_cast<double>(rows);
}

// Local: groups the rows by their packed keys (group_direct_blocks) and updates every aggregate
// from each block of rows while its group ids are in L1: one pass over the keys, instead of a
// whole-table group-id array written once and read back by every aggregate. Returns the packed
// key of each group.
std::vector<std::uint64_t> group_fused(const Table& table, const std::vector<AggSpec>& aggs,
                                       const KeyPacking& packing, States& states) {
  std::vector<const Column*> inputs;
  for (const auto& a : aggs)
    inputs.push_back(a.column.empty() ? nullptr : &table.column(a.column));
  std::vector<std::uint64_t> group_keys;
  group_direct_blocks(table, packing, group_keys,
                      [&](idx_t begin, std::span<const std::int32_t> gid) {
                        const auto groups = static_cast<idx_t>(group_keys.size());
                        for (auto& st : states)
                          if (st->num_groups() < groups) st->resize(groups);
                        for (size_t j = 0; j < states.size(); ++j)
                          states[j]->update_rows(inputs[j], begin, gid);
                      });
  for (auto& st : states)
    st->resize(static_cast<idx_t>(group_keys.size()));
  return group_keys;
}

Table group_by_unchecked(const mpi::Comm& comm, const Table& table,
                         const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                         const GroupByOptions& options, std::string& overflow) {
  // Schema, keys and aggregates are equal on all ranks, so these checks fail identically.
  group_by_output_schema(table.schema(), keys, aggs);
  comm.agree([&] {
    if (table.num_rows() >= INT32_MAX) {
      throw RuntimeError(
          "group-by: {} rows on this rank exceed the per-rank limit of {} rows; run with more "
          "ranks",
          table.num_rows(), INT32_MAX - 1);
    }
  });
  std::vector<int> key_idx;
  for (const auto& k : keys)
    key_idx.push_back(table.schema().index_of(k, "group-by keys"));
  const int ranks = comm.size();
  const bool holistic = std::any_of(aggs.begin(), aggs.end(), is_holistic);
  const KeyPacking packing =
      plan_packing(comm, table, key_idx, known_key_ranges(options.input_profile, table, key_idx));
  const int agg_passes = static_cast<int>(aggs.size());
  PassProgress progress(comm, table.num_rows());

  if (auto states = make_states(table, aggs);
      fused_pays(comm, table, packing, states, holistic, options)) {
    progress.plan(ranks == 1 ? 1 : 2);
    const std::vector<std::uint64_t> group_keys = group_fused(table, aggs, packing, states);
    progress.pass_done();
    if (ranks == 1) return assemble(keys, unpack_keys(group_keys, packing), aggs, states, overflow);
    return merge_partial_states(comm, table, keys, aggs, packing, group_keys, states, options,
                                progress, overflow);
  }

  if (packing.packable) {
    // A small key domain (equal on all ranks) is grouped by direct indexing, block by block,
    // which also gives the exact local group count; otherwise the packed keys of the whole
    // table are hashed, with the table sized from a sample.
    const bool direct = packing.domain <= kDirectGroupDomain;
    table::Buffer<std::uint64_t> packed;
    std::optional<PackedGroups> direct_groups;
    DistinctEstimate est;
    if (direct) {
      direct_groups = group_direct(table, packing);
      est = distinct_from(comm, static_cast<double>(direct_groups->keys.size()),
                          static_cast<size_t>(table.num_rows()));
    } else {
      packed = pack_keys(table, packing);
      est = estimate_distinct(comm, packed);
    }
    auto local_groups = [&] {
      if (direct) return std::move(*direct_groups);
      PackedGroups g = group_packed(packed, packing.domain, expected_groups(est, table.num_rows()));
      packed = {};
      return g;
    };
    if (ranks == 1) {
      progress.plan(1 + agg_passes);
      const PackedGroups g = local_groups();
      progress.pass_done();
      auto states = make_states(table, aggs);
      update_states(states, table, aggs, g.gid, static_cast<idx_t>(g.keys.size()), options,
                    progress);
      return assemble(keys, unpack_keys(g.keys, packing), aggs, states, overflow);
    }
    if (est.group_ratio > 0.5 || holistic) {
      progress.plan(3 + agg_passes);
      progress.pass_done();  // the keys are packed (or grouped directly)
      // Most keys are distinct on their rank: pre-aggregation would hardly shrink the data (a
      // partial state is wider than a raw row), so the raw
      // (packed key, value columns) rows are shuffled and aggregated once. Holistic aggregates
      // (median, count_distinct) need every value of a group on one rank, so they always go
      // this way.
      // The packed keys are written once, straight into the key column that travels, and the
      // destinations as bytes: each array a step writes for the first time costs its page
      // faults, which on the first group-by of a job were most of q6's time.
      Column key_column(DataType::kInt64);
      auto& packed_keys = key_column.values<std::int64_t>();
      if (direct) {
        packed_keys.resize(direct_groups->gid.size());
        for (size_t i = 0; i < packed_keys.size(); ++i)
          packed_keys[i] = static_cast<std::int64_t>(
              direct_groups->keys[static_cast<size_t>(direct_groups->gid[i])]);
        direct_groups.reset();
      } else {
        packed_keys.assign(packed.begin(), packed.end());
        packed = {};
      }
      const std::span<const std::uint64_t> pk = keys_from_column(key_column);
      Table raw;
      raw.add_column(kKeyColumn, std::move(key_column));  // moves the buffer: pk stays valid
      for (const auto& name : value_columns(aggs))
        raw.add_column(name, table.column(name));
      // `raw` holds copies of what the shuffle sends: `table` is not read below, and freeing it
      // here, before the shuffle's buffers, lowers the peak (q10 at 1e8: see group_by.hpp).
      if (options.input_consumed) options.input_consumed();
      const Table moved = shuffle_by_packed_key(comm, raw, pk, options.shuffle);
      progress.pass_done();
      raw = Table();
      const std::span<const std::uint64_t> mk = keys_from_column(moved.column(0));
      const PackedGroups g = group_packed(mk, packing.domain, moved.num_rows());
      progress.pass_done();
      auto states = make_states(moved, aggs);
      update_states(states, moved, aggs, g.gid, static_cast<idx_t>(g.keys.size()), options,
                    progress);
      return assemble(keys, unpack_keys(g.keys, packing), aggs, states, overflow);
    }
    // Keys repeat: aggregate locally, shuffle the partial states, merge.
    progress.plan(3 + agg_passes);
    PackedGroups local = local_groups();
    progress.pass_done();
    auto states = make_states(table, aggs);
    update_states(states, table, aggs, local.gid, static_cast<idx_t>(local.keys.size()), options,
                  progress);
    local.gid = {};
    return merge_partial_states(comm, table, keys, aggs, packing, local.keys, states, options,
                                progress, overflow);
  }

  // General keys (floats, plain strings, wide integer ranges): shuffle the needed columns by key
  // hash, then aggregate once. When the table is the shuffled copy (`owned`), each column is
  // released once used, so that with nearly as many groups as rows (db-benchmark q10) the input
  // and the output do not both stay whole.
  auto aggregate_rows = [&](const Table& t, Table* owned) {
    std::vector<int> idx;
    for (const auto& k : keys)
      idx.push_back(t.schema().index_of(k, "group-by keys"));
    RowGroups g = group_rows(t, idx);
    progress.pass_done();
    auto states = make_states(t, aggs);
    update_states(states, t, aggs, g.gid, static_cast<idx_t>(g.first_row.size()), options,
                  progress);
    std::vector<std::int32_t>().swap(g.gid);
    if (owned != nullptr) {
      for (int c = 0; c < t.num_columns(); ++c)
        if (std::find(idx.begin(), idx.end(), c) == idx.end()) owned->column(c) = Column();
    }
    std::vector<Column> key_cols;
    for (int k : idx) {
      key_cols.push_back(t.column(k).take(g.first_row));
      if (owned != nullptr) owned->column(k) = Column();
    }
    std::vector<idx_t>().swap(g.first_row);
    return assemble(keys, std::move(key_cols), aggs, states, overflow);
  };
  if (ranks == 1) {
    progress.plan(1 + agg_passes);
    return aggregate_rows(table, nullptr);
  }
  progress.plan(2 + agg_passes);
  std::vector<std::string> needed = keys;
  for (const auto& name : value_columns(aggs))
    if (std::find(needed.begin(), needed.end(), name) == needed.end()) needed.push_back(name);
  Table moved;
  {
    const Table selected = table.select(needed);  // copies: `table` is not read below
    if (options.input_consumed) options.input_consumed();
    moved = hash_shuffle(comm, selected, keys, options.shuffle);
  }
  progress.pass_done();
  return aggregate_rows(moved, &moved);
}

}  // namespace

Table group_by(const mpi::Comm& comm, const Table& table, const std::vector<std::string>& keys,
               const std::vector<AggSpec>& aggs, const GroupByOptions& options) {
  std::string overflow;
  // Without keys an empty result reads the input's schema below, so the input stays.
  GroupByOptions own = options;
  if (keys.empty()) own.input_consumed = nullptr;
  Table out = group_by_unchecked(comm, table, keys, aggs, own, overflow);
  if (keys.empty() && mpi::allreduce_sum<idx_t>(comm, out.num_rows()) == 0) {
    // Without keys the result is one row even over no rows (SQL): count 0, the others null. An
    // aggregate with several rows per group decides them: none for top_k, a histogram's bins
    // with count 0.
    if (comm.rank() == 0) {
      auto states = make_states(table, aggs);
      for (auto& st : states)
        st->resize(1);
      out = assemble(keys, {}, aggs, states, overflow);
    }
  }
  // Groups are finalized on the rank that owns them: agree, so every rank fails alike.
  comm.agree_outcome(ErrorKind::kInputData, overflow, !overflow.empty());
  return out;
}

}  // namespace shardflow::ops
