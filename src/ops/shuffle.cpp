#include "shardflow/ops/shuffle.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <optional>

#include <sys/mman.h>
#include <string>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <spdlog/spdlog.h>

#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/common/shared_heap.hpp"
#include "shardflow/common/streaming_copy.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/mpi/exchange.hpp"
#include "shardflow/mpi/hosts.hpp"
#include "shardflow/mpi/limits.hpp"
#include "shardflow/mpi/shared_segments.hpp"
#include "shardflow/ops/partition_scatter.hpp"

namespace shardflow::ops {

namespace {

using table::Column;
using table::DataType;
using table::PlainStrings;
using table::Table;

// Hash of a null key value: any fixed constant that is unlikely to collide with hash_u64 output
// of common small values.
constexpr std::uint64_t kNullHash = 0x6b43a9b5f2d1c3e7ULL;
constexpr std::uint64_t kHashSeed = 0x2545f4914f6cdd1dULL;

constexpr idx_t pad8(idx_t bytes) {
  return (bytes + 7) & ~idx_t{7};
}

// How one column travels: `width` bytes per value, or plain strings (lengths then characters).
struct ColumnPlan {
  int width = 0;       // 1, 4 or 8; 0 for plain strings
  bool nulls = false;  // validity bytes are sent (some rank has nulls in this column)
  bool plain = false;  // plain strings
};

idx_t width_of(const Column& c) {
  return c.visit([](const auto& v) -> idx_t {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, PlainStrings>)
      return 0;
    else
      return static_cast<idx_t>(sizeof(typename V::value_type));
  });
}

// Scatters rows [begin, end) of `src` into per-destination cursors; cursors advance.
template <typename T, typename D>
void scatter_values(const T* src, const D* dest, idx_t begin, idx_t end, std::byte** cursor) {
  for (idx_t i = begin; i < end; ++i) {
    std::byte*& c = cursor[dest[i]];
    std::memcpy(c, &src[i], sizeof(T));
    c += sizeof(T);
  }
}

}  // namespace

