// Hash shuffle at every rank count: rows are preserved as a multiset, every key ends on exactly
// one rank (the one its hash names), rounds and split messages do not change the result.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <map>
#include <set>

#include "ops_test_support.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/shared_heap.hpp"
#include "shardflow/mpi/limits.hpp"
#include "shardflow/ops/shuffle.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;

namespace {

struct MessageLimit {
  explicit MessageLimit(idx_t limit) { mpi::set_max_message_elements(limit); }
  ~MessageLimit() { mpi::set_max_message_elements(INT_MAX); }
};

std::vector<std::string> all_rows(const Table& t) {
  std::vector<std::string> rows;
  for (idx_t r = 0; r < t.num_rows(); ++r)
    rows.push_back(render_all(t, r));
  return rows;
}

// Checks a hash_shuffle result against its input: same multiset of rows over all ranks, every
// row on the rank its key hash names, hence every key on exactly one rank.
void check_shuffle(const mpi::Comm& comm, const Table& in, const Table& out,
                   const std::vector<std::string>& keys) {
  ASSERT_EQ(out.schema(), in.schema());
  auto before = allgather_strings(comm, all_rows(in));
  auto after = allgather_strings(comm, all_rows(out));
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after);

  std::vector<int> idx;
  for (const auto& k : keys)
    idx.push_back(out.schema().index_of(k));
  const auto h = ops::hash_rows(out, idx);
  for (idx_t r = 0; r < out.num_rows(); ++r)
    ASSERT_EQ(ops::rank_of_hash(h[static_cast<size_t>(r)], comm.size()), comm.rank());
  std::vector<std::string> key_rank;
  std::set<std::string> local_keys;
  for (idx_t r = 0; r < out.num_rows(); ++r)
    local_keys.insert(render(out, r, keys));
  for (const auto& k : local_keys)
    key_rank.push_back(k + std::to_string(comm.rank()));
  std::map<std::string, int> owners;
  for (const auto& kr : allgather_strings(comm, key_rank))
    ++owners[kr.substr(0, kr.size() - 1)];
  for (const auto& [k, n] : owners)
    EXPECT_EQ(n, 1) << "key " << k << " lives on " << n << " ranks";
}

void expect_same_table(const Table& a, const Table& b) {
  ASSERT_EQ(a.schema(), b.schema());
  ASSERT_EQ(a.num_rows(), b.num_rows());
  EXPECT_EQ(all_rows(a), all_rows(b));
}

struct FanoutLimit {
  explicit FanoutLimit(int ranks) { ops::detail::set_small_fanout_limit(ranks); }
  ~FanoutLimit() { ops::detail::set_small_fanout_limit(4); }
};

// A piece with only fixed-width columns (the shuffle's direct path). Even ranks have nulls in
// the nullable columns, odd ranks none (no validity vectors at all), so both the carried and the
// all-valid validity cases travel.
Table fixed_width_piece(std::uint64_t seed, int rank, idx_t rows) {
  return random_piece(seed, rank, rows, PieceOptions{.null_rate = rank % 2 == 0 ? 0.2 : 0.0})
      .select({"k", "w", "i", "fk", "x", "f32", "b", "t", "s"});
}

// Destination patterns, as functions of (source rank, row, rows of the source, ranks).
int destination_of(int pattern, int src, idx_t row, idx_t rows, int p) {
  switch (pattern) {
    case 0:  // scattered
      return static_cast<int>((row * 7 + src * 3 + row / 5) % p);
    case 1:  // rows stay local only in the first half: later rounds send everything away
      return row < rows / 2 ? src : static_cast<int>((src + 1 + row % std::max(1, p - 1)) % p);
    case 2:  // everything to the last rank
      return p - 1;
    default:  // everything stays
      return src;
  }
}

}  // namespace

