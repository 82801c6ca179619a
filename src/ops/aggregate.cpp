#include "shardflow/ops/aggregate.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <type_traits>

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::PlainStrings;

std::string_view to_string(AggKind kind) {
  switch (kind) {
    case AggKind::kSum:
      return "sum";
    case AggKind::kCount:
      return "count";
    case AggKind::kMean:
      return "mean";
    case AggKind::kMin:
      return "min";
    case AggKind::kMax:
      return "max";
  }
  return "?";
}

std::optional<AggKind> parse_agg_kind(std::string_view name) {
  if (name == "sum") return AggKind::kSum;
  if (name == "count") return AggKind::kCount;
  if (name == "mean" || name == "avg") return AggKind::kMean;
  if (name == "min") return AggKind::kMin;
  if (name == "max") return AggKind::kMax;
  return std::nullopt;
}

std::string output_name(const AggSpec& spec) {
  if (!spec.output.empty()) return spec.output;
  if (spec.column.empty()) return "count";
  return spec.column + "_" + std::string(to_string(spec.kind));
}

DataType aggregate_output_type(AggKind kind, DataType input, std::string_view column) {
  switch (kind) {
    case AggKind::kCount:
      return DataType::kInt64;
    case AggKind::kSum:
    case AggKind::kMean:
      if (input == DataType::kString) {
        throw ConfigError(
            "cannot compute {} of string column '{}'; {} needs a numeric column (use count, min "
            "or max for strings)",
            to_string(kind), column, to_string(kind));
      }
      if (kind == AggKind::kMean || is_floating(input)) return DataType::kFloat64;
      return DataType::kInt64;
    case AggKind::kMin:
    case AggKind::kMax:
      return input;
  }
  return input;
}

namespace {

// Total order for min/max: -0.0 < 0.0 and NaN is greater than every number, so the result does
// not depend on the order in which values arrive (and hence not on the rank count).
template <typename T>
inline bool less_than(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    if (a == b) return std::signbit(a) && !std::signbit(b);
  }
  return a < b;
}

template <typename F>
inline void for_valid(size_t n, const std::vector<std::uint8_t>& valid, F&& f) {
  if (valid.empty()) {
    for (size_t i = 0; i < n; ++i)
      f(i);
  } else {
    for (size_t i = 0; i < n; ++i)
      if (valid[i]) f(i);
  }
}

template <typename V>
constexpr bool kIsValues = !std::is_same_v<V, PlainStrings>;

