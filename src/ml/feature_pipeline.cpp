#include "shardflow/ml/feature_pipeline.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include <spdlog/spdlog.h>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/memory.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {

std::string_view to_string(TransformKind kind) {
  switch (kind) {
    case TransformKind::kImpute:
      return "impute";
    case TransformKind::kStandardScale:
      return "scale: standard";
    case TransformKind::kMinMaxScale:
      return "scale: minmax";
    case TransformKind::kOneHot:
      return "one_hot";
    case TransformKind::kIndex:
      return "index";
    case TransformKind::kHash:
      return "hash";
  }
  return "?";
}

std::string_view to_string(ImputeStrategy strategy) {
  switch (strategy) {
    case ImputeStrategy::kMean:
      return "mean";
    case ImputeStrategy::kMedian:
      return "median";
    case ImputeStrategy::kMostFrequent:
      return "most_frequent";
    case ImputeStrategy::kConstant:
      return "constant";
  }
  return "?";
}

std::string_view to_string(UnknownCategory unknown) {
  return unknown == UnknownCategory::kError ? "error" : "ignore";
}

namespace {

bool is_encoder(TransformKind k) {
  return k == TransformKind::kOneHot || k == TransformKind::kIndex || k == TransformKind::kHash;
}
bool is_scaler(TransformKind k) {
  return k == TransformKind::kStandardScale || k == TransformKind::kMinMaxScale;
}

bool is_categorical_type(table::DataType t) {
  return t == table::DataType::kString || t == table::DataType::kInt32 ||
         t == table::DataType::kInt64 || t == table::DataType::kBool;
}
bool is_integer_type(table::DataType t) {
  return t == table::DataType::kInt32 || t == table::DataType::kInt64;
}

std::optional<double> parse_number(const std::string& text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return {};
  return v;
}

// The canonical text of a categorical value (the category's name): a string's bytes, an
// integer's decimal digits, "true"/"false". `buffer` holds integer digits.
std::string_view category_text(const table::Column& column, idx_t i, std::array<char, 24>& buffer) {
  switch (column.type()) {
    case table::DataType::kString:
      return column.string_at(i);
    case table::DataType::kInt32:
    case table::DataType::kInt64: {
      const std::int64_t v = column.type() == table::DataType::kInt32
                                 ? column.values<std::int32_t>()[static_cast<size_t>(i)]
                                 : column.values<std::int64_t>()[static_cast<size_t>(i)];
      const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
      return {buffer.data(), static_cast<size_t>(end - buffer.data())};
    }
    case table::DataType::kBool:
      return column.values<std::uint8_t>()[static_cast<size_t>(i)] ? "true" : "false";
    default:
      throw RuntimeError("category_text called on a {} column", table::to_string(column.type()));
  }
}

// Whether `s` is UTF-8 text (RFC 3629: no overlong forms, surrogates or code points past
// U+10FFFF). Categories and fill values are saved as JSON text, which must be UTF-8.
bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    std::uint32_t code = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07u;
    } else {
      return false;
    }
    if (i + length > s.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3Fu);
    }
    if (length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) return false;
    if (length == 4 && (code < 0x10000 || code > 0x10FFFF)) return false;
    i += length;
  }
  return true;
}

// Local (call inside comm.agree): counts the category texts of `column` on this rank into `local`
// (nulls as `fill` when given, else skipped: assembly names them). InputError, naming the row, for
// a text that is not UTF-8 (categories are saved as text) and when more than `max_distinct`
// distinct values are seen.
void count_categories(const FeatureTransform& t, const std::string& name,
                      const table::Column& column, int rank, idx_t global_offset,
                      const std::string* fill, size_t max_distinct,
                      std::unordered_map<std::string, idx_t>& local) {
  std::array<char, 24> digits;
  for (idx_t i = 0; i < column.size(); ++i) {
    std::string_view text;
    if (column.is_valid(i)) {
      text = category_text(column, i, digits);
    } else if (fill) {
      text = *fill;
    } else {
      continue;
    }
    const auto [it, added] = local.try_emplace(std::string(text), 0);
    ++it->second;
    if (!added) continue;
    if (!is_utf8(text)) {
      throw InputError(
          "{}: categorical feature column '{}' holds bytes that are not UTF-8 text at row {} of "
          "rank {} (global row {}); {} saves its categories as text: fix the input, or encode the "
          "column with {{hash: {{columns: [{}], buckets: N}}}}, which saves none",
          t.where, name, i, rank, global_offset + i, to_string(t.kind), name);
    }
    if (local.size() > max_distinct) {
      throw InputError(
          "{}: categorical feature column '{}' has more than {} distinct values on rank {} "
          "alone; raise max_categories or use {{hash: {{columns: [{}], buckets: N}}}} for a "
          "column of this many values",
          t.where, name, max_distinct, rank, name);
    }
  }
}

// Categories in their order: integers by value, other text by bytes.
void sort_categories(std::vector<std::string>& categories, bool integers) {
  if (!integers) {
    std::sort(categories.begin(), categories.end());
    return;
  }
  const auto value = [](const std::string& s) {
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  };
  std::sort(categories.begin(), categories.end(),
            [&](const std::string& a, const std::string& b) { return value(a) < value(b); });
}

// Collective: the counts of every text over all ranks (each rank gives its local counts).
std::map<std::string, idx_t> merge_text_counts(
    const mpi::Comm& comm, const std::unordered_map<std::string, idx_t>& local) {
  std::vector<char> chars;
  std::vector<idx_t> lengths, counts;
  for (const auto& [text, count] : local) {
    chars.insert(chars.end(), text.begin(), text.end());
    lengths.push_back(static_cast<idx_t>(text.size()));
    counts.push_back(count);
  }
  const std::vector<char> all_chars = mpi::allgatherv(comm, std::span<const char>(chars));
  const std::vector<idx_t> all_lengths = mpi::allgatherv(comm, std::span<const idx_t>(lengths));
  const std::vector<idx_t> all_counts = mpi::allgatherv(comm, std::span<const idx_t>(counts));
  std::map<std::string, idx_t> merged;
  size_t at = 0;
  for (size_t k = 0; k < all_lengths.size(); ++k) {
    const auto n = static_cast<size_t>(all_lengths[k]);
    merged[std::string(all_chars.data() + at, n)] += all_counts[k];
    at += n;
  }
  return merged;
}