TEST(Shuffle, HashRowsDependsOnlyOnValues) {
  Table a = random_piece(3, 0, 200);
  Table b = a.take(std::vector<idx_t>{5, 7, 5});
  const std::vector<int> keys = {0, 3, 5, 8, 9};
  const auto ha = ops::hash_rows(a, keys);
  const auto hb = ops::hash_rows(b, keys);
  EXPECT_EQ(hb[0], ha[5]);
  EXPECT_EQ(hb[1], ha[7]);
  EXPECT_EQ(hb[0], hb[2]);
  // A dictionary string and the same code hash alike; -0.0 and 0.0 hash alike.
  Table z;
  Column f(table::DataType::kFloat64);
  f.values<double>() = {0.0, -0.0};
  z.add_column("f", std::move(f));
  const auto hz = ops::hash_rows(z, {0});
  EXPECT_EQ(hz[0], hz[1]);
}

TEST(Shuffle, RandomTablesByEveryKeyType) {
  mpi::Comm comm;
  for (bool empty_others : {false, true}) {
    Table in = random_piece(11, comm.rank(), rows_of(comm.rank(), comm.size(), 500, empty_others));
    for (const std::vector<std::string>& keys : std::vector<std::vector<std::string>>{
             {"k"}, {"w"}, {"fk"}, {"b"}, {"t"}, {"s"}, {"p"}, {"f32"}, {"k", "s", "p"}}) {
      SCOPED_TRACE(keys.front());
      Table out = ops::hash_shuffle(comm, in, keys);
      check_shuffle(comm, in, out, keys);
      // Dictionaries travel with the schema.
      EXPECT_EQ(out.column("s").dictionary()->values(), test_dictionary()->values());
      EXPECT_FALSE(out.column("p").is_dictionary_encoded());
    }
  }
}

TEST(Shuffle, SkewedKeysAllOnOneRank) {
  mpi::Comm comm;
  Table in = random_piece(5, comm.rank(), 300, PieceOptions{.skew = true});
  Table out = ops::hash_shuffle(comm, in, {"k", "s"});
  check_shuffle(comm, in, out, {"k", "s"});
  const idx_t total = mpi::allreduce_sum<idx_t>(comm, out.num_rows());
  EXPECT_EQ(total, 300 * comm.size());
  EXPECT_TRUE(out.num_rows() == 0 || out.num_rows() == total);
}

TEST(Shuffle, TinyRoundsAndSplitMessagesGiveTheSameResult) {
  mpi::Comm comm;
  Table in = random_piece(21, comm.rank(), rows_of(comm.rank(), comm.size(), 400, false));
  const Table reference = ops::hash_shuffle(comm, in, {"k", "p"});
  const Table tiny =
      ops::hash_shuffle(comm, in, {"k", "p"}, ops::ShuffleOptions{.round_bytes = 64});
  expect_same_table(reference, tiny);
  {
    MessageLimit limit(3);
    const Table split =
        ops::hash_shuffle(comm, in, {"k", "p"}, ops::ShuffleOptions{.round_bytes = 1000});
    EXPECT_EQ(ops::detail::last_transport(), comm.size() == 1
                                                 ? ops::detail::Transport::kNone
                                                 : ops::detail::Transport::kMpiSegments);
    expect_same_table(reference, split);
  }
}

TEST(Shuffle, PlainStringsThroughSharedMemoryAndMpiGiveTheSameResult) {
  // Plain strings take the direct path (lengths with the other columns, then the characters by
  // alltoallv) through on-node shared memory by default, MPI when it is turned off, rounds large
  // and tiny. With a message limit below the direct path's displacements they take the segment
  // path, through shared memory as long as a round's segments fit in one message. Every way gives
  // the same table.
  mpi::Comm comm;
  using ops::detail::Transport;
  const bool one = comm.size() == 1;
  for (bool empty_others : {false, true}) {
    Table in = random_piece(23, comm.rank(), rows_of(comm.rank(), comm.size(), 700, empty_others));
    const Table via_mpi = ops::hash_shuffle(comm, in, {"p"}, {.on_node_shared_memory = false});
    EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kMpiDirect);
    check_shuffle(comm, in, via_mpi, {"p"});
    for (idx_t round_bytes : {idx_t{64} << 20, idx_t{200}}) {
      const Table via_shared = ops::hash_shuffle(
          comm, in, {"p"}, {.round_bytes = round_bytes, .on_node_shared_memory = true});
      EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kSharedMemory);
      expect_same_table(via_mpi, via_shared);
    }
    {
      MessageLimit limit(1000);
      const Table via_segments =
          ops::hash_shuffle(comm, in, {"p"}, {.round_bytes = 200, .on_node_shared_memory = true});
      EXPECT_EQ(ops::detail::last_transport(),
                one ? Transport::kNone : Transport::kSegmentsSharedMemory);
      expect_same_table(via_mpi, via_segments);
    }
  }
}

