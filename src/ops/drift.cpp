#include "shardflow/ops/drift.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;

namespace {

constexpr double kShareFloor = 1e-4;

// Appends the non-null, non-NaN values of `c` to `values` with `source` to `sources`; returns how
// many were left out.
idx_t append_values(const Column& c, std::int32_t source, std::vector<double>& values,
                    std::vector<std::int32_t>& sources) {
  idx_t missing = 0;
  for (idx_t i = 0; i < c.size(); ++i) {
    if (!c.is_valid(i)) {
      ++missing;
      continue;
    }
    const double v = c.numeric_at(i);
    if (std::isnan(v)) {
      ++missing;
      continue;
    }
    values.push_back(v);
    sources.push_back(source);
  }
  return missing;
}

}  // namespace

FeatureDrift feature_drift(const mpi::Comm& comm, const std::string& feature,
                           const Column& reference, const Column& current, int bins,
                           const SortOptions& options) {
  comm.agree([&] {
    if (bins < 2)
      throw ConfigError("drift of '{}': bins must be at least 2, got {}", feature, bins);
  });
  FeatureDrift out;
  // ---- the values of both tables, sorted together -------------------------------------------
  std::vector<double> values;
  std::vector<std::int32_t> sources;  // 0: reference, 1: current
  values.reserve(static_cast<size_t>(reference.size() + current.size()));
  std::vector<idx_t> counts = {append_values(reference, 0, values, sources),
                               append_values(current, 1, values, sources)};
  idx_t local_ref = 0;
  for (std::int32_t s : sources)
    local_ref += s == 0 ? 1 : 0;
  counts.push_back(local_ref);
  counts.push_back(static_cast<idx_t>(values.size()) - local_ref);
  mpi::allreduce_inplace(comm, std::span<idx_t>(counts), mpi::Reduce::kSum);
  out.reference_missing = counts[0];
  out.current_missing = counts[1];
  out.reference_rows = counts[2];
  out.current_rows = counts[3];
  comm.agree([&] {
    for (const auto& [rows, which] :
         {std::pair{out.reference_rows, "reference"}, std::pair{out.current_rows, "current"}}) {
      if (rows == 0) {
        throw InputError(
            "drift of '{}': the {} table has no value of it (every row null or NaN, or no rows); "
            "drift needs values on both sides",
            feature, which);
      }
    }
  });
  table::Table pooled;
  {
    Column v(DataType::kFloat64);
    v.values<double>().assign(values.begin(), values.end());
    Column s(DataType::kInt32);
    s.values<std::int32_t>().assign(sources.begin(), sources.end());
    pooled.add_column("v", std::move(v));
    pooled.add_column("s", std::move(s));
  }
  values = {};
  sources = {};
  const table::Table sorted = sort(comm, pooled, {SortKey{"v"}, SortKey{"s"}}, options);
  const auto& v = sorted.column(0).values<double>();
  const auto& s = sorted.column(1).values<std::int32_t>();
  const auto n = static_cast<idx_t>(v.size());

  // ---- prefix counts and the next rank's first value ----------------------------------------
  idx_t my_ref = 0;
  for (idx_t i = 0; i < n; ++i)
    my_ref += s[static_cast<size_t>(i)] == 0 ? 1 : 0;
  const idx_t ref_before = mpi::exscan_sum(comm, my_ref);
  const idx_t cur_before = mpi::exscan_sum(comm, n - my_ref);
  // The value after this rank's last one: the first value of the next rank that has any.
  constexpr double kNone = std::numeric_limits<double>::infinity();
  const std::vector<double> firsts = mpi::allgather(comm, n > 0 ? v.front() : kNone);
  const std::vector<idx_t> sizes = mpi::allgather(comm, n);
  bool has_next = false;
  double next_value = 0;
  for (int r = comm.rank() + 1; r < comm.size(); ++r) {
    if (sizes[static_cast<size_t>(r)] > 0) {
      has_next = true;
      next_value = firsts[static_cast<size_t>(r)];
      break;
    }
  }

  // ---- edges: the reference's exact quantiles -----------------------------------------------
  const auto ub = static_cast<size_t>(bins);
  std::vector<double> edges(ub - 1, -std::numeric_limits<double>::infinity());
  {
    idx_t ref_index = ref_before;
    size_t next_edge = 0;
    auto edge_position = [&](size_t i) {
      return static_cast<idx_t>(static_cast<__int128>(i + 1) * out.reference_rows / bins);
    };
    while (next_edge < ub - 1 && edge_position(next_edge) < ref_before)
      ++next_edge;
    for (idx_t i = 0; i < n && next_edge < ub - 1; ++i) {
      if (s[static_cast<size_t>(i)] != 0) continue;
      while (next_edge < ub - 1 && edge_position(next_edge) == ref_index)
        edges[next_edge++] = v[static_cast<size_t>(i)];
      ++ref_index;
    }
  }
  mpi::allreduce_inplace(comm, std::span<double>(edges), mpi::Reduce::kMax);
  out.edges = edges;

  // ---- bin counts and the KS statistic in one pass ------------------------------------------
  std::vector<idx_t> bin_counts(2 * ub, 0);
  double ks = 0;
  idx_t cum_ref = ref_before;
  idx_t cum_cur = cur_before;
  const auto nr = static_cast<double>(out.reference_rows);
  const auto nc = static_cast<double>(out.current_rows);
  for (idx_t i = 0; i < n; ++i) {
    const double x = v[static_cast<size_t>(i)];
    const auto bin =
        static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
    const bool ref = s[static_cast<size_t>(i)] == 0;
    ++bin_counts[(ref ? 0 : ub) + bin];
    (ref ? cum_ref : cum_cur) += 1;
    // The distribution functions are compared after the last of equal values.
    const bool last_of_value =
        i + 1 < n ? v[static_cast<size_t>(i) + 1] != x : (!has_next || next_value != x);
    if (last_of_value) {
      ks = std::max(
          ks, std::fabs(static_cast<double>(cum_ref) / nr - static_cast<double>(cum_cur) / nc));
    }
  }
  mpi::allreduce_inplace(comm, std::span<idx_t>(bin_counts), mpi::Reduce::kSum);
  out.ks = mpi::allreduce_max(comm, ks);
  out.reference_counts.assign(bin_counts.begin(), bin_counts.begin() + bins);
  out.current_counts.assign(bin_counts.begin() + bins, bin_counts.end());
  for (size_t b = 0; b < ub; ++b) {
    const double r = std::max(static_cast<double>(out.reference_counts[b]) / nr, kShareFloor);
    const double c = std::max(static_cast<double>(out.current_counts[b]) / nc, kShareFloor);
    out.psi += (c - r) * std::log(c / r);
  }
  return out;
}

}  // namespace shardflow::ops
