#include "shardflow/ops/window.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>

#include "aggregates/kernels.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/ops/exact_sum.hpp"
#include "shardflow/ops/group_by.hpp"
#include "shardflow/ops/sort.hpp"
#include "shardflow/ops/sort_keys.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::ops {

namespace {

using table::Column;
using table::DataType;
using table::Table;

/// Duration units, largest first (as asof_join's tolerance).
std::string number_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::string literal_text(const WindowLiteral& l) {
  switch (l.kind) {
    case WindowLiteral::Kind::kNone:
      return "";
    case WindowLiteral::Kind::kNull:
      return "null";
    case WindowLiteral::Kind::kNumber:
    case WindowLiteral::Kind::kBool:
      return l.text;
    case WindowLiteral::Kind::kString: {
      std::string out = "'";
      for (char c : l.text) {
        out += c;
        if (c == '\'') out += '\'';
      }
      return out + "'";
    }
  }
  return "";
}

bool needs_order(const WindowFeature& f) {
  return f.function == WindowFunction::kRank || f.function == WindowFunction::kDenseRank ||
         (f.function == WindowFunction::kAggregate && f.frame.kind == FrameKind::kRange);
}

std::string_view function_name(WindowFunction f) {
  switch (f) {
    case WindowFunction::kRowNumber:
      return "row_number";
    case WindowFunction::kRank:
      return "rank";
    case WindowFunction::kDenseRank:
      return "dense_rank";
    case WindowFunction::kLag:
      return "lag";
    case WindowFunction::kLead:
      return "lead";
    case WindowFunction::kAggregate:
      return "aggregate";
  }
  return "";
}

// Parses an integer literal (whole text).
std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// Checks that `l` fits a column of `type`; throws ConfigError naming the feature.
void check_default(const WindowFeature& f, DataType type) {
  const WindowLiteral& l = f.default_value;
  if (l.kind == WindowLiteral::Kind::kNone || l.kind == WindowLiteral::Kind::kNull) return;
  auto bad = [&](std::string_view want) {
    throw ConfigError("{}: the default {} does not fit column '{}' ({}); write {}", f.output,
                      literal_text(l), f.column, table::to_string(type), want);
  };
  switch (type) {
    case DataType::kInt32:
    case DataType::kInt64: {
      const auto v = l.kind == WindowLiteral::Kind::kNumber ? parse_int(l.text) : std::nullopt;
      if (!v || (type == DataType::kInt32 && (*v < INT32_MIN || *v > INT32_MAX))) bad("an integer");
      break;
    }
    case DataType::kFloat32:
    case DataType::kFloat64:
      if (l.kind != WindowLiteral::Kind::kNumber) bad("a number");
      break;
    case DataType::kBool:
      if (l.kind != WindowLiteral::Kind::kBool) bad("true or false");
      break;
    case DataType::kString:
      if (l.kind != WindowLiteral::Kind::kString) bad("a quoted string such as 'none'");
      break;
    case DataType::kTimestamp: {
      std::int64_t micros = 0;
      if (l.kind != WindowLiteral::Kind::kString || !table::parse_timestamp(l.text, micros))
        bad("a quoted timestamp such as '2024-01-01'");
      break;
    }
  }
}

// The range offset of `frame` in the order column's units (int64 for integer-like columns), or
// a ConfigError.
void check_range(const WindowFeature& f, DataType order, const std::string& order_by) {
  const WindowFrame& fr = f.frame;
  if (!table::is_numeric(order)) {
    throw ConfigError(
        "{}: a range frame needs order_by '{}' to be a number or a timestamp, but it is {}; use "
        "a rows frame (over rows 3 preceding)",
        f.output, order_by, table::to_string(order));
  }
  if (fr.unbounded) return;
  if (order == DataType::kTimestamp && !fr.duration) {
    throw ConfigError(
        "{}: range {} is a plain number but order_by '{}' is a timestamp; write a duration such "
        "as 7d, 12h, 30m, 45s or 500ms",
        f.output, number_text(fr.number), order_by);
  }
  if (order != DataType::kTimestamp && fr.duration) {
    throw ConfigError(
        "{}: range {} is a duration but order_by '{}' is {}; write a plain number in its units",
        f.output, duration_text(fr.micros), order_by, table::to_string(order));
  }
  if (!fr.duration && table::is_integer_like(order) &&
      (fr.number != std::floor(fr.number) || fr.number > 9.0e18)) {
    throw ConfigError("{}: range {} must be a whole number: order_by '{}' is {}", f.output,
                      number_text(fr.number), order_by, table::to_string(order));
  }
}

}  // namespace

// ---- parsing helpers --------------------------------------------------------------------------

std::string window_feature_text(const WindowFeature& f) {
  std::string text;
  switch (f.function) {
    case WindowFunction::kRowNumber:
    case WindowFunction::kRank:
    case WindowFunction::kDenseRank:
      return std::string(function_name(f.function)) + "()";
    case WindowFunction::kLag:
    case WindowFunction::kLead:
      text =
          fmt::format("{}({}, {}", function_name(f.function), call_column_text(f.column), f.offset);
      if (f.default_value.kind != WindowLiteral::Kind::kNone)
        text += ", " + literal_text(f.default_value);
      return text + ")";
    case WindowFunction::kAggregate:
      break;
  }
  text = aggregate_call_text(f.agg);
  switch (f.frame.kind) {
    case FrameKind::kPartition:
      break;
    case FrameKind::kRange:
      text += " over range " +
              (f.frame.unbounded  ? std::string("unbounded")
               : f.frame.duration ? duration_text(f.frame.micros)
                                  : number_text(f.frame.number)) +
              " preceding";
      break;
    case FrameKind::kRows:
      text += f.frame.unbounded ? std::string(" over rows unbounded preceding")
                                : fmt::format(" over rows {} preceding", f.frame.rows);
      break;
  }
  if (f.frame.exclude_current) text += " exclude current";
  return text;
}