// Order-preserving unsigned key of a double (-0.0 folded onto 0.0): a < b iff key(a) < key(b).
std::uint64_t order_key(double v) {
  std::uint64_t bits = double_key_bits(v);
  return (bits >> 63) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
}
double from_order_key(std::uint64_t key) {
  const std::uint64_t bits = (key >> 63) != 0 ? key & ~(std::uint64_t{1} << 63) : ~key;
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// Collective: the k-th smallest (0-based) of every rank's keys together, k < their total count.
// Radix selection on 8-bit digits, most significant first: each round counts, over all ranks, the
// keys that share the digits chosen so far by their next digit (one 256-count allreduce) and
// keeps the digit whose bucket holds the k-th key. Exact, and independent of the split.
std::uint64_t select_key(const mpi::Comm& comm, std::span<const std::uint64_t> keys, idx_t k) {
  std::uint64_t prefix = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const std::uint64_t high_mask = shift == 56 ? 0 : ~std::uint64_t{0} << (shift + 8);
    std::vector<idx_t> counts(256, 0);
    for (const std::uint64_t key : keys)
      if ((key & high_mask) == prefix) ++counts[(key >> shift) & 0xff];
    mpi::allreduce_inplace(comm, std::span<idx_t>(counts), mpi::Reduce::kSum);
    size_t digit = 0;
    while (k >= counts[digit]) {
      k -= counts[digit];
      ++digit;
    }
    prefix |= static_cast<std::uint64_t>(digit) << shift;
  }
  return prefix;
}

// The values of a numeric column as doubles (nulls as NaN), all rows.
std::vector<double> column_doubles(const table::Column& column) {
  std::vector<double> values(static_cast<size_t>(column.size()));
  if (!values.empty()) copy_column_block(column, 0, column.size(), values.data());
  if (column.has_nulls()) {
    for (size_t i = 0; i < values.size(); ++i)
      if (!column.validity()[i]) values[i] = std::numeric_limits<double>::quiet_NaN();
  }
  return values;
}

// Collective: the fill value of a numeric column for a mean, median or most_frequent imputer,
// over the finite values of every rank (nulls and NaN are what it fills; infinities stop).
double fit_numeric_fill(const mpi::Comm& comm, const FeatureTransform& t, const std::string& name,
                        const table::Column& column, idx_t global_offset) {
  const std::vector<double> values = column_doubles(column);
  comm.agree([&] {
    for (size_t i = 0; i < values.size(); ++i) {
      if (std::isinf(values[i])) {
        throw InputError(
            "{}: feature column '{}' holds {} at row {} of rank {} (global row {}); impute fills "
            "nulls and NaN, not infinities; filter such rows",
            t.where, name, values[i], i, comm.rank(), global_offset + static_cast<idx_t>(i));
      }
    }
  });
  std::vector<double> finite;
  finite.reserve(values.size());
  for (const double v : values)
    if (!std::isnan(v)) finite.push_back(v);
  const idx_t count = mpi::allreduce_sum(comm, static_cast<idx_t>(finite.size()));
  comm.agree([&] {
    if (count == 0) {
      throw InputError(
          "{}: feature column '{}' has no value in the training data to take the {} of; use "
          "strategy constant",
          t.where, name, to_string(t.strategy));
    }
  });
  switch (t.strategy) {
    case ImputeStrategy::kMean: {
      double largest = 0;
      for (const double v : finite)
        largest = std::max(largest, std::fabs(v));
      largest = mpi::allreduce_max(comm, largest);
      FixedPointSums sums({largest});
      for (const double v : finite)
        sums.add(0, v);
      sums.count_rows(static_cast<idx_t>(finite.size()));
      return sums.finish(comm, "impute mean")[0] / static_cast<double>(count);
    }
    case ImputeStrategy::kMedian: {
      const std::optional<double> median = exact_median(comm, finite);
      return *median;
    }
    case ImputeStrategy::kMostFrequent: {
      std::map<double, idx_t> local;
      for (const double v : finite)
        ++local[v + 0.0];
      std::vector<double> keys;
      std::vector<idx_t> counts;
      for (const auto& [v, c] : local) {
        keys.push_back(v);
        counts.push_back(c);
      }
      const std::vector<double> all_keys = mpi::allgatherv(comm, std::span<const double>(keys));
      const std::vector<idx_t> all_counts = mpi::allgatherv(comm, std::span<const idx_t>(counts));
      std::map<double, idx_t> merged;
      for (size_t k = 0; k < all_keys.size(); ++k)
        merged[all_keys[k]] += all_counts[k];
      // The most frequent value; ties go to the smallest (scikit-learn's SimpleImputer).
      double best = 0;
      idx_t best_count = -1;
      for (const auto& [v, c] : merged) {
        if (c > best_count) {
          best = v;
          best_count = c;
        }
      }
      return best;
    }
    case ImputeStrategy::kConstant:
      break;
  }
  throw RuntimeError("fit_numeric_fill: strategy {} has no fitted value", to_string(t.strategy));
}

}  // namespace

std::optional<double> exact_median(const mpi::Comm& comm, std::span<const double> values) {
  std::vector<std::uint64_t> keys;
  keys.reserve(values.size());
  for (const double v : values)
    if (!std::isnan(v)) keys.push_back(order_key(v));
  const idx_t n = mpi::allreduce_sum(comm, static_cast<idx_t>(keys.size()));
  if (n == 0) return std::nullopt;
  const double upper = from_order_key(select_key(comm, keys, n / 2));
  if (n % 2 == 1) return upper;
  const double lower = from_order_key(select_key(comm, keys, n / 2 - 1));
  return std::midpoint(lower, upper);
}

// ---------------------------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------------------------