namespace {

// The AVX2 kernels of partition_scatter.hpp where they apply (detail::set_vectorized_scatter).
bool g_vectorized_scatter = true;

// Adds the number of rows in [begin, end) per destination to cnt[0, p); false if a destination is
// outside [0, p). Four interleaved histograms (lanes: 4 * p scratch entries): with one, rows with
// the same destination form a chain of dependent increments through memory (a store-to-load
// forwarding stall each), which made counting cost as much as scattering a column.
template <typename D>
bool count_destinations(const D* dest, idx_t begin, idx_t end, int p, idx_t* cnt, idx_t* lanes) {
  const auto up = static_cast<unsigned>(p);
  if constexpr (std::is_same_v<D, std::uint8_t>) {
    // Byte destinations for 2-4 ranks: one AVX2 pass with byte counters. bench_shuffle at 4e6
    // rows per rank and 2 ranks: the agree with its count 0.5-0.6 ms, against 1.1-1.2 ms with the
    // loop below.
    if (p <= 4 && g_vectorized_scatter && partition_scatter_available())
      return count_destinations_u8(dest + begin, end - begin, p, cnt);
    // Byte destinations for a few ranks: one compare-and-add pass per rank over L1-sized blocks,
    // which the compiler vectorizes (16 rows per instruction), instead of one increment per row.
    if (p <= 8) {
      constexpr idx_t kBlock = 4096;
      for (idx_t b = begin; b < end; b += kBlock) {
        const D* d = dest + b;
        const idx_t m = std::min(kBlock, end - b);
        std::uint8_t top = 0;
        for (idx_t i = 0; i < m; ++i)
          top = std::max(top, d[i]);
        if (top >= up) return false;
        for (int r = 0; r < p; ++r) {
          std::uint32_t c = 0;
          for (idx_t i = 0; i < m; ++i)
            c += d[i] == r ? 1u : 0u;
          cnt[r] += c;
        }
      }
      return true;
    }
  }
  std::fill(lanes, lanes + 4 * p, 0);
  idx_t* l0 = lanes;
  idx_t* l1 = lanes + p;
  idx_t* l2 = lanes + 2 * p;
  idx_t* l3 = lanes + 3 * p;
  unsigned bad = 0;
  idx_t i = begin;
  for (; i + 4 <= end; i += 4) {
    const auto d0 = static_cast<unsigned>(dest[i]);
    const auto d1 = static_cast<unsigned>(dest[i + 1]);
    const auto d2 = static_cast<unsigned>(dest[i + 2]);
    const auto d3 = static_cast<unsigned>(dest[i + 3]);
    if ((d0 >= up) | (d1 >= up) | (d2 >= up) | (d3 >= up)) return false;
    ++l0[d0];
    ++l1[d1];
    ++l2[d2];
    ++l3[d3];
  }
  for (; i < end; ++i) {
    const auto d = static_cast<unsigned>(dest[i]);
    bad |= d >= up ? 1u : 0u;
    if (bad == 0) ++l0[d];
  }
  if (bad != 0) return false;
  for (int d = 0; d < p; ++d)
    cnt[d] += l0[d] + l1[d] + l2[d] + l3[d];
  return true;
}

// Hash of rows [begin, end) into h[0, end - begin). With GCC on x86-64 it is also compiled for
// AVX-512 (chosen at load time from the CPU): 64-bit multiplies vectorize there, which made the
// hash 5x faster, and it was a large part of a shuffle. Integer results are the same either way.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SHARDFLOW_HASH_CLONES __attribute__((target_clones("default", "arch=x86-64-v4")))
#else
#define SHARDFLOW_HASH_CLONES
#endif
SHARDFLOW_HASH_CLONES void hash_range(const Table& table, const std::vector<int>& key_columns,
                                      idx_t begin, idx_t end, std::uint64_t* h) {
  const size_t n = static_cast<size_t>(end - begin);
  const size_t b = static_cast<size_t>(begin);
  if (key_columns.empty()) std::fill(h, h + n, kHashSeed);
  bool first = true;
  for (int k : key_columns) {
    const Column& c = table.column(k);
    const std::uint8_t* valid = c.validity().empty() ? nullptr : c.validity().data() + b;
    // The first column is mixed once with the seed instead of hash_combine(seed, hash_u64(x)):
    // one 64-bit mix has full avalanche already, and the second one doubled the cost of the
    // hash, which is a large part of a shuffle.
    auto combine = [&](const auto* v, auto key_of) {
      if (first) {
        if (valid == nullptr) {
          for (size_t i = 0; i < n; ++i)
            h[i] = hash_u64(key_of(v[b + i]) ^ kHashSeed);
        } else {
          for (size_t i = 0; i < n; ++i)
            h[i] = valid[i] ? hash_u64(key_of(v[b + i]) ^ kHashSeed) : kNullHash;
        }
      } else if (valid == nullptr) {
        for (size_t i = 0; i < n; ++i)
          h[i] = hash_combine(h[i], hash_u64(key_of(v[b + i])));
      } else {
        for (size_t i = 0; i < n; ++i)
          h[i] = hash_combine(h[i], valid[i] ? hash_u64(key_of(v[b + i])) : kNullHash);
      }
    };
    switch (c.type()) {
      case DataType::kInt32:
        combine(c.values<std::int32_t>().data(), [](std::int32_t x) {
          return static_cast<std::uint64_t>(static_cast<std::int64_t>(x));
        });
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        combine(c.values<std::int64_t>().data(),
                [](std::int64_t x) { return static_cast<std::uint64_t>(x); });
        break;
      case DataType::kBool:
        combine(c.values<std::uint8_t>().data(),
                [](std::uint8_t x) { return static_cast<std::uint64_t>(x); });
        break;
      case DataType::kFloat32:
        combine(c.values<float>().data(),
                [](float x) { return double_key_bits(static_cast<double>(x)); });
        break;
      case DataType::kFloat64:
        combine(c.values<double>().data(), [](double x) { return double_key_bits(x); });
        break;
      case DataType::kString:
        if (c.is_dictionary_encoded()) {
          combine(c.codes().data(), [](std::int32_t x) {
            return static_cast<std::uint64_t>(static_cast<std::uint32_t>(x));
          });
        } else {
          const PlainStrings& s = c.plain();
          for (size_t i = 0; i < n; ++i) {
            const bool ok = valid == nullptr || valid[i];
            if (first) {
              h[i] = ok ? hash_string(s.at(static_cast<idx_t>(b + i)), kHashSeed) : kNullHash;
            } else {
              h[i] =
                  hash_combine(h[i], ok ? hash_string(s.at(static_cast<idx_t>(b + i))) : kNullHash);
            }
          }
        }
        break;
    }
    first = false;
  }
}

// Largest rank count that uses scatter_small (see set_small_fanout_limit).
int g_small_fanout_limit = 4;
bool g_peer_outputs = true;
detail::Transport g_last_transport = detail::Transport::kNone;
detail::TransportBytes g_transport_bytes;

// Stores `v` at `p`, non-temporally if kStream and the platform has such stores of T's width.
// Non-temporal stores are ordered only by stream_fence().
template <bool kStream, typename T>
inline void store(T* p, T v) {
#if defined(__x86_64__)
  if constexpr (kStream && sizeof(T) == 8) {
    _mm_stream_si64(reinterpret_cast<long long*>(p), std::bit_cast<long long>(v));
    return;
  } else if constexpr (kStream && sizeof(T) == 4) {
    _mm_stream_si32(reinterpret_cast<int*>(p), std::bit_cast<int>(v));
    return;
  }
#endif
  *p = v;
}

// Scatter for a few destinations. Every value is stored at the cursor of *every* destination and
// only its own destination's cursor advances, so the loop has neither a data-dependent branch (a
// hashed destination mispredicts half the time) nor a cursor array in memory (a store-to-load
// forwarding stall per row when consecutive rows go to the same place); P stores per row are
// cheaper than either for small P. Cost: one junk value is written at every cursor's final
// position, so every destination area needs one element of slack (or a saved/restored element).
template <typename T, int P, bool kStream, typename D>
requires(P >= 2 && P <= 4) void scatter_small(const T* src, const D* dest, idx_t n, T** cursor) {
  T* c[P];
  for (int k = 0; k < P; ++k)
    c[k] = cursor[k];
  // The increments come from a one-hot table: written as (d == k), the compiler turns them back
  // into a branch on d.
  static constexpr std::uint8_t kOneHot[4][4] = {
      {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
  for (idx_t i = 0; i < n; ++i) {
    const std::uint8_t* inc = kOneHot[dest[i]];
    const T v = src[i];
    for (int k = 0; k < P; ++k) {
      store<kStream>(c[k], v);
      c[k] += inc[k];
    }
  }
  for (int k = 0; k < P; ++k)
    cursor[k] = c[k];
}

// Scatter for any number of destinations: one store per row through a cursor array.
template <typename T, typename D>
void scatter_any(const T* src, const D* dest, idx_t n, T** cursor) {
  for (idx_t i = 0; i < n; ++i)
    *cursor[dest[i]]++ = src[i];
}

template <typename T, bool kStream, typename D>
void scatter_small_any(const T* src, const D* dest, idx_t n, T** cursor, int p) {
  switch (p) {
    case 2:
      return scatter_small<T, 2, kStream, D>(src, dest, n, cursor);
    case 3:
      return scatter_small<T, 3, kStream, D>(src, dest, n, cursor);
    default:
      return scatter_small<T, 4, kStream, D>(src, dest, n, cursor);
  }
}

// Rows [0, n) of `src` to cursor[dest[i]]; cursors advance. count[d]: the rows in [0, n) for
// destination d. May write one junk element at each cursor's final position (scatter_small), but
// not with the vectorized kernel. Large scalar scatters use non-temporal stores (see
// kStreamingStoreMinBytes) and end with a fence.
template <typename T, typename D>
void scatter(const T* src, const D* dest, idx_t n, T** cursor, const idx_t* count, int p) {
  if (p >= 2 && p <= std::min(g_small_fanout_limit, 4)) {
    // Byte destinations and 4- or 8-byte values: the vectorized scatter (partition_scatter.hpp),
    // which writes exactly the rows (no junk element). The values travel as unsigned integers of
    // their width. It uses normal stores: non-temporal ones (in an earlier version that wrote
    // whole lines from a buffer) made runs of bench_shuffle (4e6 rows per rank, 2 ranks) bimodal
    // by where the process's memory happened to lie (0.029-0.031 s or 0.055-0.065 s for the same
    // shuffle), and a single process scattering 4e6 rows to 2 destinations took twice as long
    // with them (13.7 ms against 6.5-7.5 ms) on the same machine.
    if constexpr (std::is_same_v<D, std::uint8_t> && (sizeof(T) == 8 || sizeof(T) == 4)) {
      if (g_vectorized_scatter && partition_scatter_available()) {
        using U = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
        U* as_bits[4];
        for (int k = 0; k < p; ++k)
          as_bits[k] = reinterpret_cast<U*>(cursor[k]);
        partition_scatter(reinterpret_cast<const U*>(src), dest, n, as_bits, count, p);
        for (int k = 0; k < p; ++k)
          cursor[k] = reinterpret_cast<T*>(as_bits[k]);
        return;
      }
    }
    if (n * static_cast<idx_t>(sizeof(T)) >= kStreamingStoreMinBytes) {
      scatter_small_any<T, true, D>(src, dest, n, cursor, p);
      stream_fence();
    } else {
      scatter_small_any<T, false, D>(src, dest, n, cursor, p);
    }
    return;
  }
  scatter_any(src, dest, n, cursor);
}

// Like scatter, but writes nothing outside each destination's rows (no junk element at a cursor's
// end): for regions that other ranks write next to at the same time.
template <typename T, typename D>
void scatter_exact(const T* src, const D* dest, idx_t n, T** cursor, const idx_t* count, int p) {
  if constexpr (std::is_same_v<D, std::uint8_t> && (sizeof(T) == 8 || sizeof(T) == 4)) {
    if (p >= 2 && p <= std::min(g_small_fanout_limit, 4) && g_vectorized_scatter &&
        partition_scatter_available()) {
      scatter(src, dest, n, cursor, count, p);  // the vectorized kernel is exact
      return;
    }
  }
  scatter_any(src, dest, n, cursor);
}

}  // namespace

std::vector<std::uint64_t> hash_rows(const Table& table, const std::vector<int>& key_columns) {
  std::vector<std::uint64_t> h(static_cast<size_t>(table.num_rows()));
  hash_range(table, key_columns, 0, table.num_rows(), h.data());
  return h;
}

namespace {

// Everything both exchange paths need about one shuffle_to call.
template <typename D>
struct Exchange {
  const mpi::Comm& comm;
  const Table& table;
  const D* dest;
  const std::vector<ColumnPlan>& plan;
  idx_t n;
  int p;
  int plain_columns;
  idx_t rounds;
  // Round k sends input rows [k*n/R, (k+1)*n/R); sent[k*p + d] of them go to rank d and
  // received[k*p + s] rows arrive from rank s.
  const std::vector<idx_t>& sent;
  const std::vector<idx_t>& received;
  // Next output row per source rank; advanced as rows arrive.
  std::vector<idx_t>& out_pos;
  std::vector<Column>& out_cols;
  // Segment path: plain strings arrive in pieces per source and round; concatenated in source
  // order at the end.
  std::vector<std::vector<PlainStrings>>& string_pieces;
  // Direct path: per plain string column (empty for others), the length of every output row
  // (plus a slack row), moved like an int64 column; the characters follow (exchange_plain_chars).
  std::vector<table::Buffer<std::int64_t>>& plain_lengths;
  // Direct path: the transport and its send area. If it reads peers' areas, all_sent[s*R*p +
  // k*p + d] is `sent` of rank s: every rank's layout (otherwise empty).
  const mpi::Exchange* exchanger;
  const std::vector<idx_t>& all_sent;
  // Rank 0's progress report, told after each round how many of this rank's rows are sent.
  Progress& progress;

  idx_t begin(idx_t k) const { return n * k / rounds; }
  idx_t end(idx_t k) const { return n * (k + 1) / rounds; }
};

// Direct path (every count and displacement fits in an MPI int): every column and round is
// scattered once and received straight at its final place in the output column (at the source's
// next output row), so nothing is unpacked. A plain string column travels here as its lengths
// (int64) and validity; its characters follow in exchange_plain_chars. Rows that stay on this rank
// never touch a send buffer: the scatter writes them directly into their output rows, which at 2
// ranks halves both the packing and the traffic. Rows for other ranks go to a send area with one
// region per destination, reused by every column and round, and then through the exchange's
// transport (mpi/exchange.hpp: MPI, on-node shared memory, or both) once per column and round.
template <typename D>
void exchange_direct(const Exchange<D>& x) {
  const int p = x.p;
  const int me = x.comm.rank();
  const auto up = static_cast<size_t>(p);
  const auto ume = static_cast<size_t>(me);
  const auto urounds = static_cast<size_t>(x.rounds);
  // The send area holds a round's remote rows plus one slack element per destination region
  // (scatter_small writes one junk value at each region's end); the caller sized it.
  const mpi::Exchange& exchanger = *x.exchanger;
  void* const send_area = exchanger.send_area();
  // This round's layout, in elements: send counts and offsets in the send area, receive counts
  // and offsets in the output column.
  std::vector<idx_t> sc(up), sd(up), rc(up), rd(up);
  // Where each peer's region for this rank starts in its send area, in elements (for transports
  // that read peers' areas).
  std::vector<idx_t> peer_offset(up, 0);
  std::vector<std::int64_t> round_lengths;  // a plain string column's lengths in this round

  for (idx_t k = 0; k < x.rounds; ++k) {
    maybe_inject_fault("shuffle_round:" + std::to_string(k), x.comm.rank());
    const idx_t begin = x.begin(k);
    const idx_t rows = x.end(k) - begin;
    const idx_t* cnt = &x.sent[static_cast<size_t>(k) * up];
    const idx_t* rcv = &x.received[static_cast<size_t>(k) * up];
    idx_t offset = 0;
    for (int d = 0; d < p; ++d) {
      const auto ud = static_cast<size_t>(d);
      const bool remote = d != me;
      sc[ud] = remote ? cnt[ud] : 0;
      sd[ud] = offset;
      offset += remote ? sc[ud] + 1 : 0;
      rc[ud] = remote ? rcv[ud] : 0;
      rd[ud] = x.out_pos[ud];
    }
    if (exchanger.reads_peer_areas()) {
      for (int s = 0; s < p; ++s) {
        // Rank s lays out its regions as above: destinations in rank order, itself skipped.
        const idx_t* their =
            &x.all_sent[(static_cast<size_t>(s) * urounds + static_cast<size_t>(k)) * up];
        idx_t at = 0;
        for (int d = 0; d < me; ++d)
          if (d != s) at += their[static_cast<size_t>(d)] + 1;
        peer_offset[static_cast<size_t>(s)] = at;
      }
    }
    const idx_t local_begin = x.out_pos[ume];
    const idx_t local_end = local_begin + cnt[ume];

    // Moves the send area's regions (already filled) to their destinations' rows of `out`.
    // Values travel as unsigned integers of their width: bit patterns, NaNs included.
    auto exchange = [&](auto* out) {
      using T = std::remove_pointer_t<decltype(out)>;
      exchanger.exchange(static_cast<int>(sizeof(T)), sc, sd, out, rc, rd, peer_offset);
    };

    // Scatters `src` (this round's rows) and sends the remote part into `out`. The output row
    // after this round's local rows may already hold data (received earlier from the next
    // source) and scatter_small writes junk there, so it is saved and restored; `out` has one
    // slack row at the end for the case that it is the last row.
    // `src` points at this round's first row.
    auto move_column = [&](const auto* src, auto* out) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
      T* const area = static_cast<T*>(send_area);
      std::vector<T*> cursor(up);
      for (int d = 0; d < p; ++d) {
        const auto ud = static_cast<size_t>(d);
        cursor[ud] = d == me ? out + local_begin : area + sd[ud];
      }
      const T saved = out[local_end];
      scatter(src, x.dest + begin, rows, cursor.data(), cnt, p);
      out[local_end] = saved;
      exchange(out);
    };

    for (int c = 0; c < static_cast<int>(x.plan.size()); ++c) {
      const auto& cp = x.plan[static_cast<size_t>(c)];
      const Column& col = x.table.column(c);
      Column& oc = x.out_cols[static_cast<size_t>(c)];
      col.visit([&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, PlainStrings>) {
          move_column(v.data() + begin, std::get<V>(oc.storage()).data());
        } else {
          const auto& offsets = v.offsets;
          round_lengths.resize(static_cast<size_t>(rows));
          for (idx_t i = 0; i < rows; ++i)
            round_lengths[static_cast<size_t>(i)] = offsets[static_cast<size_t>(begin + i) + 1] -
                                                    offsets[static_cast<size_t>(begin + i)];
          move_column(round_lengths.data(), x.plain_lengths[static_cast<size_t>(c)].data());
        }
      });
      if (cp.nulls) {
        const auto& valid = col.validity();
        std::uint8_t* out = oc.validity().data();
        if (valid.empty()) {
          // No nulls here (but on some other rank): every row sent from here is valid. The
          // output validity starts all-valid, so local rows need nothing.
          std::memset(send_area, 1, static_cast<size_t>(offset));
          exchange(out);
        } else {
          move_column(valid.data() + begin, out);
        }
      }
    }
    for (int s = 0; s < p; ++s)
      x.out_pos[static_cast<size_t>(s)] += rcv[static_cast<size_t>(s)];
    x.progress.update(x.end(k));
  }
}

// Direct path, plain strings: once exchange_direct has moved every plain column's lengths, this
// rank knows the offset of each of its output rows, so each round's characters go by one MPI
// alltoallv straight to their final place in the output's bytes, nothing unpacked. Rows that stay
// here are a local copy inside MPI. Before, any plain string column sent the whole table through
// self-describing segments that were then unpacked (exchange_segments): in the README's sort job
// (a plain string column among 7) the rows' exchange took 0.97 s, with this 0.73 s.
template <typename D>
void exchange_plain_chars(const Exchange<D>& x) {
  const int p = x.p;
  const auto up = static_cast<size_t>(p);
  std::vector<idx_t> source_start(up, 0);  // first output row per source
  idx_t out_rows = 0;
  for (size_t s = 0; s < up; ++s) {
    source_start[s] = out_rows;
    for (idx_t k = 0; k < x.rounds; ++k)
      out_rows += x.received[static_cast<size_t>(k) * up + s];
  }
  std::vector<idx_t> sc(up), sd(up), rc(up), rd(up), cursor(up);
  std::string send;  // one round's characters, by destination
  for (int c = 0; c < static_cast<int>(x.plan.size()); ++c) {
    if (!x.plan[static_cast<size_t>(c)].plain) continue;
    const PlainStrings& in = x.table.column(c).plain();
    const auto& lengths = x.plain_lengths[static_cast<size_t>(c)];
    PlainStrings& out = x.out_cols[static_cast<size_t>(c)].plain();
    out.offsets.resize(static_cast<size_t>(out_rows) + 1);
    out.offsets[0] = 0;
    for (size_t r = 0; r < static_cast<size_t>(out_rows); ++r)
      out.offsets[r + 1] = out.offsets[r] + lengths[r];
    out.chars.resize(static_cast<size_t>(out.offsets.back()));
    std::vector<idx_t> next_row = source_start;  // per source: its first row of this round
    for (idx_t k = 0; k < x.rounds; ++k) {
      const idx_t begin = x.begin(k);
      const idx_t end = x.end(k);
      std::fill(sc.begin(), sc.end(), 0);
      for (idx_t i = begin; i < end; ++i)
        sc[static_cast<size_t>(x.dest[i])] +=
            in.offsets[static_cast<size_t>(i) + 1] - in.offsets[static_cast<size_t>(i)];
      idx_t total = 0;
      for (size_t d = 0; d < up; ++d) {
        sd[d] = cursor[d] = total;
        total += sc[d];
      }
      send.resize(static_cast<size_t>(total));
      for (idx_t i = begin; i < end; ++i) {
        const auto from = static_cast<size_t>(in.offsets[static_cast<size_t>(i)]);
        const auto length = static_cast<size_t>(in.offsets[static_cast<size_t>(i) + 1]) - from;
        idx_t& at = cursor[static_cast<size_t>(x.dest[i])];
        std::memcpy(send.data() + at, in.chars.data() + from, length);
        at += static_cast<idx_t>(length);
      }
      for (size_t s = 0; s < up; ++s) {
        const idx_t first = next_row[s];
        const idx_t last = first + x.received[static_cast<size_t>(k) * up + s];
        rd[s] = out.offsets[static_cast<size_t>(first)];
        rc[s] = out.offsets[static_cast<size_t>(last)] - rd[s];
        next_row[s] = last;
      }
      mpi::alltoallv_displaced<char>(x.comm, send.data(), sc, sd, out.chars.data(), rc, rd);
    }
  }
}

// The segment path's layout of round k on this rank: characters per plain string column and
// destination (chars[sc * p + d]), each destination's segment start and size in bytes, and the
// round's total. Segment format: see exchange_segments.
template <typename D>
idx_t segment_layout(const Exchange<D>& x, idx_t k, std::vector<idx_t>& chars,
                     std::vector<idx_t>& seg_start, std::vector<idx_t>& seg_bytes) {
  const int p = x.p;
  const int ncol = static_cast<int>(x.plan.size());
  const idx_t header_bytes = 8 * (1 + x.plain_columns);
  const idx_t begin = x.begin(k);
  const idx_t end = x.end(k);
  const idx_t* cnt = &x.sent[static_cast<size_t>(k * p)];
  std::fill(chars.begin(), chars.end(), 0);
  int sc = 0;
  for (int c = 0; c < ncol; ++c) {
    if (!x.plan[static_cast<size_t>(c)].plain) continue;
    const auto& offs = x.table.column(c).plain().offsets;
    idx_t* ch = &chars[static_cast<size_t>(sc * p)];
    for (idx_t i = begin; i < end; ++i)
      ch[x.dest[i]] += offs[static_cast<size_t>(i) + 1] - offs[static_cast<size_t>(i)];
    ++sc;
  }
  idx_t total_bytes = 0;
  for (int d = 0; d < p; ++d) {
    const idx_t m = cnt[d];
    idx_t b = header_bytes;
    int column = 0;
    for (int c = 0; c < ncol; ++c) {
      const auto& cp = x.plan[static_cast<size_t>(c)];
      if (cp.plain) {
        b += 8 * m + pad8(chars[static_cast<size_t>(column * p + d)]);
        ++column;
      } else {
        b += pad8(m * cp.width);
      }
      if (cp.nulls) b += pad8(m);
    }
    seg_start[static_cast<size_t>(d)] = total_bytes;
    seg_bytes[static_cast<size_t>(d)] = b;
    total_bytes += b;
  }
  return total_bytes;
}

// Local: the largest round of the segment path on this rank, in bytes.
template <typename D>
idx_t largest_segment_round(const Exchange<D>& x) {
  const auto up = static_cast<size_t>(x.p);
  std::vector<idx_t> chars(up * static_cast<size_t>(std::max(x.plain_columns, 1)));
  std::vector<idx_t> seg_start(up), seg_bytes(up);
  idx_t largest = 0;
  for (idx_t k = 0; k < x.rounds; ++k)
    largest = std::max(largest, segment_layout(x, k, chars, seg_start, seg_bytes));
  return largest;
}

// General path: per round, self-describing segments, one per destination, then either one
// MPI alltoallv (split into messages of at most max_message_elements() as needed) or, when
// x.exchanger is set, the exchange's transport (on-node shared memory for peers on this host).
// Received segments are unpacked into the output; this rank's own segment is copied, not sent.
template <typename D>
void exchange_segments(const Exchange<D>& x) {
  const mpi::Comm& comm = x.comm;
  const Table& table = x.table;
  const std::vector<ColumnPlan>& plan = x.plan;
  const int p = x.p;
  const int ncol = static_cast<int>(plan.size());
  const int plain_columns = x.plain_columns;
  std::vector<idx_t>& out_pos = x.out_pos;
  std::vector<Column>& out_cols = x.out_cols;
  std::vector<std::vector<PlainStrings>>& string_pieces = x.string_pieces;
  // ---- rounds -------------------------------------------------------------------------------
  // Round k sends input rows [k*n/R, (k+1)*n/R). Each destination gets one segment per round:
  //   header: row count, then one character count per plain string column (8 bytes each);
  //   per column: values (padded to 8 bytes), validity bytes if planned (padded), or for plain
  //   strings: int64 lengths then characters (padded).
  // Everything is 8-byte aligned so the exchange runs on 64-bit words.
  const idx_t header_bytes = 8 * (1 + plain_columns);
  std::vector<idx_t> cnt(static_cast<size_t>(p));
  std::vector<idx_t> chars(static_cast<size_t>(p * std::max(plain_columns, 1)));
  std::vector<idx_t> seg_bytes(static_cast<size_t>(p));
  std::vector<idx_t> seg_start(static_cast<size_t>(p));
  std::vector<idx_t> send_words(static_cast<size_t>(p));
  std::vector<std::byte*> cursor(static_cast<size_t>(p));
  std::vector<std::uint64_t> send_buf;
  std::vector<std::uint64_t> recv_buf;
  const D* dest = x.dest;
  const mpi::Exchange* exchanger = x.exchanger;
  const auto ume = static_cast<size_t>(comm.rank());

  for (idx_t k = 0; k < x.rounds; ++k) {
    maybe_inject_fault("shuffle_round:" + std::to_string(k), comm.rank());
    const idx_t begin = x.begin(k);
    const idx_t end = x.end(k);
    std::copy_n(&x.sent[static_cast<size_t>(k * p)], p, cnt.begin());
    const idx_t total_bytes = segment_layout(x, k, chars, seg_start, seg_bytes);
    for (int d = 0; d < p; ++d)
      send_words[static_cast<size_t>(d)] = seg_bytes[static_cast<size_t>(d)] / 8;
    std::byte* base = nullptr;
    if (exchanger != nullptr) {
      // Sized by the caller for the largest round of any rank; padding zeroed as in a fresh buffer.
      base = exchanger->send_area();
      std::memset(base, 0, static_cast<size_t>(total_bytes));
    } else {
      send_buf.assign(static_cast<size_t>(total_bytes / 8), 0);
      base = reinterpret_cast<std::byte*>(send_buf.data());
    }
    for (int d = 0; d < p; ++d) {
      std::byte* seg = base + seg_start[static_cast<size_t>(d)];
      const std::uint64_t m = static_cast<std::uint64_t>(cnt[static_cast<size_t>(d)]);
      std::memcpy(seg, &m, 8);
      for (int sc = 0; sc < plain_columns; ++sc) {
        const std::uint64_t ch = static_cast<std::uint64_t>(chars[static_cast<size_t>(sc * p + d)]);
        std::memcpy(seg + 8 * (1 + sc), &ch, 8);
      }
      cursor[static_cast<size_t>(d)] = seg + header_bytes;
    }
    // Column by column: each destination's section starts at its cursor; after a section the
    // cursor is moved to the next 8-byte boundary.
    int sc = 0;
    for (int c = 0; c < ncol; ++c) {
      const auto& cp = plan[static_cast<size_t>(c)];
      const Column& col = table.column(c);
      std::vector<std::byte*> section(cursor);
      if (cp.plain) {
        const PlainStrings& s = col.plain();
        for (idx_t i = begin; i < end; ++i) {
          const std::int64_t len =
              s.offsets[static_cast<size_t>(i) + 1] - s.offsets[static_cast<size_t>(i)];
          std::byte*& cur = cursor[static_cast<size_t>(dest[i])];
          std::memcpy(cur, &len, 8);
          cur += 8;
        }
        for (int d = 0; d < p; ++d)
          section[static_cast<size_t>(d)] = cursor[static_cast<size_t>(d)];
        for (idx_t i = begin; i < end; ++i) {
          const auto sv = s.at(i);
          std::byte*& cur = cursor[static_cast<size_t>(dest[i])];
          std::memcpy(cur, sv.data(), sv.size());
          cur += sv.size();
        }
        for (int d = 0; d < p; ++d)
          cursor[static_cast<size_t>(d)] =
              section[static_cast<size_t>(d)] + pad8(chars[static_cast<size_t>(sc * p + d)]);
        ++sc;
      } else {
        col.visit([&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (!std::is_same_v<V, PlainStrings>)
            scatter_values(v.data(), dest, begin, end, cursor.data());
        });
        for (int d = 0; d < p; ++d)
          cursor[static_cast<size_t>(d)] =
              section[static_cast<size_t>(d)] + pad8(cnt[static_cast<size_t>(d)] * cp.width);
      }
      if (cp.nulls) {
        std::vector<std::byte*> vsec(cursor);
        const auto& valid = col.validity();
        if (valid.empty()) {
          for (int d = 0; d < p; ++d)
            std::memset(cursor[static_cast<size_t>(d)], 1,
                        static_cast<size_t>(cnt[static_cast<size_t>(d)]));
        } else {
          scatter_values(valid.data(), dest, begin, end, cursor.data());
        }
        for (int d = 0; d < p; ++d)
          cursor[static_cast<size_t>(d)] =
              vsec[static_cast<size_t>(d)] + pad8(cnt[static_cast<size_t>(d)]);
      }
    }

    std::vector<idx_t> recv_words;
    if (exchanger == nullptr) {
      recv_buf = mpi::alltoallv<std::uint64_t>(comm, std::span<const std::uint64_t>(send_buf),
                                               send_words, &recv_words);
    } else {
      // Every peer learns its segment's size and where it starts in the sender's area (the
      // shared-memory part reads it from there), in one all-to-all of pairs.
      std::vector<idx_t> layout(2 * static_cast<size_t>(p));
      for (size_t d = 0; d < static_cast<size_t>(p); ++d) {
        layout[2 * d] = send_words[d];
        layout[2 * d + 1] = seg_start[d] / 8;
      }
      const std::vector<idx_t> pairs(static_cast<size_t>(p), 2);
      const std::vector<idx_t> theirs =
          mpi::alltoallv<idx_t>(comm, std::span<const idx_t>(layout), pairs);
      recv_words.assign(static_cast<size_t>(p), 0);
      std::vector<idx_t> peer_start(static_cast<size_t>(p)), recv_at(static_cast<size_t>(p));
      idx_t words = 0;
      for (size_t s = 0; s < static_cast<size_t>(p); ++s) {
        recv_words[s] = theirs[2 * s];
        peer_start[s] = theirs[2 * s + 1];
        recv_at[s] = words;
        words += recv_words[s];
      }
      recv_buf.resize(static_cast<size_t>(words));
      // This rank's own segment is copied, not exchanged.
      std::memcpy(recv_buf.data() + recv_at[ume], base + seg_start[ume],
                  static_cast<size_t>(send_words[ume]) * 8);
      std::vector<idx_t> sc = send_words, rc = recv_words, sd(static_cast<size_t>(p));
      sc[ume] = rc[ume] = 0;
      for (size_t d = 0; d < static_cast<size_t>(p); ++d)
        sd[d] = seg_start[d] / 8;
      exchanger->exchange(8, sc, sd, recv_buf.data(), rc, recv_at, peer_start);
    }

    // ---- unpack: each source's segment goes to that source's next output rows --------------
    const auto* rbase = reinterpret_cast<const std::byte*>(recv_buf.data());
    idx_t off = 0;
    for (int s = 0; s < p; ++s) {
      const std::byte* seg = rbase + off;
      off += recv_words[static_cast<size_t>(s)] * 8;
      std::uint64_t m64 = 0;
      std::memcpy(&m64, seg, 8);
      const idx_t m = static_cast<idx_t>(m64);
      const std::byte* cur = seg + header_bytes;
      idx_t& pos = out_pos[static_cast<size_t>(s)];
      int sc2 = 0;
      for (int c = 0; c < ncol; ++c) {
        const auto& cp = plan[static_cast<size_t>(c)];
        Column& oc = out_cols[static_cast<size_t>(c)];
        if (cp.plain) {
          std::uint64_t nch = 0;
          std::memcpy(&nch, seg + 8 * (1 + sc2), 8);
          PlainStrings& piece = string_pieces[static_cast<size_t>(c)][static_cast<size_t>(s)];
          const std::byte* lens = cur;
          const std::byte* text = cur + 8 * m;
          const size_t first = piece.chars.size();
          const auto* from = reinterpret_cast<const char*>(text);
          piece.chars.insert(piece.chars.end(), from, from + nch);
          std::int64_t at = static_cast<std::int64_t>(first);
          piece.offsets.reserve(piece.offsets.size() + static_cast<size_t>(m));
          for (idx_t r = 0; r < m; ++r) {
            std::int64_t len = 0;
            std::memcpy(&len, lens + 8 * r, 8);
            at += len;
            piece.offsets.push_back(at);
          }
          cur = text + pad8(static_cast<idx_t>(nch));
          ++sc2;
        } else {
          oc.visit([&](auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (!std::is_same_v<V, PlainStrings>) {
              if (m > 0) std::memcpy(v.data() + pos, cur, static_cast<size_t>(m * cp.width));
            }
          });
          cur += pad8(m * cp.width);
        }
        if (cp.nulls) {
          if (m > 0) std::memcpy(oc.validity().data() + pos, cur, static_cast<size_t>(m));
          cur += pad8(m);
        }
      }
      pos += m;
    }
    x.progress.update(end);
  }
}

}  // namespace