// Long strings (beyond the 16-byte fast copies elsewhere), empty strings and nulls in a plain
// column, through the direct path in tiny rounds: every value arrives intact, in source order.
TEST(Shuffle, PlainStringsOfAnyLengthKeepTheirBytesOnTheDirectPath) {
  mpi::Comm comm;
  const int p = comm.size();
  const idx_t n = 50 + 7 * comm.rank();
  auto value_of = [](int rank, idx_t r) {
    if (r % 11 == 3) return std::string();
    return fmt::format("{}:{}:", rank, r) + std::string(static_cast<size_t>((r * 37) % 300), 'x');
  };
  Table in;
  Column s = Column::plain_strings();
  Column src(table::DataType::kInt32);
  std::vector<int> dest;
  for (idx_t r = 0; r < n; ++r) {
    s.plain().push_back(value_of(comm.rank(), r));
    src.values<std::int32_t>().push_back(comm.rank());
    dest.push_back(static_cast<int>((r * 5 + comm.rank()) % p));
  }
  s.ensure_validity();
  for (idx_t r = 0; r < n; r += 9)
    s.validity()[static_cast<size_t>(r)] = 0;
  in.add_column("s", std::move(s));
  in.add_column("src", std::move(src));
  for (idx_t round_bytes : {idx_t{64} << 20, idx_t{100}}) {
    const Table out = ops::shuffle_to(comm, in, dest, {.round_bytes = round_bytes});
    if (p > 1) {
      EXPECT_EQ(ops::detail::last_transport(), ops::detail::Transport::kSharedMemory);
    }
    idx_t at = 0;
    for (int rank = 0; rank < p; ++rank) {
      for (idx_t r = 0; r < 50 + 7 * rank; ++r) {
        if ((r * 5 + rank) % p != comm.rank()) continue;
        ASSERT_LT(at, out.num_rows());
        EXPECT_EQ(out.column("s").is_valid(at), r % 9 != 0) << "row " << at;
        if (r % 9 != 0) {
          EXPECT_EQ(out.column("s").plain().at(at), value_of(rank, r)) << "row " << at;
        }
        EXPECT_EQ(out.column("src").values<std::int32_t>()[static_cast<size_t>(at)], rank);
        ++at;
      }
    }
    EXPECT_EQ(at, out.num_rows());
  }
}

TEST(Shuffle, ShuffleToKeepsSourceOrder) {
  mpi::Comm comm;
  const idx_t n = 100 + 13 * comm.rank();
  Table in;
  Column src(table::DataType::kInt32), seq(table::DataType::kInt64);
  std::vector<int> dest;
  for (idx_t r = 0; r < n; ++r) {
    src.values<std::int32_t>().push_back(comm.rank());
    seq.values<std::int64_t>().push_back(r);
    dest.push_back(static_cast<int>((r * 7 + comm.rank()) % comm.size()));
  }
  in.add_column("src", std::move(src));
  in.add_column("seq", std::move(seq));
  Table out = ops::shuffle_to(comm, in, dest, ops::ShuffleOptions{.round_bytes = 100});
  const auto& s = out.column("src").values<std::int32_t>();
  const auto& q = out.column("seq").values<std::int64_t>();
  idx_t expected_rows = 0;
  for (int r = 0; r < comm.size(); ++r)
    for (idx_t i = 0; i < 100 + 13 * r; ++i)
      if ((i * 7 + r) % comm.size() == comm.rank()) ++expected_rows;
  ASSERT_EQ(out.num_rows(), expected_rows);
  for (size_t i = 1; i < s.size(); ++i) {
    ASSERT_LE(s[i - 1], s[i]);
    if (s[i - 1] == s[i]) {
      ASSERT_LT(q[i - 1], q[i]);
    }
  }
  for (size_t i = 0; i < s.size(); ++i)
    ASSERT_EQ((q[i] * 7 + s[i]) % comm.size(), comm.rank());
}

