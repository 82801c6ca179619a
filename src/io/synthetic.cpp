#include "shardflow/io/synthetic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/io/csv_writer.hpp"

namespace shardflow::io {

namespace {

enum class Kind { kGroupBy, kClassification, kEvents, kLabels };

Kind parse_kind(std::string_view kind) {
  if (kind == "groupby") return Kind::kGroupBy;
  if (kind == "classification") return Kind::kClassification;
  if (kind == "events") return Kind::kEvents;
  if (kind == "labels") return Kind::kLabels;
  throw ConfigError(
      "unknown synthetic data kind '{}'; known kinds: groupby, classification, events, labels",
      kind);
}

/// Counter-based RNG: one well-mixed 64-bit word per (seed, kind, row, column). No state, so any
/// rank can produce any row, and the values never depend on the rank count.
class CounterRng {
 public:
  CounterRng(std::uint64_t seed, Kind kind)
      : base_(hash_u64(seed ^ 0x9e3779b97f4a7c15ULL) ^
              hash_u64(static_cast<std::uint64_t>(kind) + 0x632be59bd9b4e019ULL)) {}
  std::uint64_t row_key(idx_t row) const {
    return hash_u64(base_ ^ (static_cast<std::uint64_t>(row) * 0xd1b54a32d192ed03ULL));
  }
  static std::uint64_t draw(std::uint64_t row_key, std::uint64_t column) {
    return hash_u64(row_key + (column + 1) * 0x8cb92ba72f3d8dd7ULL);
  }
  /// Uniform integer in [lo, hi] (multiply-shift, no modulo bias worth mentioning).
  static std::int64_t uniform_int(std::uint64_t bits, std::int64_t lo, std::int64_t hi) {
    const auto range = static_cast<unsigned __int128>(hi - lo + 1);
    return lo + static_cast<std::int64_t>((static_cast<unsigned __int128>(bits) * range) >> 64);
  }
  /// Uniform double in [0, 1).
  static double uniform01(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1p-53; }
  /// Uniform double in (0, 1].
  static double uniform01_open(std::uint64_t bits) {
    return static_cast<double>((bits >> 11) + 1) * 0x1p-53;
  }
  /// Standard normal from two draws (Box-Muller).
  static double normal(std::uint64_t a, std::uint64_t b) {
    return std::sqrt(-2.0 * std::log(uniform01_open(a))) *
           std::cos(2.0 * std::numbers::pi * uniform01(b));
  }

