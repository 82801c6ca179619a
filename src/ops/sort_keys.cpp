#include "shardflow/ops/sort_keys.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <memory>
#include <numeric>

#include "shardflow/common/error.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::Table;

std::string_view to_string(NullOrder nulls) {
  return nulls == NullOrder::kFirst ? "first" : "last";
}

std::uint64_t double_order_bits(double v) {
  if (v == 0.0) v = 0.0;
  std::uint64_t bits = 0x7ff8000000000000ULL;
  if (v == v) std::memcpy(&bits, &v, sizeof bits);
  constexpr std::uint64_t kSign = std::uint64_t{1} << 63;
  return (bits & kSign) != 0 ? ~bits : bits | kSign;
}

SortKeyLayout::SortKeyLayout(const Table& table, const std::vector<SortKey>& keys,
                             const std::vector<bool>& nullable) {
  if (nullable.size() != keys.size())
    throw RuntimeError("sort key layout: {} nullable flags for {} keys", nullable.size(),
                       keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    Part p;
    p.column = table.schema().index_of(keys[k].column, "sort keys");
    p.type = table.schema().field(p.column).type;
    p.descending = keys[k].descending;
    p.nulls = keys[k].nulls;
    p.word = words_;
    const Column& c = table.column(p.column);
    switch (p.type) {
      case DataType::kInt32:
      case DataType::kBool:
        p.words = 1;
        break;
      case DataType::kString:
        p.plain = !c.is_dictionary_encoded();
        p.words = p.plain ? 0 : 1;
        break;
      default:
        p.words = nullable[k] ? 2 : 1;
        break;
    }
    plain_ = plain_ || p.plain;
    words_ += p.words;
    parts_.push_back(p);
  }
}

