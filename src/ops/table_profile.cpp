#include "shardflow/ops/table_profile.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ops {

namespace {

using table::Column;
using table::DataType;

// HyperLogLog with 2^kHllBits registers: each holds the largest "position of the first 1 bit"
// seen among the hashes routed to it; registers merge by maximum, so every rank's sketch joins
// the one allreduce of maxima.
constexpr int kHllBits = 10;
constexpr size_t kHllRegisters = size_t{1} << kHllBits;

idx_t hll_estimate(std::span<const std::int64_t> registers) {
  const auto m = static_cast<double>(registers.size());
  double sum = 0;
  idx_t zeros = 0;
  for (const std::int64_t r : registers) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    zeros += r == 0 ? 1 : 0;
  }
  double estimate = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
  // Small cardinalities: linear counting over the empty registers is the better estimate.
  if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / static_cast<double>(zeros));
  return static_cast<idx_t>(std::llround(estimate));
}

// An int64 whose order is the order of the doubles it encodes (NaN is never encoded): flipping
// every bit but the sign of a negative double's pattern reverses its order.
std::int64_t ordered_key(double v) {
  if (v == 0.0) v = 0.0;  // -0.0 and 0.0 are one value
  const auto bits = std::bit_cast<std::int64_t>(v);
  return bits >= 0 ? bits : bits ^ std::numeric_limits<std::int64_t>::max();
}
double from_ordered_key(std::int64_t key) {
  return std::bit_cast<double>(key >= 0 ? key : key ^ std::numeric_limits<std::int64_t>::max());
}

// How one column's distinct values are counted.
enum class Distinct { kRange, kCodes, kSketch };

Distinct distinct_method(const Column& c) {
  if (c.type() == DataType::kBool) return Distinct::kRange;  // 0, 1 or 2 from min and max
  if (c.is_dictionary_encoded() && c.dictionary() && c.dictionary()->size() <= kExactDistinctCodes)
    return Distinct::kCodes;
  return Distinct::kSketch;
}

// Slots of one column in the vector of maxima: [max key, ~min key, has a value, then the used-
// code flags or the sketch registers].
size_t max_slots(const Column& c) {
  switch (distinct_method(c)) {
    case Distinct::kRange:
      return 3;
    case Distinct::kCodes:
      return 3 + static_cast<size_t>(c.dictionary()->size());
    case Distinct::kSketch:
      return 3 + kHllRegisters;
  }
  return 3;
}

// The scan runs once per input on every run, so it is written for speed (1e6 rows x 68 columns
// per rank: 1.14 s with a per-value validity call, type test and spilled range slots; see
// bench_csv_ingest's BM_ProfileTable): one typed loop per column, validity tested only where a
// column has nulls, the range and the sketch in locals.
struct Scan {
  std::int64_t max_key = std::numeric_limits<std::int64_t>::min();
  std::int64_t max_neg = std::numeric_limits<std::int64_t>::min();  // max of ~key, i.e. ~min
  bool any = false;
  std::array<std::uint8_t, kHllRegisters> registers{};

  void note(std::int64_t key) {
    max_key = std::max(max_key, key);
    max_neg = std::max(max_neg, ~key);
    any = true;
  }
  void sketch(std::uint64_t hash) {
    const auto index = static_cast<size_t>(hash >> (64 - kHllBits));
    const std::uint64_t rest = hash << kHllBits;
    const auto rho =
        static_cast<std::uint8_t>(rest == 0 ? 64 - kHllBits + 1 : std::countl_zero(rest) + 1);
    registers[index] = std::max(registers[index], rho);
  }
};

