#include "shardflow/ops/sort.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::Table;

namespace {

constexpr std::uint64_t kSampleSeed = 0x5a3c9e1f27b4d681ULL;

// =============================================================================================
// Layout agreed across ranks
// =============================================================================================

// Collective: the key layout with `nullable` agreed (a key column is nullable when it has a null
// on any rank), so that encoded rows of different ranks compare.
SortKeyLayout agreed_layout(const mpi::Comm& comm, const Table& table,
                            const std::vector<SortKey>& keys) {
  std::vector<int> flags(keys.size(), 0);
  for (size_t k = 0; k < keys.size(); ++k)
    flags[k] = table.column(table.schema().index_of(keys[k].column, "sort keys")).has_nulls();
  if (!flags.empty()) mpi::allreduce_inplace(comm, std::span<int>(flags), mpi::Reduce::kMax);
  std::vector<bool> nullable(flags.begin(), flags.end());
  return SortKeyLayout(table, keys, nullable);
}

// Collective: throws the same ConfigError on every rank (agreed, so it is reported once) for an
// unknown key column.
void check_keys(const mpi::Comm& comm, const Table& table, const std::vector<SortKey>& keys) {
  comm.agree([&] {
    for (const auto& k : keys)
      table.schema().index_of(k.column, "sort keys");
  });
}

std::vector<std::int64_t> iota_from(idx_t first, idx_t n) {
  std::vector<std::int64_t> g(static_cast<size_t>(n));
  for (idx_t i = 0; i < n; ++i)
    g[static_cast<size_t>(i)] = first + i;
  return g;
}

Table index_table(std::vector<std::int64_t> g) {
  Column c(DataType::kInt64);
  c.values<std::int64_t>().assign(g.begin(), g.end());
  Table t;
  t.add_column("g", std::move(c));
  return t;
}

std::vector<std::int64_t> index_values(const Table& t) {
  const auto& v = t.column(0).values<std::int64_t>();
  return std::vector<std::int64_t>(v.begin(), v.end());
}

// The rows `rows` of `table`, a column at a time, each column of `table` freed once gathered: the
// peak is the table plus one column rather than two tables.
Table take_consuming(Table table, std::span<const idx_t> rows) {
  Table out;
  for (int i = 0; i < table.num_columns(); ++i) {
    Column& c = table.column(i);
    out.add_column(table.schema().field(i).name, c.take(rows));
    c = Column(c.type());
  }
  return out;
}

// =============================================================================================
// Splitters
// =============================================================================================

// Gathered sample rows: their encoded keys, with the plain-string key columns they compare from.
struct Samples {
  std::vector<Column> columns;  // per layout part: the plain strings of a plain part
  EncodedKeys keys;
};

// Collective: the regular sample of the distributed rows (global positions [offset, offset+n) on
// this rank, total rows `total`) gathered on every rank, in one order on every rank.
Samples gather_samples(const mpi::Comm& comm, const SortKeyLayout& layout, const Table& table,
                       const EncodedKeys& local, idx_t offset, idx_t total, idx_t samples) {
  const idx_t n = local.size();
  // Sample k (k in [0, samples)) is one row of the stratum [k*total/samples,
  // (k+1)*total/samples) of global positions, chosen by a hash of k.
  auto stratum_start = [&](idx_t k) {
    return static_cast<idx_t>(static_cast<__int128>(k) * total / samples);
  };
  std::vector<idx_t> picked;  // local rows
  if (n > 0) {
    idx_t k = static_cast<idx_t>(static_cast<__int128>(offset) * samples / total);
    k = std::max<idx_t>(0, k - 1);
    for (; k < samples; ++k) {
      const idx_t lo = stratum_start(k);
      if (lo >= offset + n) break;
      const idx_t width = stratum_start(k + 1) - lo;
      if (width <= 0) continue;
      const idx_t pos =
          lo + static_cast<idx_t>(hash_u64(static_cast<std::uint64_t>(k) ^ kSampleSeed) %
                                  static_cast<std::uint64_t>(width));
      if (pos >= offset && pos < offset + n) picked.push_back(pos - offset);
    }
  }
  const auto stride = static_cast<size_t>(layout.words());
  std::vector<std::uint64_t> words;
  std::vector<std::int64_t> gidx;
  words.reserve(picked.size() * stride);
  for (idx_t r : picked) {
    const auto* w = local.words.data() + static_cast<size_t>(r) * stride;
    words.insert(words.end(), w, w + stride);
    gidx.push_back(local.global_index[static_cast<size_t>(r)]);
  }
  Samples out;
  out.keys.layout = &layout;
  out.keys.words = mpi::allgatherv<std::uint64_t>(comm, std::span<const std::uint64_t>(words));
  out.keys.global_index = mpi::allgatherv<std::int64_t>(comm, std::span<const std::int64_t>(gidx));
  const auto& parts = layout.parts();
  out.columns.resize(parts.size());
  for (size_t k = 0; k < parts.size(); ++k) {
    if (!parts[k].plain) continue;
    const Column& c = table.column(parts[k].column);
    std::string chars;
    std::vector<std::int64_t> lengths;  // -1: null
    for (idx_t r : picked) {
      if (!c.is_valid(r)) {
        lengths.push_back(-1);
        continue;
      }
      const std::string_view s = c.plain().at(r);
      chars.append(s);
      lengths.push_back(static_cast<std::int64_t>(s.size()));
    }
    const auto all_chars =
        mpi::allgatherv<char>(comm, std::span<const char>(chars.data(), chars.size()));
    const auto all_lengths =
        mpi::allgatherv<std::int64_t>(comm, std::span<const std::int64_t>(lengths));
    Column col = Column::plain_strings();
    col.ensure_validity();
    size_t at = 0;
    for (std::int64_t len : all_lengths) {
      const size_t l = len < 0 ? 0 : static_cast<size_t>(len);
      col.plain().push_back(std::string_view(all_chars.data() + at, l));
      col.validity().push_back(len >= 0 ? 1 : 0);
      at += l;
    }
    out.columns[k] = std::move(col);
  }
  out.keys.strings.assign(parts.size(), nullptr);
  for (size_t k = 0; k < parts.size(); ++k)
    if (parts[k].plain) out.keys.strings[k] = &out.columns[k];
  return out;
}

// =============================================================================================
// The sample sort
// =============================================================================================

// Collective: sorts `table` whose rows carry the tie-break indexes `gidx` (distinct over all
// ranks). The result is in order, rank r holding the r-th range. `gidx_in_row_order`: gidx
// ascends along the rows of each rank and from rank to rank (the rows' own global positions),
// the same on every rank. Then the indexes need not travel: the shuffle keeps the rows of a source
// in order and the sources in rank order, so a received row's position orders it as its index
// would.
Table sample_sort(const mpi::Comm& comm, const Table& table, std::vector<std::int64_t> gidx,
                  bool gidx_in_row_order, const std::vector<SortKey>& keys,
                  const SortOptions& options) {
  const SortKeyLayout layout = agreed_layout(comm, table, keys);
  const idx_t n = table.num_rows();
  const int p = comm.size();
  // Phase times for the debug log: where a slow sort spends its time.
  Stopwatch phase;
  auto lap = [&phase] { return phase.lap(); };
  EncodedKeys local = encode_sort_keys(layout, table, std::move(gidx));
  const double encode_s = lap();
  if (p > 1) {
    const idx_t total = mpi::allreduce_sum(comm, n);
    if (total == 0) return table.empty_like();
    const idx_t offset = mpi::exscan_sum(comm, n);
    const idx_t samples =
        std::min(total, std::max<idx_t>(1, options.samples_per_rank) * static_cast<idx_t>(p));
    Samples sample = gather_samples(comm, layout, table, local, offset, total, samples);
    const idx_t s = sample.keys.size();
    const std::vector<idx_t> order = sort_permutation(sample.keys);
    // Splitter i (1..p-1) is the sample at quantile i/p; rank of a row = splitters <= row.
    std::vector<idx_t> splitters;
    for (int i = 1; i < p; ++i)
      splitters.push_back(order[static_cast<size_t>(static_cast<__int128>(i) * s / p)]);
    std::vector<int> destination(static_cast<size_t>(n));
    for (idx_t r = 0; r < n; ++r) {
      int lo = 0;
      int hi = p - 1;  // answer in [lo, hi]
      while (lo < hi) {
        const int mid = (lo + hi) / 2;  // is splitter mid (rank mid+1's first) <= row?
        if (compare_rows(sample.keys, splitters[static_cast<size_t>(mid)], local, r) <= 0)
          lo = mid + 1;
        else
          hi = mid;
      }
      destination[static_cast<size_t>(r)] = lo;
    }
    const double split_s = lap();
    // Each buffer is freed as soon as it is dead, here and below: memory freed in a step stays
    // mapped (keep_freed_memory) and is reused by the next allocation, whereas growing the peak
    // maps fresh pages, whose first touch costs several times a memset on the VMs measured
    // (README "Sort and as-of join").
    std::vector<std::int64_t> sent_gidx = std::move(local.global_index);
    local = EncodedKeys{};
    sample = Samples{};
    Table moved = shuffle_to(comm, table, destination, options.shuffle);
    std::vector<std::int64_t> moved_gidx;
    if (gidx_in_row_order) {
      sent_gidx = {};
      destination = {};
      moved_gidx = iota_from(0, moved.num_rows());
    } else {
      moved_gidx = index_values(
          shuffle_to(comm, index_table(std::move(sent_gidx)), destination, options.shuffle));
      destination = {};
    }
    const double shuffle_s = lap();
    local = encode_sort_keys(layout, moved, std::move(moved_gidx));
    const double reencode_s = lap();
    const std::vector<idx_t> perm = sort_permutation(local);
    local = EncodedKeys{};  // refers to moved's plain-string columns: dropped before they are
    const double permute_s = lap();
    Table out = take_consuming(std::move(moved), perm);
    spdlog::debug(
        "sort phases on this rank: keys encoded in {:.3f} s, splitters and destinations in {:.3f} "
        "s, rows shuffled in {:.3f} s, keys re-encoded in {:.3f} s, sorted in {:.3f} s, rows "
        "gathered in order in {:.3f} s",
        encode_s, split_s, shuffle_s, reencode_s, permute_s, lap());
    return out;
  }
  return table.take(sort_permutation(local));
}

}  // namespace