namespace detail {
void set_peer_outputs(bool enabled) {
  g_peer_outputs = enabled;
}

void set_vectorized_scatter(bool enabled) {
  g_vectorized_scatter = enabled;
}

void set_small_fanout_limit(int ranks) {
  g_small_fanout_limit = ranks;
}
Transport last_transport() {
  return g_last_transport;
}
TransportBytes transport_bytes() {
  return g_transport_bytes;
}
}  // namespace detail

namespace {

// Collective (mpi::hosts): adds this shuffle's bytes for other ranks to
// g_transport_bytes by where they go and how, and logs them (debug, every rank that logs) so that
// a run across hosts can show that rows really cross hosts, and through which transport. Bytes are
// the payload (values, validity bytes, string lengths and characters), without framing.
template <typename D>
void account_transport(const mpi::Comm& comm, const Table& table, const D* dest,
                       const std::vector<ColumnPlan>& plan, const std::vector<idx_t>& sent,
                       idx_t rounds, const mpi::Exchange* exchanger,
                       bool into_peer_outputs = false) {
  const int p = comm.size();
  const auto up = static_cast<size_t>(p);
  const std::vector<int>& hosts = comm.hosts();
  std::vector<idx_t> rows(up, 0);
  for (idx_t k = 0; k < rounds; ++k)
    for (size_t d = 0; d < up; ++d)
      rows[d] += sent[static_cast<size_t>(k) * up + d];
  idx_t row_bytes = 0;
  for (const auto& cp : plan)
    row_bytes += (cp.plain ? 8 : cp.width) + (cp.nulls ? 1 : 0);
  std::vector<idx_t> bytes(up);
  for (size_t d = 0; d < up; ++d)
    bytes[d] = rows[d] * row_bytes;
  for (size_t c = 0; c < plan.size(); ++c) {
    if (!plan[c].plain) continue;
    const auto& offsets = table.column(static_cast<int>(c)).plain().offsets;
    for (idx_t i = 0; i < table.num_rows(); ++i)
      bytes[static_cast<size_t>(dest[i])] +=
          offsets[static_cast<size_t>(i) + 1] - offsets[static_cast<size_t>(i)];
  }
  const int me = comm.rank();
  detail::TransportBytes now;
  idx_t remote_rows = 0;
  for (int d = 0; d < p; ++d) {
    const auto ud = static_cast<size_t>(d);
    if (d == me) continue;
    remote_rows += rows[ud];
    if (hosts[ud] != hosts[static_cast<size_t>(me)]) {
      now.other_hosts_mpi += bytes[ud];
    } else if (into_peer_outputs || (exchanger != nullptr && exchanger->through_shared_memory(d))) {
      now.this_host_shared_memory += bytes[ud];
    } else {
      now.this_host_mpi += bytes[ud];
    }
  }
  g_transport_bytes.other_hosts_mpi += now.other_hosts_mpi;
  g_transport_bytes.this_host_mpi += now.this_host_mpi;
  g_transport_bytes.this_host_shared_memory += now.this_host_shared_memory;
  const int host_count = *std::max_element(hosts.begin(), hosts.end()) + 1;
  spdlog::debug(
      "shuffle: {} rows ({} bytes) to other ranks: {} bytes to ranks on other hosts through MPI, "
      "{} bytes to ranks on this host (host {} of {}) through {}",
      remote_rows, now.other_hosts_mpi + now.this_host_mpi + now.this_host_shared_memory,
      now.other_hosts_mpi, now.this_host_mpi + now.this_host_shared_memory,
      hosts[static_cast<size_t>(me)], host_count,
      now.this_host_shared_memory > 0 ||
              (exchanger != nullptr && exchanger->reads_peer_areas() && now.this_host_mpi == 0)
          ? "shared memory"
          : "MPI");
}

// Scatters the plain strings of rows [begin, end) into their destinations' outputs: each row's
// characters at its destination's character cursor `chars_at[d]` (an offset into that
// destination's characters `chars[d]`, which ends this rank's region at `chars_end[d]`), and the
// offset where they end at `offsets[d][row_at[d] + 1]`; the cursors advance. Rows of up to 16
// characters are copied as one 16-byte move when both the source and this rank's destination
// region have room for it (the bytes past the row are overwritten by the next row, or lie in this
// rank's region), so that a short string costs no length-dependent copy.
template <typename D>
void scatter_plain(const PlainStrings& in, const D* dest, idx_t begin, idx_t end,
                   std::int64_t* const* offsets, char* const* chars, const std::int64_t* chars_end,
                   std::int64_t* chars_at, idx_t* row_at) {
  const char* from = in.chars.data();
  const auto in_size = static_cast<std::int64_t>(in.chars.size());
  const std::int64_t* in_offsets = in.offsets.data();
  for (idx_t i = begin; i < end; ++i) {
    const auto d = static_cast<size_t>(dest[i]);
    const std::int64_t first = in_offsets[i];
    const std::int64_t length = in_offsets[i + 1] - first;
    const std::int64_t at = chars_at[d];
    char* to = chars[d] + at;
    if (length <= 16 && first + 16 <= in_size && at + 16 <= chars_end[d]) {
      std::memcpy(to, from + first, 16);
    } else {
      std::memcpy(to, from + first, static_cast<size_t>(length));
    }
    chars_at[d] = at + length;
    offsets[d][++row_at[d]] = at + length;
  }
}

// Shared-output path: every rank on one host, no nulls anywhere. Each rank
// allocates its output columns in its shared heap (common/shared_heap.hpp), the ranks tell each
// other where those are, and every rank scatters each column once, straight into the rows that
// each destination's output reserves for it (its rows, in order, after those of lower ranks). A
// plain string column's characters go the same way: each destination's characters from lower
// ranks first, so that every rank knows where its rows' characters start (the sizes are exchanged
// with the row counts) and writes the final offsets itself.
// Nothing is staged or copied a second time: against the staging path (scatter into a staging
// area, which the receiver then copies out of) that is a third less memory traffic. Collective;
// nullopt on every rank (and nothing written anywhere) if any rank's output did not fit in its
// heap, and the caller takes the staging path.
template <typename D>
std::optional<Table> shuffle_into_peer_outputs(const mpi::Comm& comm, const Table& table,
                                               const D* dest, const std::vector<idx_t>& sent,
                                               idx_t rounds, const mpi::PeerHeaps& heaps) {
  const int p = comm.size();
  const int me = comm.rank();
  const auto up = static_cast<size_t>(p);
  const int ncol = table.num_columns();
  const auto uncol = static_cast<size_t>(ncol);
  const idx_t n = table.num_rows();

  // Plain string columns, in column order; their characters per destination follow the row
  // counts in one exchange: to[(1 + j) * p + d] for the j-th plain column.
  std::vector<int> plain_columns;
  for (int c = 0; c < ncol; ++c)
    if (table.column(c).is_plain_strings()) plain_columns.push_back(c);
  const size_t block = up * (1 + plain_columns.size());
  std::vector<idx_t> to(block, 0);  // rows (and characters) from this rank to each destination
  for (size_t k = 0; k < static_cast<size_t>(rounds); ++k)
    for (size_t d = 0; d < up; ++d)
      to[d] += sent[k * up + d];
  for (size_t j = 0; j < plain_columns.size(); ++j) {
    const std::int64_t* offsets = table.column(plain_columns[j]).plain().offsets.data();
    idx_t* chars_to = to.data() + (1 + j) * up;
    for (idx_t i = 0; i < n; ++i)
      chars_to[dest[i]] += offsets[i + 1] - offsets[i];
  }
  const std::vector<idx_t> all_to = mpi::allgather_blocks(comm, std::span<const idx_t>(to));
  idx_t out_rows = 0;
  // This rank's first row (and plain column characters) in each destination's output, and the
  // output's total characters of each plain column.
  std::vector<idx_t> start(block, 0);
  std::vector<idx_t> out_chars(plain_columns.size(), 0);
  for (size_t s = 0; s < up; ++s) {
    out_rows += all_to[s * block + static_cast<size_t>(me)];
    for (size_t j = 0; j < plain_columns.size(); ++j)
      out_chars[j] += all_to[s * block + (1 + j) * up + static_cast<size_t>(me)];
    if (static_cast<int>(s) < me)
      for (size_t e = 0; e < block; ++e)
        start[e] += all_to[s * block + e];
  }

  // The output columns, in this rank's heap; where each starts there, and whether all fit.
  std::vector<Column> out_cols;
  // where[0]: 1 if every column fits in the heap; where[1 + c]: column c's offset there (a plain
  // column's offsets); where[1 + ncol + c]: 1 if its pages are new (mapped by no process yet);
  // where[1 + 2 ncol + c] and where[1 + 3 ncol + c]: the same for a plain column's characters.
  const size_t stride = 4 * uncol + 1;
  std::vector<idx_t> where(stride, 0);
  where[0] = 1;
  auto locate = [&](const void* data, size_t at, size_t fresh_at) {
    if (shared_heap::contains(data)) {
      where[at] = static_cast<const std::byte*>(data) - heaps.base(me);
      where[fresh_at] = shared_heap::fresh_pages(data) ? 1 : 0;
    } else {
      where[0] = 0;
    }
  };
  {
    shared_heap::Scope scope;
    size_t j = 0;  // plain column index
    for (int c = 0; c < ncol; ++c) {
      const Column& in = table.column(c);
      const auto uc = static_cast<size_t>(c);
      Column oc = in.is_plain_strings() ? Column::plain_strings() : Column(in.type());
      if (!in.is_plain_strings()) oc.set_dictionary(in.dictionary());
      oc.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, PlainStrings>) {
          v.offsets.resize(static_cast<size_t>(out_rows) + 1);
          v.offsets[0] = 0;
          v.chars.resize(static_cast<size_t>(out_chars[j]));
          if (out_rows > 0) locate(v.offsets.data(), 1 + uc, 1 + uncol + uc);
          if (out_chars[j] > 0) locate(v.chars.data(), 1 + 2 * uncol + uc, 1 + 3 * uncol + uc);
          ++j;
        } else {
          v.resize(static_cast<size_t>(out_rows));
          if (out_rows > 0) locate(v.data(), 1 + uc, 1 + uncol + uc);
        }
      });
      out_cols.push_back(std::move(oc));
    }
  }
  const std::vector<idx_t> all_where = mpi::allgather_blocks(comm, std::span<const idx_t>(where));
  for (size_t r = 0; r < up; ++r)
    if (all_where[r * stride] == 0) return std::nullopt;

  // Column c of rank d's output (a plain column's offsets), and a plain column's characters, in
  // this process's mapping of d's heap.
  auto column_of = [&](size_t d, int c) {
    return heaps.base(static_cast<int>(d)) + all_where[d * stride + 1 + static_cast<size_t>(c)];
  };
  auto chars_of = [&](size_t d, int c) {
    return heaps.base(static_cast<int>(d)) +
           all_where[d * stride + 1 + 2 * uncol + static_cast<size_t>(c)];
  };
  // Rounds of shuffle_round_bytes as on the staging path: nothing is staged here, so they only
  // pace the progress report and mark the fault-injection points "shuffle_round:<k>".
  Progress progress("shuffling", n, "rows", comm.is_root());
  // Each process maps a peer's new output pages on first write, one fault per 4 KiB page; mapping
  // this rank's regions of new pages in one call per region is cheaper (first shuffle of a job
  // at 4e6 rows per rank, bench_shuffle: about 0.10 s instead of 0.12-0.3 s). Pages a freed
  // block kept are mapped already, and walking them again cost more than it saved.
  auto populate = [](const std::byte* base, idx_t first_byte, idx_t bytes) {
    const auto first =
        reinterpret_cast<std::uintptr_t>(base) + static_cast<std::uintptr_t>(first_byte);
    const std::uintptr_t last = first + static_cast<std::uintptr_t>(bytes);
    const std::uintptr_t page_begin = first & ~std::uintptr_t{4095};
    madvise(reinterpret_cast<void*>(page_begin), last - page_begin, MADV_POPULATE_WRITE);
  };
  {
    size_t j = 0;
    for (int c = 0; c < ncol; ++c) {
      const auto uc = static_cast<size_t>(c);
      const bool plain = table.column(c).is_plain_strings();
      // A plain column's offsets: this rank writes the entries after the rows before its own.
      const idx_t width = plain ? 8 : width_of(table.column(c));
      const idx_t shift = plain ? 1 : 0;
      for (size_t d = 0; d < up; ++d) {
        if (to[d] > 0 && all_where[d * stride + 1 + uncol + uc] != 0)
          populate(column_of(d, c), (start[d] + shift) * width, to[d] * width);
        const idx_t chars = plain ? to[(1 + j) * up + d] : 0;
        if (chars > 0 && all_where[d * stride + 1 + 3 * uncol + uc] != 0)
          populate(chars_of(d, c), start[(1 + j) * up + d], chars);
      }
      if (plain) ++j;
    }
  }
  std::vector<std::byte*> column_at(up);
  std::vector<idx_t> at(start.begin(), start.begin() + p);  // next row of each destination
  // Per plain column: the next character of each destination's output for this rank's rows, the
  // end of this rank's characters there, and the output row whose end offset was written last.
  std::vector<std::vector<std::int64_t>> chars_at(plain_columns.size()),
      chars_end(plain_columns.size());
  std::vector<std::vector<idx_t>> row_at(plain_columns.size());
  for (size_t j = 0; j < plain_columns.size(); ++j) {
    for (size_t d = 0; d < up; ++d) {
      chars_at[j].push_back(start[(1 + j) * up + d]);
      chars_end[j].push_back(start[(1 + j) * up + d] + to[(1 + j) * up + d]);
      row_at[j].push_back(start[d]);
    }
  }
  std::vector<std::int64_t*> offsets_of(up);
  std::vector<char*> characters_of(up);
  for (idx_t k = 0; k < rounds; ++k) {
    maybe_inject_fault("shuffle_round:" + std::to_string(k), me);
    const idx_t begin = n * k / rounds;
    const idx_t end = n * (k + 1) / rounds;
    size_t j = 0;
    for (int c = 0; c < ncol; ++c) {
      for (size_t d = 0; d < up; ++d)
        column_at[d] = column_of(d, c);
      table.column(c).visit([&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, PlainStrings>) {
          for (size_t d = 0; d < up; ++d) {
            offsets_of[d] = reinterpret_cast<std::int64_t*>(column_at[d]);
            characters_of[d] = reinterpret_cast<char*>(chars_of(d, c));
          }
          scatter_plain(v, dest, begin, end, offsets_of.data(), characters_of.data(),
                        chars_end[j].data(), chars_at[j].data(), row_at[j].data());
          ++j;
        } else {
          using T = typename V::value_type;
          std::vector<T*> cursor(up);
          for (size_t d = 0; d < up; ++d)
            cursor[d] = reinterpret_cast<T*>(column_at[d]) + at[d];
          scatter_exact(v.data() + begin, dest + begin, end - begin, cursor.data(),
                        &sent[static_cast<size_t>(k) * up], p);
        }
      });
    }
    for (size_t d = 0; d < up; ++d)
      at[d] += sent[static_cast<size_t>(k) * up + d];
    progress.update(end);
  }
  stream_fence();
  // Every peer's rows are in place once every rank has passed this point.
  comm.barrier();

  Table out;
  for (int c = 0; c < ncol; ++c)
    out.add_column(table.schema().field(c).name, std::move(out_cols[static_cast<size_t>(c)]));
  return out;
}

