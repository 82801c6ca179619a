#include "shardflow/ops/sampling.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/sort.hpp"
#include "shardflow/ops/sort_keys.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::Table;

namespace {

// A sum of fractions this close to 1 counts as 1 (0.7 + 0.2 + 0.1 is 0.9999999999999999).
constexpr double kSumSlack = 1e-9;

// A column name that is not among `taken`.
std::string fresh_name(std::string base, const std::vector<std::string>& taken) {
  while (std::find(taken.begin(), taken.end(), base) != taken.end())
    base += '_';
  return base;
}

// Collective: throws the same ConfigError on every rank for an unknown stratum column.
void check_columns(const mpi::Comm& comm, const Table& table,
                   const std::vector<std::string>& columns, std::string_view what) {
  comm.agree([&] {
    for (const auto& c : columns)
      table.schema().index_of(c, what);
  });
}

// Collective: the layout of the stratum columns of `t` with nullability agreed over all ranks.
SortKeyLayout strata_layout(const mpi::Comm& comm, const Table& t,
                            const std::vector<SortKey>& keys) {
  std::vector<int> flags(keys.size(), 0);
  for (size_t k = 0; k < keys.size(); ++k)
    flags[k] = t.column(t.schema().index_of(keys[k].column)).has_nulls();
  if (!flags.empty()) mpi::allreduce_inplace(comm, std::span<int>(flags), mpi::Reduce::kMax);
  return SortKeyLayout(t, keys, std::vector<bool>(flags.begin(), flags.end()));
}

// The rank that holds global row `g`, given every rank's offset (ascending). Ranks with no rows
// share their offset with the next rank; upper_bound picks the last rank with that offset, which
// is the one holding the row.
int owner_of(const std::vector<idx_t>& offsets, std::int64_t g) {
  const auto it = std::upper_bound(offsets.begin(), offsets.end(), g);
  return static_cast<int>(it - offsets.begin()) - 1;
}

void check_fraction(double f) {
  if (!(f > 0.0 && f <= 1.0))
    throw ConfigError("fraction {} is out of range: fractions must be in (0, 1]", f);
}

// Rows of `table` whose keep[i] is true, in order.
Table keep_rows(const Table& table, const std::vector<bool>& keep) {
  std::vector<idx_t> rows;
  for (size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) rows.push_back(static_cast<idx_t>(i));
  return table.take(rows);
}

}  // namespace

std::uint64_t row_draw(std::uint64_t seed, std::string_view purpose, std::int64_t row) {
  return hash_combine(hash_string(purpose, hash_u64(seed)),
                      hash_u64(static_cast<std::uint64_t>(row)));
}

std::vector<idx_t> largest_remainder_counts(idx_t n, const std::vector<double>& fractions) {
  double sum = 0.0;
  for (double f : fractions) {
    if (!(f >= 0.0 && f <= 1.0))
      throw ConfigError("fraction {} is out of range: fractions must be in [0, 1]", f);
    sum += f;
  }
  if (sum > 1.0 + kSumSlack) throw ConfigError("fractions add up to {}, more than 1", sum);
  // The parts: the fractions, then the dropped rest (none when the sum is 1 up to rounding).
  std::vector<double> parts = fractions;
  if (sum < 1.0 - kSumSlack) parts.push_back(1.0 - sum);
  std::vector<idx_t> counts(parts.size());
  std::vector<double> remainders(parts.size());
  idx_t given = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const double exact = parts[i] * static_cast<double>(n);
    const double whole = std::floor(exact);
    counts[i] = std::min<idx_t>(static_cast<idx_t>(whole), n);
    remainders[i] = exact - whole;
    given += counts[i];
  }
  std::vector<size_t> order(parts.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
  // Floating-point products can leave the floors a few rows off in either direction; the loop
  // settles the difference one row at a time in remainder order.
  for (size_t k = 0; given < n; k = (k + 1) % order.size()) {
    ++counts[order[k]];
    ++given;
  }
  for (size_t k = order.size(); given > n;) {
    k = (k == 0 ? order.size() : k) - 1;
    if (counts[order[k]] == 0) continue;
    --counts[order[k]];
    --given;
  }
  counts.resize(fractions.size());
  return counts;
}