FeaturePipeline::FeaturePipeline(std::vector<std::string> numeric,
                                 std::vector<std::string> categorical,
                                 std::vector<FeatureTransform> transforms,
                                 const std::string& features_where)
    : numeric_(std::move(numeric)),
      categorical_(std::move(categorical)),
      transforms_(std::move(transforms)) {
  const std::string at = features_where.empty() ? "" : features_where + ": ";
  if (numeric_.empty() && categorical_.empty()) {
    throw ConfigError(
        "{}no feature columns given for training; list at least one column under "
        "train.features.numeric or train.features.categorical",
        at);
  }
  std::set<std::string> seen;
  for (const auto& name : input_columns()) {
    if (!seen.insert(name).second) {
      throw ConfigError(
          "{}feature column '{}' is listed twice (features.numeric and features.categorical "
          "together); list each feature once",
          at, name);
    }
  }
  const auto is_numeric = [&](const std::string& c) {
    return std::find(numeric_.begin(), numeric_.end(), c) != numeric_.end();
  };
  const auto is_categorical = [&](const std::string& c) {
    return std::find(categorical_.begin(), categorical_.end(), c) != categorical_.end();
  };
  std::map<std::string, std::string> imputed, encoded, scaled;  // column -> where
  for (auto& t : transforms_) {
    const bool all_numeric = t.columns.empty();
    if (all_numeric) {
      if (is_encoder(t.kind)) {
        throw ConfigError("{}: list the categorical columns to encode under columns", t.where);
      }
      t.columns = numeric_;
      if (t.columns.empty()) {
        throw ConfigError(
            "{}: there are no numeric features to {}; list the columns it applies to under "
            "columns",
            t.where, to_string(t.kind));
      }
    }
    std::set<std::string> mine;
    for (const auto& c : t.columns) {
      if (!mine.insert(c).second) {
        throw ConfigError("{}: column '{}' is listed twice; list each column once", t.where, c);
      }
      if (!is_numeric(c) && !is_categorical(c)) {
        throw ConfigError(
            "{}: '{}' is not a feature: transforms apply to the columns listed under "
            "train.features (numeric: {}; categorical: {}){}",
            t.where, c, numeric_.empty() ? "none" : fmt::format("{}", fmt::join(numeric_, ", ")),
            categorical_.empty() ? "none" : fmt::format("{}", fmt::join(categorical_, ", ")),
            did_you_mean(c, input_columns()));
      }
      if (is_scaler(t.kind) && !is_numeric(c)) {
        throw ConfigError(
            "{}: '{}' is a categorical feature; scale applies to numeric features only (an "
            "encoder's outputs are not scaled)",
            t.where, c);
      }
      if (is_encoder(t.kind) && !is_categorical(c)) {
        throw ConfigError(
            "{}: '{}' is a numeric feature; {} encodes categorical features: list it under "
            "train.features.categorical",
            t.where, c, to_string(t.kind));
      }
      if (t.kind == TransformKind::kImpute) {
        if (is_categorical(c) &&
            (t.strategy == ImputeStrategy::kMean || t.strategy == ImputeStrategy::kMedian)) {
          throw ConfigError(
              "{}: '{}' is a categorical feature, which has no {}; use strategy most_frequent or "
              "constant",
              t.where, c, to_string(t.strategy));
        }
        if (is_numeric(c) && t.strategy == ImputeStrategy::kConstant && !parse_number(t.constant)) {
          throw ConfigError(
              "{}: value '{}' is not a finite number, so it cannot fill the numeric "
              "feature '{}'",
              t.where, t.constant, c);
        }
        if (auto it = imputed.find(c); it != imputed.end()) {
          throw ConfigError("{}: '{}' is imputed twice (also by {}); impute each column once",
                            t.where, c, it->second);
        }
        for (const auto* later : {&encoded, &scaled}) {
          if (auto it = later->find(c); it != later->end()) {
            throw ConfigError(
                "{}: '{}' is imputed after {} uses it; put the impute before it in "
                "train.transforms",
                t.where, c, it->second);
          }
        }
        imputed[c] = t.where;
      } else if (is_encoder(t.kind)) {
        if (auto it = encoded.find(c); it != encoded.end()) {
          throw ConfigError(
              "{}: '{}' is already encoded by {}; give each categorical feature "
              "one encoder",
              t.where, c, it->second);
        }
        encoded[c] = t.where;
      } else {
        scaled[c] = t.where;
      }
    }
    if (t.kind == TransformKind::kImpute && t.strategy == ImputeStrategy::kConstant) {
      for (const auto& c : t.columns) {
        if (is_numeric(c)) {
          t.fill.push_back(*parse_number(t.constant));
        } else {
          t.fill_text.push_back(t.constant);
        }
      }
    }
  }
  for (const auto& c : categorical_) {
    if (!encoded.contains(c)) {
      throw ConfigError(
          "{}categorical feature '{}' has no encoder; add one of {{one_hot: {{columns: [{}]}}}}, "
          "{{index: {{columns: [{}]}}}} or {{hash: {{columns: [{}], buckets: 32}}}} to "
          "train.transforms",
          at, c, c, c, c);
    }
  }
}

std::vector<std::string> FeaturePipeline::input_columns() const {
  std::vector<std::string> out = numeric_;
  out.insert(out.end(), categorical_.begin(), categorical_.end());
  return out;
}

bool FeaturePipeline::is_scaled(const std::string& name) const {
  for (const auto& t : transforms_)
    if (is_scaler(t.kind) && std::find(t.columns.begin(), t.columns.end(), name) != t.columns.end())
      return true;
  return false;
}

void FeaturePipeline::set_output_names() {
  output_names_ = numeric_;
  for (const auto& c : categorical_) {
    for (const auto& t : transforms_) {
      if (!is_encoder(t.kind)) continue;
      const auto it = std::find(t.columns.begin(), t.columns.end(), c);
      if (it == t.columns.end()) continue;
      const auto k = static_cast<size_t>(it - t.columns.begin());
      if (t.kind == TransformKind::kOneHot) {
        for (const auto& category : t.categories.at(k))
          output_names_.push_back(c + "=" + category);
      } else if (t.kind == TransformKind::kIndex) {
        output_names_.push_back(c);
      } else {
        for (int b = 0; b < t.buckets; ++b)
          output_names_.push_back(fmt::format("{}#{}", c, b));
      }
    }
  }
}