// shuffle_to for destinations of type D (int from callers; uint8_t from hash_shuffle when there
// are at most 256 ranks, which cuts the destination traffic of every pass over them by 4x).
template <typename D>
Table shuffle_impl(const mpi::Comm& comm, const Table& table, std::span<const D> destination,
                   const ShuffleOptions& options) {
  const int p = comm.size();
  const idx_t n = table.num_rows();
  const int ncol = table.num_columns();
  const auto up = static_cast<size_t>(p);
  const auto uncol = static_cast<size_t>(ncol);

  // Every collective is a point where all ranks wait for the slowest, so the set-up takes one
  // allreduce and one agree: the plan, the round count estimates and the validation all ride on
  // them.
  //
  // ---- one allreduce (max): the plan flags, round estimates and the largest row count --------
  // flags[c] = has nulls, flags[ncol + c] = plain strings, flags[2*ncol + c] = not plain strings
  std::vector<idx_t> global(3 * uncol + 4, 0);
  idx_t max_width = 1;
  idx_t local_bytes = 0;
  idx_t max_chars = 0;  // characters of the largest plain string column
  for (int c = 0; c < ncol; ++c) {
    const Column& col = table.column(c);
    const auto uc = static_cast<size_t>(c);
    const bool plain = col.is_plain_strings();
    global[uc] = col.has_nulls() ? 1 : 0;
    global[uncol + uc] = plain ? 1 : 0;
    global[2 * uncol + uc] = plain ? 0 : 1;
    const idx_t w = width_of(col);
    max_width = std::max(max_width, plain ? idx_t{8} : w);  // plain: int64 lengths (direct path)
    if (plain) max_chars = std::max(max_chars, static_cast<idx_t>(col.plain().chars.size()));
    local_bytes += n * (plain ? 8 : w) + (col.has_nulls() ? n : 0) +
                   (plain ? static_cast<idx_t>(col.plain().chars.size()) : 0);
  }
  // Rounds needed by the segment path (all columns of a round in one buffer) and by the direct
  // path (one column's remote rows, or one plain column's characters, at a time); the paths are
  // chosen below from the global plan.
  const idx_t budget = std::max<idx_t>(1, options.round_bytes);
  global[3 * uncol] = std::max<idx_t>(1, (local_bytes + budget - 1) / budget);
  global[3 * uncol + 1] =
      std::max<idx_t>(1, (std::max(n * max_width, max_chars) + budget - 1) / budget);
  global[3 * uncol + 2] = n;
  global[3 * uncol + 3] = max_chars;
  if (p > 1) mpi::allreduce_inplace(comm, std::span<idx_t>(global), mpi::Reduce::kMax);

  std::vector<ColumnPlan> plan(uncol);
  int plain_columns = 0;
  for (int c = 0; c < ncol; ++c) {
    auto& cp = plan[static_cast<size_t>(c)];
    cp.nulls = global[static_cast<size_t>(c)] != 0;
    cp.plain = global[uncol + static_cast<size_t>(c)] != 0;
    cp.width = cp.plain ? 0 : static_cast<int>(width_of(table.column(c)));
    if (cp.plain) ++plain_columns;
  }
  // Direct path: every count and displacement fits in an MPI int. Its largest receive
  // displacement is below the total row count (<= p * max rows) plus a slack row, its largest
  // send offset n + p slack elements; a plain column's characters on a receiver are at most p
  // times the largest column's on any rank.
  const idx_t max_rows = global[3 * uncol + 2];
  const idx_t max_chars_any = global[3 * uncol + 3];
  const bool direct = (max_rows + 1) * p + 1 <= mpi::max_message_elements() &&
                      max_chars_any * p <= mpi::max_message_elements();
  const idx_t rounds = direct ? global[3 * uncol + 1] : global[3 * uncol];

  // ---- one agree: the plan's consistency, then validation and rows per round and destination,
  // in one pass over the destinations. Agreed, so that a bad destination never leaves other
  // ranks waiting.
  std::vector<idx_t> sent(static_cast<size_t>(rounds) * up, 0);
  comm.agree([&] {
    if (static_cast<idx_t>(destination.size()) != n) {
      throw RuntimeError("shuffle: {} destinations given for a table of {} rows",
                         destination.size(), n);
    }
    if (options.round_bytes <= 0) {
      throw ConfigError("shuffle: round_bytes must be positive, got {}", options.round_bytes);
    }
    for (int c = 0; c < ncol; ++c) {
      if (plan[static_cast<size_t>(c)].plain && global[2 * uncol + static_cast<size_t>(c)] != 0) {
        throw RuntimeError(
            "shuffle: string column '{}' is dictionary-encoded on some ranks and plain on others; "
            "encode it the same way on every rank (table::encode_strings) before shuffling",
            table.schema().field(c).name);
      }
    }
    const D* dest = destination.data();
    std::vector<idx_t> lanes(4 * up);
    for (idx_t k = 0; k < rounds; ++k) {
      const idx_t end = n * (k + 1) / rounds;
      if (!count_destinations(dest, n * k / rounds, end, p, &sent[static_cast<size_t>(k) * up],
                              lanes.data())) {
        for (idx_t i = n * k / rounds; i < end; ++i) {
          if (dest[i] < 0 || dest[i] >= p) {
            throw RuntimeError("shuffle: row {} has destination rank {}, outside [0, {})", i,
                               static_cast<int>(dest[i]), p);
          }
        }
      }
    }
  });

  // One rank: every row stays, in order; the exchange would be a copy through MPI.
  g_last_transport = detail::Transport::kNone;
  if (p == 1) return table;

  // Every rank on one host, no nulls: peers write into each other's outputs.
  // The conditions are global, so every rank asks for the heaps (collective) or none does.
  bool any_nulls = false;
  for (const auto& cp : plan)
    any_nulls = any_nulls || cp.nulls;
  if (g_peer_outputs && direct && options.on_node_shared_memory && !any_nulls) {
    if (const mpi::PeerHeaps* heaps = comm.peer_heaps()) {
      std::optional<Table> out =
          shuffle_into_peer_outputs(comm, table, destination.data(), sent, rounds, *heaps);
      if (out.has_value()) {
        account_transport(comm, table, destination.data(), plan, sent, rounds, nullptr, true);
        g_last_transport = detail::Transport::kPeerOutputs;
        return std::move(*out);
      }
    }
  }

  // The direct path's transport: a send area per rank holding one column's remote rows of one
  // round: at most ceil(max_rows / rounds) rows plus a slack element per destination, of the
  // widest column. Every argument is global, so all ranks ask alike.
  std::optional<mpi::Exchange> exchanger;
  if (direct) {
    idx_t widest = 1;
    for (const auto& cp : plan)
      widest = std::max<idx_t>(widest, cp.plain ? 8 : cp.width);  // plain: int64 lengths
    const idx_t rows_per_round = (max_rows + rounds - 1) / rounds;
    exchanger.emplace(comm, (rows_per_round + p) * widest, options.on_node_shared_memory);
  }
  const bool reads_peer_areas = exchanger.has_value() && exchanger->reads_peer_areas();
  // The segment path's exchanger is made below, once the segment sizes are known.

  // received[k*p + s]: rows arriving from rank s in round k. One exchange for all rounds. A
  // transport that reads peers' areas needs every rank's counts (to find its regions there), MPI
  // only its own.
  std::vector<idx_t> received(sent.size());
  std::vector<idx_t> all_sent;
  if (reads_peer_areas) {
    all_sent = mpi::allgather_blocks(comm, std::span<const idx_t>(sent));
    const auto me = static_cast<size_t>(comm.rank());
    for (size_t k = 0; k < static_cast<size_t>(rounds); ++k)
      for (size_t s = 0; s < up; ++s)
        received[k * up + s] = all_sent[(s * static_cast<size_t>(rounds) + k) * up + me];
  } else {
    std::vector<idx_t> by_dest(sent.size());  // [d][k]: what rank d needs from this rank
    for (idx_t k = 0; k < rounds; ++k)
      for (size_t d = 0; d < up; ++d)
        by_dest[d * static_cast<size_t>(rounds) + static_cast<size_t>(k)] =
            sent[static_cast<size_t>(k) * up + d];
    std::vector<idx_t> by_src(sent.size());  // [s][k]
    const std::vector<idx_t> per_rank(up, rounds);
    mpi::alltoallv<idx_t>(comm, by_dest.data(), per_rank, by_src.data(), per_rank);
    for (idx_t k = 0; k < rounds; ++k)
      for (size_t s = 0; s < up; ++s)
        received[static_cast<size_t>(k) * up + s] =
            by_src[s * static_cast<size_t>(rounds) + static_cast<size_t>(k)];
  }
  std::vector<idx_t> out_pos(up, 0);  // first output row per source
  idx_t out_rows = 0;
  for (size_t s = 0; s < up; ++s) {
    out_pos[s] = out_rows;
    for (idx_t k = 0; k < rounds; ++k)
      out_rows += received[static_cast<size_t>(k) * up + s];
  }

  // Output columns, with one slack row at the end (see exchange_direct), dropped at the end.
  // Values are left uninitialized (table::Buffer): every row is written by the exchange, which
  // saves a pass over the whole output (a quarter of the shuffle's time at 2 ranks).
  std::vector<Column> out_cols;
  std::vector<std::vector<PlainStrings>> string_pieces(static_cast<size_t>(ncol));
  std::vector<table::Buffer<std::int64_t>> plain_lengths(static_cast<size_t>(ncol));
  for (int c = 0; c < ncol; ++c) {
    const Column& in = table.column(c);
    const auto& cp = plan[static_cast<size_t>(c)];
    Column oc = cp.plain ? Column::plain_strings() : Column(in.type());
    if (!cp.plain) {
      oc.set_dictionary(in.dictionary());
      oc.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, PlainStrings>) v.resize(static_cast<size_t>(out_rows + 1));
      });
    } else if (direct) {
      plain_lengths[static_cast<size_t>(c)].resize(static_cast<size_t>(out_rows + 1));
    } else {
      string_pieces[static_cast<size_t>(c)].resize(up);
    }
    if (cp.nulls) oc.validity().assign(static_cast<size_t>(out_rows + 1), 1);
    out_cols.push_back(std::move(oc));
  }

  // Rows of this rank sent so far; a shuffle of a few rounds shows at most its end.
  Progress progress("shuffling", n, "rows", comm.is_root());
  Exchange<D> x{comm,
                table,
                destination.data(),
                plan,
                n,
                p,
                plain_columns,
                rounds,
                sent,
                received,
                out_pos,
                out_cols,
                string_pieces,
                plain_lengths,
                exchanger.has_value() ? &*exchanger : nullptr,
                all_sent,
                progress};
  if (!direct) {
    // The segment path goes through the exchange (shared memory to peers on this host) when
    // every rank's largest round fits in one MPI message; otherwise through split MPI messages.
    const idx_t largest = mpi::allreduce_max(comm, largest_segment_round(x));
    if (largest / 8 <= mpi::max_message_elements()) {
      exchanger.emplace(comm, largest, options.on_node_shared_memory);
      x.exchanger = &*exchanger;
    }
  }
  account_transport(comm, table, destination.data(), plan, sent, rounds, x.exchanger);

  if (direct) {
    switch (exchanger->transport()) {
      case mpi::ExchangeTransport::kMpi:
        g_last_transport = detail::Transport::kMpiDirect;
        break;
      case mpi::ExchangeTransport::kSharedMemory:
        g_last_transport = detail::Transport::kSharedMemory;
        break;
      case mpi::ExchangeTransport::kHybrid:
        g_last_transport = detail::Transport::kHybrid;
        break;
    }
    exchange_direct(x);
    if (plain_columns > 0) exchange_plain_chars(x);
  } else {
    g_last_transport = detail::Transport::kMpiSegments;
    if (x.exchanger != nullptr && x.exchanger->transport() == mpi::ExchangeTransport::kSharedMemory)
      g_last_transport = detail::Transport::kSegmentsSharedMemory;
    if (x.exchanger != nullptr && x.exchanger->transport() == mpi::ExchangeTransport::kHybrid)
      g_last_transport = detail::Transport::kSegmentsHybrid;
    exchange_segments(x);
  }

  Table out;
  // Plain string validity was filled at fixed positions; the values are concatenated now.
  for (int c = 0; c < ncol; ++c) {
    Column& oc = out_cols[static_cast<size_t>(c)];
    // Drop the slack row.
    oc.visit([&](auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (!std::is_same_v<V, PlainStrings>) v.resize(static_cast<size_t>(out_rows));
    });
    if (oc.has_nulls()) oc.validity().resize(static_cast<size_t>(out_rows));
    if (plan[static_cast<size_t>(c)].plain && !direct) {
      PlainStrings all;
      size_t total_chars = 0;
      for (const auto& piece : string_pieces[static_cast<size_t>(c)])
        total_chars += piece.chars.size();
      all.chars.reserve(total_chars);
      all.offsets.reserve(static_cast<size_t>(out_rows) + 1);
      for (const auto& piece : string_pieces[static_cast<size_t>(c)]) {
        const auto shift = static_cast<std::int64_t>(all.chars.size());
        all.chars.insert(all.chars.end(), piece.chars.begin(), piece.chars.end());
        for (size_t r = 1; r < piece.offsets.size(); ++r)
          all.offsets.push_back(piece.offsets[r] + shift);
      }
      oc.plain() = std::move(all);
    }
    oc.compact_validity();
    out.add_column(table.schema().field(c).name, std::move(oc));
  }
  return out;
}