// =============================================================================================
// Stratum positions
// =============================================================================================

std::vector<StratumPosition> stratum_positions(const mpi::Comm& comm, const Table& table,
                                               const std::vector<std::string>& strata,
                                               std::uint64_t seed, std::string_view purpose,
                                               const SamplingOptions& options) {
  check_columns(comm, table, strata, "stratify_by");
  const int p = comm.size();
  const idx_t n = table.num_rows();
  const idx_t offset = mpi::exscan_sum(comm, n);

  // The narrow table: stratum columns, the draw (as a signed word whose order is the unsigned
  // order of the draw) and the global row index. Sorting by (strata, draw) breaks draw ties by
  // the global row index, which is the narrow table's own.
  Table narrow = table.select(strata);
  const std::string draw_name = fresh_name("__draw", strata);
  const std::string row_name = fresh_name("__row", strata);
  {
    Column draw(DataType::kInt64);
    Column row(DataType::kInt64);
    auto& d = draw.values<std::int64_t>();
    auto& g = row.values<std::int64_t>();
    d.resize(static_cast<size_t>(n));
    g.resize(static_cast<size_t>(n));
    for (idx_t i = 0; i < n; ++i) {
      const std::uint64_t r = row_draw(seed, purpose, offset + i);
      d[static_cast<size_t>(i)] = static_cast<std::int64_t>(r ^ (std::uint64_t{1} << 63));
      g[static_cast<size_t>(i)] = offset + i;
    }
    if (strata.empty()) {
      // select({}) has no columns and so no rows: start from the draw column.
      narrow = Table();
    }
    narrow.add_column(draw_name, std::move(draw));
    narrow.add_column(row_name, std::move(row));
  }
  std::vector<SortKey> keys;
  for (const auto& s : strata)
    keys.push_back({s, false, NullOrder::kLast});
  std::vector<SortKey> order = keys;
  order.push_back({draw_name, false, NullOrder::kLast});
  SortOptions sort_options;
  sort_options.shuffle = options.shuffle;
  const Table sorted = sort(comm, narrow, order, sort_options);
  narrow = Table();

  // Runs of equal strata in this rank's range of the order.
  const idx_t m = sorted.num_rows();
  const idx_t sorted_offset = mpi::exscan_sum(comm, m);
  const SortKeyLayout layout = strata_layout(comm, sorted, keys);
  const EncodedKeys encoded =
      encode_sort_keys(layout, sorted, std::vector<std::int64_t>(static_cast<size_t>(m), 0));
  std::vector<idx_t> run_start(static_cast<size_t>(m));  // local index of the row's run start
  for (idx_t i = 0; i < m; ++i) {
    const bool same = i > 0 && (strata.empty() || compare_keys(encoded, i - 1, encoded, i) == 0);
    run_start[static_cast<size_t>(i)] = same ? run_start[static_cast<size_t>(i - 1)] : i;
  }
  const idx_t last_run = m == 0 ? 0 : m - run_start[static_cast<size_t>(m - 1)];
  idx_t first_run = 0;
  while (first_run < m && run_start[static_cast<size_t>(first_run)] == 0)
    ++first_run;

  // Every rank's count, first-run and last-run length, and its first and last rows' strata.
  const idx_t mine[3] = {m, first_run, last_run};
  const std::vector<idx_t> shape = mpi::allgather_blocks<idx_t>(comm, std::span<const idx_t>(mine));
  auto count_of = [&](int r) { return shape[3 * static_cast<size_t>(r)]; };
  auto first_run_of = [&](int r) { return shape[3 * static_cast<size_t>(r) + 1]; };
  auto last_run_of = [&](int r) { return shape[3 * static_cast<size_t>(r) + 2]; };
  Table ends;  // rows 2k and 2k + 1: the first and last row of the k-th non-empty rank
  EncodedKeys ends_encoded;
  std::vector<int> ends_row(static_cast<size_t>(p), -1);  // rank -> its first row in `ends`
  if (!strata.empty() && p > 1) {
    std::vector<idx_t> rows;
    std::vector<int> destination;
    if (m > 0) {
      for (int r = 0; r < p; ++r) {
        rows.push_back(0);
        rows.push_back(m - 1);
        destination.push_back(r);
        destination.push_back(r);
      }
    }
    ends = shuffle_to(comm, sorted.select(strata).take(rows), destination, options.shuffle);
    int next = 0;
    for (int r = 0; r < p; ++r) {
      if (count_of(r) > 0) {
        ends_row[static_cast<size_t>(r)] = next;
        next += 2;
      }
    }
    ends_encoded =
        encode_sort_keys(layout, ends, std::vector<std::int64_t>(static_cast<size_t>(next), 0));
  }
  // Whether rank r's row `which` (0 first, 1 last) is in the stratum of local sorted row i.
  auto same_stratum = [&](int r, int which, idx_t i) {
    if (strata.empty()) return true;
    return compare_keys(ends_encoded, ends_row[static_cast<size_t>(r)] + which, encoded, i) == 0;
  };
  // Global start of the stratum of this rank's first run, end of its last run's stratum.
  idx_t first_start = sorted_offset;
  idx_t last_end = sorted_offset + m;
  if (m > 0) {
    for (int r = comm.rank() - 1; r >= 0; --r) {
      if (count_of(r) == 0) continue;
      if (!same_stratum(r, 1, 0)) break;
      if (first_run_of(r) == count_of(r)) {
        first_start -= count_of(r);
        continue;
      }
      first_start -= last_run_of(r);
      break;
    }
    for (int r = comm.rank() + 1; r < p; ++r) {
      if (count_of(r) == 0) continue;
      if (!same_stratum(r, 0, m - 1)) break;
      if (first_run_of(r) == count_of(r)) {
        last_end += count_of(r);
        continue;
      }
      last_end += first_run_of(r);
      break;
    }
  }

  // Position and size of every sorted row, sent to the rank holding the row.
  Column row_col(DataType::kInt64), position_col(DataType::kInt64), size_col(DataType::kInt64);
  {
    const auto& g = sorted.column(row_name).values<std::int64_t>();
    auto& rv = row_col.values<std::int64_t>();
    auto& pv = position_col.values<std::int64_t>();
    auto& sv = size_col.values<std::int64_t>();
    rv.assign(g.begin(), g.end());
    pv.resize(static_cast<size_t>(m));
    sv.resize(static_cast<size_t>(m));
    for (idx_t i = 0; i < m;) {
      const idx_t a = run_start[static_cast<size_t>(i)];
      idx_t b = i + 1;
      while (b < m && run_start[static_cast<size_t>(b)] == a)
        ++b;
      const idx_t start = a == 0 ? first_start : sorted_offset + a;
      const idx_t end = b == m ? last_end : sorted_offset + b;
      for (idx_t j = a; j < b; ++j) {
        pv[static_cast<size_t>(j)] = sorted_offset + j - start;
        sv[static_cast<size_t>(j)] = end - start;
      }
      i = b;
    }
  }
  Table answers;
  answers.add_column("row", std::move(row_col));
  answers.add_column("position", std::move(position_col));
  answers.add_column("size", std::move(size_col));
  if (p > 1) {
    const std::vector<idx_t> offsets = mpi::allgather<idx_t>(comm, offset);
    const auto& g = answers.column(0).values<std::int64_t>();
    std::vector<int> destination(g.size());
    for (size_t i = 0; i < g.size(); ++i)
      destination[i] = owner_of(offsets, g[i]);
    answers = shuffle_to(comm, answers, destination, options.shuffle);
  }
  std::vector<StratumPosition> result(static_cast<size_t>(n));
  const auto& g = answers.column(0).values<std::int64_t>();
  const auto& pos = answers.column(1).values<std::int64_t>();
  const auto& size = answers.column(2).values<std::int64_t>();
  for (size_t i = 0; i < g.size(); ++i)
    result[static_cast<size_t>(g[i] - offset)] = {pos[i], size[i]};
  return result;
}