// The range of n integers (no nulls). With GCC on x86-64 it is also compiled for AVX2 and
// AVX-512, chosen at load time from the CPU: without SSE4.2 there is no 64-bit compare to
// vectorize with, and the baseline build's two cmovs per value made this loop about a quarter of
// the profile of the 1e7-row group-by input. The result is the same either way.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SHARDFLOW_RANGE_CLONES \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define SHARDFLOW_RANGE_CLONES
#endif
template <typename T>
void int_range(const T* values, idx_t n, std::int64_t& lo, std::int64_t& hi) {
  for (idx_t i = 0; i < n; ++i) {
    const auto v = static_cast<std::int64_t>(values[i]);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
}
SHARDFLOW_RANGE_CLONES void int_range_i64(const std::int64_t* values, idx_t n, std::int64_t& lo,
                                          std::int64_t& hi) {
  std::int64_t l = lo, h = hi;  // locals: no aliasing with `values` to rule out
  int_range(values, n, l, h);
  lo = l;
  hi = h;
}
SHARDFLOW_RANGE_CLONES void int_range_i32(const std::int32_t* values, idx_t n, std::int64_t& lo,
                                          std::int64_t& hi) {
  std::int64_t l = lo, h = hi;
  int_range(values, n, l, h);
  lo = l;
  hi = h;
}

// Calls visit(d) once for each distinct value - lo among the valid values, all within
// [0, span], in increasing order.
// Why not one `bits[d >> 6] |= ...` per value: where the range is narrow (a 1..5 or 1..100
// column) consecutive values land in the same word, and each read-modify-write then waits for
// the store before it (store-to-load forwarding, several cycles a value). A range under 64 values
// is one word kept in a register; a range under kByteSpan values gets a byte per value, set by
// plain stores that depend on nothing; wider ones the bitmap.
template <typename T, typename Visit>
void visit_distinct_offsets(const T* values, const std::uint8_t* valid, idx_t n, std::int64_t lo,
                            std::uint64_t span, Visit visit) {
  const auto offset = [&](idx_t i) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(values[i])) -
           static_cast<std::uint64_t>(lo);
  };
  if (span < 64) {
    std::uint64_t word = 0;
    for (idx_t i = 0; i < n; ++i) {
      const bool take = valid == nullptr || valid[i] != 0;  // a null's slot holds anything
      word |= (take ? std::uint64_t{1} : 0) << (take ? offset(i) : 0);
    }
    for (; word != 0; word &= word - 1)
      visit(static_cast<std::uint64_t>(std::countr_zero(word)));
    return;
  }
  constexpr std::uint64_t kByteSpan = std::uint64_t{1} << 20;
  if (span < kByteSpan) {
    std::vector<std::uint8_t> seen(static_cast<size_t>(span + 1), 0);
    for (idx_t i = 0; i < n; ++i) {
      if (valid == nullptr || valid[i] != 0) seen[static_cast<size_t>(offset(i))] = 1;
    }
    for (size_t d = 0; d < seen.size(); ++d) {
      if (seen[d] != 0) visit(static_cast<std::uint64_t>(d));
    }
    return;
  }
  std::vector<std::uint64_t> bits(static_cast<size_t>(span / 64 + 1), 0);
  for (idx_t i = 0; i < n; ++i) {
    if (valid != nullptr && valid[i] == 0) continue;
    const std::uint64_t d = offset(i);
    bits[static_cast<size_t>(d >> 6)] |= std::uint64_t{1} << (d & 63);
  }
  for (size_t w = 0; w < bits.size(); ++w) {
    for (std::uint64_t word = bits[w]; word != 0; word &= word - 1)
      visit(w * 64 + static_cast<std::uint64_t>(std::countr_zero(word)));
  }
}