TEST(Shuffle, Errors) {
  mpi::Comm comm;
  Table in = random_piece(1, comm.rank(), 10);
  try {
    ops::hash_shuffle(comm, in, {"kk"});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(
        std::string(e.what()).find("unknown column 'kk' in hash shuffle keys; did you mean 'k'?"),
        std::string::npos)
        << e.what();
  }
  // A bad destination on the last rank makes every rank throw the same error.
  std::vector<int> dest(10, 0);
  if (comm.rank() == comm.size() - 1) dest[4] = comm.size();
  try {
    ops::shuffle_to(comm, in, dest);
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(
        std::string(e.what()).find("row 4 has destination rank " + std::to_string(comm.size())),
        std::string::npos)
        << e.what();
  }
}

// shuffle_to against a brute-force reference, row for row: the result holds each source rank's
// rows for this rank in source-rank order and in their original order within a source. Every
// fixed-width column type, nulls on some ranks only, empty ranks, rounds of every size (so that
// a round's local rows end next to rows already received), both scatter kernels, and the
// segment path (forced by a small message limit) must all give exactly the reference.
TEST(Shuffle, FixedWidthColumnsMatchTheReferenceRowForRow) {
  mpi::Comm comm;
  const int p = comm.size();
  for (bool empty_others : {false, true}) {
    const idx_t base = 240;
    const Table in =
        fixed_width_piece(41, comm.rank(), rows_of(comm.rank(), p, base, empty_others));
    for (int pattern = 0; pattern < 4; ++pattern) {
      std::vector<int> dest;
      for (idx_t r = 0; r < in.num_rows(); ++r)
        dest.push_back(destination_of(pattern, comm.rank(), r, in.num_rows(), p));
      std::vector<std::string> expected;
      for (int src = 0; src < p; ++src) {
        const Table piece = fixed_width_piece(41, src, rows_of(src, p, base, empty_others));
        for (idx_t r = 0; r < piece.num_rows(); ++r)
          if (destination_of(pattern, src, r, piece.num_rows(), p) == comm.rank())
            expected.push_back(render_all(piece, r));
      }
      for (idx_t round_bytes : {idx_t{64} << 20, idx_t{200}, idx_t{8}}) {
        for (int fanout : {4, 0}) {
          for (bool shared_memory : {true, false}) {
            SCOPED_TRACE(::testing::Message()
                         << "empty_others " << empty_others << " pattern " << pattern
                         << " round_bytes " << round_bytes << " fanout " << fanout
                         << " shared_memory " << shared_memory);
            FanoutLimit limit(fanout);
            const Table out =
                ops::shuffle_to(comm, in, dest,
                                ops::ShuffleOptions{.round_bytes = round_bytes,
                                                    .on_node_shared_memory = shared_memory});
            ASSERT_EQ(out.schema(), in.schema());
            EXPECT_EQ(out.column("s").dictionary()->values(), test_dictionary()->values());
            EXPECT_EQ(all_rows(out), expected);
            // Validity is dropped when every received row is valid, kept otherwise.
            for (const auto& name : out.schema().names()) {
              const Column& c = out.column(name);
              bool any_null = false;
              for (idx_t r = 0; r < out.num_rows(); ++r)
                any_null = any_null || !c.is_valid(r);
              EXPECT_EQ(c.has_nulls(), any_null) << name;
            }
          }
        }
      }
      MessageLimit small(5);
      const Table split = ops::shuffle_to(comm, in, dest, ops::ShuffleOptions{.round_bytes = 300});
      EXPECT_EQ(all_rows(split), expected);
    }
  }
}

