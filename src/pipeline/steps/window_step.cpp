// op: window — window features per row (ops::window): row_number, rank, dense_rank, lag, lead
// and trailing frames over any aggregate of the registry; or tumbling buckets.
//
//   - {op: window, input: events, partition_by: [user_id], order_by: ts,
//      features: {amount_7d: "sum(amount) over range 7d preceding exclude current",
//                 n_7d: "count(*) over range 7d preceding", prev_amount: "lag(amount, 1)",
//                 rank: "row_number()"}, output: feats}
//   - {op: window, input: events, partition_by: [user_id], order_by: ts, bucket: 1h,
//      features: {n: "count(*)", total: "sum(amount)"}, output: hourly}
//
// A feature is `function(arguments) [over range <offset> preceding | over rows <n> preceding |
// over range|rows unbounded preceding] [exclude current]`; an aggregate without `over` is over the
// whole partition. Offsets of range frames and `bucket` are durations (7d, 12h, 30m, 45s, 500ms,
// 250us) for timestamp order columns and plain numbers otherwise.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/ops/window.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

const std::vector<std::string> kKeys = {"op",       "input",  "partition_by", "order_by",
                                        "features", "bucket", "output"};
const std::vector<std::string> kWindowFunctions = {"row_number", "rank", "dense_rank", "lag",
                                                   "lead"};

class WindowStep final : public StepSpec {
 public:
  ops::WindowSpec spec;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "partition_by" << YAML::Value << YAML::Flow << spec.partition_by;
    out << YAML::Key << "order_by" << YAML::Value;
    if (spec.order_by.empty())
      out << YAML::Null;
    else
      out << spec.order_by;
    out << YAML::Key << "features" << YAML::Value << YAML::BeginMap;
    for (const auto& f : spec.features)
      out << YAML::Key << f.output << YAML::Value << YAML::DoubleQuoted
          << ops::window_feature_text(f);
    out << YAML::EndMap;
    out << YAML::Key << "bucket" << YAML::Value;
    if (!spec.bucket)
      out << YAML::Null;
    else if (spec.bucket_duration)
      out << ops::duration_text(*spec.bucket);
    else
      out << *spec.bucket;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    auto error = [&](const std::string& key, const std::string& message) {
      return ConfigError("{}: {}: {}", fields.of(key, location).to_string(), label, message);
    };
    for (const auto& k : spec.partition_by)
      if (!input.find(k)) throw error("partition_by", input.not_a_column("partition_by column", k));
    std::optional<DataType> order;
    if (!spec.order_by.empty()) {
      const ColumnShape* o = input.find(spec.order_by);
      if (!o) throw error("order_by", input.not_a_column("order_by column", spec.order_by));
      order = o->type;
    }
    TableShape shape;
    if (spec.bucket) {
      if (spec.order_by.empty()) throw error("bucket", "bucket needs order_by (the time column)");
      if (order) {
        try {
          // The bucket checks of the engine, on the order column alone.
          ops::WindowSpec probe = spec;
          probe.features.clear();
          ops::WindowFeature count;
          count.output = "__probe__";
          count.function = ops::WindowFunction::kAggregate;
          count.agg.function = "count";
          probe.features.push_back(count);
          table::Schema schema;
          for (const auto& k : spec.partition_by)
            schema.add({k, input.find(k)->type.value_or(DataType::kInt64)});
          if (!schema.find(spec.order_by)) schema.add({spec.order_by, *order});
          ops::window_output_schema(schema, probe);
        } catch (const ConfigError& e) {
          throw error("bucket", e.what());
        }
      }
      const std::string bucket = ops::window_bucket_column(spec);
      if (input.find(bucket)) {
        throw error("bucket", fmt::format("the bucket column '{}' would hide the input column of "
                                          "that name; rename that column",
                                          bucket));
      }
      for (const auto& k : spec.partition_by)
        shape.columns.push_back({k, input.find(k)->type});
      std::optional<DataType> bucket_type;
      if (order)
        bucket_type = *order == DataType::kTimestamp ? DataType::kTimestamp : DataType::kInt64;
      shape.columns.push_back({bucket, bucket_type});
    } else {
      shape = input;
    }
    for (const auto& f : spec.features) {
      const std::string key = "features." + f.output;
      std::optional<DataType> column, column2;
      auto column_type = [&](const std::string& name) -> std::optional<DataType> {
        const ColumnShape* c = input.find(name);
        if (!c) throw error(key, input.not_a_column(f.output + ": column", name));
        return c->type;
      };
      if (f.function == ops::WindowFunction::kLag || f.function == ops::WindowFunction::kLead) {
        column = column_type(f.column);
      } else if (f.function == ops::WindowFunction::kAggregate) {
        if (!f.agg.column.empty()) column = column_type(f.agg.column);
        if (!f.agg.column2.empty()) column2 = column_type(f.agg.column2);
      }
      std::optional<DataType> type;
      try {
        type = ops::window_feature_type(spec, f, column, column2, order);
      } catch (const ConfigError& e) {
        throw error(key, e.what());
      }
      if (shape.find(f.output)) {
        throw error(key, fmt::format("feature '{}' has the name of a column the output already "
                                     "has; rename it",
                                     f.output));
      }
      shape.columns.push_back({f.output, type});
    }
    return {shape};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::WindowOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("features", location), context, [&] {
      return ops::window(context.comm, *inputs.at(0), spec, options);
    }));
    return result;
  }
};