// Range and sketch of a numeric or timestamp column's values (`valid` null: no nulls).
template <typename T>
void scan_numbers(const T* values, const std::uint8_t* valid, idx_t n, bool with_sketch,
                  Scan& scan) {
  if constexpr (std::is_floating_point_v<T>) {
    // Range in doubles (NaN fails both comparisons and is left out), then as ordered keys;
    // -0.0 and 0.0 are one value (ordered_key folds them).
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    bool any = false;
    for (idx_t i = 0; i < n; ++i) {
      const auto v = static_cast<double>(values[i]);
      if ((valid != nullptr && valid[i] == 0) || v != v) continue;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      any = true;
      scan.sketch(hash_u64(std::bit_cast<std::uint64_t>(v == 0.0 ? 0.0 : v)));
    }
    if (any) {
      scan.note(ordered_key(lo));
      scan.note(ordered_key(hi));
    }
  } else {
    // The range first, then the sketch. A register holds the largest rank among the hashes of
    // the values routed to it, so a value seen twice changes nothing: where the range is small
    // (ids, codes, counts) a bitmap of the values seen replaces the hash per row, and each
    // distinct value is hashed once. The registers are the same as hashing every row. The
    // 1e7-row group-by input (5 such columns and the 1e5-value id3 dictionary, 5e6 rows per
    // rank): the whole profile 0.078-0.082 s -> 0.058-0.064 s; with the cloned range loop and
    // visit_distinct_offsets, see bench_csv_ingest's profile_seconds.
    std::int64_t lo = std::numeric_limits<std::int64_t>::max();
    std::int64_t hi = std::numeric_limits<std::int64_t>::min();
    idx_t seen = 0;
    if (valid == nullptr) {
      if constexpr (std::is_same_v<T, std::int64_t>) {
        int_range_i64(values, n, lo, hi);
      } else if constexpr (std::is_same_v<T, std::int32_t>) {
        int_range_i32(values, n, lo, hi);
      } else {
        int_range(values, n, lo, hi);
      }
      seen = n;
    } else {
      for (idx_t i = 0; i < n; ++i) {
        if (valid[i] == 0) continue;
        const auto v = static_cast<std::int64_t>(values[i]);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        ++seen;
      }
    }
    if (seen == 0) return;
    scan.note(lo);
    scan.note(hi);
    if (!with_sketch) return;
    // hi - lo as unsigned cannot overflow; a bitmap of at most 4 bits per row, and 64 MiB.
    const auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    if (span < std::min<std::uint64_t>(std::uint64_t{4} * static_cast<std::uint64_t>(n),
                                       std::uint64_t{1} << 29)) {
      visit_distinct_offsets(values, valid, n, lo, span, [&](std::uint64_t d) {
        scan.sketch(hash_u64(static_cast<std::uint64_t>(lo) + d));
      });
      return;
    }
    for (idx_t i = 0; i < n; ++i) {
      if (valid != nullptr && valid[i] == 0) continue;
      scan.sketch(hash_u64(static_cast<std::uint64_t>(static_cast<std::int64_t>(values[i]))));
    }
  }
}

void scan_column(const Column& c, std::span<std::int64_t> slots, idx_t& nulls) {
  const idx_t n = c.size();
  const Distinct method = distinct_method(c);
  std::span<std::int64_t> extra = slots.subspan(3);
  const std::uint8_t* valid = c.validity().empty() ? nullptr : c.validity().data();
  if (valid != nullptr) {
    idx_t valid_rows = 0;
    for (idx_t i = 0; i < n; ++i)
      valid_rows += valid[i] != 0 ? 1 : 0;
    nulls += n - valid_rows;
  }
  Scan scan;
  c.visit([&](const auto& values) {
    using V = std::decay_t<decltype(values)>;
    if constexpr (std::is_same_v<V, table::PlainStrings>) {
      for (idx_t i = 0; i < n; ++i) {
        if (valid == nullptr || valid[i] != 0) scan.sketch(hash_string(values.at(i)));
      }
    } else {
      if (c.type() == DataType::kString) {  // dictionary codes: no range
        if (method == Distinct::kCodes) {
          for (idx_t i = 0; i < n; ++i) {
            if (valid != nullptr && valid[i] == 0) continue;
            extra[static_cast<size_t>(values[static_cast<size_t>(i)])] = 1;
          }
          return;
        }
        // Codes lie in [0, dictionary size): mark the codes seen, then hash each once (the
        // registers are the same as hashing every row, see scan_numbers).
        std::vector<std::uint8_t> used(
            c.dictionary() ? static_cast<size_t>(c.dictionary()->size()) : 0, 0);
        for (idx_t i = 0; i < n; ++i) {
          if (valid != nullptr && valid[i] == 0) continue;
          const auto code = static_cast<std::uint64_t>(values[static_cast<size_t>(i)]);
          if (code < used.size()) [[likely]] {
            used[static_cast<size_t>(code)] = 1;
          } else {
            scan.sketch(hash_u64(code));
          }
        }
        for (size_t code = 0; code < used.size(); ++code) {
          if (used[code] != 0) scan.sketch(hash_u64(static_cast<std::uint64_t>(code)));
        }
        return;
      }
      scan_numbers(values.data(), valid, n, method == Distinct::kSketch, scan);
    }
  });
  if (scan.any) {
    slots[0] = std::max(slots[0], scan.max_key);
    slots[1] = std::max(slots[1], scan.max_neg);
    slots[2] = 1;
  }
  if (method == Distinct::kSketch) {
    for (size_t r = 0; r < kHllRegisters; ++r)
      extra[r] = std::max<std::int64_t>(extra[r], scan.registers[r]);
  }
}

}  // namespace