namespace {

constexpr std::uint64_t kSign64 = std::uint64_t{1} << 63;

// Below this many rows a comparison sort is as fast as the radix sort's fixed costs.
idx_t radix_min_rows = 2048;

// Writes the words of one part for every row into out[row * stride + p.word ...].
void encode_part(const SortKeyLayout::Part& p, const Column& c, std::uint64_t* out, int stride) {
  const idx_t n = c.size();
  const auto s = static_cast<size_t>(stride);
  // Null rank of a null / valid row: 0 sorts first.
  const std::uint64_t null_rank = p.nulls == NullOrder::kFirst ? 0 : 1;
  const std::uint64_t valid_rank = 1 - null_rank;
  const std::uint8_t* valid = c.validity().empty() ? nullptr : c.validity().data();
  auto narrow = [&](auto value32_of) {
    std::uint64_t* w = out + p.word;
    for (idx_t i = 0; i < n; ++i, w += s) {
      std::uint32_t v = value32_of(i);
      if (p.descending) v = ~v;
      const bool ok = valid == nullptr || valid[i] != 0;
      *w = ok ? (valid_rank << 32) | v : null_rank << 32;
    }
  };
  auto wide = [&](auto value64_of) {
    std::uint64_t* w = out + p.word;
    const bool null_word = p.words == 2;
    for (idx_t i = 0; i < n; ++i, w += s) {
      const bool ok = valid == nullptr || valid[i] != 0;
      std::uint64_t v = ok ? value64_of(i) : 0;
      if (p.descending && ok) v = ~v;
      if (null_word) {
        w[0] = ok ? valid_rank : null_rank;
        w[1] = v;
      } else {
        w[0] = v;
      }
    }
  };
  switch (p.type) {
    case DataType::kInt32: {
      const auto* v = c.values<std::int32_t>().data();
      narrow([&](idx_t i) { return static_cast<std::uint32_t>(v[i]) ^ 0x80000000u; });
      break;
    }
    case DataType::kBool: {
      const auto* v = c.values<std::uint8_t>().data();
      narrow([&](idx_t i) { return static_cast<std::uint32_t>(v[i] != 0 ? 1 : 0); });
      break;
    }
    case DataType::kString: {
      const auto* v = c.codes().data();
      narrow([&](idx_t i) { return static_cast<std::uint32_t>(v[i]); });
      break;
    }
    case DataType::kInt64:
    case DataType::kTimestamp: {
      const auto* v = c.values<std::int64_t>().data();
      wide([&](idx_t i) { return static_cast<std::uint64_t>(v[i]) ^ kSign64; });
      break;
    }
    case DataType::kFloat32: {
      const auto* v = c.values<float>().data();
      wide([&](idx_t i) { return double_order_bits(static_cast<double>(v[i])); });
      break;
    }
    case DataType::kFloat64: {
      const auto* v = c.values<double>().data();
      wide([&](idx_t i) { return double_order_bits(v[i]); });
      break;
    }
  }
}

int compare_plain(const SortKeyLayout::Part& p, const Column& a, idx_t i, const Column& b,
                  idx_t j) {
  const bool va = a.is_valid(i);
  const bool vb = b.is_valid(j);
  if (va != vb) {
    // The null one sorts first under kFirst.
    const int null_first = p.nulls == NullOrder::kFirst ? -1 : 1;
    return va ? -null_first : null_first;
  }
  if (!va) return 0;
  const int c = a.plain().at(i).compare(b.plain().at(j));
  const int sign = c < 0 ? -1 : (c > 0 ? 1 : 0);
  return p.descending ? -sign : sign;
}

// Sorts records of W key words + global index + row directly (no indirection), which is several
// times faster than sorting a permutation through a comparator.
template <int W>
std::vector<idx_t> sort_records(const EncodedKeys& keys, idx_t limit) {
  struct Rec {
    std::array<std::uint64_t, W> w;
    std::int64_t g;
    idx_t row;
  };
  const idx_t n = keys.size();
  std::vector<Rec> recs(static_cast<size_t>(n));
  const std::uint64_t* src = keys.words.data();
  for (idx_t i = 0; i < n; ++i) {
    Rec& r = recs[static_cast<size_t>(i)];
    if constexpr (W > 0) std::memcpy(r.w.data(), src + static_cast<size_t>(i) * W, sizeof(r.w));
    r.g = keys.global_index[static_cast<size_t>(i)];
    r.row = i;
  }
  auto less = [](const Rec& a, const Rec& b) {
    for (int k = 0; k < W; ++k) {
      if (a.w[static_cast<size_t>(k)] != b.w[static_cast<size_t>(k)])
        return a.w[static_cast<size_t>(k)] < b.w[static_cast<size_t>(k)];
    }
    return a.g < b.g;
  };
  idx_t m = n;
  if (limit >= 0 && limit < n) {
    m = limit;
    std::partial_sort(recs.begin(), recs.begin() + m, recs.end(), less);
  } else {
    std::sort(recs.begin(), recs.end(), less);
  }
  std::vector<idx_t> perm(static_cast<size_t>(m));
  for (idx_t i = 0; i < m; ++i)
    perm[static_cast<size_t>(i)] = recs[static_cast<size_t>(i)].row;
  return perm;
}

// Radix sort of records of K key words + row, stable (rows with equal keys keep their input
// order). With `kIndexWord`, the global index (sign-flipped to unsigned order) is the last key
// word; without it the caller guarantees that the input is in ascending global index order, which
// stability then preserves.
//
// Most-significant-digit first, recursively: each level splits a bucket by a window of up to 12
// bits (fewer for small buckets) that starts at the next bit that varies over all rows, within one
// word, ping-ponging the records between two arrays; buckets of at most 64 rows are finished by
// comparisons. Bits equal in every row are never looked at, and a window that puts a whole bucket
// in one digit costs a count but no move. On (int64, float64) keys this takes two or three moving
// passes where the former sort (one MSD pass, then an LSD pass per varying byte) took up to nine:
// 1.5x faster with 1e6 first-key values, no slower with 100 (benchmarks/bench_sort, local_sort_*),
// and about 0.25 s less of the README's 1e7-row sort job at 2 ranks. The records are left
// uninitialized (each is written before it is read): zeroing 2 x 24 bytes per row cost a pass.
template <int W, bool kIndexWord>
std::vector<idx_t> radix_sort(const EncodedKeys& keys) {
  constexpr int K = W + (kIndexWord ? 1 : 0);
  constexpr int kBits = 64 * K;
  constexpr size_t kSmall = 64;
  struct Rec {
    std::array<std::uint64_t, K> w;
    idx_t row;
  };
  auto less = [](const Rec& x, const Rec& y) {
    for (size_t k = 0; k < static_cast<size_t>(K); ++k) {
      if (x.w[k] != y.w[k]) return x.w[k] < y.w[k];
    }
    return x.row < y.row;
  };
  const idx_t n = keys.size();
  const auto un = static_cast<size_t>(n);
  std::unique_ptr<Rec[]> a(new Rec[un]);  // uninitialized: every record is written first
  const std::uint64_t* src = keys.words.data();
  // Which bits vary at all (set in some row's word and clear in another's).
  std::array<std::uint64_t, static_cast<size_t>(K > 0 ? K : 1)> any_set{};
  std::array<std::uint64_t, static_cast<size_t>(K > 0 ? K : 1)> all_set{};
  all_set.fill(~std::uint64_t{0});
  for (size_t i = 0; i < un; ++i) {
    Rec& r = a[i];
    if constexpr (W > 0) std::memcpy(r.w.data(), src + i * W, sizeof(std::uint64_t) * W);
    if constexpr (kIndexWord)
      r.w[W] = static_cast<std::uint64_t>(keys.global_index[i]) ^ (std::uint64_t{1} << 63);
    r.row = static_cast<idx_t>(i);
    for (size_t k = 0; k < static_cast<size_t>(K); ++k) {
      any_set[k] |= r.w[k];
      all_set[k] &= r.w[k];
    }
  }
  std::array<std::uint64_t, static_cast<size_t>(K > 0 ? K : 1)> varies{};
  for (size_t k = 0; k < static_cast<size_t>(K); ++k)
    varies[k] = any_set[k] ^ all_set[k];
  // The first varying bit at or after bit `pos` (0 = the most significant bit of word 0), or kBits.
  auto next_varying = [&](int pos) {
    while (pos < kBits) {
      const int off = pos % 64;
      const std::uint64_t rest = varies[static_cast<size_t>(pos / 64)] << off;
      if (rest != 0) return pos + std::countl_zero(rest);
      pos = (pos / 64 + 1) * 64;
    }
    return kBits;
  };
  std::unique_ptr<Rec[]> b(new Rec[un]);
  // Per recursion depth: the bucket starts of the level being split there.
  std::vector<std::vector<idx_t>> starts(static_cast<size_t>(kBits) + 1);
  // Sorts the records at [lo, lo + m) of `from` (the other array is `to`); the result ends in a.
  auto sort_range = [&](auto& self, Rec* from, Rec* to, size_t lo, size_t m, int pos,
                        size_t depth) -> void {
    Rec* const home = a.get() + lo;
    while (true) {
      Rec* in = from + lo;
      if (pos >= kBits) {  // every key equal: the input order is the order
        if (in != home) std::copy(in, in + m, home);
        return;
      }
      if (m <= kSmall) {
        if (in != home) std::copy(in, in + m, home);
        std::sort(home, home + m, less);
        return;
      }
      const auto k = static_cast<size_t>(pos / 64);
      const int off = pos % 64;
      const int wanted =
          m >= (size_t{1} << 16) ? 12 : std::max(4, static_cast<int>(std::bit_width(m)) - 4);
      const int width = std::min(wanted, 64 - off);
      const int shift = 64 - off - width;
      const std::uint64_t mask = (std::uint64_t{1} << width) - 1;
      const size_t buckets = size_t{1} << width;
      auto& start = starts[depth];
      start.assign(buckets + 1, 0);
      for (size_t i = 0; i < m; ++i)
        ++start[static_cast<size_t>((in[i].w[k] >> shift) & mask) + 1];
      const int next = next_varying(pos + width);
      if (static_cast<size_t>(*std::max_element(start.begin(), start.end())) == m) {
        pos = next;  // one digit for the whole bucket: nothing moves
        continue;
      }
      for (size_t v = 1; v <= buckets; ++v)
        start[v] += start[v - 1];
      {
        std::vector<idx_t> cursor(start.begin(), start.end() - 1);
        Rec* out = to + lo;
        for (size_t i = 0; i < m; ++i)
          out[static_cast<size_t>(cursor[static_cast<size_t>((in[i].w[k] >> shift) & mask)]++)] =
              in[i];
      }
      for (size_t v = 0; v < buckets; ++v) {
        const auto first = static_cast<size_t>(start[v]);
        const auto size = static_cast<size_t>(start[v + 1]) - first;
        if (size > 0) self(self, to, from, lo + first, size, next, depth + 1);
      }
      return;
    }
  };
  sort_range(sort_range, a.get(), b.get(), 0, un, next_varying(0), 0);
  std::vector<idx_t> perm(un);
  for (size_t i = 0; i < un; ++i)
    perm[i] = a[i].row;
  return perm;
}

template <int W>
std::vector<idx_t> radix_sort_any(const EncodedKeys& keys) {
  const auto& g = keys.global_index;
  if (std::is_sorted(g.begin(), g.end())) return radix_sort<W, false>(keys);
  return radix_sort<W, true>(keys);
}

}  // namespace