std::string window_bucket_column(const WindowSpec& spec) {
  return spec.order_by + "_bucket";
}

std::optional<DataType> window_feature_type(const WindowSpec& spec, const WindowFeature& f,
                                            std::optional<DataType> column,
                                            std::optional<DataType> column2,
                                            std::optional<DataType> order) {
  if (spec.bucket) {
    if (f.function != WindowFunction::kAggregate) {
      throw ConfigError(
          "{}: {}() cannot be used with bucket: a bucketed window gives one row per bucket; "
          "use aggregates such as sum(amount) or count(*)",
          f.output, function_name(f.function));
    }
    if (f.frame.kind != FrameKind::kPartition) {
      throw ConfigError(
          "{}: with bucket the features are aggregates over the bucket; drop the frame ('over "
          "...')",
          f.output);
    }
  }
  if (needs_order(f) && spec.order_by.empty()) {
    throw ConfigError("{}: {} needs order_by (the column that orders each partition)", f.output,
                      f.function == WindowFunction::kAggregate
                          ? std::string("a range frame")
                          : std::string(function_name(f.function)) + "()");
  }
  switch (f.function) {
    case WindowFunction::kRowNumber:
    case WindowFunction::kRank:
    case WindowFunction::kDenseRank:
      return DataType::kInt64;
    case WindowFunction::kLag:
    case WindowFunction::kLead:
      if (f.offset < 0) {
        throw ConfigError("{}: {} offset must be >= 0, got {}", f.output, function_name(f.function),
                          f.offset);
      }
      if (column) check_default(f, *column);
      return column;
    case WindowFunction::kAggregate:
      break;
  }
  const AggregateFunction& fn = aggregate_function(f.agg.function);
  if (fn.expands_rows) {
    throw ConfigError(
        "{}: {} gives several rows per group and cannot be a window feature (any aggregate of the "
        "registry, not top_k or histogram)",
        f.output, fn.name);
  }
  if (f.agg.column.empty() && !fn.allows_no_column) {
    throw ConfigError("{}: {}(*) is not an aggregate; only count(*) may omit the column", f.output,
                      fn.name);
  }
  check_aggregate_args(fn, f.agg.args);
  if (f.frame.kind == FrameKind::kRows && f.frame.rows < 0) {
    throw ConfigError("{}: rows frame must be >= 0 preceding rows", f.output);
  }
  if (f.frame.kind == FrameKind::kRange && order) check_range(f, *order, spec.order_by);
  try {  // the registry's type errors, named after the feature
    if (column2 && fn.two_columns) check_second_column(fn, *column2, f.agg.column2);
    if (f.agg.column.empty()) return fn.output_type(DataType::kInt64, "");
    if (column) return fn.output_type(*column, f.agg.column);
  } catch (const ConfigError& e) {
    throw ConfigError("{}: {}", f.output, e.what());
  }
  // Unknown input type: known output only when every type it takes gives the same one.
  std::optional<DataType> type;
  for (DataType candidate : {DataType::kInt64, DataType::kFloat64, DataType::kBool,
                             DataType::kString, DataType::kTimestamp}) {
    try {
      const DataType out = fn.output_type(candidate, f.agg.column);
      if (!type) {
        type = out;
      } else if (*type != out) {
        return std::nullopt;
      }
    } catch (const ConfigError&) {
    }
  }
  return type;
}

table::Schema window_output_schema(const table::Schema& input, const WindowSpec& spec) {
  auto type_of = [&](const std::string& name, std::string_view role) {
    if (!input.find(name)) {
      throw ConfigError("{} '{}' is not a column{} (columns: {})", role, name,
                        did_you_mean(name, input.names()), fmt::join(input.names(), ", "));
    }
    return input.field(*input.find(name)).type;
  };
  if (spec.features.empty()) throw ConfigError("a window needs at least one feature");
  for (const auto& k : spec.partition_by)
    type_of(k, "partition_by column");
  std::optional<DataType> order;
  if (!spec.order_by.empty()) order = type_of(spec.order_by, "order_by column");
  if (spec.bucket) {
    if (spec.order_by.empty()) throw ConfigError("bucket needs order_by (the time column)");
    if (*order == DataType::kTimestamp && !spec.bucket_duration) {
      throw ConfigError(
          "bucket {} is a plain number but order_by '{}' is a timestamp; write a duration such "
          "as 1h",
          *spec.bucket, spec.order_by);
    }
    if (*order != DataType::kTimestamp &&
        (spec.bucket_duration || !table::is_integer_like(*order) || *order == DataType::kBool)) {
      throw ConfigError(
          "bucket needs order_by '{}' to be a timestamp (bucket: 1h) or an integer (bucket: "
          "100), but it is {}{}",
          spec.order_by, table::to_string(*order),
          spec.bucket_duration ? " and the bucket a duration" : "");
    }
    if (*spec.bucket <= 0) throw ConfigError("bucket must be > 0");
  }
  table::Schema out;
  if (spec.bucket) {
    for (const auto& k : spec.partition_by)
      out.add({k, type_of(k, "partition_by column")});
    const std::string bucket = window_bucket_column(spec);
    if (input.find(bucket)) {
      throw ConfigError(
          "the bucket column '{}' would hide the input column of that name; rename that column",
          bucket);
    }
    out.add({bucket, *order == DataType::kTimestamp ? DataType::kTimestamp : DataType::kInt64});
  } else {
    out = input;
  }
  for (const auto& f : spec.features) {
    std::optional<DataType> column, column2;
    if (f.function == WindowFunction::kLag || f.function == WindowFunction::kLead) {
      column = type_of(f.column, fmt::format("{}: column", f.output));
    } else if (f.function == WindowFunction::kAggregate) {
      if (!f.agg.column.empty()) column = type_of(f.agg.column, f.output + ": aggregated column");
      if (!f.agg.column2.empty())
        column2 = type_of(f.agg.column2, f.output + ": aggregated column");
    }
    const auto type = window_feature_type(spec, f, column, column2, order);
    if (out.find(f.output)) {
      throw ConfigError("feature '{}' has the name of a column the output already has; rename it",
                        f.output);
    }
    out.add({f.output, type.value_or(DataType::kFloat64)});
  }
  return out;
}