void FeaturePipeline::restore_fitted(const std::vector<FeatureTransform>& fitted,
                                     const std::string& source) {
  if (fitted.size() != transforms_.size()) {
    throw InputError("{} is damaged: it holds the state of {} feature transforms, the job has {}",
                     source, fitted.size(), transforms_.size());
  }
  for (size_t i = 0; i < fitted.size(); ++i) {
    FeatureTransform& t = transforms_[i];
    const FeatureTransform& f = fitted[i];
    if (f.kind != t.kind || f.columns != t.columns) {
      throw InputError(
          "{} is damaged: its feature transform {} is {} of [{}], the job's is {} of [{}]", source,
          i, to_string(f.kind), fmt::join(f.columns, ", "), to_string(t.kind),
          fmt::join(t.columns, ", "));
    }
    t.fill = f.fill;
    t.fill_text = f.fill_text;
    t.categories = f.categories;
    t.offset = f.offset;
    t.divisor = f.divisor;
  }
  const auto damaged = [&](const FeatureTransform& t, std::string_view what) {
    return InputError("{} is damaged: the fitted state of transform {} ({}) {}", source,
                      to_string(t.kind), t.where, what);
  };
  const auto is_numeric = [&](const std::string& c) {
    return std::find(numeric_.begin(), numeric_.end(), c) != numeric_.end();
  };
  for (const auto& t : transforms_) {
    const size_t n = t.columns.size();
    switch (t.kind) {
      case TransformKind::kImpute: {
        size_t numeric = 0;
        for (const auto& c : t.columns)
          numeric += is_numeric(c) ? 1 : 0;
        if (t.fill.size() != numeric || t.fill_text.size() != n - numeric)
          throw damaged(t, "does not hold one fill value per column");
        for (const double v : t.fill)
          if (!std::isfinite(v)) throw damaged(t, "holds a fill value that is not finite");
        break;
      }
      case TransformKind::kStandardScale:
      case TransformKind::kMinMaxScale:
        if (t.offset.size() != n || t.divisor.size() != n)
          throw damaged(t, "does not hold one offset and one divisor per column");
        for (size_t k = 0; k < n; ++k)
          if (!std::isfinite(t.offset[k]) || !(t.divisor[k] > 0) || !std::isfinite(t.divisor[k]))
            throw damaged(t, "holds an offset or divisor that is not a finite (positive) number");
        break;
      case TransformKind::kOneHot:
      case TransformKind::kIndex:
        if (t.categories.size() != n) throw damaged(t, "does not hold categories per column");
        for (const auto& cats : t.categories) {
          std::set<std::string> distinct(cats.begin(), cats.end());
          if (distinct.size() != cats.size()) throw damaged(t, "repeats a category");
        }
        break;
      case TransformKind::kHash:
        if (t.buckets <= 0) throw damaged(t, "has no buckets");
        break;
    }
  }
  set_output_names();
  fitted_ = true;
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

namespace {
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return hash_string(s); }
};
}  // namespace

struct FeaturePipeline::Rows::Impl {
  struct Numeric {
    const table::Column* column = nullptr;
    NumericColumnReader reader;
    bool imputed = false;
    double fill = 0;
    /// values[0, count) of rows row0..: the fill where the value is missing (null or NaN).
    void impute(idx_t row0, double* values, size_t count) const {
      const auto& validity = column->validity();
      for (size_t i = 0; i < count; ++i) {
        const bool missing = std::isnan(values[i]) ||
                             (!validity.empty() && validity[static_cast<size_t>(row0) + i] == 0);
        if (missing) values[i] = fill;
      }
    }
  };
  struct Categorical {
    const table::Column* column = nullptr;
    std::string name;
    const FeatureTransform* encoder = nullptr;
    bool imputed = false;
    std::string fill;
    // one_hot, index: category -> position, looked up by string_view without a copy per row.
    std::unordered_map<std::string, int, TextHash, std::equal_to<>> index;
    int width = 0;  // outputs
  };
  struct Scale {
    int output = 0;
    double offset = 0, divisor = 1;
  };
  std::vector<Numeric> numeric;
  std::vector<Categorical> categorical;
  std::vector<Scale> scales;  // in transform order
  int width = 0;
  int rank = 0;
  idx_t global_offset = 0;
  // The common case, written by a transposing kernel (write_plain): every feature a float64
  // column without an imputer, no categorical feature, at most one scaler per feature. Then
  // output j is (column_j - offset[j]) / divisor[j], with 0 and 1 for an unscaled feature (exact:
  // x - 0 is x and x / 1 is x, for every double).
  bool plain = false;
  std::vector<const double*> plain_columns;
  std::vector<double> plain_offset, plain_divisor;
  void write_plain(idx_t begin, idx_t end, double* out) const;
};

namespace {

// out[i * stride + j] = (columns[j][row0 + i] - offset[j]) / divisor[j] for i < n, j < width:
// the scalar loop's expressions (write()), so the bits are the same. `stride` (>= width) is the
// distance between the rows of `out`: a block of columns writes its part of each row.
void transpose_scaled(const double* const* columns, const double* offset, const double* divisor,
                      size_t width, size_t stride, idx_t row0, size_t n, double* out) {
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < width; ++j)
      out[i * stride + j] = (columns[j][static_cast<size_t>(row0) + i] - offset[j]) / divisor[j];
}

#ifdef __x86_64__
// The same, four rows by four columns at a time: four loads along the columns, a 4 x 4 transpose
// in registers, four stores along the rows (the scalar form writes one double per 512-byte row
// of a 64-feature matrix per store). Subtraction and division are IEEE operations, so each value
// is the scalar loop's bit for bit. 1.6e6 x 64 at 2 ranks: see bench_train
// BM_SetupFeaturePipeline.
__attribute__((target("avx2"))) void transpose_scaled_avx2(const double* const* columns,
                                                           const double* offset,
                                                           const double* divisor, size_t width,
                                                           size_t stride, idx_t row0, size_t n,
                                                           double* out) {
  const auto r0 = static_cast<size_t>(row0);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    size_t j = 0;
    for (; j + 4 <= width; j += 4) {
      __m256d c[4];
      for (size_t k = 0; k < 4; ++k) {
        c[k] = _mm256_div_pd(
            _mm256_sub_pd(_mm256_loadu_pd(columns[j + k] + r0 + i), _mm256_set1_pd(offset[j + k])),
            _mm256_set1_pd(divisor[j + k]));
      }
      // c[k] holds column j + k of rows i..i+3; rows[r] gets row i + r of columns j..j+3.
      const __m256d t0 = _mm256_unpacklo_pd(c[0], c[1]);  // (c0 r0, c1 r0, c0 r2, c1 r2)
      const __m256d t1 = _mm256_unpackhi_pd(c[0], c[1]);  // (c0 r1, c1 r1, c0 r3, c1 r3)
      const __m256d t2 = _mm256_unpacklo_pd(c[2], c[3]);
      const __m256d t3 = _mm256_unpackhi_pd(c[2], c[3]);
      double* o = out + i * stride + j;
      _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
      _mm256_storeu_pd(o + stride, _mm256_permute2f128_pd(t1, t3, 0x20));
      _mm256_storeu_pd(o + 2 * stride, _mm256_permute2f128_pd(t0, t2, 0x31));
      _mm256_storeu_pd(o + 3 * stride, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
    for (; j < width; ++j)
      for (size_t r = 0; r < 4; ++r)
        out[(i + r) * stride + j] = (columns[j][r0 + i + r] - offset[j]) / divisor[j];
  }
  if (i < n)
    transpose_scaled(columns, offset, divisor, width, stride, row0 + static_cast<idx_t>(i), n - i,
                     out + i * stride);
}
#endif

}  // namespace