// Destinations of every row: rank_of_hash of the keys' hash.
template <typename D>
void hash_destinations(const Table& table, const std::vector<int>& key_columns, int ranks,
                       D* dest) {
  const idx_t n = table.num_rows();
  const auto p = static_cast<std::uint64_t>(ranks);
  // One int64 key without nulls at a power-of-two rank count (a shuffle by an id column): four
  // keys per AVX2 step, same bits (partition_scatter.hpp).
  if constexpr (std::is_same_v<D, std::uint8_t>) {
    if (key_columns.size() == 1 && (p & (p - 1)) == 0 && g_vectorized_scatter &&
        partition_scatter_available()) {
      const Column& key = table.column(key_columns[0]);
      if ((key.type() == DataType::kInt64 || key.type() == DataType::kTimestamp) &&
          !key.has_nulls()) {
        hash_destinations_int64(key.values<std::int64_t>().data(), n, kHashSeed, ranks, dest);
        return;
      }
    }
  }
  // Hashes in cache-sized chunks: only the destinations are kept.
  constexpr idx_t kChunk = 4096;
  std::uint64_t h[kChunk];
  // rank_of_hash, with the power-of-two test hoisted out of the loop so both loops vectorize.
  const bool pow2 = (p & (p - 1)) == 0;
  for (idx_t begin = 0; begin < n; begin += kChunk) {
    const idx_t end = std::min(n, begin + kChunk);
    hash_range(table, key_columns, begin, end, h);
    D* d = dest + begin;
    if (pow2) {
      for (idx_t i = 0; i < end - begin; ++i)
        d[i] = static_cast<D>(h[i] & (p - 1));
    } else {
      for (idx_t i = 0; i < end - begin; ++i)
        d[i] = static_cast<D>((static_cast<unsigned __int128>(h[i]) * p) >> 64);
    }
  }
}

}  // namespace