TableProfile profile_table(const mpi::Comm& comm, const table::Table& table) {
  const int k = table.num_columns();
  std::vector<size_t> offset(static_cast<size_t>(k) + 1, 0);
  for (int j = 0; j < k; ++j)
    offset[static_cast<size_t>(j) + 1] =
        offset[static_cast<size_t>(j)] + max_slots(table.column(j));
  // Counts add up (rows, then nulls per column); everything else merges by maximum.
  std::vector<idx_t> sums(static_cast<size_t>(k) + 1, 0);
  std::vector<std::int64_t> maxima(offset.back(), 0);
  sums[0] = table.num_rows();
  for (int j = 0; j < k; ++j) {
    const auto u = static_cast<size_t>(j);
    const std::span<std::int64_t> slots(maxima.data() + offset[u], offset[u + 1] - offset[u]);
    slots[0] = slots[1] = std::numeric_limits<std::int64_t>::min();
    scan_column(table.column(j), slots, sums[u + 1]);
  }
  mpi::allreduce_inplace(comm, std::span<idx_t>(sums), mpi::Reduce::kSum);
  mpi::allreduce_inplace(comm, std::span<std::int64_t>(maxima), mpi::Reduce::kMax);

  TableProfile profile;
  profile.rows = sums[0];
  for (int j = 0; j < k; ++j) {
    const auto u = static_cast<size_t>(j);
    const Column& c = table.column(j);
    const std::span<const std::int64_t> slots(maxima.data() + offset[u], offset[u + 1] - offset[u]);
    ColumnProfile p;
    p.name = table.schema().field(j).name;
    p.type = c.type();
    p.nulls = sums[u + 1];
    p.has_range = c.type() != DataType::kString && slots[2] != 0;
    if (p.has_range) {
      if (table::is_floating(c.type())) {
        p.max = from_ordered_key(slots[0]);
        p.min = from_ordered_key(~slots[1]);
      } else {
        p.int_max = slots[0];
        p.int_min = ~slots[1];
        p.max = static_cast<double>(p.int_max);
        p.min = static_cast<double>(p.int_min);
      }
    }
    switch (distinct_method(c)) {
      case Distinct::kRange:
        p.distinct = !p.has_range ? 0 : p.int_min == p.int_max ? 1 : 2;
        break;
      case Distinct::kCodes:
        for (size_t s = 3; s < slots.size(); ++s)
          p.distinct += slots[s] != 0 ? 1 : 0;
        break;
      case Distinct::kSketch:
        p.distinct = hll_estimate(slots.subspan(3));
        p.distinct_exact = false;
        // The sketch cannot tell one value from none; the range can.
        if (p.has_range && p.min == p.max) {
          p.distinct = 1;
          p.distinct_exact = true;
        }
        if (profile.rows - p.nulls == 0) {
          p.distinct = 0;
          p.distinct_exact = true;
        }
        break;
    }
    profile.columns.push_back(std::move(p));
  }
  return profile;
}

}  // namespace shardflow::ops