 private:
  std::uint64_t base_;
};

void append_int(std::int64_t v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

/// "id" followed by `v` zero-padded to `width` digits (printf "id%0<width>d").
void append_id(std::int64_t v, int width, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  const auto n = static_cast<int>(end - buf);
  out.append("id");
  for (int i = n; i < width; ++i)
    out.push_back('0');
  out.append(buf, end);
}

/// printf "%.<digits>f".
void append_fixed(double v, int digits, std::string& out) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, digits);
  out.append(buf, end);
}

void groupby_block(const CounterRng& rng, idx_t total, idx_t first, idx_t rows, std::string& out) {
  constexpr std::int64_t kK = 100;
  const std::int64_t nk = std::max<std::int64_t>(1, total / kK);
  for (idx_t i = first; i < first + rows; ++i) {
    const std::uint64_t key = rng.row_key(i);
    append_id(CounterRng::uniform_int(CounterRng::draw(key, 0), 1, kK), 3, out);
    out.push_back(',');
    append_id(CounterRng::uniform_int(CounterRng::draw(key, 1), 1, kK), 3, out);
    out.push_back(',');
    append_id(CounterRng::uniform_int(CounterRng::draw(key, 2), 1, nk), 10, out);
    out.push_back(',');
    append_int(CounterRng::uniform_int(CounterRng::draw(key, 3), 1, kK), out);
    out.push_back(',');
    append_int(CounterRng::uniform_int(CounterRng::draw(key, 4), 1, kK), out);
    out.push_back(',');
    append_int(CounterRng::uniform_int(CounterRng::draw(key, 5), 1, nk), out);
    out.push_back(',');
    append_int(CounterRng::uniform_int(CounterRng::draw(key, 6), 1, 5), out);
    out.push_back(',');
    append_int(CounterRng::uniform_int(CounterRng::draw(key, 7), 1, 15), out);
    out.push_back(',');
    append_fixed(CounterRng::uniform01(CounterRng::draw(key, 8)) * 100.0, 6, out);
    out.push_back('\n');
  }
}

void classification_block(const CounterRng& rng, idx_t first, idx_t rows, std::string& out) {
  static constexpr const char* kSegments[5] = {"seg_a", "seg_b", "seg_c", "seg_d", "seg_e"};
  static constexpr double kSegmentEffect[5] = {-0.5, -0.25, 0.0, 0.25, 0.5};
  for (idx_t i = first; i < first + rows; ++i) {
    const std::uint64_t key = rng.row_key(i);
    const auto d = [&](std::uint64_t column) { return CounterRng::draw(key, column); };
    const auto segment = static_cast<size_t>(CounterRng::uniform_int(d(0), 0, 4));
    const double x1 = CounterRng::normal(d(1), d(2));
    const double x2 = CounterRng::normal(d(3), d(4));
    const double x3 = CounterRng::normal(d(5), d(6));
    const double x4 = CounterRng::uniform01(d(7)) * 10.0;
    double amount = std::exp(3.0 + 0.8 * CounterRng::normal(d(8), d(9)));
    if (CounterRng::uniform01(d(10)) < 0.05) amount = -amount;
    const double logit = 1.5 * x1 - 2.0 * x2 + 0.5 * x3 + 0.1 * x4 - 0.5 + kSegmentEffect[segment];
    const double p = 1.0 / (1.0 + std::exp(-logit));
    const int label = CounterRng::uniform01(d(11)) < p ? 1 : 0;
    append_int(i, out);
    out.push_back(',');
    out.append(kSegments[segment]);
    for (double x : {x1, x2, x3, x4}) {
      out.push_back(',');
      append_fixed(x, 6, out);
    }
    out.push_back(',');
    append_fixed(amount, 2, out);
    out.push_back(',');
    out.push_back(static_cast<char>('0' + label));
    out.push_back('\n');
  }
}

// ---- events and labels --------------------------------------------------------------------
// Users u = 0..U-1 with U = max(1, N / 50); event i belongs to user i % U and is that user's
// (i / U)-th event, on day i / U after kEventsEpoch at a random second of that day, so each
// user's events are one a day in row order. A label's latest event at or before its time is
// therefore found in O(1), and the label is drawn from that event's features.

constexpr std::int64_t kDay = 86'400;                 // seconds
constexpr std::int64_t kEventsEpoch = 1'704'067'200;  // 2024-01-01 00:00:00 UTC, seconds
constexpr std::int64_t kRecentSeconds = 7 * kDay;     // features older than this are stale

struct EventsShape {
  std::int64_t events, users;
  explicit EventsShape(idx_t n) : events(n), users(std::max<std::int64_t>(1, n / 50)) {}
  std::int64_t events_of(std::int64_t user) const {
    return events / users + (user < events % users ? 1 : 0);
  }
};

struct Event {
  std::int64_t user, second;  // second: since kEventsEpoch
  double f1, f2, f3;
};

Event event_at(const CounterRng& rng, const EventsShape& shape, std::int64_t i) {
  const std::uint64_t key = rng.row_key(i);
  const auto d = [&](std::uint64_t column) { return CounterRng::draw(key, column); };
  Event e;
  e.user = i % shape.users;
  e.second = (i / shape.users) * kDay + CounterRng::uniform_int(d(0), 0, kDay - 1);
  e.f1 = CounterRng::normal(d(1), d(2));
  e.f2 = CounterRng::normal(d(3), d(4));
  e.f3 = CounterRng::uniform01(d(5)) * 10.0;
  return e;
}

void append_time(std::int64_t second, std::string& out) {
  csv::append_timestamp((kEventsEpoch + second) * 1'000'000, out);
}

void events_block(const CounterRng& rng, idx_t total, idx_t first, idx_t rows, std::string& out) {
  const EventsShape shape(total);
  for (idx_t i = first; i < first + rows; ++i) {
    const Event e = event_at(rng, shape, i);
    append_int(i, out);
    out.push_back(',');
    append_int(e.user, out);
    out.push_back(',');
    append_time(e.second, out);
    for (double x : {e.f1, e.f2, e.f3}) {
      out.push_back(',');
      append_fixed(x, 6, out);
    }
    out.push_back('\n');
  }
}

/// Labels of the `events`-row events table: user uniform, time uniform from 2 days before the
/// user's first event to 8 days after their last; label ~ Bernoulli(sigmoid(2 f1 - 1.5 f2 +
/// 0.4 (f3 - 5))) of the user's latest event at or before the label time if that event is at most
/// 7 days old, else Bernoulli(sigmoid(-1)).
void labels_block(std::uint64_t seed, const CounterRng& rng, idx_t events, idx_t first, idx_t rows,
                  std::string& out) {
  const EventsShape shape(events);
  const CounterRng event_rng(seed, Kind::kEvents);
  for (idx_t l = first; l < first + rows; ++l) {
    const std::uint64_t key = rng.row_key(l);
    const auto d = [&](std::uint64_t column) { return CounterRng::draw(key, column); };
    const std::int64_t user = CounterRng::uniform_int(d(0), 0, shape.users - 1);
    const std::int64_t count = shape.events_of(user);
    const std::int64_t second = CounterRng::uniform_int(d(1), -2 * kDay, (count + 8) * kDay - 1);
    double logit = -1.0;
    if (second >= 0 && count > 0) {
      std::int64_t seq = std::min(second / kDay, count - 1);
      Event e = event_at(event_rng, shape, seq * shape.users + user);
      if (e.second > second && seq > 0) e = event_at(event_rng, shape, --seq * shape.users + user);
      if (e.second <= second && second - e.second <= kRecentSeconds)
        logit = 2.0 * e.f1 - 1.5 * e.f2 + 0.4 * (e.f3 - 5.0);
    }
    const int label = CounterRng::uniform01(d(2)) < 1.0 / (1.0 + std::exp(-logit)) ? 1 : 0;
    append_int(l, out);
    out.push_back(',');
    append_int(user, out);
    out.push_back(',');
    append_time(second, out);
    out.push_back(',');
    out.push_back(static_cast<char>('0' + label));
    out.push_back('\n');
  }
}

/// Rows of data set `kind` generated for `rows` (labels: one per 10 events).
idx_t output_rows(Kind kind, idx_t rows) {
  return kind == Kind::kLabels ? rows / 10 : rows;
}

}  // namespace

