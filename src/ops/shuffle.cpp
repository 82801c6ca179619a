#include "shardflow/ops/shuffle.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

#include "shardflow/common/hash.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/mpi/limits.hpp"

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
template <typename T>
void scatter_values(const T* src, const int* dest, idx_t begin, idx_t end, std::byte** cursor) {
  for (idx_t i = begin; i < end; ++i) {
    std::byte*& c = cursor[dest[i]];
    std::memcpy(c, &src[i], sizeof(T));
    c += sizeof(T);
  }
}

}  // namespace

namespace {

// Hash of rows [begin, end) into h[0, end - begin).
void hash_range(const Table& table, const std::vector<int>& key_columns, idx_t begin, idx_t end,
                std::uint64_t* h) {
  const size_t n = static_cast<size_t>(end - begin);
  const size_t b = static_cast<size_t>(begin);
  std::fill(h, h + n, kHashSeed);
  for (int k : key_columns) {
    const Column& c = table.column(k);
    const std::uint8_t* valid = c.validity().empty() ? nullptr : c.validity().data() + b;
    auto combine = [&](const auto* v, auto key_of) {
      if (valid == nullptr) {
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
            h[i] =
                hash_combine(h[i], ok ? hash_string(s.at(static_cast<idx_t>(b + i))) : kNullHash);
          }
        }
        break;
    }
  }
}

template <typename T>
void scatter_typed(const T* src, const int* dest, idx_t begin, idx_t end, T** cursor) {
  for (idx_t i = begin; i < end; ++i)
    *cursor[dest[i]]++ = src[i];
}

}  // namespace

std::vector<std::uint64_t> hash_rows(const Table& table, const std::vector<int>& key_columns) {
  std::vector<std::uint64_t> h(static_cast<size_t>(table.num_rows()));
  hash_range(table, key_columns, 0, table.num_rows(), h.data());
  return h;
}