// ---- engine -----------------------------------------------------------------------------------

namespace {

// Frames in sorted positions: [lo, hi] (inclusive; empty when hi < lo) minus `excl` (-1: none).
struct Frames {
  std::vector<idx_t> lo, hi, excl;
  bool contiguous = true;  // no excl
};

struct Layout {
  idx_t n = 0;
  std::vector<idx_t> perm;        // sorted position -> received row
  std::vector<idx_t> part_start;  // per sorted position
  std::vector<idx_t> part_end;
  std::vector<idx_t> peer_start;  // equal order value (or both null) within the partition
  std::vector<idx_t> peer_end;
  std::vector<std::int32_t> part_id;  // 0.. in sorted order
  idx_t parts = 0;
};

Layout build_layout(const Table& t, const WindowSpec& spec) {
  Layout L;
  L.n = t.num_rows();
  const auto n = static_cast<size_t>(L.n);
  std::vector<std::int64_t> gi(n);
  std::iota(gi.begin(), gi.end(), 0);
  std::vector<SortKey> keys;
  for (const auto& k : spec.partition_by)
    keys.push_back({k, false, NullOrder::kFirst});
  if (!spec.order_by.empty()) keys.push_back({spec.order_by, false, NullOrder::kFirst});
  if (keys.empty()) {
    L.perm.resize(n);
    std::iota(L.perm.begin(), L.perm.end(), 0);
  } else {
    const SortKeyLayout layout(t, keys, std::vector<bool>(keys.size(), true));
    const EncodedKeys enc = encode_sort_keys(layout, t, gi);
    L.perm = sort_permutation(enc);
  }
  L.part_start.resize(n);
  L.part_end.resize(n);
  L.peer_start.resize(n);
  L.peer_end.resize(n);
  L.part_id.resize(n);
  // Partition boundaries.
  std::vector<std::uint8_t> new_part(n, 0), new_peer(n, 0);
  if (n > 0) new_part[0] = new_peer[0] = 1;
  if (!spec.partition_by.empty() && n > 1) {
    std::vector<SortKey> pk;
    for (const auto& k : spec.partition_by)
      pk.push_back({k, false, NullOrder::kFirst});
    const SortKeyLayout layout(t, pk, std::vector<bool>(pk.size(), true));
    const EncodedKeys enc = encode_sort_keys(layout, t, gi);
    for (size_t s = 1; s < n; ++s)
      new_part[s] = compare_keys(enc, L.perm[s - 1], enc, L.perm[s]) != 0;
  }
  if (!spec.order_by.empty() && n > 1) {
    const SortKeyLayout layout(t, {{spec.order_by, false, NullOrder::kFirst}}, {true});
    const EncodedKeys enc = encode_sort_keys(layout, t, gi);
    for (size_t s = 1; s < n; ++s)
      new_peer[s] = new_part[s] || compare_keys(enc, L.perm[s - 1], enc, L.perm[s]) != 0;
  } else {
    // Without order every row is its own peer group.
    std::fill(new_peer.begin(), new_peer.end(), 1);
  }
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && !new_part[e])
      ++e;
    for (size_t i = s; i < e; ++i) {
      L.part_start[i] = static_cast<idx_t>(s);
      L.part_end[i] = static_cast<idx_t>(e);
      L.part_id[i] = static_cast<std::int32_t>(L.parts);
    }
    ++L.parts;
    s = e;
  }
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && !new_peer[e])
      ++e;
    for (size_t i = s; i < e; ++i) {
      L.peer_start[i] = static_cast<idx_t>(s);
      L.peer_end[i] = static_cast<idx_t>(e);
    }
    s = e;
  }
  return L;
}