std::string int128_to_string(__int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  auto magnitude =
      negative ? -static_cast<unsigned __int128>(value) : static_cast<unsigned __int128>(value);
  std::string digits;
  while (magnitude > 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

Column int64_column(table::Buffer<std::int64_t> v) {
  Column c(DataType::kInt64);
  c.values<std::int64_t>() = std::move(v);
  return c;
}
Column float64_column(table::Buffer<double> v) {
  Column c(DataType::kFloat64);
  c.values<double>() = std::move(v);
  return c;
}

// Validity from "count > 0" (aggregates over no non-null value are null).
void set_validity_from_count(Column& c, const table::Buffer<std::int64_t>& count) {
  bool any_null = false;
  for (auto n : count)
    any_null |= (n == 0);
  if (!any_null) return;
  auto& valid = c.validity();
  valid.resize(count.size());
  for (size_t g = 0; g < count.size(); ++g)
    valid[g] = count[g] > 0 ? 1 : 0;
}

}  // namespace

AggregateState::AggregateState(AggKind kind, DataType input, bool plain_strings,
                               table::DictionaryPtr dictionary, bool count_star)
    : kind_(kind),
      input_(input),
      plain_(plain_strings),
      star_(count_star),
      dictionary_(std::move(dictionary)),
      extreme_(input) {
  if (star_ && kind_ != AggKind::kCount) {
    throw ConfigError("{}(*) is not an aggregate; only count(*) may omit the column",
                      to_string(kind_));
  }
  if (kind_ == AggKind::kSum || kind_ == AggKind::kMean) aggregate_output_type(kind_, input_, "");
  if (input_ == DataType::kString) {
    if (plain_)
      extreme_ = Column::plain_strings();
    else
      extreme_.set_dictionary(dictionary_);
  }
}

bool AggregateState::is_float_sum() const {
  return (kind_ == AggKind::kMean || kind_ == AggKind::kSum) && is_floating(input_);
}

bool AggregateState::needs_wide_state() const {
  return is_float_sum() && fsum_.has_wide();
}

void AggregateState::resize(idx_t groups) {
  const auto g = static_cast<size_t>(groups);
  count_.resize(g, 0);
  switch (kind_) {
    case AggKind::kCount:
      break;
    case AggKind::kSum:
    case AggKind::kMean:
      if (is_float_sum()) {
        fsum_.resize(g);
      } else {
        isum_.resize(g, 0);
      }
      break;
    case AggKind::kMin:
    case AggKind::kMax:
      if (plain_) {
        extreme_str_.resize(g);
      } else {
        extreme_.visit([&](auto& v) {
          if constexpr (kIsValues<std::decay_t<decltype(v)>>) v.resize(g, {});
        });
      }
      break;
  }
}

void AggregateState::update(const Column* input, std::span<const std::int32_t> gid) {
  const size_t n = gid.size();
  auto* cnt = count_.data();
  if (star_) {
    for (size_t i = 0; i < n; ++i)
      ++cnt[gid[i]];
    return;
  }
  const auto& valid = input->validity();
  switch (kind_) {
    case AggKind::kCount:
      if (valid.empty()) {
        for (size_t i = 0; i < n; ++i)
          ++cnt[gid[i]];
      } else {
        for (size_t i = 0; i < n; ++i)
          cnt[gid[i]] += valid[i];
      }
      return;
    case AggKind::kSum:
    case AggKind::kMean:
      input->visit([&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (kIsValues<V>) {
          if (is_float_sum()) {
            if (!fsum_.anchored()) {
              double max_abs = 0;
              for_valid(n, valid, [&](size_t i) {
                const double a = std::fabs(static_cast<double>(v[i]));
                if (a > max_abs && std::isfinite(a)) max_abs = a;
              });
              fsum_.anchor(max_abs);
            }
            for_valid(n, valid, [&](size_t i) {
              const auto g = gid[i];
              fsum_.add(static_cast<size_t>(g), static_cast<double>(v[i]));
              ++cnt[g];
            });
          } else {
            // 128 bits cannot overflow: it would take 2^63 values of magnitude 2^63.
            auto* s = isum_.data();
            for_valid(n, valid, [&](size_t i) {
              const auto g = gid[i];
              s[g] += static_cast<std::int64_t>(v[i]);
              ++cnt[g];
            });
          }
        }
      });
      return;
    case AggKind::kMin:
    case AggKind::kMax: {
      const bool is_min = kind_ == AggKind::kMin;
      if (plain_) {
        const PlainStrings& s = input->plain();
        for_valid(n, valid, [&](size_t i) {
          const auto g = gid[i];
          const auto sv = s.at(static_cast<idx_t>(i));
          auto& cur = extreme_str_[static_cast<size_t>(g)];
          if (cnt[g] == 0 || (is_min ? sv < cur : cur < sv)) cur.assign(sv);
          ++cnt[g];
        });
        return;
      }
      input->visit([&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (kIsValues<V>) {
          auto& e = extreme_.values<typename V::value_type>();
          auto* ep = e.data();
          if (is_min) {
            for_valid(n, valid, [&](size_t i) {
              const auto g = gid[i];
              if (cnt[g] == 0 || less_than(v[i], ep[g])) ep[g] = v[i];
              ++cnt[g];
            });
          } else {
            for_valid(n, valid, [&](size_t i) {
              const auto g = gid[i];
              if (cnt[g] == 0 || less_than(ep[g], v[i])) ep[g] = v[i];
              ++cnt[g];
            });
          }
        }
      });
      return;
    }
  }
}

int AggregateState::num_state_columns(bool with_wide) const {
  if (kind_ == AggKind::kCount) return 1;
  if (is_float_sum()) return ExactSums::kColumns + (with_wide ? 1 : 0) + 1;
  // Integer sum or mean: the low and high 64 bits of the 128-bit sum, count.
  if (kind_ == AggKind::kSum || kind_ == AggKind::kMean) return 3;
  return 2;
}

std::vector<Column> AggregateState::state_columns(bool with_wide) const {
  std::vector<Column> out;
  if (kind_ != AggKind::kCount) {
    if (is_float_sum()) {
      fsum_.state_columns(out, with_wide);
    } else if (kind_ == AggKind::kSum || kind_ == AggKind::kMean) {
      table::Buffer<std::int64_t> low(isum_.size()), high(isum_.size());
      for (size_t g = 0; g < isum_.size(); ++g) {
        const auto bits = static_cast<unsigned __int128>(isum_[g]);
        low[g] = static_cast<std::int64_t>(static_cast<std::uint64_t>(bits));
        high[g] = static_cast<std::int64_t>(static_cast<std::uint64_t>(bits >> 64));
      }
      out.push_back(int64_column(std::move(low)));
      out.push_back(int64_column(std::move(high)));
    } else if (plain_) {
      Column c = Column::plain_strings();
      for (const auto& s : extreme_str_)
        c.plain().push_back(s);
      out.push_back(std::move(c));
    } else {
      out.push_back(extreme_);
    }
  }
  out.push_back(int64_column(count_));
  return out;
}

void AggregateState::merge(std::span<const Column> partial, std::span<const std::int32_t> gid) {
  const size_t n = gid.size();
  auto* cnt = count_.data();
  const auto& pc = partial.back().values<std::int64_t>();  // count is always last
  switch (kind_) {
    case AggKind::kCount:
      for (size_t i = 0; i < n; ++i)
        cnt[gid[i]] += pc[i];
      return;
    case AggKind::kSum:
    case AggKind::kMean:
      if (is_float_sum()) {
        fsum_.merge(partial.first(partial.size() - 1), gid);
        for (size_t i = 0; i < n; ++i)
          cnt[gid[i]] += pc[i];
      } else {
        const auto& low = partial[0].values<std::int64_t>();
        const auto& high = partial[1].values<std::int64_t>();
        auto* s = isum_.data();
        for (size_t i = 0; i < n; ++i) {
          const auto g = gid[i];
          const auto bits =
              (static_cast<unsigned __int128>(static_cast<std::uint64_t>(high[i])) << 64) |
              static_cast<std::uint64_t>(low[i]);
          s[g] += static_cast<__int128>(bits);
          cnt[g] += pc[i];
        }
      }
      return;
    case AggKind::kMin:
    case AggKind::kMax: {
      const bool is_min = kind_ == AggKind::kMin;
      if (plain_) {
        const PlainStrings& s = partial[0].plain();
        for (size_t i = 0; i < n; ++i) {
          if (pc[i] == 0) continue;
          const auto g = gid[i];
          const auto sv = s.at(static_cast<idx_t>(i));
          auto& cur = extreme_str_[static_cast<size_t>(g)];
          if (cnt[g] == 0 || (is_min ? sv < cur : cur < sv)) cur.assign(sv);
          cnt[g] += pc[i];
        }
        return;
      }
      partial[0].visit([&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (kIsValues<V>) {
          auto* ep = extreme_.values<typename V::value_type>().data();
          for (size_t i = 0; i < n; ++i) {
            if (pc[i] == 0) continue;
            const auto g = gid[i];
            if (cnt[g] == 0 || (is_min ? less_than(v[i], ep[g]) : less_than(ep[g], v[i])))
              ep[g] = v[i];
            cnt[g] += pc[i];
          }
        }
      });
      return;
    }
  }
}

Column AggregateState::finalize(std::string* overflow) const {
  if (kind_ == AggKind::kCount) return int64_column(count_);
  Column out;
  if (is_float_sum()) {
    table::Buffer<double> v(count_.size());
    for (size_t g = 0; g < v.size(); ++g) {
      if (count_[g] == 0)
        v[g] = 0.0;  // null
      else
        v[g] = kind_ == AggKind::kMean ? fsum_.mean(g, count_[g]) : fsum_.value(g, count_[g]);
    }
    out = float64_column(std::move(v));
  } else if (kind_ == AggKind::kMean) {
    // The exact 128-bit sum divided by the count, rounded once.
    table::Buffer<double> v(count_.size());
    for (size_t g = 0; g < v.size(); ++g)
      v[g] = count_[g] > 0 ? rounded_quotient(isum_[g], count_[g]) : 0.0;
    out = float64_column(std::move(v));
  } else if (kind_ == AggKind::kSum) {
    table::Buffer<std::int64_t> v(isum_.size());
    constexpr auto kMin = static_cast<__int128>(std::numeric_limits<std::int64_t>::min());
    constexpr auto kMax = static_cast<__int128>(std::numeric_limits<std::int64_t>::max());
    for (size_t g = 0; g < isum_.size(); ++g) {
      if ((isum_[g] < kMin || isum_[g] > kMax) && overflow && overflow->empty()) {
        *overflow =
            fmt::format("a group's exact sum is {}, which does not fit int64 ({} to {})",
                        int128_to_string(isum_[g]), std::numeric_limits<std::int64_t>::min(),
                        std::numeric_limits<std::int64_t>::max());
      }
      v[g] = static_cast<std::int64_t>(isum_[g]);  // only read when no overflow was reported
    }
    out = int64_column(std::move(v));
  } else if (plain_) {
    out = Column::plain_strings();
    for (const auto& s : extreme_str_)
      out.plain().push_back(s);
  } else {
    out = extreme_;
  }
  set_validity_from_count(out, count_);
  return out;
}

}  // namespace shardflow::ops