void FeaturePipeline::Rows::Impl::write_plain(idx_t begin, idx_t end, double* out) const {
  const auto width = static_cast<size_t>(this->width);
  const auto n = static_cast<size_t>(end - begin);
  // Blocks of 1024 rows, filled 8 columns at a time: 8 columns are read as 8 sequential streams,
  // which the hardware prefetchers follow (all 64 columns of a 32-row tile at once were 64
  // streams), and the block's rows (512 KB at 64 features) stay in L2 while each column block
  // writes its part of them. See bench_train BM_AssembleFeatureMatrix.
  constexpr size_t kRowBlock = 1024;
  constexpr size_t kColumnBlock = 8;
#ifdef __x86_64__
  static const bool avx2 = __builtin_cpu_supports("avx2");
#else
  constexpr bool avx2 = false;
#endif
  for (size_t r0 = 0; r0 < n; r0 += kRowBlock) {
    const size_t count = std::min(n, r0 + kRowBlock) - r0;
    const idx_t row0 = begin + static_cast<idx_t>(r0);
    for (size_t j0 = 0; j0 < width; j0 += kColumnBlock) {
      const size_t columns = std::min(width, j0 + kColumnBlock) - j0;
      double* block_out = out + r0 * width + j0;
#ifdef __x86_64__
      if (avx2) {
        transpose_scaled_avx2(plain_columns.data() + j0, plain_offset.data() + j0,
                              plain_divisor.data() + j0, columns, width, row0, count, block_out);
        continue;
      }
#endif
      transpose_scaled(plain_columns.data() + j0, plain_offset.data() + j0,
                       plain_divisor.data() + j0, columns, width, row0, count, block_out);
    }
  }
}

FeaturePipeline::Rows::Rows(const FeaturePipeline& pipeline, const table::Table& table, int rank,
                            idx_t global_offset)
    : Rows(pipeline, table, rank, global_offset, true) {}

FeaturePipeline::Rows::Rows(const FeaturePipeline& pipeline, const table::Table& table, int rank,
                            idx_t global_offset, bool scaled, bool check_values)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.rank = rank;
  m.global_offset = global_offset;
  const auto imputer_of = [&](const std::string& c) -> std::pair<const FeatureTransform*, size_t> {
    for (const auto& t : pipeline.transforms_) {
      if (t.kind != TransformKind::kImpute) continue;
      size_t numeric = 0, text = 0;
      for (const auto& col : t.columns) {
        const bool is_num = std::find(pipeline.numeric_.begin(), pipeline.numeric_.end(), col) !=
                            pipeline.numeric_.end();
        if (col == c) return {&t, is_num ? numeric : text};
        (is_num ? numeric : text) += 1;
      }
    }
    return {nullptr, 0};
  };
  for (const auto& name : pipeline.numeric_) {
    const int index = table.schema().index_of(name, "the training table");
    const table::DataType type = table.schema().field(index).type;
    if (!table::is_numeric(type)) {
      throw InputError(
          "feature column '{}' has type {}; a numeric feature must be int32, int64, float32, "
          "float64, bool or timestamp; list it under train.features.categorical with an "
          "encoder, or drop it",
          name, table::to_string(type));
    }
    Impl::Numeric n;
    n.column = &table.column(index);
    n.reader = numeric_reader(*n.column);
    const auto [imputer, k] = imputer_of(name);
    if (imputer) {
      n.imputed = true;
      // Before fit (the type check fit makes first) a fitted fill does not exist yet.
      n.fill = k < imputer->fill.size() ? imputer->fill[k] : 0.0;
    }
    m.numeric.push_back(n);
  }
  for (const auto& name : pipeline.categorical_) {
    const int index = table.schema().index_of(name, "the training table");
    const table::DataType type = table.schema().field(index).type;
    if (!is_categorical_type(type)) {
      throw InputError(
          "categorical feature column '{}' has type {}; categorical features must be string, "
          "int32, int64 or bool columns; list a numeric column under train.features.numeric",
          name, table::to_string(type));
    }
    Impl::Categorical c;
    c.column = &table.column(index);
    c.name = name;
    const auto [imputer, k] = imputer_of(name);
    if (imputer) {
      c.imputed = true;
      c.fill = k < imputer->fill_text.size() ? imputer->fill_text[k] : std::string();
    }
    for (const auto& t : pipeline.transforms_) {
      if (!is_encoder(t.kind)) continue;
      const auto it = std::find(t.columns.begin(), t.columns.end(), name);
      if (it == t.columns.end()) continue;
      c.encoder = &t;
      if (t.kind == TransformKind::kHash) {
        c.width = t.buckets;
      } else {
        const auto position = static_cast<size_t>(it - t.columns.begin());
        if (position >= t.categories.size()) continue;  // not fitted yet
        const auto& cats = t.categories[position];
        for (size_t p = 0; p < cats.size(); ++p)
          c.index.emplace(cats[p], static_cast<int>(p));
        c.width = t.kind == TransformKind::kOneHot ? static_cast<int>(cats.size()) : 1;
      }
    }
    m.categorical.push_back(std::move(c));
  }
  for (size_t j = 0; j < m.numeric.size() && check_values; ++j)
    check_feature_values(rank, *m.numeric[j].column, pipeline.numeric_[j], global_offset,
                         m.numeric[j].imputed);
  m.width = pipeline.num_outputs();
  if (scaled) {
    for (const auto& t : pipeline.transforms_) {
      if (!is_scaler(t.kind)) continue;
      for (size_t k = 0; k < t.columns.size(); ++k) {
        const auto it = std::find(pipeline.numeric_.begin(), pipeline.numeric_.end(), t.columns[k]);
        m.scales.push_back({static_cast<int>(it - pipeline.numeric_.begin()), t.offset.at(k),
                            t.divisor.at(k)});  // `scaled` only after fit
      }
    }
  }
  m.plain = m.categorical.empty() && m.width == static_cast<int>(m.numeric.size());
  for (const Impl::Numeric& n : m.numeric) {
    if (n.imputed || n.column->type() != table::DataType::kFloat64) m.plain = false;
  }
  if (m.plain) {
    m.plain_offset.assign(m.numeric.size(), 0.0);
    m.plain_divisor.assign(m.numeric.size(), 1.0);
    std::vector<int> scalers(m.numeric.size(), 0);
    for (const Impl::Scale& sc : m.scales) {
      const auto j = static_cast<size_t>(sc.output);
      if (++scalers[j] > 1) m.plain = false;  // two scalers: write()'s loop applies both in turn
      m.plain_offset[j] = sc.offset;
      m.plain_divisor[j] = sc.divisor;
    }
    for (const Impl::Numeric& n : m.numeric)
      m.plain_columns.push_back(n.column->values<double>().data());
  }
}