Table shuffle_to(const mpi::Comm& comm, const Table& table, std::span<const int> destination,
                 const ShuffleOptions& options) {
  const int p = comm.size();
  const idx_t n = table.num_rows();
  const int ncol = table.num_columns();

  // ---- validation, agreed so that a bad destination never leaves other ranks waiting --------
  comm.agree([&] {
    if (static_cast<idx_t>(destination.size()) != n) {
      throw RuntimeError("shuffle: {} destinations given for a table of {} rows",
                         destination.size(), n);
    }
    for (idx_t i = 0; i < n; ++i) {
      const int d = destination[static_cast<size_t>(i)];
      if (d < 0 || d >= p) {
        throw RuntimeError("shuffle: row {} has destination rank {}, outside [0, {})", i, d, p);
      }
    }
    if (options.round_bytes <= 0) {
      throw ConfigError("shuffle: round_bytes must be positive, got {}", options.round_bytes);
    }
  });

  // One rank: every row stays, in order; the exchange would be a copy through MPI.
  if (p == 1) return table;

  // ---- plan: which columns carry validity; encodings must agree ------------------------------
  // flags[c] = has nulls, flags[ncol + c] = plain strings, flags[2*ncol + c] = not plain strings
  std::vector<int> flags(static_cast<size_t>(3 * ncol), 0);
  for (int c = 0; c < ncol; ++c) {
    const Column& col = table.column(c);
    const bool plain = col.type() == DataType::kString && !col.is_dictionary_encoded();
    flags[static_cast<size_t>(c)] = col.has_nulls() ? 1 : 0;
    flags[static_cast<size_t>(ncol + c)] = plain ? 1 : 0;
    flags[static_cast<size_t>(2 * ncol + c)] = plain ? 0 : 1;
  }
  mpi::allreduce_inplace(comm, std::span<int>(flags), MPI_MAX);
  std::vector<ColumnPlan> plan(static_cast<size_t>(ncol));
  int plain_columns = 0;
  comm.agree([&] {
    for (int c = 0; c < ncol; ++c) {
      auto& cp = plan[static_cast<size_t>(c)];
      cp.nulls = flags[static_cast<size_t>(c)] != 0;
      cp.plain = flags[static_cast<size_t>(ncol + c)] != 0;
      if (cp.plain && flags[static_cast<size_t>(2 * ncol + c)] != 0) {
        throw RuntimeError(
            "shuffle: string column '{}' is dictionary-encoded on some ranks and plain on others; "
            "encode it the same way on every rank (table::encode_strings) before shuffling",
            table.schema().field(c).name);
      }
      cp.width = cp.plain ? 0 : static_cast<int>(width_of(table.column(c)));
      if (cp.plain) ++plain_columns;
    }
  });

  // ---- number of rounds ---------------------------------------------------------------------
  idx_t fixed_row_bytes = 0;
  idx_t string_bytes = 0;
  for (int c = 0; c < ncol; ++c) {
    const auto& cp = plan[static_cast<size_t>(c)];
    fixed_row_bytes += cp.plain ? 8 : cp.width;
    if (cp.nulls) fixed_row_bytes += 1;
    if (cp.plain) string_bytes += static_cast<idx_t>(table.column(c).plain().chars.size());
  }
  const idx_t local_bytes = n * fixed_row_bytes + string_bytes;
  const idx_t rounds = mpi::allreduce_max<idx_t>(
      comm, std::max<idx_t>(1, (local_bytes + options.round_bytes - 1) / options.round_bytes));

  // ---- totals per source, so every fixed-width value is written straight to its final place ---
  std::vector<idx_t> send_total(static_cast<size_t>(p), 0);
  for (idx_t i = 0; i < n; ++i)
    ++send_total[static_cast<size_t>(destination[static_cast<size_t>(i)])];
  const std::vector<idx_t> recv_total = mpi::alltoall_counts(comm, send_total);
  std::vector<idx_t> out_pos(static_cast<size_t>(p), 0);  // next output row per source
  idx_t out_rows = 0;
  for (int s = 0; s < p; ++s) {
    out_pos[static_cast<size_t>(s)] = out_rows;
    out_rows += recv_total[static_cast<size_t>(s)];
  }

  Table out;
  std::vector<Column> out_cols;
  // Plain strings arrive in pieces per source and round; they are concatenated in source order.
  std::vector<std::vector<PlainStrings>> string_pieces(static_cast<size_t>(ncol));
  for (int c = 0; c < ncol; ++c) {
    const Column& in = table.column(c);
    const auto& cp = plan[static_cast<size_t>(c)];
    Column oc = cp.plain ? Column::plain_strings() : Column(in.type());
    if (!cp.plain) {
      oc.set_dictionary(in.dictionary());
      oc.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, PlainStrings>) v.resize(static_cast<size_t>(out_rows));
      });
    } else {
      string_pieces[static_cast<size_t>(c)].resize(static_cast<size_t>(p));
    }
    if (cp.nulls) oc.validity().assign(static_cast<size_t>(out_rows), 1);
    out_cols.push_back(std::move(oc));
  }

  // ---- direct path: one MPI_Alltoallv per column straight into the output ------------------
  // When every count and displacement fits in an MPI int (and there are no plain strings), each
  // column is scattered by destination into one reused send buffer and received directly at its
  // final place in the output column (receive displacements = the source's next output row), so
  // the data are copied once on each side, like a hand-written alltoallv of packed buffers.
  const idx_t limit = mpi::max_message_elements();
  const int fits = (plain_columns == 0 && n <= limit && out_rows <= limit) ? 1 : 0;
  if (mpi::allreduce_min<int>(comm, fits) == 1) {
    idx_t max_round_rows = 0;
    for (idx_t k = 0; k < rounds; ++k)
      max_round_rows = std::max(max_round_rows, n * (k + 1) / rounds - n * k / rounds);
    std::unique_ptr<std::byte[]> buffer(new std::byte[static_cast<size_t>(max_round_rows) * 8 + 8]);
    std::vector<idx_t> cnt(static_cast<size_t>(p));
    std::vector<int> sc(static_cast<size_t>(p)), sd(static_cast<size_t>(p)),
        rc(static_cast<size_t>(p)), rd(static_cast<size_t>(p));
    std::vector<void*> cursor(static_cast<size_t>(p));
    const int* dest = destination.data();
    for (idx_t k = 0; k < rounds; ++k) {
      const idx_t begin = n * k / rounds;
      const idx_t end = n * (k + 1) / rounds;
      std::fill(cnt.begin(), cnt.end(), 0);
      for (idx_t i = begin; i < end; ++i)
        ++cnt[static_cast<size_t>(dest[i])];
      const std::vector<idx_t> recv = mpi::alltoall_counts(comm, cnt);
      int offset = 0;
      for (int d = 0; d < p; ++d) {
        const auto ud = static_cast<size_t>(d);
        sc[ud] = static_cast<int>(cnt[ud]);
        sd[ud] = offset;
        offset += sc[ud];
        rc[ud] = static_cast<int>(recv[ud]);
        rd[ud] = static_cast<int>(out_pos[ud]);
      }
      auto exchange = [&](int width, void* out_data) {
        const MPI_Datatype type = width == 1   ? MPI_UINT8_T
                                  : width == 4 ? MPI_UINT32_T
                                               : MPI_UINT64_T;
        mpi::check(MPI_Alltoallv(buffer.get(), sc.data(), sd.data(), type, out_data, rc.data(),
                                 rd.data(), type, comm.native()),
                   "MPI_Alltoallv (shuffle)");
      };
      for (int c = 0; c < ncol; ++c) {
        const auto& cp = plan[static_cast<size_t>(c)];
        const Column& col = table.column(c);
        Column& oc = out_cols[static_cast<size_t>(c)];
        col.visit([&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (!std::is_same_v<V, PlainStrings>) {
            using T = typename V::value_type;
            std::vector<T*> cur(static_cast<size_t>(p));
            for (int d = 0; d < p; ++d)
              cur[static_cast<size_t>(d)] =
                  reinterpret_cast<T*>(buffer.get()) + sd[static_cast<size_t>(d)];
            scatter_typed(v.data(), dest, begin, end, cur.data());
            auto& ov = std::get<V>(oc.storage());
            exchange(static_cast<int>(sizeof(T)), ov.data());
          }
        });
        if (cp.nulls) {
          const auto& valid = col.validity();
          if (valid.empty()) {
            std::memset(buffer.get(), 1, static_cast<size_t>(end - begin));
          } else {
            std::vector<std::uint8_t*> cur(static_cast<size_t>(p));
            for (int d = 0; d < p; ++d)
              cur[static_cast<size_t>(d)] =
                  reinterpret_cast<std::uint8_t*>(buffer.get()) + sd[static_cast<size_t>(d)];
            scatter_typed(valid.data(), dest, begin, end, cur.data());
          }
          exchange(1, oc.validity().data());
        }
      }
      for (int s = 0; s < p; ++s)
        out_pos[static_cast<size_t>(s)] += recv[static_cast<size_t>(s)];
    }
  } else {
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
    const int* dest = destination.data();

    for (idx_t k = 0; k < rounds; ++k) {
      const idx_t begin = n * k / rounds;
      const idx_t end = n * (k + 1) / rounds;
      std::fill(cnt.begin(), cnt.end(), 0);
      std::fill(chars.begin(), chars.end(), 0);
      for (idx_t i = begin; i < end; ++i)
        ++cnt[static_cast<size_t>(dest[i])];
      {
        int sc = 0;
        for (int c = 0; c < ncol; ++c) {
          if (!plan[static_cast<size_t>(c)].plain) continue;
          const auto& offs = table.column(c).plain().offsets;
          idx_t* ch = &chars[static_cast<size_t>(sc * p)];
          for (idx_t i = begin; i < end; ++i)
            ch[dest[i]] += offs[static_cast<size_t>(i) + 1] - offs[static_cast<size_t>(i)];
          ++sc;
        }
      }
      idx_t total_bytes = 0;
      for (int d = 0; d < p; ++d) {
        const idx_t m = cnt[static_cast<size_t>(d)];
        idx_t b = header_bytes;
        int sc = 0;
        for (int c = 0; c < ncol; ++c) {
          const auto& cp = plan[static_cast<size_t>(c)];
          if (cp.plain) {
            b += 8 * m + pad8(chars[static_cast<size_t>(sc * p + d)]);
            ++sc;
          } else {
            b += pad8(m * cp.width);
          }
          if (cp.nulls) b += pad8(m);
        }
        seg_start[static_cast<size_t>(d)] = total_bytes;
        seg_bytes[static_cast<size_t>(d)] = b;
        send_words[static_cast<size_t>(d)] = b / 8;
        total_bytes += b;
      }
      send_buf.assign(static_cast<size_t>(total_bytes / 8), 0);
      auto* base = reinterpret_cast<std::byte*>(send_buf.data());
      for (int d = 0; d < p; ++d) {
        std::byte* seg = base + seg_start[static_cast<size_t>(d)];
        const std::uint64_t m = static_cast<std::uint64_t>(cnt[static_cast<size_t>(d)]);
        std::memcpy(seg, &m, 8);
        for (int sc = 0; sc < plain_columns; ++sc) {
          const std::uint64_t ch =
              static_cast<std::uint64_t>(chars[static_cast<size_t>(sc * p + d)]);
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
      recv_buf = mpi::alltoallv<std::uint64_t>(comm, std::span<const std::uint64_t>(send_buf),
                                               send_words, &recv_words);

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
            piece.chars.append(reinterpret_cast<const char*>(text), static_cast<size_t>(nch));
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
    }
  }

  // Plain string validity was filled at fixed positions; the values are concatenated now.
  for (int c = 0; c < ncol; ++c) {
    Column& oc = out_cols[static_cast<size_t>(c)];
    if (plan[static_cast<size_t>(c)].plain) {
      PlainStrings all;
      size_t total_chars = 0;
      for (const auto& piece : string_pieces[static_cast<size_t>(c)])
        total_chars += piece.chars.size();
      all.chars.reserve(total_chars);
      all.offsets.reserve(static_cast<size_t>(out_rows) + 1);
      for (const auto& piece : string_pieces[static_cast<size_t>(c)]) {
        const auto shift = static_cast<std::int64_t>(all.chars.size());
        all.chars.append(piece.chars);
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

Table hash_shuffle(const mpi::Comm& comm, const Table& table, const std::vector<std::string>& keys,
                   const ShuffleOptions& options) {
  std::vector<int> key_columns;
  key_columns.reserve(keys.size());
  // Key names and schema are equal on all ranks, so an unknown key fails identically everywhere.
  for (const auto& k : keys)
    key_columns.push_back(table.schema().index_of(k, "hash shuffle keys"));
  if (comm.size() == 1) return table;  // every row stays where it is
  // Hashes in cache-sized chunks: only the 4-byte destinations are kept.
  const idx_t n = table.num_rows();
  std::vector<int> dest(static_cast<size_t>(n));
  const auto p = static_cast<std::uint64_t>(comm.size());
  constexpr idx_t kChunk = 4096;
  std::uint64_t h[kChunk];
  for (idx_t begin = 0; begin < n; begin += kChunk) {
    const idx_t end = std::min(n, begin + kChunk);
    hash_range(table, key_columns, begin, end, h);
    for (idx_t i = begin; i < end; ++i)
      dest[static_cast<size_t>(i)] = static_cast<int>(h[i - begin] % p);
  }
  return shuffle_to(comm, table, dest, options);
}

}  // namespace shardflow::ops