std::vector<std::string> synthetic_kinds() {
  return {"groupby", "classification", "events", "labels"};
}

std::string synthetic_csv_header(std::string_view kind) {
  switch (parse_kind(kind)) {
    case Kind::kGroupBy:
      return "id1,id2,id3,id4,id5,id6,v1,v2,v3\n";
    case Kind::kClassification:
      return "id,segment,x1,x2,x3,x4,amount,label\n";
    case Kind::kEvents:
      return "event_id,user_id,ts,f1,f2,f3\n";
    case Kind::kLabels:
      return "label_id,user_id,label_ts,label\n";
  }
  return {};
}

void generate_csv_block(std::string_view kind, std::uint64_t seed, idx_t total_rows,
                        idx_t first_row, idx_t rows, std::string& out) {
  const Kind k = parse_kind(kind);
  if (first_row < 0 || rows < 0 || first_row + rows > output_rows(k, total_rows)) {
    throw RuntimeError("synthetic block [{}, {}) is outside the {}-row data set", first_row,
                       first_row + rows, output_rows(k, total_rows));
  }
  const CounterRng rng(seed, k);
  out.reserve(out.size() + static_cast<size_t>(rows) * (k == Kind::kGroupBy ? 56 : 64));
  if (k == Kind::kGroupBy)
    groupby_block(rng, total_rows, first_row, rows, out);
  else if (k == Kind::kClassification)
    classification_block(rng, first_row, rows, out);
  else if (k == Kind::kEvents)
    events_block(rng, total_rows, first_row, rows, out);
  else
    labels_block(seed, rng, total_rows, first_row, rows, out);
}

void generate_csv(const mpi::Comm& comm, std::string_view kind, idx_t rows, std::uint64_t seed,
                  const std::string& path) {
  const Kind k = parse_kind(kind);  // equal on all ranks: every rank throws the same ConfigError
  if (rows < 0) throw ConfigError("synthetic data: --rows must be >= 0 (got {})", rows);
  const idx_t out_rows = output_rows(k, rows);
  const auto p = static_cast<__int128>(comm.size());
  const auto first = static_cast<idx_t>(out_rows * static_cast<__int128>(comm.rank()) / p);
  const auto last = static_cast<idx_t>(out_rows * static_cast<__int128>(comm.rank() + 1) / p);
  std::string text;
  if (comm.is_root()) text = synthetic_csv_header(kind);
  // In blocks, for progress: every row is a function of its index, so blocks change nothing.
  constexpr idx_t kBlock = 1 << 18;
  Progress progress(fmt::format("generating {} data", kind), last - first, "rows", comm.is_root());
  for (idx_t b = first; b < last; b += kBlock) {
    generate_csv_block(kind, seed, rows, b, std::min(kBlock, last - b), text);
    progress.update(b + std::min(kBlock, last - b) - first);
  }
  progress.finish();
  write_ordered_text(comm, text, path);
}

}  // namespace shardflow::io