FeaturePipeline::Rows::Rows(Rows&&) noexcept = default;
FeaturePipeline::Rows::~Rows() = default;

void FeaturePipeline::Rows::write(idx_t begin, idx_t end, double* out) const {
  const Impl& m = *impl_;
  if (m.plain) {
    m.write_plain(begin, end, out);
    return;
  }
  const auto width = static_cast<size_t>(m.width);
  const auto n = static_cast<size_t>(end - begin);
  constexpr size_t kTile = 32;  // 32 rows x 64 features = 16 KB: the rows stay in L1 (make_dataset)
  std::array<double, kTile> column_tile;
  for (size_t t0 = 0; t0 < n; t0 += kTile) {
    const size_t t1 = std::min(n, t0 + kTile);
    const idx_t row0 = begin + static_cast<idx_t>(t0);
    double* tile_out = out + t0 * width;
    // Numeric features: copy, fill what is missing.
    for (size_t j = 0; j < m.numeric.size(); ++j) {
      const Impl::Numeric& f = m.numeric[j];
      if (!f.imputed) {
        // Straight into the rows, as make_dataset copies (no staging through the column tile).
        f.reader.read(row0, row0 + static_cast<idx_t>(t1 - t0), tile_out + j,
                      static_cast<Eigen::Index>(width));
        continue;
      }
      f.reader.read(row0, row0 + static_cast<idx_t>(t1 - t0), column_tile.data(), 1);
      f.impute(row0, column_tile.data(), t1 - t0);
      for (size_t i = 0; i < t1 - t0; ++i)
        tile_out[i * width + j] = column_tile[i];
    }
    // Categorical features: each encoder's outputs.
    size_t first = m.numeric.size();
    std::array<char, 24> digits;
    for (const Impl::Categorical& c : m.categorical) {
      const auto w = static_cast<size_t>(c.width);
      for (size_t i = 0; i < t1 - t0; ++i) {
        const idx_t row = row0 + static_cast<idx_t>(i);
        double* o = tile_out + i * width + first;
        std::fill(o, o + w, 0.0);
        std::string_view text;
        if (c.column->is_valid(row)) {
          text = category_text(*c.column, row, digits);
        } else if (c.imputed) {
          text = c.fill;
        } else {
          throw InputError(
              "categorical feature column '{}' is null at row {} of rank {} (global row {}); "
              "impute it (train transforms: [{{impute: {{strategy: most_frequent, columns: "
              "[{}]}}}}]) or filter nulls first",
              c.name, row, m.rank, m.global_offset + row, c.name);
        }
        if (c.encoder->kind == TransformKind::kHash) {
          o[hash_string(text) % static_cast<std::uint64_t>(c.width)] = 1.0;
          continue;
        }
        const auto it = c.index.find(text);
        if (it == c.index.end()) {
          if (c.encoder->unknown == UnknownCategory::kError) {
            throw InputError(
                "categorical feature column '{}' holds '{}' at row {} of rank {} (global row {}), "
                "a category the training data did not have ({} categories); filter such rows, or "
                "set unknown: ignore on its encoder ({}) to encode them as {}",
                c.name, text, row, m.rank, m.global_offset + row, c.index.size(), c.encoder->where,
                c.encoder->kind == TransformKind::kOneHot ? "all zeros" : "-1");
          }
          if (c.encoder->kind == TransformKind::kIndex) o[0] = -1.0;
          continue;
        }
        if (c.encoder->kind == TransformKind::kOneHot) {
          o[it->second] = 1.0;
        } else {
          o[0] = static_cast<double>(it->second);
        }
      }
      first += w;
    }
    for (const Impl::Scale& s : m.scales) {
      for (size_t i = 0; i < t1 - t0; ++i) {
        double& x = tile_out[i * width + static_cast<size_t>(s.output)];
        x = (x - s.offset) / s.divisor;  // the expression StandardScaler::transform uses
      }
    }
  }
}

void FeaturePipeline::Rows::check_numeric(size_t j, const std::string& name) const {
  const Impl::Numeric& f = impl_->numeric.at(j);
  check_feature_values(impl_->rank, *f.column, name, impl_->global_offset, f.imputed);
}

bool FeaturePipeline::Rows::may_have_nulls(size_t j) const {
  return !impl_->numeric.at(j).column->validity().empty();
}

const double* FeaturePipeline::Rows::float64_values(size_t j) const {
  const Impl::Numeric& f = impl_->numeric.at(j);
  if (f.imputed || f.column->type() != table::DataType::kFloat64) return nullptr;
  return f.column->values<double>().data();
}

void FeaturePipeline::Rows::numeric_values(size_t j, idx_t begin, idx_t end, double* out) const {
  const Impl::Numeric& f = impl_->numeric.at(j);
  f.reader.read(begin, end, out, 1);
  if (f.imputed) f.impute(begin, out, static_cast<size_t>(end - begin));
}

// ---------------------------------------------------------------------------------------------
// Fitting and assembly
// ---------------------------------------------------------------------------------------------

