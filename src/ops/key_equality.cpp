#include "shardflow/ops/key_equality.hpp"

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;

namespace {

// Values of row a of column x and row b of column y, both valid and of the same physical type.
bool values_equal(const Column& x, idx_t a, const Column& y, idx_t b) {
  const auto ia = static_cast<size_t>(a), ib = static_cast<size_t>(b);
  switch (x.type()) {
    case DataType::kInt32:
      return x.values<std::int32_t>()[ia] == y.values<std::int32_t>()[ib];
    case DataType::kInt64:
    case DataType::kTimestamp:
      return x.values<std::int64_t>()[ia] == y.values<std::int64_t>()[ib];
    case DataType::kBool:
      return x.values<std::uint8_t>()[ia] == y.values<std::uint8_t>()[ib];
    case DataType::kFloat32:
      return double_key_bits(x.values<float>()[ia]) == double_key_bits(y.values<float>()[ib]);
    case DataType::kFloat64:
      return double_key_bits(x.values<double>()[ia]) == double_key_bits(y.values<double>()[ib]);
    case DataType::kString:
      if (x.is_dictionary_encoded() && y.is_dictionary_encoded())
        return x.codes()[ia] == y.codes()[ib];
      return x.plain().at(a) == y.plain().at(b);
  }
  return false;
}

bool same_dictionary(const Column& a, const Column& b) {
  if (a.dictionary() == b.dictionary()) return true;
  if (!a.dictionary() || !b.dictionary()) return false;
  return a.dictionary()->values() == b.dictionary()->values();
}

}  // namespace

bool key_equal(const Column& c, idx_t a, idx_t b) {
  const bool va = c.is_valid(a), vb = c.is_valid(b);
  if (!va || !vb) return va == vb;
  return values_equal(c, a, c, b);
}

KeyEquality::KeyEquality(const table::Table& left, const std::vector<int>& left_keys,
                         const table::Table& right, const std::vector<int>& right_keys) {
  if (left_keys.size() != right_keys.size()) {
    throw RuntimeError("key equality: {} left keys but {} right keys", left_keys.size(),
                       right_keys.size());
  }
  for (size_t i = 0; i < left_keys.size(); ++i) {
    const Column& l = left.column(left_keys[i]);
    const Column& r = right.column(right_keys[i]);
    if (l.type() != r.type()) {
      throw RuntimeError("key equality: key {} is {} on the left but {} on the right", i,
                         table::to_string(l.type()), table::to_string(r.type()));
    }
    Mode mode = Mode::kSame;
    if (l.type() == DataType::kString) {
      // Codes are comparable only within one dictionary; compare once here, not per row.
      const bool both_dict = l.is_dictionary_encoded() && r.is_dictionary_encoded();
      mode = both_dict && same_dictionary(l, r) ? Mode::kCodes : Mode::kStrings;
    }
    pairs_.push_back({&l, &r, mode});
  }
}

bool KeyEquality::equal(idx_t l, idx_t r) const {
  for (const Pair& p : pairs_) {
    if (!p.left->is_valid(l) || !p.right->is_valid(r)) return false;
    switch (p.mode) {
      case Mode::kSame:
        if (!values_equal(*p.left, l, *p.right, r)) return false;
        break;
      case Mode::kCodes:
        if (p.left->codes()[static_cast<size_t>(l)] != p.right->codes()[static_cast<size_t>(r)])
          return false;
        break;
      case Mode::kStrings:
        if (p.left->string_at(l) != p.right->string_at(r)) return false;
        break;
    }
  }
  return true;
}

bool KeyEquality::left_null(idx_t l) const {
  for (const Pair& p : pairs_)
    if (!p.left->is_valid(l)) return true;
  return false;
}

bool KeyEquality::right_null(idx_t r) const {
  for (const Pair& p : pairs_)
    if (!p.right->is_valid(r)) return true;
  return false;
}

}  // namespace shardflow::ops