Table shuffle_to(const mpi::Comm& comm, const Table& table, std::span<const int> destination,
                 const ShuffleOptions& options) {
  // At most 256 ranks: the destinations go as bytes, which takes the vectorized count and scatter
  // (partition_scatter.hpp) and reads a quarter of the bytes in every pass over them, for one
  // narrowing pass here. A rank with a destination outside [0, p) (or the wrong number of them)
  // keeps the int path, which reports it: both instantiations run the same collectives up to
  // that agreed error, so the ranks still meet.
  const int p = comm.size();
  if (p > 1 && p <= 256 && static_cast<idx_t>(destination.size()) == table.num_rows()) {
    const size_t n = destination.size();
    std::unique_ptr<std::uint8_t[]> narrow(new std::uint8_t[n]);
    const int* d = destination.data();
    unsigned outside = 0;
    for (size_t i = 0; i < n; ++i) {
      outside |= static_cast<unsigned>(d[i]) >= static_cast<unsigned>(p) ? 1u : 0u;
      narrow[i] = static_cast<std::uint8_t>(d[i]);
    }
    if (outside == 0)
      return shuffle_impl<std::uint8_t>(comm, table, std::span<const std::uint8_t>(narrow.get(), n),
                                        options);
  }
  return shuffle_impl<int>(comm, table, destination, options);
}