// =============================================================================================
// Random split, sample, rebalance
// =============================================================================================

namespace {

// Collective: output i of the split of `table` by `fractions` with draws for `purpose`.
std::vector<Table> split_by_fractions(const mpi::Comm& comm, const Table& table,
                                      const std::vector<double>& fractions,
                                      const std::vector<std::string>& strata, std::uint64_t seed,
                                      std::string_view purpose, const SamplingOptions& options) {
  comm.agree([&] {
    if (fractions.empty()) throw ConfigError("a split needs at least one fraction");
    for (double f : fractions)
      check_fraction(f);
    largest_remainder_counts(0, fractions);  // the sum
  });
  const std::vector<StratumPosition> at =
      stratum_positions(comm, table, strata, seed, purpose, options);
  // Counts depend only on the stratum size: computed once per distinct size (distinct sizes add
  // up to at most the rows, so there are fewer than sqrt(2 * rows) of them).
  std::unordered_map<idx_t, std::vector<idx_t>> bounds;  // size -> cumulative counts
  auto bounds_of = [&](idx_t size) -> const std::vector<idx_t>& {
    auto [it, fresh] = bounds.try_emplace(size);
    if (fresh) {
      it->second = largest_remainder_counts(size, fractions);
      std::partial_sum(it->second.begin(), it->second.end(), it->second.begin());
    }
    return it->second;
  };
  std::vector<std::vector<idx_t>> rows(fractions.size());
  for (size_t i = 0; i < at.size(); ++i) {
    const std::vector<idx_t>& b = bounds_of(at[i].size);
    const auto k =
        static_cast<size_t>(std::upper_bound(b.begin(), b.end(), at[i].position) - b.begin());
    if (k < rows.size()) rows[k].push_back(static_cast<idx_t>(i));
  }
  std::vector<Table> out;
  for (const auto& r : rows)
    out.push_back(table.take(r));
  return out;
}

}  // namespace