// hash_shuffle (which carries destinations as bytes) on fixed-width tables, with both kernels
// and many rounds, against the generic checks and against shuffle_to with hash % ranks.
TEST(Shuffle, HashShuffleOfFixedWidthColumns) {
  mpi::Comm comm;
  const Table in = fixed_width_piece(43, comm.rank(), 500 + 91 * comm.rank());
  const std::vector<std::string> keys = {"k", "fk"};
  const auto h = ops::hash_rows(in, {0, 3});
  std::vector<int> dest;
  for (auto x : h)
    dest.push_back(ops::rank_of_hash(x, comm.size()));
  const Table reference = ops::shuffle_to(comm, in, dest);
  for (int fanout : {4, 0}) {
    FanoutLimit limit(fanout);
    for (idx_t round_bytes : {idx_t{64} << 20, idx_t{512}}) {
      const Table out =
          ops::hash_shuffle(comm, in, keys, ops::ShuffleOptions{.round_bytes = round_bytes});
      check_shuffle(comm, in, out, keys);
      expect_same_table(out, reference);
    }
  }
}

namespace {

// Values of the large-table test, all functions of a row id = source rank << 32 | row.
std::int64_t id_of(int src, idx_t row) {
  return static_cast<std::int64_t>(src) << 32 | row;
}
double x_of(std::int64_t id) {
  return static_cast<double>(id) * 0.25 - 3.0;
}
std::int32_t i32_of(std::int64_t id) {
  return static_cast<std::int32_t>(id * 2654435761LL);
}
bool valid_of(std::int64_t id) {
  return id % 7 != 3;
}

}  // namespace

// Tables large enough that the scatter streams its stores past the cache (a column's round of
// several MiB), over both transports and over several rounds: every rank receives exactly the
// rows addressed to it, in source order, each value intact. All ranks of a test share one host,
// so the default transport must be the on-node shared memory one.
TEST(Shuffle, LargeTablesOverBothTransports) {
  mpi::Comm comm;
  const int p = comm.size();
  const idx_t rows = 300000 + 1000 * comm.rank();
  Table in;
  {
    Column id(DataType::kInt64), x(DataType::kFloat64), i32(DataType::kInt32);
    auto& idv = id.values<std::int64_t>();
    auto& xv = x.values<double>();
    auto& iv = i32.values<std::int32_t>();
    for (idx_t r = 0; r < rows; ++r) {
      const std::int64_t v = id_of(comm.rank(), r);
      idv.push_back(v);
      xv.push_back(x_of(v));
      iv.push_back(i32_of(v));
      x.validity().push_back(valid_of(v) ? 1 : 0);
    }
    in.add_column("id", std::move(id));
    in.add_column("x", std::move(x));
    in.add_column("i32", std::move(i32));
  }
  std::vector<int> dest(static_cast<size_t>(rows));
  for (idx_t r = 0; r < rows; ++r)
    dest[static_cast<size_t>(r)] = destination_of(0, comm.rank(), r, rows, p);
  std::vector<std::int64_t> expected;
  for (int src = 0; src < p; ++src) {
    const idx_t n = 300000 + 1000 * src;
    for (idx_t r = 0; r < n; ++r)
      if (destination_of(0, src, r, n, p) == comm.rank()) expected.push_back(id_of(src, r));
  }
  for (bool shared_memory : {true, false}) {
    for (idx_t round_bytes : {idx_t{64} << 20, idx_t{3} << 20}) {
      SCOPED_TRACE(::testing::Message()
                   << "shared_memory " << shared_memory << " round_bytes " << round_bytes);
      const Table out = ops::shuffle_to(
          comm, in, dest,
          ops::ShuffleOptions{.round_bytes = round_bytes, .on_node_shared_memory = shared_memory});
      if (p == 1) {
        EXPECT_EQ(ops::detail::last_transport(), ops::detail::Transport::kNone);
      } else {
        EXPECT_EQ(ops::detail::last_transport(), shared_memory
                                                     ? ops::detail::Transport::kSharedMemory
                                                     : ops::detail::Transport::kMpiDirect);
      }
      ASSERT_EQ(out.num_rows(), static_cast<idx_t>(expected.size()));
      const auto& id = out.column("id").values<std::int64_t>();
      const Column& x = out.column("x");
      const auto& i32 = out.column("i32").values<std::int32_t>();
      idx_t wrong = 0;
      for (size_t r = 0; r < expected.size(); ++r) {
        const std::int64_t v = expected[r];
        const bool ok = id[r] == v && x.is_valid(static_cast<idx_t>(r)) == valid_of(v) &&
                        (!valid_of(v) || x.values<double>()[r] == x_of(v)) && i32[r] == i32_of(v);
        if (!ok && wrong++ < 3) ADD_FAILURE() << "row " << r << " expected id " << v;
      }
      EXPECT_EQ(wrong, 0);
    }
  }
}