Table sort(const mpi::Comm& comm, const Table& table, const std::vector<SortKey>& keys,
           const SortOptions& options) {
  check_keys(comm, table, keys);
  const idx_t offset = mpi::exscan_sum(comm, table.num_rows());
  return sample_sort(comm, table, iota_from(offset, table.num_rows()), true, keys, options);
}

Table sort_limit(const mpi::Comm& comm, const Table& table, const std::vector<SortKey>& keys,
                 idx_t limit, const SortOptions& options) {
  comm.agree([&] {
    if (limit < 0) throw ConfigError("limit must be 0 or more, got {}", limit);
  });
  check_keys(comm, table, keys);
  const idx_t n = table.num_rows();
  const idx_t offset = mpi::exscan_sum(comm, n);
  const SortKeyLayout layout = agreed_layout(comm, table, keys);
  // Local top-k: the only rows that can be among the global first `limit`.
  const EncodedKeys local = encode_sort_keys(layout, table, iota_from(offset, n));
  const std::vector<idx_t> top = sort_permutation(local, std::min(limit, n));
  Table candidates = table.take(top);
  std::vector<std::int64_t> candidate_index;
  candidate_index.reserve(top.size());
  for (idx_t r : top)
    candidate_index.push_back(local.global_index[static_cast<size_t>(r)]);
  const idx_t count = static_cast<idx_t>(top.size());
  const idx_t total = mpi::allreduce_sum(comm, count);
  if (comm.size() == 1) return candidates;

  if (total <= options.gather_limit) {
    const std::vector<int> to_root(static_cast<size_t>(count), 0);
    Table gathered = shuffle_to(comm, candidates, to_root, options.shuffle);
    Table gathered_index =
        shuffle_to(comm, index_table(std::move(candidate_index)), to_root, options.shuffle);
    if (comm.rank() != 0) return gathered;  // empty
    const EncodedKeys keys = encode_sort_keys(layout, gathered, index_values(gathered_index));
    return gathered.take(sort_permutation(keys, limit));
  }
  Table sorted = sample_sort(comm, candidates, std::move(candidate_index), false, keys, options);
  const idx_t m = sorted.num_rows();
  const idx_t before = mpi::exscan_sum(comm, m);
  const idx_t keep = std::clamp<idx_t>(limit - before, 0, m);
  if (keep == m) return sorted;
  std::vector<idx_t> rows(static_cast<size_t>(keep));
  for (idx_t i = 0; i < keep; ++i)
    rows[static_cast<size_t>(i)] = i;
  return sorted.take(rows);
}

}  // namespace shardflow::ops