Frames build_frames(const Layout& L, const WindowFrame& fr, const Column* order) {
  Frames F;
  const auto n = static_cast<size_t>(L.n);
  F.lo.resize(n);
  F.hi.resize(n);
  F.excl.assign(n, -1);
  switch (fr.kind) {
    case FrameKind::kPartition:
      for (size_t i = 0; i < n; ++i) {
        F.lo[i] = L.part_start[i];
        F.hi[i] = L.part_end[i] - 1;
        if (fr.exclude_current) F.excl[i] = static_cast<idx_t>(i);  // leave one out
      }
      F.contiguous = !fr.exclude_current;
      return F;
    case FrameKind::kRows:
      for (size_t i = 0; i < n; ++i) {
        F.lo[i] = fr.unbounded ? L.part_start[i]
                               : std::max<idx_t>(L.part_start[i], static_cast<idx_t>(i) - fr.rows);
        F.hi[i] = static_cast<idx_t>(i) - (fr.exclude_current ? 1 : 0);
      }
      return F;
    case FrameKind::kRange:
      break;
  }
  // Range: `order` is the order column in sorted order (numeric or timestamp).
  const bool floating = table::is_floating(order->type());
  std::vector<std::int64_t> iv;
  std::vector<double> dv;
  std::vector<std::uint8_t> special(n, 0);  // null or NaN: the frame is the peers
  order->visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (aggregates::kIsValues<V>) {
      if (floating)
        dv.resize(n);
      else
        iv.resize(n);
      for (size_t i = 0; i < n; ++i) {
        if (floating) {
          dv[i] = static_cast<double>(v[i]);
          special[i] = !order->is_valid(static_cast<idx_t>(i)) || std::isnan(dv[i]);
        } else {
          iv[i] = static_cast<std::int64_t>(v[i]);
          special[i] = !order->is_valid(static_cast<idx_t>(i));
        }
      }
    }
  });
  const std::int64_t ioff =
      fr.duration ? fr.micros : static_cast<std::int64_t>(floating ? 0 : fr.number);
  const double doff = fr.duration ? static_cast<double>(fr.micros) : fr.number;
  idx_t p = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto si = static_cast<idx_t>(i);
    F.hi[i] = L.peer_end[i] - 1;
    if (L.part_start[i] == si) p = si;
    if (special[i]) {
      F.lo[i] = L.peer_start[i];
    } else {
      while (special[static_cast<size_t>(p)])
        ++p;  // nulls first: skip them (p <= i)
      if (fr.unbounded) {
        // Every order value <= t: from the partition's first non-null one.
      } else if (floating) {
        const double bound = dv[i] - doff;
        while (dv[static_cast<size_t>(p)] < bound)
          ++p;
      } else {
        const __int128 bound = static_cast<__int128>(iv[i]) - ioff;
        while (static_cast<__int128>(iv[static_cast<size_t>(p)]) < bound)
          ++p;
      }
      F.lo[i] = p;
    }
    if (fr.exclude_current) {
      F.excl[i] = si;
      F.contiguous = false;
    }
  }
  return F;
}

Column int64_result(std::vector<std::int64_t> v, const std::vector<std::uint8_t>* valid) {
  Column c(DataType::kInt64);
  auto& b = c.values<std::int64_t>();
  b.assign(v.begin(), v.end());
  if (valid) {
    c.validity() = *valid;
    c.compact_validity();
  }
  return c;
}

Column float64_result(const std::vector<double>& v, const std::vector<std::uint8_t>& valid) {
  Column c(DataType::kFloat64);
  auto& b = c.values<double>();
  b.assign(v.begin(), v.end());
  c.validity() = valid;
  c.compact_validity();
  return c;
}

// Rows `idx` of `c` (-1: null).
Column take_or_null(const Column& c, const std::vector<idx_t>& idx) {
  std::vector<idx_t> rows(idx.size());
  bool any_null = false;
  for (size_t i = 0; i < idx.size(); ++i) {
    any_null |= idx[i] < 0;
    rows[i] = idx[i] < 0 ? 0 : idx[i];
  }
  Column out = c.take(rows);
  if (any_null) {
    out.ensure_validity();
    for (size_t i = 0; i < idx.size(); ++i)
      if (idx[i] < 0) out.validity()[i] = 0;
    out.compact_validity();
  }
  return out;
}

AggregateInput input_of(const AggSpec& agg, const Column* c, const Column* c2) {
  AggregateInput in;
  if (c) {
    in.type = c->type();
    in.plain_strings = c->is_plain_strings();
    if (c->type() == DataType::kString && c->is_dictionary_encoded())
      in.dictionary = c->dictionary();
  } else {
    in.count_star = true;
  }
  in.args = agg.args;
  if (c2) in.type2 = c2->type();
  return in;
}

[[noreturn]] void overflow_error(const std::string& output, const std::string& what) {
  throw RuntimeError("window feature '{}': {}; sum a float64 column instead (cast it first)",
                     output, what);
}