// The agreed errors of the set-up: a wrong number of destinations, a string column encoded
// differently on different ranks, a non-positive round size. Every rank throws the same error.
TEST(Shuffle, SetupErrorsAreAgreed) {
  mpi::Comm comm;
  const Table in = fixed_width_piece(3, comm.rank(), 10);
  std::vector<int> dest(10, 0);
  if (comm.rank() == 0) dest.resize(3);
  try {
    ops::shuffle_to(comm, in, dest);
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("3 destinations given for a table of 10 rows"),
              std::string::npos)
        << e.what();
  }
  dest.assign(10, 0);
  try {
    ops::shuffle_to(comm, in, dest, ops::ShuffleOptions{.round_bytes = 0});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("round_bytes must be positive, got 0"), std::string::npos)
        << e.what();
  }
  Table mixed;
  Column name = comm.rank() == 0 ? Column::plain_strings() : Column(table::DataType::kString);
  if (comm.rank() == 0) {
    name.plain().push_back("AT");
  } else {
    name.set_dictionary(test_dictionary());
    name.codes().push_back(0);
  }
  mixed.add_column("name", std::move(name));
  const std::vector<int> one(1, 0);
  if (comm.size() == 1) {
    EXPECT_EQ(ops::shuffle_to(comm, mixed, one).num_rows(), 1);
    return;
  }
  try {
    ops::shuffle_to(comm, mixed, one);
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "string column 'name' is dictionary-encoded on some ranks and plain on others"),
              std::string::npos)
        << e.what();
  }
}

namespace {

struct PeerOutputs {
  explicit PeerOutputs(bool enabled) { ops::detail::set_peer_outputs(enabled); }
  ~PeerOutputs() { ops::detail::set_peer_outputs(true); }
};

// Same schema, rows and value bits in every column (cheaper than rendering large tables).
void expect_same_values(const Table& a, const Table& b) {
  ASSERT_EQ(a.schema(), b.schema());
  ASSERT_EQ(a.num_rows(), b.num_rows());
  for (int c = 0; c < a.num_columns(); ++c) {
    EXPECT_EQ(a.column(c).validity(), b.column(c).validity()) << a.schema().field(c).name;
    a.column(c).visit([&](const auto& va) {
      using V = std::decay_t<decltype(va)>;
      const auto& vb = std::get<V>(b.column(c).storage());
      if constexpr (std::is_same_v<V, table::PlainStrings>) {
        EXPECT_TRUE(va.offsets == vb.offsets) << "column " << a.schema().field(c).name;
        EXPECT_TRUE(va.chars == vb.chars) << "column " << a.schema().field(c).name;
      } else {
        EXPECT_TRUE(std::equal(va.begin(), va.end(), vb.begin(),
                               [](auto x, auto y) { return std::memcmp(&x, &y, sizeof x) == 0; }))
            << "column " << a.schema().field(c).name << " differs";
      }
    });
  }
}

}  // namespace

