// first(value, order) and the state under last: the value of the row with the smallest
// (greatest) `order` among the group's rows where neither is null. Rows tied on `order` are
// decided by the value itself (the least value for first, the greatest for last, in the order of
// min/max), so the result is one value whatever the rank count and row order, unlike SQL's
// first/last over ties. `order` is a number or a timestamp (floats: NaN greatest); the value may
// be of any type. Decomposable: the state is the best (order, value) per group.
// State columns: [value (input type, same encoding and dictionary), order (int64: the 64-bit
// order word, see ops::double_order_bits), count int64].

#include <algorithm>
#include <cstring>

#include "kernels.hpp"
#include "shardflow/ops/sort_keys.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;
using table::PlainStrings;

// Unsigned order word of row i of a numeric or timestamp column (numeric order; floats with NaN
// greatest and -0.0 == 0.0).
std::vector<std::uint64_t> order_words(const Column& c) {
  std::vector<std::uint64_t> out(static_cast<size_t>(c.size()));
  c.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (kIsValues<V>) {
      using T = typename V::value_type;
      for (size_t i = 0; i < out.size(); ++i) {
        if constexpr (std::is_floating_point_v<T>)
          out[i] = double_order_bits(static_cast<double>(v[i]));
        else
          out[i] = static_cast<std::uint64_t>(static_cast<std::int64_t>(v[i])) ^
                   (std::uint64_t{1} << 63);
      }
    }
  });
  return out;
}

class FirstLastState final : public AggregateState {
 public:
  FirstLastState(const AggregateInput& input, bool first) : first_(first), kept_(input) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }

  void resize(idx_t groups) override {
    const auto g = static_cast<size_t>(groups);
    count_.resize(g, 0);
    order_.resize(g, 0);
    kept_.resize(g);
  }

  void update(const Column*, std::span<const std::int32_t>) override {
    throw RuntimeError("{} takes two columns: {}(value, order)", name(), name());
  }

  void update_pair(const Column& value, const Column& order,
                   std::span<const std::int32_t> gid) override {
    const std::vector<std::uint64_t> words = order_words(order);
    std::vector<std::uint8_t> both;
    if (!value.validity().empty() || !order.validity().empty()) {
      both.resize(gid.size());
      for (size_t i = 0; i < gid.size(); ++i)
        both[i] = value.is_valid(static_cast<idx_t>(i)) && order.is_valid(static_cast<idx_t>(i));
    }
    fold(value, words.data(), both, nullptr, gid);
  }

  std::vector<Column> state_columns(bool) const override {
    std::vector<Column> out;
    out.push_back(kept_.to_column());
    table::Buffer<std::int64_t> order(order_.size());
    for (size_t g = 0; g < order.size(); ++g)
      order[g] = static_cast<std::int64_t>(order_[g]);
    out.push_back(int64_column(std::move(order)));
    out.push_back(int64_column(count_));
    return out;
  }
  int num_state_columns(bool) const override { return 3; }

  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    const auto& o = partial[1].values<std::int64_t>();
    std::vector<std::uint64_t> words(o.size());
    for (size_t i = 0; i < words.size(); ++i)
      words[i] = static_cast<std::uint64_t>(o[i]);
    fold(partial[0], words.data(), {}, &partial[2].values<std::int64_t>(), gid);
  }

  Column finalize(std::string*) const override {
    Column out = kept_.to_column();
    set_validity_from_count(out, count_);
    return out;
  }

 private:
  const char* name() const { return first_ ? "first" : "last"; }

  // Folds rows into their groups: update (each valid row once) or merge (`partial_count` given:
  // row i stands for that many rows, none when 0).
  void fold(const Column& values, const std::uint64_t* words,
            const std::vector<std::uint8_t>& valid,
            const table::Buffer<std::int64_t>* partial_count, std::span<const std::int32_t> gid) {
    auto* cnt = count_.data();
    // Whether (o, row i) beats the group's current best.
    auto better = [&](size_t g, std::uint64_t o, auto value_less, auto value_greater) {
      if (cnt[g] == 0) return true;
      if (o != order_[g]) return first_ ? o < order_[g] : o > order_[g];
      return first_ ? value_less() : value_greater();
    };
    auto each = [&](auto&& f) {
      for_valid(gid.size(), valid, [&](size_t i) {
        const std::int64_t w = partial_count ? (*partial_count)[i] : 1;
        if (w == 0) return;
        f(i);
        cnt[gid[i]] += w;
      });
    };
    if (kept_.plain()) {
      const PlainStrings& s = values.plain();
      each([&](size_t i) {
        const auto g = static_cast<size_t>(gid[i]);
        const auto sv = s.at(static_cast<idx_t>(i));
        auto& cur = kept_.strings()[g];
        if (better(
                g, words[i], [&] { return sv < cur; }, [&] { return cur < sv; })) {
          cur.assign(sv);
          order_[g] = words[i];
        }
      });
      return;
    }
    values.visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (kIsValues<V>) {
        auto* bp = kept_.column().values<typename V::value_type>().data();
        each([&](size_t i) {
          const auto g = static_cast<size_t>(gid[i]);
          if (better(
                  g, words[i], [&] { return less_than(v[i], bp[g]); },
                  [&] { return less_than(bp[g], v[i]); })) {
            bp[g] = v[i];
            order_[g] = words[i];
          }
        });
      }
    });
  }

  bool first_;
  table::Buffer<std::int64_t> count_;
  std::vector<std::uint64_t> order_;
  ValueSlots kept_;
};

}  // namespace

void check_order_column(DataType type, std::string_view column) {
  if (type == DataType::kString || type == DataType::kBool) {
    throw ConfigError("the order column '{}' of first/last must be a number or a timestamp, not {}",
                      column, table::to_string(type));
  }
}

std::unique_ptr<AggregateState> make_first_last_state(const AggregateInput& input, bool first) {
  return std::make_unique<FirstLastState>(input, first);
}

AggregateFunction first_function() {
  AggregateFunction f;
  f.name = "first";
  f.summary = "the value at the smallest order (first(v, ts)); ties: the least value";
  f.two_columns = true;
  f.check_second = check_order_column;
  f.output_type = [](DataType input, std::string_view) { return input; };
  f.make_state = [](const AggregateInput& input) { return make_first_last_state(input, true); };
  return f;
}

}  // namespace shardflow::ops::aggregates