// Any aggregate over each row's frame with the registry's kernels: rows of the frames gathered
// in batches, one group per output row.
Column generic_frames(const WindowFeature& f, const Column* c, const Column* c2, const Frames& F,
                      idx_t batch_rows) {
  const auto n = static_cast<idx_t>(F.lo.size());
  const AggregateInput in = input_of(f.agg, c, c2);
  const AggregateFunction& fn = aggregate_function(f.agg.function);
  std::optional<Column> result;
  idx_t a = 0;
  std::vector<idx_t> rows;
  std::vector<std::int32_t> gid;
  do {
    rows.clear();
    gid.clear();
    idx_t b = a;
    while (b < n && (b == a || static_cast<idx_t>(rows.size()) < batch_rows)) {
      const auto i = static_cast<size_t>(b);
      for (idx_t j = F.lo[i]; j <= F.hi[i]; ++j) {
        if (j == F.excl[i]) continue;
        rows.push_back(j);
        gid.push_back(static_cast<std::int32_t>(b - a));
      }
      ++b;
    }
    auto state = make_aggregate_state(f.agg, in);
    state->resize(b - a);
    if (c == nullptr) {
      state->update(nullptr, gid);
    } else {
      const Column x = c->take(rows);
      if (fn.two_columns) {
        state->update_pair(x, c2->take(rows), gid);
      } else {
        state->update(&x, gid);
      }
    }
    std::string overflow;
    Column part = state->finalize(&overflow);
    if (!overflow.empty()) overflow_error(f.output, overflow);
    if (!result)
      result = std::move(part);
    else
      result->append(part);
    a = b;
  } while (a < n);
  return std::move(*result);
}

// Whole-partition aggregates: one group per partition.
Column partition_aggregate(const WindowFeature& f, const Column* c, const Column* c2,
                           const Layout& L) {
  const AggregateFunction& fn = aggregate_function(f.agg.function);
  auto state = make_aggregate_state(f.agg, input_of(f.agg, c, c2));
  state->resize(L.parts);
  if (c == nullptr)
    state->update(nullptr, L.part_id);
  else if (fn.two_columns)
    state->update_pair(*c, *c2, L.part_id);
  else
    state->update(c, L.part_id);
  std::string overflow;
  const Column per_part = state->finalize(&overflow);
  if (!overflow.empty()) overflow_error(f.output, overflow);
  std::vector<idx_t> rows(L.part_id.begin(), L.part_id.end());
  return per_part.take(rows);
}

// Valid (non-null) flags of `c` as prefix counts: pc[i] = valid rows before i.
std::vector<std::int64_t> prefix_valid(const Column* c, idx_t n) {
  std::vector<std::int64_t> pc(static_cast<size_t>(n) + 1, 0);
  for (idx_t i = 0; i < n; ++i)
    pc[static_cast<size_t>(i) + 1] =
        pc[static_cast<size_t>(i)] + ((c == nullptr || c->is_valid(i)) ? 1 : 0);
  return pc;
}

std::int64_t frame_count(const std::vector<std::int64_t>& pc, const Frames& F, size_t i,
                         const Column* c) {
  if (F.hi[i] < F.lo[i]) return 0;
  std::int64_t k = pc[static_cast<size_t>(F.hi[i]) + 1] - pc[static_cast<size_t>(F.lo[i])];
  if (F.excl[i] >= 0 && (c == nullptr || c->is_valid(F.excl[i]))) --k;
  return k;
}

Column fast_count(const Column* c, const Frames& F) {
  const auto n = static_cast<idx_t>(F.lo.size());
  const auto pc = prefix_valid(c, n);
  std::vector<std::int64_t> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = frame_count(pc, F, i, c);
  return int64_result(std::move(out), nullptr);
}

// sum / mean of integers, bools and timestamps: exact 128-bit prefix sums.
Column fast_int_sum(const WindowFeature& f, const Column& c, const Frames& F, bool mean) {
  const auto n = static_cast<idx_t>(F.lo.size());
  std::vector<__int128> ps(static_cast<size_t>(n) + 1, 0);
  std::vector<std::int64_t> x(static_cast<size_t>(n), 0);
  c.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (aggregates::kIsValues<V>) {
      for (idx_t i = 0; i < n; ++i)
        if (c.is_valid(i))
          x[static_cast<size_t>(i)] = static_cast<std::int64_t>(v[static_cast<size_t>(i)]);
    }
  });
  for (size_t i = 0; i < x.size(); ++i)
    ps[i + 1] = ps[i] + x[i];
  const auto pc = prefix_valid(&c, n);
  std::vector<std::uint8_t> valid(static_cast<size_t>(n), 1);
  std::vector<std::int64_t> iout;
  std::vector<double> dout;
  if (mean)
    dout.resize(static_cast<size_t>(n));
  else
    iout.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < valid.size(); ++i) {
    const std::int64_t k = frame_count(pc, F, i, &c);
    if (k == 0) {
      valid[i] = 0;
      if (mean)
        dout[i] = 0;
      else
        iout[i] = 0;
      continue;
    }
    __int128 s = ps[static_cast<size_t>(F.hi[i]) + 1] - ps[static_cast<size_t>(F.lo[i])];
    if (F.excl[i] >= 0) s -= x[static_cast<size_t>(F.excl[i])];
    if (mean) {
      dout[i] = rounded_quotient(s, k);
    } else {
      if (s < static_cast<__int128>(std::numeric_limits<std::int64_t>::min()) ||
          s > static_cast<__int128>(std::numeric_limits<std::int64_t>::max())) {
        overflow_error(f.output, "a frame's exact sum does not fit int64");
      }
      iout[i] = static_cast<std::int64_t>(s);
    }
  }
  return mean ? float64_result(dout, valid) : int64_result(std::move(iout), &valid);
}