// Tables without nulls or plain strings on one host: every rank writes its rows straight into the
// output columns of the others (kPeerOutputs), which live in each receiver's shared heap. The
// result is bit for bit the staging path's, for hash and explicit destinations, every pattern,
// empty ranks, tables large enough for streaming stores, the vectorized and the generic scatter;
// and when one rank's heap cannot hold its output, every rank takes the staging path.
TEST(Shuffle, NumericTablesGoStraightIntoPeerOutputs) {
  mpi::Comm comm;
  using ops::detail::Transport;
  const int p = comm.size();
  const bool one = p == 1;
  for (idx_t base : {idx_t{500}, idx_t{300000}}) {
    for (bool empty_others : {false, true}) {
      if (base > 500 && empty_others) continue;
      const idx_t rows = rows_of(comm.rank(), p, base, empty_others);
      Table in = random_piece(31, comm.rank(), rows, PieceOptions{.null_rate = 0.0})
                     .select({"k", "w", "i", "fk", "x", "f32", "b", "t", "s"});
      for (int c = 0; c < in.num_columns(); ++c)
        ASSERT_FALSE(in.column(c).has_nulls());
      for (int pattern = -1; pattern < 4; ++pattern) {
        SCOPED_TRACE(::testing::Message() << "rows " << rows << " pattern " << pattern);
        std::vector<int> dest(static_cast<size_t>(rows));
        for (idx_t r = 0; r < rows; ++r)
          dest[static_cast<size_t>(r)] = destination_of(pattern, comm.rank(), r, rows, p);
        auto run = [&] {
          return pattern < 0 ? ops::hash_shuffle(comm, in, {"w", "s"})
                             : ops::shuffle_to(comm, in, dest);
        };
        const Table direct = run();
        EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kPeerOutputs);
        if (!one && direct.num_rows() > 0) {
          EXPECT_TRUE(shared_heap::contains(direct.column("w").values<std::int64_t>().data()));
        }
        Table staged;
        {
          PeerOutputs off(false);
          staged = run();
          EXPECT_EQ(ops::detail::last_transport(),
                    one ? Transport::kNone : Transport::kSharedMemory);
        }
        expect_same_values(direct, staged);
        if (pattern < 0 && base == 500) check_shuffle(comm, in, direct, {"w", "s"});
        {
          // Many small rounds: cursors carry on from round to round.
          const Table rounds = pattern < 0
                                   ? ops::hash_shuffle(comm, in, {"w", "s"}, {.round_bytes = 5000})
                                   : ops::shuffle_to(comm, in, dest, {.round_bytes = 5000});
          EXPECT_EQ(ops::detail::last_transport(),
                    one ? Transport::kNone : Transport::kPeerOutputs);
          expect_same_values(direct, rounds);
        }
        {
          FanoutLimit generic(1);
          expect_same_values(direct, run());
        }
        {
          ops::detail::set_vectorized_scatter(false);
          const Table scalar = run();
          ops::detail::set_vectorized_scatter(true);
          expect_same_values(direct, scalar);
        }
      }
      // The last rank's heap is full: nobody writes into anybody's heap.
      if (comm.rank() == p - 1) shared_heap::set_used_limit(shared_heap::used_bytes());
      const Table fallback = ops::hash_shuffle(comm, in, {"w", "s"});
      shared_heap::set_used_limit(~std::size_t{0});
      EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kSharedMemory);
      PeerOutputs off(false);
      expect_same_values(fallback, ops::hash_shuffle(comm, in, {"w", "s"}));
    }
  }
}