std::vector<Table> random_split(const mpi::Comm& comm, const Table& table,
                                const std::vector<double>& fractions,
                                const std::vector<std::string>& strata, std::uint64_t seed,
                                const SamplingOptions& options) {
  return split_by_fractions(comm, table, fractions, strata, seed, "split", options);
}

Table sample(const mpi::Comm& comm, const Table& table, double fraction,
             const std::vector<std::string>& strata, std::uint64_t seed,
             const SamplingOptions& options) {
  return std::move(
      split_by_fractions(comm, table, {fraction}, strata, seed, "sample", options).front());
}

Table rebalance_classes(const mpi::Comm& comm, const Table& table, const std::string& label,
                        RebalanceMethod method, std::uint64_t seed,
                        const SamplingOptions& options) {
  const std::vector<StratumPosition> at =
      stratum_positions(comm, table, {label}, seed, "rebalance_classes", options);
  idx_t smallest = std::numeric_limits<idx_t>::max();
  idx_t largest = 0;
  for (const auto& a : at) {
    smallest = std::min(smallest, a.size);
    largest = std::max(largest, a.size);
  }
  smallest = mpi::allreduce_min(comm, smallest);
  largest = mpi::allreduce_max(comm, largest);
  if (method == RebalanceMethod::kUndersample) {
    std::vector<bool> keep(at.size());
    for (size_t i = 0; i < at.size(); ++i)
      keep[i] = at[i].position < smallest;
    return keep_rows(table, keep);
  }
  std::vector<idx_t> rows;
  for (size_t i = 0; i < at.size(); ++i) {
    const idx_t copies = largest / at[i].size + (at[i].position < largest % at[i].size ? 1 : 0);
    rows.insert(rows.end(), static_cast<size_t>(copies), static_cast<idx_t>(i));
  }
  return table.take(rows);
}

// =============================================================================================
// Split by time
// =============================================================================================