void FeaturePipeline::fit_column_transforms(const mpi::Comm& comm, const table::Table& table) {
  const idx_t global_offset = mpi::exscan_sum(comm, table.num_rows());
  const auto column_of = [&](const std::string& name) -> const table::Column& {
    const table::Column* out = nullptr;
    comm.agree([&] { out = &table.column(table.schema().index_of(name, "the training table")); });
    return *out;
  };
  const auto is_numeric = [&](const std::string& c) {
    return std::find(numeric_.begin(), numeric_.end(), c) != numeric_.end();
  };
  // Types first, so that the statistics below read the columns they expect.
  // (The values are checked once, when the rows are assembled.)
  comm.agree([&] { Rows check(*this, table, comm.rank(), global_offset, false, false); });
  // Imputers (the written order puts a column's imputer before its encoder).
  std::map<std::string, std::string> text_fill;  // categorical column -> fill
  for (auto& t : transforms_) {
    if (t.kind != TransformKind::kImpute) continue;
    if (t.strategy != ImputeStrategy::kConstant) {
      t.fill.clear();
      t.fill_text.clear();
    }
    for (size_t k = 0; k < t.columns.size(); ++k) {
      const std::string& name = t.columns[k];
      const table::Column& column = column_of(name);
      if (is_numeric(name)) {
        if (t.strategy != ImputeStrategy::kConstant)
          t.fill.push_back(fit_numeric_fill(comm, t, name, column, global_offset));
        continue;
      }
      if (t.strategy == ImputeStrategy::kMostFrequent) {
        std::unordered_map<std::string, idx_t> local;
        comm.agree([&] {
          count_categories(t, name, column, comm.rank(), global_offset, nullptr,
                           std::numeric_limits<size_t>::max(), local);
        });
        const std::map<std::string, idx_t> counts = merge_text_counts(comm, local);
        comm.agree([&] {
          if (counts.empty()) {
            throw InputError(
                "{}: categorical feature column '{}' has no value in the training data to take "
                "the most frequent of; use strategy constant",
                t.where, name);
          }
        });
        std::vector<std::string> names;
        for (const auto& [text, count] : counts)
          names.push_back(text);
        sort_categories(names, is_integer_type(column.type()));
        // The most frequent; ties go to the first in category order.
        std::string best;
        idx_t best_count = -1;
        for (const auto& text : names) {
          if (counts.at(text) > best_count) {
            best = text;
            best_count = counts.at(text);
          }
        }
        t.fill_text.push_back(best);
      }
      text_fill[name] = t.fill_text.back();
    }
  }
  // Encoders: the distinct values of the training data (after imputation).
  for (auto& t : transforms_) {
    if (t.kind != TransformKind::kOneHot && t.kind != TransformKind::kIndex) continue;
    t.categories.clear();
    for (const std::string& name : t.columns) {
      const table::Column& column = column_of(name);
      std::unordered_map<std::string, idx_t> local;
      const auto fill = text_fill.find(name);
      comm.agree([&] {
        count_categories(t, name, column, comm.rank(), global_offset,
                         fill != text_fill.end() ? &fill->second : nullptr,
                         static_cast<size_t>(t.max_categories), local);
      });
      const std::map<std::string, idx_t> counts = merge_text_counts(comm, local);
      comm.agree([&] {
        if (static_cast<int>(counts.size()) > t.max_categories) {
          throw InputError(
              "{}: categorical feature column '{}' has {} distinct values in the training data, "
              "more than max_categories ({}); raise it or use {{hash: {{columns: [{}], buckets: "
              "N}}}}",
              t.where, name, counts.size(), t.max_categories, name);
        }
      });
      std::vector<std::string> names;
      for (const auto& [text, count] : counts)
        names.push_back(text);
      sort_categories(names, is_integer_type(column.type()));
      t.categories.push_back(std::move(names));
    }
  }
  set_output_names();
}

Dataset FeaturePipeline::assemble_rows(const mpi::Comm& comm, const table::Table& table,
                                       const std::string& label, const LabelEncoding& labels,
                                       bool check_values, MatrixType matrix) const {
  Dataset data;
  const idx_t rows = table.num_rows();
  data.global_offset = mpi::exscan_sum(comm, rows);
  data.global_rows = mpi::allreduce_sum(comm, rows);
  data.feature_names = output_names_;
  comm.agree([&] {
    const Rows assembler(*this, table, comm.rank(), data.global_offset, true, check_values);
    if (!label.empty()) data.labels = read_labels(comm, table, label, data.global_offset, labels);
    const auto d = static_cast<Eigen::Index>(output_names_.size());
    if (matrix == MatrixType::kFloat32) {
      data.features.resize(0, 0);
      data.features32.resize(static_cast<Eigen::Index>(rows), d);
      advise_huge_pages_for_buffer(data.features32.data(),
                                   static_cast<size_t>(data.features32.size()) * sizeof(float));
      // Tiles of rows assembled in double (the same values as the float64 matrix), each rounded
      // to float while it is in the cache.
      const idx_t tile = std::max<idx_t>(1, (idx_t{256} << 10) / (8 * std::max<idx_t>(d, 1)));
      std::vector<double> scratch(static_cast<size_t>(std::min(tile, rows) * d));
      for (idx_t begin = 0; begin < rows; begin += tile) {
        const idx_t end = std::min(rows, begin + tile);
        assembler.write(begin, end, scratch.data());
        float* out = data.features32.data() + begin * d;
        const auto count = static_cast<size_t>((end - begin) * d);
        for (size_t i = 0; i < count; ++i)
          out[i] = static_cast<float>(scratch[i]);
      }
      return;
    }
    data.features.resize(static_cast<Eigen::Index>(rows), d);
    // Training reads the rows in a random order: huge pages save TLB misses (make_dataset).
    advise_huge_pages_for_buffer(data.features.data(),
                                 static_cast<size_t>(data.features.size()) * sizeof(double));
    if (rows > 0) assembler.write(0, rows, data.features.data());
  });
  return data;
}