// Plain string columns without nulls go into peer outputs too: each rank writes its rows'
// characters after those of lower ranks in each destination's characters, and their end offsets.
// Strings of every length from 0 to 40 (across the 16-byte copies, whose room is checked against
// the end of the source's characters and of this rank's region in the destination), a column of
// only empty strings (no characters at all), empty ranks and one-row rounds: bit for bit the
// staging path's table, every value in source order, and the staging path when a heap is full.
TEST(Shuffle, PlainStringsWithoutNullsGoStraightIntoPeerOutputs) {
  mpi::Comm comm;
  using ops::detail::Transport;
  const int p = comm.size();
  const bool one = p == 1;
  for (bool empty_others : {false, true}) {
    const idx_t n = empty_others && comm.rank() > 0 ? 0 : 300 + 37 * comm.rank();
    auto value_of = [](int rank, idx_t r) {
      const auto length = static_cast<size_t>((r * 7 + rank) % 41);
      std::string s = fmt::format("{}.{}|", rank, r);
      s.resize(length, static_cast<char>('a' + (r + rank) % 26));
      return s;
    };
    Table in;
    Column s = Column::plain_strings(), none = Column::plain_strings();
    Column src(table::DataType::kInt32), row(table::DataType::kInt64);
    std::vector<int> dest;
    for (idx_t r = 0; r < n; ++r) {
      s.plain().push_back(value_of(comm.rank(), r));
      none.plain().push_back({});
      src.values<std::int32_t>().push_back(comm.rank());
      row.values<std::int64_t>().push_back(r);
      dest.push_back(static_cast<int>((r / 3 + comm.rank()) % p));
    }
    in.add_column("s", std::move(s));
    in.add_column("src", std::move(src));
    in.add_column("none", std::move(none));
    in.add_column("row", std::move(row));
    for (idx_t round_bytes : {idx_t{64} << 20, idx_t{8}}) {
      SCOPED_TRACE(::testing::Message()
                   << "round bytes " << round_bytes << " empty others " << empty_others);
      const Table direct = ops::shuffle_to(comm, in, dest, {.round_bytes = round_bytes});
      EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kPeerOutputs);
      if (!one && direct.num_rows() > 0) {
        EXPECT_TRUE(shared_heap::contains(direct.column("s").plain().chars.data()));
        EXPECT_TRUE(shared_heap::contains(direct.column("s").plain().offsets.data()));
      }
      Table staged;
      {
        PeerOutputs off(false);
        staged = ops::shuffle_to(comm, in, dest, {.round_bytes = round_bytes});
        EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kSharedMemory);
      }
      expect_same_values(direct, staged);
      idx_t at = 0;
      for (int rank = 0; rank < p; ++rank) {
        const idx_t rows = empty_others && rank > 0 ? 0 : 300 + 37 * rank;
        for (idx_t r = 0; r < rows; ++r) {
          if (static_cast<int>((r / 3 + rank) % p) != comm.rank()) continue;
          ASSERT_LT(at, direct.num_rows());
          EXPECT_EQ(direct.column("s").plain().at(at), value_of(rank, r)) << "row " << at;
          EXPECT_EQ(direct.column("none").plain().at(at), "") << "row " << at;
          EXPECT_EQ(direct.column("src").values<std::int32_t>()[static_cast<size_t>(at)], rank);
          EXPECT_EQ(direct.column("row").values<std::int64_t>()[static_cast<size_t>(at)], r);
          ++at;
        }
      }
      EXPECT_EQ(at, direct.num_rows());
    }
    // The last rank's heap is full: nobody writes into anybody's heap.
    if (comm.rank() == p - 1) shared_heap::set_used_limit(shared_heap::used_bytes());
    const Table fallback = ops::shuffle_to(comm, in, dest);
    shared_heap::set_used_limit(~std::size_t{0});
    EXPECT_EQ(ops::detail::last_transport(), one ? Transport::kNone : Transport::kSharedMemory);
    PeerOutputs off(false);
    expect_same_values(fallback, ops::shuffle_to(comm, in, dest));
  }
}

// The byte-destination overload moves every row exactly as the int one does (every pattern,
// empty ranks, small rounds), and a bad destination is the same agreed error.
TEST(Shuffle, ByteDestinationsMatchIntDestinations) {
  mpi::Comm comm;
  const int p = comm.size();
  for (bool empty_others : {false, true}) {
    const idx_t rows = rows_of(comm.rank(), p, 300, empty_others);
    const Table in = random_piece(23, comm.rank(), rows);
    for (int pattern = 0; pattern < 4; ++pattern) {
      SCOPED_TRACE(pattern);
      std::vector<int> wide;
      std::vector<std::uint8_t> bytes;
      for (idx_t r = 0; r < rows; ++r) {
        wide.push_back(destination_of(pattern, comm.rank(), r, rows, p));
        bytes.push_back(static_cast<std::uint8_t>(wide.back()));
      }
      for (idx_t round_bytes : {idx_t{64} << 20, idx_t{200}}) {
        const Table a = ops::shuffle_to(comm, in, wide, {.round_bytes = round_bytes});
        const Table b = ops::shuffle_to(comm, in, std::span<const std::uint8_t>(bytes),
                                        {.round_bytes = round_bytes});
        expect_same_table(a, b);
      }
    }
  }
  Table in = random_piece(1, comm.rank(), 10);
  std::vector<std::uint8_t> dest(10, 0);
  if (comm.rank() == comm.size() - 1) dest[6] = static_cast<std::uint8_t>(comm.size());
  try {
    ops::shuffle_to(comm, in, std::span<const std::uint8_t>(dest));
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(
        std::string(e.what()).find("row 6 has destination rank " + std::to_string(comm.size())),
        std::string::npos)
        << e.what();
  }
}