Table shuffle_to(const mpi::Comm& comm, const Table& table,
                 std::span<const std::uint8_t> destination, const ShuffleOptions& options) {
  // A destination outside [0, p) or the wrong number of them: the int path reports it, with
  // the same collectives on every rank (see above).
  const auto p = static_cast<unsigned>(comm.size());
  unsigned outside = static_cast<idx_t>(destination.size()) == table.num_rows() ? 0u : 1u;
  for (const std::uint8_t d : destination)
    outside |= d >= p ? 1u : 0u;
  if (outside == 0) return shuffle_impl<std::uint8_t>(comm, table, destination, options);
  const std::vector<int> wide(destination.begin(), destination.end());
  return shuffle_impl<int>(comm, table, std::span<const int>(wide), options);
}

Table hash_shuffle(const mpi::Comm& comm, const Table& table, const std::vector<std::string>& keys,
                   const ShuffleOptions& options) {
  std::vector<int> key_columns;
  key_columns.reserve(keys.size());
  // Key names and schema are equal on all ranks, so an unknown key fails identically everywhere.
  for (const auto& k : keys)
    key_columns.push_back(table.schema().index_of(k, "hash shuffle keys"));
  if (comm.size() == 1) {  // every row stays where it is
    g_last_transport = detail::Transport::kNone;
    return table;
  }
  const idx_t n = table.num_rows();
  const auto un = static_cast<size_t>(n);
  // Every element is written by hash_destinations: no zero-fill.
  if (comm.size() <= 256) {
    std::unique_ptr<std::uint8_t[]> dest(new std::uint8_t[un]);
    hash_destinations(table, key_columns, comm.size(), dest.get());
    return shuffle_impl<std::uint8_t>(comm, table, std::span<const std::uint8_t>(dest.get(), un),
                                      options);
  }
  std::unique_ptr<int[]> dest(new int[un]);
  hash_destinations(table, key_columns, comm.size(), dest.get());
  return shuffle_impl<int>(comm, table, std::span<const int>(dest.get(), un), options);
}

}  // namespace shardflow::ops