std::vector<Table> split_by_time(const mpi::Comm& comm, const Table& table,
                                 const std::string& column, const std::vector<TimeCutoff>& cutoffs,
                                 bool keep_rest) {
  int index = -1;
  comm.agree([&] {
    index = table.schema().index_of(column, "by_time");
    const DataType type = table.column(index).type();
    if (type == DataType::kBool || type == DataType::kString) {
      throw ConfigError("by_time column '{}' is {}, but must be a timestamp or a number", column,
                        table::to_string(type));
    }
    if (cutoffs.empty()) throw ConfigError("a split by time needs at least one cutoff");
    auto as_double = [](const TimeCutoff& c) {
      return std::holds_alternative<double>(c) ? std::get<double>(c)
                                               : static_cast<double>(std::get<std::int64_t>(c));
    };
    for (size_t k = 0; k < cutoffs.size(); ++k) {
      if (std::holds_alternative<double>(cutoffs[k]) && std::isnan(std::get<double>(cutoffs[k])))
        throw ConfigError("cutoff {} is not a number", k + 1);
      if (k == 0) continue;
      const bool ascending =
          std::holds_alternative<std::int64_t>(cutoffs[k]) &&
                  std::holds_alternative<std::int64_t>(cutoffs[k - 1])
              ? std::get<std::int64_t>(cutoffs[k - 1]) < std::get<std::int64_t>(cutoffs[k])
              : as_double(cutoffs[k - 1]) < as_double(cutoffs[k]);
      if (!ascending) throw ConfigError("cutoffs must be ascending; cutoff {} is not", k + 1);
    }
  });
  const Column& c = table.column(index);
  const idx_t n = table.num_rows();
  const size_t outputs = cutoffs.size() + (keep_rest ? 1 : 0);
  std::vector<std::vector<idx_t>> rows(outputs);
  if (table::is_integer_like(c.type())) {
    // v < c for an integer v is v < ceil(c); cutoffs beyond the int64 range are clamped.
    std::vector<std::int64_t> bound(cutoffs.size());
    std::vector<bool> above(cutoffs.size(), false);  // every value is below the cutoff
    for (size_t k = 0; k < cutoffs.size(); ++k) {
      if (std::holds_alternative<std::int64_t>(cutoffs[k])) {
        bound[k] = std::get<std::int64_t>(cutoffs[k]);
        continue;
      }
      const double d = std::ceil(std::get<double>(cutoffs[k]));
      if (d >= 9223372036854775808.0) {
        above[k] = true;
        bound[k] = std::numeric_limits<std::int64_t>::max();
      } else {
        bound[k] = d < -9223372036854775808.0 ? std::numeric_limits<std::int64_t>::min()
                                              : static_cast<std::int64_t>(d);
      }
    }
    for (idx_t i = 0; i < n; ++i) {
      size_t k = cutoffs.size();
      if (c.is_valid(i)) {
        const std::int64_t v = c.type() == DataType::kInt32
                                   ? c.values<std::int32_t>()[static_cast<size_t>(i)]
                                   : c.values<std::int64_t>()[static_cast<size_t>(i)];
        k = 0;
        while (k < cutoffs.size() && !(above[k] || v < bound[k]))
          ++k;
      }
      if (k < outputs) rows[k].push_back(i);
    }
  } else {
    // Float columns: compared as doubles (float32 widens exactly); NaN is below no cutoff.
    std::vector<double> bound(cutoffs.size());
    for (size_t k = 0; k < cutoffs.size(); ++k)
      bound[k] = std::holds_alternative<double>(cutoffs[k])
                     ? std::get<double>(cutoffs[k])
                     : static_cast<double>(std::get<std::int64_t>(cutoffs[k]));
    for (idx_t i = 0; i < n; ++i) {
      size_t k = cutoffs.size();
      if (c.is_valid(i)) {
        const double v = c.numeric_at(i);
        k = 0;
        while (k < cutoffs.size() && !(v < bound[k]))
          ++k;
      }
      if (k < outputs) rows[k].push_back(i);
    }
  }
  std::vector<Table> out;
  for (const auto& r : rows)
    out.push_back(table.take(r));
  return out;
}

}  // namespace shardflow::ops