// Exact float sum over a sliding frame: finite values in a WideAccumulator (added and removed
// exactly), special values counted, rounded as ExactSums::finish rounds.
struct FloatWindow {
  WideAccumulator acc;
  std::int64_t count = 0, nan = 0, pinf = 0, ninf = 0, negzero = 0;
  void add(double x, int sign) {
    count += sign;
    if (std::isnan(x)) {
      nan += sign;
    } else if (std::isinf(x)) {
      (x > 0 ? pinf : ninf) += sign;
    } else {
      if (x == 0 && std::signbit(x)) negzero += sign;
      acc.add(sign > 0 ? x : -x);
    }
  }
  double value(bool mean) const {
    if (nan > 0 || (pinf > 0 && ninf > 0)) return std::numeric_limits<double>::quiet_NaN();
    if (pinf > 0) return std::numeric_limits<double>::infinity();
    if (ninf > 0) return -std::numeric_limits<double>::infinity();
    if (acc.is_zero()) return negzero == count ? -0.0 : 0.0;
    return acc.round(mean ? static_cast<std::uint64_t>(count) : 1);
  }
};

// Calls add(j) / remove(j) to move a sliding window from its current [cl, ch] to each row's
// [lo, hi] (monotone frames move, others rebuild), then emit(i).
template <typename Add, typename Remove, typename Reset, typename Emit>
void slide(const Frames& F, Add&& add, Remove&& remove, Reset&& reset, Emit&& emit) {
  idx_t cl = 0, ch = -1;  // current window (empty)
  for (size_t i = 0; i < F.lo.size(); ++i) {
    const idx_t lo = F.lo[i];
    const idx_t hi = std::max(F.hi[i], lo - 1);
    if (lo < cl || hi < ch || lo > ch) {
      reset();
      cl = lo;
      ch = lo - 1;
    }
    while (ch < hi)
      add(++ch);
    while (cl < lo)
      remove(cl++);
    emit(i);
  }
}

Column fast_float_sum(const Column& c, const Frames& F, bool mean) {
  const auto n = F.lo.size();
  std::vector<double> x(n, 0.0);
  c.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (aggregates::kIsValues<V>) {
      for (size_t i = 0; i < n; ++i)
        x[i] = static_cast<double>(v[i]);
    }
  });
  std::vector<double> out(n, 0.0);
  std::vector<std::uint8_t> valid(n, 1);
  FloatWindow w;
  auto add = [&](idx_t j) {
    if (c.is_valid(j)) w.add(x[static_cast<size_t>(j)], 1);
  };
  auto remove = [&](idx_t j) {
    if (c.is_valid(j)) w.add(x[static_cast<size_t>(j)], -1);
  };
  slide(
      F, add, remove, [&] { w = FloatWindow(); },
      [&](size_t i) {
        const idx_t e = F.excl[i];
        const bool drop = e >= 0 && c.is_valid(e);
        if (drop) w.add(x[static_cast<size_t>(e)], -1);
        if (w.count == 0)
          valid[i] = 0;
        else
          out[i] = w.value(mean);
        if (drop) w.add(x[static_cast<size_t>(e)], 1);
      });
  return float64_result(out, valid);
}

// min / max over contiguous frames of a non-string column: a monotonic deque of row indexes.
// min / max over numbers, timestamps, bools and dictionary strings (code order is string order):
// a monotonic deque of row indexes over [lo, hi]; a frame without the current row i is
// [lo, i - 1] (the deque) plus [i + 1, hi] (the rest of i's peer group or partition: a suffix
// best computed backwards), so every frame is O(1) amortized per row.
Column fast_extreme(const Column& c, const Frames& F, bool is_min) {
  const size_t n = F.lo.size();
  std::vector<idx_t> best(n, -1);
  c.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (aggregates::kIsValues<V>) {
      using T = std::decay_t<decltype(v[0])>;
      std::deque<idx_t> dq;
      auto better = [&](idx_t a, idx_t b) {  // value a strictly better than value b
        const T va = v[static_cast<size_t>(a)], vb = v[static_cast<size_t>(b)];
        return is_min ? aggregates::less_than<T>(va, vb) : aggregates::less_than<T>(vb, va);
      };
      Frames left = F;  // [lo, hi] or, without the current row, [lo, i - 1]
      if (!F.contiguous) {
        for (size_t i = 0; i < n; ++i)
          if (F.excl[i] >= 0) left.hi[i] = std::min(F.hi[i], F.excl[i] - 1);
      }
      idx_t lo = 0;
      slide(
          left,
          [&](idx_t j) {
            if (!c.is_valid(j)) return;
            while (!dq.empty() && !better(dq.back(), j))
              dq.pop_back();
            dq.push_back(j);
          },
          [&](idx_t j) {
            lo = j + 1;
            while (!dq.empty() && dq.front() < lo)
              dq.pop_front();
          },
          [&] { dq.clear(); },
          [&](size_t i) {
            if (!dq.empty()) best[i] = dq.front();
          });
      if (F.contiguous) return;
      // suffix[i]: the best valid row of [i + 1, hi[i]] (rows of one group share hi).
      std::vector<idx_t> suffix(n, -1);
      for (size_t k = n; k-- > 0;) {
        const auto i = static_cast<idx_t>(k);
        if (i + 1 > F.hi[k]) continue;
        idx_t b = c.is_valid(i + 1) ? i + 1 : -1;
        if (k + 1 < n && F.hi[k + 1] == F.hi[k]) {
          const idx_t rest = suffix[k + 1];
          if (rest >= 0 && (b < 0 || better(rest, b))) b = rest;
        }
        suffix[k] = b;
      }
      for (size_t i = 0; i < n; ++i) {
        if (F.excl[i] < 0) continue;
        const idx_t s = suffix[i];
        if (s >= 0 && (best[i] < 0 || better(s, best[i]))) best[i] = s;
      }
    }
  });
  return take_or_null(c, best);
}