EncodedKeys encode_sort_keys(const SortKeyLayout& layout, const Table& table,
                             std::vector<std::int64_t> global_index) {
  if (static_cast<idx_t>(global_index.size()) != table.num_rows())
    throw RuntimeError("encode_sort_keys: {} global indexes for {} rows", global_index.size(),
                       table.num_rows());
  EncodedKeys out;
  out.layout = &layout;
  out.global_index = std::move(global_index);
  const int stride = layout.words();
  out.words.resize(static_cast<size_t>(table.num_rows()) * static_cast<size_t>(stride));
  out.strings.assign(layout.parts().size(), nullptr);
  for (size_t k = 0; k < layout.parts().size(); ++k) {
    const auto& p = layout.parts()[k];
    const Column& c = table.column(p.column);
    if (p.plain)
      out.strings[k] = &c;
    else
      encode_part(p, c, out.words.data(), stride);
  }
  return out;
}

int compare_keys(const EncodedKeys& a, idx_t i, const EncodedKeys& b, idx_t j) {
  const SortKeyLayout& layout = *a.layout;
  const auto stride = static_cast<size_t>(layout.words());
  const std::uint64_t* wa = a.words.data() + static_cast<size_t>(i) * stride;
  const std::uint64_t* wb = b.words.data() + static_cast<size_t>(j) * stride;
  const auto& parts = layout.parts();
  for (size_t k = 0; k < parts.size(); ++k) {
    const auto& p = parts[k];
    if (p.plain) {
      const int c = compare_plain(p, *a.strings[k], i, *b.strings[k], j);
      if (c != 0) return c;
      continue;
    }
    for (int w = p.word; w < p.word + p.words; ++w) {
      if (wa[w] != wb[w]) return wa[w] < wb[w] ? -1 : 1;
    }
  }
  return 0;
}