void FeaturePipeline::fit_scalers(const mpi::Comm& comm, const Rows& rows, idx_t local_rows,
                                  idx_t global_rows, idx_t global_offset) {
  // One column at a time: its values (imputed, then scaled by the column's earlier scalers, as
  // write() would) in one buffer that the fit's passes read from the cache. Before, fit assembled
  // the unscaled matrix and fitted and applied each scaler on it: four more passes over the
  // whole matrix (setup at 1.6e6 x 64, 2 ranks: see bench_train BM_SetupFeaturePipeline).
  std::vector<double> values;  // a column's values when they cannot be read where they are
  const auto numeric_index = [&](const std::string& c) {
    return static_cast<size_t>(std::find(numeric_.begin(), numeric_.end(), c) - numeric_.begin());
  };
  // Each column's values are checked just before its first scaler reads them, so that the
  // scaler's passes find the column in the cache (a separate pass over every column first read
  // the whole table from memory once more).
  std::vector<char> checked(numeric_.size(), 0);
  const auto check = [&](size_t j) {
    if (checked[j] != 0) return;
    checked[j] = 1;
    comm.agree([&] { rows.check_numeric(j, numeric_[j]); });
  };
  for (size_t ti = 0; ti < transforms_.size(); ++ti) {
    FeatureTransform& t = transforms_[ti];
    if (!is_scaler(t.kind)) continue;
    const size_t w = t.columns.size();
    t.offset.assign(w, 0.0);
    t.divisor.assign(w, 1.0);
    // Min-max: [max_k..., -min_k...] in one max-allreduce after the columns.
    std::vector<double> extremes(2 * w, -std::numeric_limits<double>::infinity());
    for (size_t k = 0; k < w; ++k) {
      const std::string& name = t.columns[k];
      const size_t j = numeric_index(name);
      bool scaled_before = false;
      for (size_t earlier = 0; earlier < ti; ++earlier) {
        const FeatureTransform& e = transforms_[earlier];
        if (is_scaler(e.kind) &&
            std::find(e.columns.begin(), e.columns.end(), name) != e.columns.end())
          scaled_before = true;
      }
      // This rank's [max, -min] of the values the scaler fits.
      std::array<double, 2> local{};
      std::span<const double> column_values;
      const double* direct = rows.float64_values(j);
      if (direct != nullptr && !scaled_before) {
        // A float64 column that nothing changes before this scaler is read where it is: no copy.
        // Its extremes come with a finiteness test in one pass, which stands for the value check
        // unless it fails or the column has a validity (then check() finds and names the bad
        // row): the first pass over a column reads it from memory, the scaler's later ones from
        // the cache (2e6 x 64 at 2 ranks: one 410 MB pass per rank less).
        column_values = std::span<const double>(direct, static_cast<size_t>(local_rows));
        bool all_finite = true;
        local = local_extremes(column_values, all_finite);
        if (checked[j] == 0) {
          checked[j] = 1;
          const bool clean = all_finite && !rows.may_have_nulls(j);
          comm.agree([&] {
            if (!clean) rows.check_numeric(j, name);
          });
        }
      } else {
        check(j);
        values.resize(static_cast<size_t>(local_rows));
        if (local_rows > 0) rows.numeric_values(j, 0, local_rows, values.data());
        for (size_t earlier = 0; earlier < ti; ++earlier) {
          const FeatureTransform& e = transforms_[earlier];
          if (!is_scaler(e.kind)) continue;
          for (size_t k2 = 0; k2 < e.columns.size(); ++k2) {
            if (e.columns[k2] != name) continue;
            for (double& x : values)
              x = (x - e.offset[k2]) / e.divisor[k2];  // write()'s expression
          }
        }
        column_values = values;
        local = local_extremes(column_values);
      }
      if (t.kind == TransformKind::kStandardScale) {
        std::tie(t.offset[k], t.divisor[k]) =
            fit_standard_scale(comm, column_values, global_rows, global_offset, name, local);
        continue;
      }
      extremes[k] = local[0];
      extremes[w + k] = local[1];
    }
    if (t.kind != TransformKind::kMinMaxScale) continue;
    mpi::allreduce_inplace(comm, std::span<double>(extremes), mpi::Reduce::kMax);
    for (size_t k = 0; k < w; ++k) {
      const double lo = -extremes[w + k], hi = extremes[k];
      const double range = hi - lo;
      comm.agree([&] {
        if (!std::isfinite(range)) {
          throw InputError(
              "{}: feature '{}' spans {} to {}, a range too wide for double; divide it by a "
              "constant first",
              t.where, t.columns[k], lo, hi);
        }
      });
      t.offset[k] = lo;
      t.divisor[k] = range > 0.0 ? range : 1.0;
    }
  }
  for (size_t j = 0; j < numeric_.size(); ++j)
    check(j);
}

Dataset FeaturePipeline::fit(const mpi::Comm& comm, const table::Table& table,
                             const std::string& label, const LabelEncoding& labels,
                             MatrixType matrix) {
  const idx_t global_rows = mpi::allreduce_sum(comm, table.num_rows());
  comm.agree([&] {
    if (global_rows == 0) {
      throw InputError(
          "cannot fit the feature transforms: the training data has no rows; check the filters "
          "and the split that produce it");
    }
  });
  const Stopwatch timer;
  fit_column_transforms(comm, table);
  const double columns_seconds = timer.seconds();
  // Every value is checked once, by fit_scalers, before any scaler reads its column.
  const idx_t global_offset = mpi::exscan_sum(comm, table.num_rows());
  std::unique_ptr<Rows> unscaled;
  comm.agree([&] {
    unscaled = std::make_unique<Rows>(*this, table, comm.rank(), global_offset, false, false);
  });
  fit_scalers(comm, *unscaled, table.num_rows(), global_rows, global_offset);
  fitted_ = true;
  const double scalers_seconds = timer.seconds() - columns_seconds;
  Dataset data = assemble_rows(comm, table, label, labels, false, matrix);
  spdlog::debug(
      "feature pipeline on this rank: fitted in {:.3f} s (column transforms {:.3f} s, value "
      "checks and scalers {:.3f} s, {} matrix of {} x {} {:.3f} s)",
      timer.seconds(), columns_seconds, scalers_seconds, to_string(matrix), data.rows(),
      data.num_features(), timer.seconds() - columns_seconds - scalers_seconds);
  return data;
}

Dataset FeaturePipeline::assemble(const mpi::Comm& comm, const table::Table& table,
                                  const std::string& label, const LabelEncoding& labels,
                                  MatrixType matrix) const {
  if (!fitted_) throw RuntimeError("FeaturePipeline::assemble called before fit");
  return assemble_rows(comm, table, label, labels, true, matrix);
}

}  // namespace shardflow::ml