Column aggregate_feature(const WindowFeature& f, const Column* c, const Column* c2, const Layout& L,
                         const Column* order, idx_t batch_rows) {
  if (f.frame.kind == FrameKind::kPartition && !f.frame.exclude_current)
    return partition_aggregate(f, c, c2, L);
  const Frames F = build_frames(L, f.frame, order);
  const std::string& fn = f.agg.function;
  if (fn == "count") return fast_count(c, F);
  if ((fn == "sum" || fn == "mean") && c != nullptr) {
    if (table::is_floating(c->type())) return fast_float_sum(*c, F, fn == "mean");
    if (table::is_integer_like(c->type())) return fast_int_sum(f, *c, F, fn == "mean");
  }
  if ((fn == "min" || fn == "max") && c != nullptr &&
      (c->type() != DataType::kString || c->is_dictionary_encoded())) {
    return fast_extreme(*c, F, fn == "min");
  }
  return generic_frames(f, c, c2, F, batch_rows);
}

Column literal_column(const WindowLiteral& l, const Column& like) {
  Column out = like.take(std::span<const idx_t>());
  switch (like.type()) {
    case DataType::kInt32:
      out.values<std::int32_t>().push_back(static_cast<std::int32_t>(*parse_int(l.text)));
      break;
    case DataType::kInt64:
      out.values<std::int64_t>().push_back(*parse_int(l.text));
      break;
    case DataType::kFloat32:
      out.values<float>().push_back(static_cast<float>(*parse_double(l.text)));
      break;
    case DataType::kFloat64:
      out.values<double>().push_back(*parse_double(l.text));
      break;
    case DataType::kBool:
      out.values<std::uint8_t>().push_back(l.text == "true" ? 1 : 0);
      break;
    case DataType::kTimestamp: {
      std::int64_t micros = 0;
      table::parse_timestamp(l.text, micros);
      out.values<std::int64_t>().push_back(micros);
      break;
    }
    case DataType::kString:
      if (like.is_dictionary_encoded()) {
        out.codes().push_back(*like.dictionary()->find(l.text));
      } else {
        out.plain().push_back(l.text);
      }
      break;
  }
  return out;
}

Column shift_feature(const WindowFeature& f, const Column& c, const Layout& L) {
  const auto n = static_cast<size_t>(L.n);
  std::vector<idx_t> src(n, -1);
  for (size_t i = 0; i < n; ++i) {
    if (f.offset > L.n) continue;  // no such row (and no overflow below)
    const idx_t j = f.function == WindowFunction::kLag ? static_cast<idx_t>(i) - f.offset
                                                       : static_cast<idx_t>(i) + f.offset;
    if (j >= L.part_start[i] && j < L.part_end[i]) src[i] = j;
  }
  const WindowLiteral& d = f.default_value;
  if (d.kind == WindowLiteral::Kind::kNone || d.kind == WindowLiteral::Kind::kNull)
    return take_or_null(c, src);
  // A string default missing from the dictionary: the output is plain strings.
  const Column* from = &c;
  Column plain;
  if (c.type() == DataType::kString && c.is_dictionary_encoded() && !c.dictionary()->find(d.text)) {
    plain = Column::plain_strings();
    for (idx_t i = 0; i < c.size(); ++i)
      plain.plain().push_back(c.is_valid(i) ? c.string_at(i) : std::string_view());
    plain.validity() = c.validity();
    from = &plain;
  }
  // Missing rows take row n of (column + the default).
  Column with_default = *from;
  with_default.append(literal_column(d, *from));
  for (auto& s : src)
    if (s < 0) s = static_cast<idx_t>(n);
  Column out = with_default.take(src);
  out.compact_validity();
  return out;
}

Column ranking_feature(const WindowFeature& f, const Layout& L) {
  const auto n = static_cast<size_t>(L.n);
  std::vector<std::int64_t> out(n);
  std::int64_t dense = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto si = static_cast<idx_t>(i);
    switch (f.function) {
      case WindowFunction::kRowNumber:
        out[i] = si - L.part_start[i] + 1;
        break;
      case WindowFunction::kRank:
        out[i] = L.peer_start[i] - L.part_start[i] + 1;
        break;
      default:
        if (L.part_start[i] == si) dense = 0;
        if (L.peer_start[i] == si) ++dense;
        out[i] = dense;
        break;
    }
  }
  return int64_result(std::move(out), nullptr);
}

// The columns the features read, the keys and the order column, each once.
std::vector<std::string> needed_columns(const WindowSpec& spec) {
  std::vector<std::string> names;
  auto add = [&](const std::string& name) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  };
  for (const auto& k : spec.partition_by)
    add(k);
  add(spec.order_by);
  for (const auto& f : spec.features) {
    add(f.column);
    add(f.agg.column);
    add(f.agg.column2);
  }
  return names;
}