// ---- feature text -------------------------------------------------------------------------------

class FeatureParser {
 public:
  FeatureParser(const std::string& text, const std::string& path, const SourceLocation& where)
      : text_(text), path_(path), where_(where) {}

  ops::WindowFeature parse(const std::string& output) {
    ops::WindowFeature f;
    f.output = output;
    skip();
    const size_t name_at = i_;
    std::string name = lower(word());
    if (name.empty()) fail(name_at, "expected a function name");
    skip();
    if (!eat('(')) fail(i_, "expected '('");
    if (name == "row_number" || name == "rank" || name == "dense_rank") {
      f.function = name == "row_number" ? ops::WindowFunction::kRowNumber
                   : name == "rank"     ? ops::WindowFunction::kRank
                                        : ops::WindowFunction::kDenseRank;
      skip();
      if (!eat(')')) fail(i_, fmt::format("expected ')': {}() takes no arguments", name));
    } else if (name == "lag" || name == "lead") {
      f.function = name == "lag" ? ops::WindowFunction::kLag : ops::WindowFunction::kLead;
      skip();
      f.column = column(false);
      skip();
      if (eat(',')) {
        skip();
        const size_t at = i_;
        const std::string n = token();
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        if (n.empty() || ec != std::errc() || end != n.data() + n.size())
          fail(at, fmt::format("expected the offset, a whole number >= 0 ({}(column, n[, "
                               "default]))",
                               name));
        if (v < 0) fail(at, fmt::format("{} offset must be >= 0, got {}", name, v));
        f.offset = v;
        skip();
        if (eat(',')) {
          skip();
          f.default_value = literal();
          skip();
        }
      }
      if (!eat(')')) fail(i_, "expected ')'");
    } else {
      const ops::AggregateFunction* registered = ops::find_aggregate_function(name);
      if (registered == nullptr) {
        std::vector<std::string> names = kWindowFunctions;
        for (const auto& n : ops::aggregate_function_names())
          names.push_back(n);
        fail_at(where_, fmt::format("{}: unknown window function '{}'{} (functions: {})", path_,
                                    name, did_you_mean(name, names), list_names(names)));
      }
      if (registered->expands_rows) {
        fail_at(where_, fmt::format("{}: {} gives several rows per group and cannot be a window "
                                    "feature (any aggregate of the registry, not top_k or "
                                    "histogram)",
                                    path_, registered->name));
      }
      f.function = ops::WindowFunction::kAggregate;
      f.agg.function = registered->name;
      skip();
      bool star = false;
      if (peek() == '*') {
        ++i_;
        star = true;
        if (!registered->allows_no_column)
          fail_at(where_,
                  fmt::format("{}: {}(*) is not an aggregate; only count(*) may omit the column",
                              path_, registered->name));
      } else {
        f.agg.column = column(false);
      }
      skip();
      if (registered->two_columns && !star) {
        if (!eat(','))
          fail(i_, fmt::format("expected ',' and a second column ({} takes two: {}(x, y))",
                               registered->name, registered->name));
        skip();
        f.agg.column2 = column(false);
        skip();
      }
      while (eat(',')) {
        skip();
        const size_t at = i_;
        const std::string arg = token();
        double value = 0;
        const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), value);
        if (arg.empty() || ec != std::errc() || end != arg.data() + arg.size() ||
            !std::isfinite(value)) {
          fail(at, fmt::format("expected a number ({} takes {})", registered->name,
                               registered->args_help.empty() ? std::string("no constant arguments")
                                                             : registered->args_help));
        }
        f.agg.args.push_back(value);
        skip();
      }
      if (!eat(')')) fail(i_, "expected ')'");
      try {
        ops::check_aggregate_args(*registered, f.agg.args);
      } catch (const ConfigError& e) {
        fail_at(where_, fmt::format("{}: {}", path_, e.what()));
      }
    }
    skip();
    if (i_ < text_.size()) {
      const size_t over_at = i_;
      const std::string first = lower(word());
      if (first == "exclude" && f.function == ops::WindowFunction::kAggregate) {
        // A whole-partition aggregate without the current row (leave one out).
        i_ = over_at;
        exclude_current(f);
        return f;
      }
      if (first != "over")
        fail(over_at, "unexpected text; expected 'over', 'exclude current' or the end");
      if (f.function != ops::WindowFunction::kAggregate)
        fail(over_at, fmt::format("{}() takes no frame ('over ...'); only aggregates do", name));
      skip();
      const size_t kind_at = i_;
      const std::string kind = lower(word());
      skip();
      const size_t off_at = i_;
      const std::string offset = token();
      if ((kind == "range" || kind == "rows") && lower(offset) == "unbounded") {
        f.frame.kind = kind == "range" ? ops::FrameKind::kRange : ops::FrameKind::kRows;
        f.frame.unbounded = true;
      } else if (kind == "range") {
        f.frame.kind = ops::FrameKind::kRange;
        std::optional<std::int64_t> micros;
        try {
          micros = ops::parse_duration_micros(offset);
        } catch (const ConfigError& e) {
          fail(off_at, e.what());
        }
        if (micros) {
          f.frame.duration = true;
          f.frame.micros = *micros;
        } else {
          double v = 0;
          const auto [end, ec] = std::from_chars(offset.data(), offset.data() + offset.size(), v);
          if (offset.empty() || ec != std::errc() || end != offset.data() + offset.size() ||
              !std::isfinite(v) || v < 0) {
            fail(off_at,
                 "expected the range offset: a duration such as 7d, 12h, 30m, 45s, "
                 "500ms (timestamp order) or a number >= 0");
          }
          f.frame.number = v;
        }
      } else if (kind == "rows") {
        f.frame.kind = ops::FrameKind::kRows;
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(offset.data(), offset.data() + offset.size(), v);
        if (offset.empty() || ec != std::errc() || end != offset.data() + offset.size() || v < 0)
          fail(off_at, "expected the number of preceding rows, a whole number >= 0");
        f.frame.rows = v;
      } else {
        fail(kind_at, "expected 'range' or 'rows' after 'over'");
      }
      skip();
      const size_t prec_at = i_;
      if (lower(word()) != "preceding") fail(prec_at, "expected 'preceding'");
      skip();
      if (i_ < text_.size()) exclude_current(f);
    }
    return f;
  }

 private:
  // `exclude current` and the end of the text.
  void exclude_current(ops::WindowFeature& f) {
    const size_t ex_at = i_;
    if (lower(word()) != "exclude") fail(ex_at, "expected 'exclude current' or the end");
    skip();
    const size_t cur_at = i_;
    if (lower(word()) != "current") fail(cur_at, "expected 'current' after 'exclude'");
    f.frame.exclude_current = true;
    skip();
    if (i_ < text_.size()) fail(i_, "unexpected text after 'exclude current'");
  }

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    fail_at(where_, fmt::format("{}: '{}' is not a window feature: {} at column {}; write e.g. "
                                "\"sum(amount) over range 7d preceding exclude current\", "
                                "\"lag(amount, 1)\" or \"row_number()\"",
                                path_, text_, what, at + 1));
  }
  static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  }
  char peek() const { return i_ < text_.size() ? text_[i_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  void skip() {
    while (i_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[i_])))
      ++i_;
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  }
  std::string word() {
    const size_t s = i_;
    while (i_ < text_.size() && name_char(text_[i_]))
      ++i_;
    return text_.substr(s, i_ - s);
  }
  // Up to a space, ',' or ')'.
  std::string token() {
    const size_t s = i_;
    while (i_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[i_])) &&
           text_[i_] != ',' && text_[i_] != ')')
      ++i_;
    return text_.substr(s, i_ - s);
  }
  std::string quoted(char q) {
    const size_t open = i_++;
    std::string out;
    while (i_ < text_.size()) {
      if (text_[i_] == q) {
        if (i_ + 1 < text_.size() && text_[i_ + 1] == q) {
          out += q;
          i_ += 2;
          continue;
        }
        ++i_;
        return out;
      }
      out += text_[i_++];
    }
    fail(open, q == '"' ? "unterminated quoted column name" : "unterminated string");
  }
  std::string column(bool) {
    const size_t at = i_;
    std::string c;
    if (peek() == '"') {
      c = quoted('"');
      if (c.empty()) fail(at, "empty column name");
      return c;
    }
    c = word();
    if (c.empty()) fail(at, "expected a column name or \"a quoted name\"");
    return c;
  }
  ops::WindowLiteral literal() {
    ops::WindowLiteral l;
    const size_t at = i_;
    if (peek() == '\'') {
      l.kind = ops::WindowLiteral::Kind::kString;
      l.text = quoted('\'');
      return l;
    }
    const std::string t = token();
    const std::string lt = lower(t);
    if (lt == "null") {
      l.kind = ops::WindowLiteral::Kind::kNull;
    } else if (lt == "true" || lt == "false") {
      l.kind = ops::WindowLiteral::Kind::kBool;
      l.text = lt;
    } else {
      double v = 0;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v))
        fail(at, "expected the default: a number, 'a string', true, false or null");
      l.kind = ops::WindowLiteral::Kind::kNumber;
      l.text = t;
    }
    return l;
  }

  const std::string& text_;
  const std::string& path_;
  const SourceLocation& where_;
  size_t i_ = 0;
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a window step)");
  auto step = std::make_shared<WindowStep>();
  ops::WindowSpec& spec = step->spec;
  if (const ConfigNode* p = map.find("partition_by"); p && p->kind != ConfigNode::Kind::kNull)
    spec.partition_by = to_string_list(*p, map.path("partition_by"), true);
  if (const ConfigNode* o = map.find("order_by"); o && o->kind != ConfigNode::Kind::kNull)
    spec.order_by = to_nonempty_string(*o, map.path("order_by"));
  const ConfigNode& features = map.require("features");
  const std::string fpath = map.path("features");
  if (!features.is_map() || features.keys.empty()) {
    fail_at(features.location,
            fmt::format("{} must map output columns to features, e.g. {{n_7d: \"count(*) over "
                        "range 7d preceding\", prev: \"lag(amount, 1)\"}}",
                        fpath));
  }
  for (size_t i = 0; i < features.keys.size(); ++i) {
    const std::string& output = features.keys[i];
    const ConfigNode& value = features.items[i];
    const std::string path = fmt::format("{}.{}", fpath, output);
    if (value.kind != ConfigNode::Kind::kScalar) {
      fail_at(value.location, fmt::format("{} must be a feature such as \"lag(amount, 1)\", got {}",
                                          path, describe(value)));
    }
    for (const auto& earlier : spec.features)
      if (earlier.output == output)
        fail_at(features.key_locations[i], fmt::format("{} appears twice", path));
    FeatureParser parser(value.scalar, path, value.location);
    spec.features.push_back(parser.parse(output));
    step->fields.values["features." + output] = value.location;
  }
  if (const ConfigNode* b = map.find("bucket"); b && b->kind != ConfigNode::Kind::kNull) {
    const std::string bpath = map.path("bucket");
    std::optional<std::int64_t> micros;
    try {
      micros = ops::parse_duration_micros(b->scalar);
    } catch (const ConfigError& e) {
      fail_at(b->location, fmt::format("{}: {}", bpath, e.what()));
    }
    if (micros) {
      spec.bucket = *micros;
      spec.bucket_duration = true;
    } else {
      spec.bucket = to_int(*b, bpath, 1);
    }
    if (*spec.bucket <= 0)
      fail_at(b->location, fmt::format("{} must be a positive duration such as 1h", bpath));
  }
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType window_step_type() {
  return {"window",
          "window features per row: row_number, rank, dense_rank, lag, lead, and any aggregate "
          "over a trailing range/rows frame (exclude current) or the partition; or tumbling "
          "buckets",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