int compare_rows(const EncodedKeys& a, idx_t i, const EncodedKeys& b, idx_t j) {
  const int c = compare_keys(a, i, b, j);
  if (c != 0) return c;
  const std::int64_t ga = a.global_index[static_cast<size_t>(i)];
  const std::int64_t gb = b.global_index[static_cast<size_t>(j)];
  return ga < gb ? -1 : (ga > gb ? 1 : 0);
}

std::vector<idx_t> sort_permutation(const EncodedKeys& keys, idx_t limit) {
  const SortKeyLayout& layout = *keys.layout;
  if (!layout.has_plain_strings()) {
    // A full sort of many rows: radix; a partial sort or a few rows: comparisons on records.
    const bool radix = (limit < 0 || limit >= keys.size()) && keys.size() >= radix_min_rows;
    switch (layout.words()) {
      case 0:
        return radix ? radix_sort_any<0>(keys) : sort_records<0>(keys, limit);
      case 1:
        return radix ? radix_sort_any<1>(keys) : sort_records<1>(keys, limit);
      case 2:
        return radix ? radix_sort_any<2>(keys) : sort_records<2>(keys, limit);
      case 3:
        return radix ? radix_sort_any<3>(keys) : sort_records<3>(keys, limit);
      case 4:
        return sort_records<4>(keys, limit);
      default:
        break;
    }
  }
  const idx_t n = keys.size();
  std::vector<idx_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), idx_t{0});
  auto less = [&](idx_t a, idx_t b) { return compare_rows(keys, a, keys, b) < 0; };
  if (limit >= 0 && limit < n) {
    std::partial_sort(perm.begin(), perm.begin() + limit, perm.end(), less);
    perm.resize(static_cast<size_t>(limit));
  } else {
    std::sort(perm.begin(), perm.end(), less);
  }
  return perm;
}

namespace detail {
void set_radix_min_rows(idx_t rows) {
  radix_min_rows = rows;
}
}  // namespace detail

}  // namespace shardflow::ops