Table bucket_window(const mpi::Comm& comm, const Table& table, const WindowSpec& spec,
                    const WindowOptions& options) {
  Table t = table.select(needed_columns(spec));
  const Column& o = table.column(spec.order_by);
  const std::int64_t width = *spec.bucket;
  Column b(o.type() == DataType::kTimestamp ? DataType::kTimestamp : DataType::kInt64);
  auto& bv = b.values<std::int64_t>();
  bv.resize(static_cast<size_t>(o.size()));
  o.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (aggregates::kIsValues<V>) {
      for (size_t i = 0; i < bv.size(); ++i) {
        const auto x = static_cast<std::int64_t>(v[i]);
        std::int64_t q = x / width;
        if (x % width != 0 && x < 0) --q;  // floor
        bv[i] = q * width;
      }
    }
  });
  b.validity() = o.validity();
  const std::string bucket = window_bucket_column(spec);
  t.add_column(bucket, std::move(b));
  std::vector<std::string> keys = spec.partition_by;
  keys.push_back(bucket);
  std::vector<AggSpec> aggs;
  for (const auto& f : spec.features) {
    AggSpec a = f.agg;
    a.output = f.output;
    aggs.push_back(std::move(a));
  }
  GroupByOptions g;
  g.shuffle = options.shuffle;
  const Table grouped = group_by(comm, t, keys, aggs, g);
  std::vector<SortKey> by;
  for (const auto& k : keys)
    by.push_back({k, false, NullOrder::kFirst});
  SortOptions so;
  so.shuffle = options.shuffle;
  return sort(comm, grouped, by, so);
}

}  // namespace

Table window(const mpi::Comm& comm, const Table& table, const WindowSpec& spec,
             const WindowOptions& options) {
  table::Schema out_schema;
  comm.agree([&] { out_schema = window_output_schema(table.schema(), spec); });
  if (spec.bucket) return bucket_window(comm, table, spec, options);
  const int ranks = comm.size();
  const Table work = table.select(needed_columns(spec));
  const auto n_local = static_cast<size_t>(table.num_rows());
  std::vector<int> dest(n_local, 0);
  if (!spec.partition_by.empty()) {
    std::vector<int> key_idx;
    for (const auto& k : spec.partition_by)
      key_idx.push_back(*work.schema().find(k));
    const auto h = hash_rows(work, key_idx);
    for (size_t i = 0; i < n_local; ++i)
      dest[i] = rank_of_hash(h[i], ranks);
  } else if (ranks > 1 && comm.is_root()) {
    spdlog::warn(
        "window without partition_by: all {} ranks send their rows to rank 0, which computes the "
        "features alone (this does not scale; give partition_by)",
        ranks);
  }
  std::vector<idx_t> sent(static_cast<size_t>(ranks), 0);
  for (int d : dest)
    ++sent[static_cast<size_t>(d)];
  std::vector<idx_t> received = sent;
  Table recv;
  if (ranks > 1) {
    received = mpi::alltoall_counts(comm, std::span<const idx_t>(sent));
    recv = shuffle_to(comm, work, dest, options.shuffle);
  } else {
    recv = work;
  }
  // Local: sort, compute (errors agreed).
  Table features;
  comm.agree([&] {
    const Layout L = build_layout(recv, spec);
    const Table sorted = recv.take(L.perm);
    std::vector<idx_t> inverse(L.perm.size());
    for (size_t s = 0; s < L.perm.size(); ++s)
      inverse[static_cast<size_t>(L.perm[s])] = static_cast<idx_t>(s);
    const Column* order = spec.order_by.empty() ? nullptr : &sorted.column(spec.order_by);
    for (const auto& f : spec.features) {
      Column c;
      switch (f.function) {
        case WindowFunction::kRowNumber:
        case WindowFunction::kRank:
        case WindowFunction::kDenseRank:
          c = ranking_feature(f, L);
          break;
        case WindowFunction::kLag:
        case WindowFunction::kLead:
          c = shift_feature(f, sorted.column(f.column), L);
          break;
        case WindowFunction::kAggregate:
          c = aggregate_feature(f, f.agg.column.empty() ? nullptr : &sorted.column(f.agg.column),
                                f.agg.column2.empty() ? nullptr : &sorted.column(f.agg.column2), L,
                                order, options.batch_rows);
          break;
      }
      features.add_column(f.output, c.take(inverse));
    }
  });
  if (ranks > 1) {
    // Row i of `features` answers the rank whose block of received rows holds i.
    std::vector<int> back(static_cast<size_t>(recv.num_rows()));
    size_t at = 0;
    for (int q = 0; q < ranks; ++q)
      for (idx_t i = 0; i < received[static_cast<size_t>(q)]; ++i)
        back[at++] = q;
    // String features of plain or dictionary encoding must agree on all ranks: the encodings
    // follow from the spec and the (identical) input encodings, so they do.
    const Table home = shuffle_to(comm, features, back, options.shuffle);
    std::vector<idx_t> next(static_cast<size_t>(ranks), 0);
    for (int q = 1; q < ranks; ++q)
      next[static_cast<size_t>(q)] =
          next[static_cast<size_t>(q) - 1] + sent[static_cast<size_t>(q) - 1];
    std::vector<idx_t> order(dest.size());
    for (size_t r = 0; r < dest.size(); ++r)
      order[r] = next[static_cast<size_t>(dest[r])]++;
    features = home.take(order);
  }
  Table result;
  for (int c = 0; c < table.num_columns(); ++c)
    result.add_column(table.schema().field(c).name, table.column(c));
  for (int c = 0; c < features.num_columns(); ++c)
    result.add_column(features.schema().field(c).name, std::move(features.column(c)));
  return result;
}

}  // namespace shardflow::ops
