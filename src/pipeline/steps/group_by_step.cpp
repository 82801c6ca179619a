// op: group_by — one row per distinct key combination with aggregates of its rows
// (ops::group_by: a distributed hash aggregation).
//
//   - {op: group_by, input: clean, keys: [segment], aggs: {amount: [sum, mean], "*": [count]},
//      output: by_segment}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/ops/expression.hpp"
#include "shardflow/ops/group_by.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

std::string trimmed(const std::string& text);

// One aggregate call of an expression over aggregates, replaced by its hidden column: where it
// sits in the text as written and in the rewritten text (byte offsets), and both spellings.
struct CallReplacement {
  size_t written_at = 0;
  size_t written_size = 0;
  size_t rewritten_at = 0;
  size_t rewritten_size = 0;
};

// An error message about the rewritten text of an expression over aggregates, in the terms of
// the text as written: hidden column names become the calls they stand for, column positions are
// mapped back, and the "expression '...': " prefix (the caller names the written text) goes.
std::string in_written_terms(std::string message, const std::string& text,
                             const std::string& rewritten,
                             const std::vector<CallReplacement>& replacements) {
  const std::string prefix = "expression '" + rewritten + "': ";
  if (message.starts_with(prefix)) message.erase(0, prefix.size());
  // "at column N" (1-based, in the rewritten text).
  auto written_column = [&](size_t column) {
    const size_t at = column - 1;
    std::ptrdiff_t shift = 0;
    for (const auto& r : replacements) {
      if (at < r.rewritten_at) break;
      if (at < r.rewritten_at + r.rewritten_size) return r.written_at + 1;
      shift = static_cast<std::ptrdiff_t>(r.written_at + r.written_size) -
              static_cast<std::ptrdiff_t>(r.rewritten_at + r.rewritten_size);
    }
    return static_cast<size_t>(static_cast<std::ptrdiff_t>(at) + shift) + 1;
  };
  const std::string marker = "at column ";
  for (size_t p = message.find(marker); p != std::string::npos; p = message.find(marker, p)) {
    const size_t digits = p + marker.size();
    size_t end = digits;
    while (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end])))
      ++end;
    if (end == digits) {
      p = digits;
      continue;
    }
    const std::string mapped =
        std::to_string(written_column(std::stoul(message.substr(digits, end - digits))));
    message.replace(digits, end - digits, mapped);
    p = digits + mapped.size();
  }
  for (const auto& r : replacements) {
    const std::string hidden = rewritten.substr(r.rewritten_at, r.rewritten_size);  // "__aggN__"
    const std::string call = text.substr(r.written_at, r.written_size);
    for (const std::string& name : {hidden, hidden.substr(1, hidden.size() - 2)}) {
      for (size_t p = message.find(name); p != std::string::npos; p = message.find(name, p)) {
        message.replace(p, name.size(), call);
        p += call.size();
      }
    }
  }
  return message;
}

class GroupByStep final : public StepSpec {
 public:
  std::vector<std::string> keys;
  /// In the order written; output "<column>_<function>", or "count" for count(*) (written "*",
  /// stored as column ""), or the key of a named aggregate ("sd_v3: stddev(v3)").
  std::vector<ops::AggSpec> aggs;
  /// Per aggregate: the key of `aggs` it was written under (a column, "*", or the output name of
  /// a named aggregate) and whether it was named.
  std::vector<std::string> written_under;
  std::vector<bool> named;
  /// Per aggregate: computed only for an expression (its output is "__agg<n>__").
  std::vector<bool> hidden;
  /// Expressions over aggregates ("range_v1_v2: max(v1) - min(v2)"): the output column, the text
  /// as written, and the text with each aggregate call replaced by its hidden column.
  struct Derived {
    std::string output;
    std::string text;
    std::string rewritten;
    std::vector<CallReplacement> replacements;  // in text order
  };
  std::vector<Derived> derived;
  /// The keys of `aggs` as written, in order: the order of the output columns after the keys.
  std::vector<std::string> entry_order;

  const Derived* find_derived(const std::string& key) const {
    for (const auto& d : derived)
      if (d.output == key) return &d;
    return nullptr;
  }

  /// The output columns after the keys, in written order.
  std::vector<std::string> output_columns() const {
    std::vector<std::string> names;
    for (const auto& key : entry_order) {
      if (find_derived(key) != nullptr) {
        names.push_back(key);
        continue;
      }
      for (size_t i = 0; i < aggs.size(); ++i)
        if (!hidden[i] && written_under[i] == key)
          for (auto& name : ops::output_names(aggs[i]))
            names.push_back(std::move(name));
    }
    return names;
  }

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "keys" << YAML::Value << YAML::Flow << keys;
    // aggs were written as a map column -> functions or output -> "function(column)"; list
    // entries are regrouped by column, every entry in first-seen order of its key.
    struct Entry {
      std::string key;
      std::vector<std::string> functions;  // list form
      std::string call;                    // named form
    };
    std::vector<Entry> entries;
    for (const auto& key : entry_order) {
      if (const Derived* d = find_derived(key)) entries.push_back({key, {}, trimmed(d->text)});
    }
    for (size_t i = 0; i < aggs.size(); ++i) {
      const auto& agg = aggs[i];
      if (hidden[i]) continue;
      if (named[i]) {
        entries.push_back({written_under[i], {}, ops::aggregate_call_text(agg)});
        continue;
      }
      auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) {
        return e.call.empty() && e.key == written_under[i];
      });
      if (it == entries.end()) it = entries.insert(entries.end(), {written_under[i], {}, {}});
      it->functions.emplace_back(agg.function);
    }
    // In written order.
    std::stable_sort(entries.begin(), entries.end(), [&](const Entry& x, const Entry& y) {
      auto at = [&](const std::string& key) {
        return std::find(entry_order.begin(), entry_order.end(), key) - entry_order.begin();
      };
      return at(x.key) < at(y.key);
    });
    out << YAML::Key << "aggs" << YAML::Value << YAML::BeginMap;
    for (const auto& e : entries) {
      out << YAML::Key << e.key << YAML::Value;
      if (e.call.empty())
        out << YAML::Flow << e.functions;
      else
        out << YAML::DoubleQuoted << e.call;
    }
    out << YAML::EndMap;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    auto error = [&](const SourceLocation& at, const std::string& message) {
      return ConfigError("{}: {}: {}", at.to_string(), label, message);
    };
    const SourceLocation& keys_at = fields.of("keys", location);
    const SourceLocation& aggs_at = fields.of("aggs", location);
    for (const auto& key : keys) {
      if (!input.find(key)) throw error(keys_at, input.not_a_column("key", key));
    }
    for (size_t i = 0; i < aggs.size(); ++i) {
      const auto& agg = aggs[i];
      const SourceLocation& at = fields.of("aggs." + written_under[i], aggs_at);
      if (!agg.column.empty() && !input.find(agg.column)) {
        throw error(at, input.not_a_column("aggregated column", agg.column));
      }
      if (!agg.column2.empty() && !input.find(agg.column2)) {
        throw error(at, input.not_a_column("aggregated column", agg.column2));
      }
      for (const std::string& output : ops::output_names(agg)) {
        if (std::find(keys.begin(), keys.end(), output) != keys.end()) {
          throw error(
              at, fmt::format("aggregate column '{}' has the same name as a key column", output));
        }
      }
    }
    const ops::AggSpec* expanding = nullptr;
    for (size_t i = 0; i < aggs.size(); ++i) {
      if (!ops::aggregate_function(aggs[i].function).expands_rows) continue;
      if (expanding != nullptr) {
        throw error(
            fields.of("aggs." + written_under[i], aggs_at),
            fmt::format("a group_by may have one aggregate that gives several rows per "
                        "group (top_k or histogram), not two: {} and {}",
                        ops::aggregate_call_text(*expanding), ops::aggregate_call_text(aggs[i])));
      }
      expanding = &aggs[i];
    }
    TableShape t;
    for (const auto& key : keys)
      t.columns.push_back({key, input.find(key)->type});
    for (size_t i = 0; i < aggs.size(); ++i) {
      const auto& agg = aggs[i];
      const SourceLocation& at = fields.of("aggs." + written_under[i], aggs_at);
      const ops::AggregateFunction& f = ops::aggregate_function(agg.function);
      std::optional<DataType> type;
      try {
        if (agg.column.empty()) {
          type = f.output_type(DataType::kInt64, "");
        } else if (const auto known = input.find(agg.column)->type) {
          type = f.output_type(*known, agg.column);
        } else {
          // The column's type is known only when the data is read: the output type is known if
          // every input type the function takes gives the same one (mean: float64), else not
          // (sum, min, max). A type the function never takes is found when the data is read.
          for (DataType candidate : {DataType::kInt64, DataType::kFloat64, DataType::kBool,
                                     DataType::kString, DataType::kTimestamp}) {
            try {
              const DataType out = f.output_type(candidate, agg.column);
              if (!type) {
                type = out;
              } else if (*type != out) {
                type.reset();
                break;
              }
            } catch (const ConfigError&) {
            }
          }
        }
        if (!agg.column2.empty()) {
          if (const auto known = input.find(agg.column2)->type)
            ops::check_second_column(f, *known, agg.column2);  // rejects a type not taken
        }
      } catch (const ConfigError& e) {
        throw error(at, e.what());
      }
      const std::vector<std::string> outputs = ops::output_names(agg);
      for (size_t o = 0; o < outputs.size(); ++o) {
        for (const auto& c : t.columns) {
          if (c.name == outputs[o]) {
            throw error(at, fmt::format("group-by output column '{}' appears twice; give the "
                                        "aggregates distinct output names",
                                        outputs[o]));
          }
        }
        t.columns.push_back({outputs[o], o + 1 < outputs.size()
                                             ? std::optional<DataType>(f.leading_outputs[o].type)
                                             : type});
      }
    }
    // Expressions over the aggregates: typed over the aggregated columns (an unknown type stands
    // in as float64, and the result is then unknown too).
    std::map<std::string, std::optional<DataType>> types;
    for (const auto& c : t.columns)
      types[c.name] = c.type;
    for (const auto& d : derived) {
      const SourceLocation& at = fields.of("aggs." + d.output, aggs_at);
      for (const auto& c : t.columns) {
        if (c.name == d.output) {
          throw error(at, fmt::format("group-by output column '{}' appears twice; give the "
                                      "aggregates distinct output names",
                                      d.output));
        }
      }
      std::optional<DataType> type;
      try {
        const ops::Expression e = ops::Expression::parse(d.rewritten);
        std::vector<table::Field> fields_in;
        bool unknown = false;
        for (const auto& c : t.columns) {
          fields_in.push_back({c.name, c.type.value_or(DataType::kFloat64)});
          if (!c.type) {
            const auto refs = e.referenced_columns();
            unknown = unknown || std::find(refs.begin(), refs.end(), c.name) != refs.end();
          }
        }
        const DataType result = e.result_type(table::Schema(std::move(fields_in)));
        if (!unknown) type = result;
      } catch (const ConfigError& e) {
        throw error(at,
                    fmt::format("in '{}': {}", d.text,
                                in_written_terms(e.what(), d.text, d.rewritten, d.replacements)));
      }
      types[d.output] = type;
    }
    TableShape shape;
    for (const auto& key : keys)
      shape.columns.push_back({key, input.find(key)->type});
    for (const auto& name : output_columns())
      shape.columns.push_back({name, types[name]});
    return {shape};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::GroupByOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    options.input_consumed = context.release_inputs;  // `inputs` are not read after group_by
    if (context.input_profile) options.input_profile = context.input_profile(0);
    std::vector<table::Table> result;
    // Errors found in the data (an int64 sum that overflows) are agreed inside group_by.
    table::Table grouped = run_located(fields.of("aggs", location), context, [&] {
      return ops::group_by(context.comm, *inputs.at(0), keys, aggs, options);
    });
    if (!derived.empty()) {
      // Local per row; agreed so that an error on one rank's rows (an int64 overflow) stops
      // every rank alike.
      run_located(fields.of("aggs", location), context, [&] {
        context.comm.agree([&] {
          for (const auto& d : derived) {
            try {
              grouped.add_column(d.output, ops::Expression::parse(d.rewritten).evaluate(grouped));
            } catch (const InputError& e) {
              throw InputError("in '{}': {}", d.text,
                               in_written_terms(e.what(), d.text, d.rewritten, d.replacements));
            }
          }
        });
        return 0;
      });
      std::vector<std::string> names = keys;
      for (const auto& name : output_columns())
        names.push_back(name);
      grouped = grouped.select(names);
    }
    result.push_back(std::move(grouped));
    return result;
  }
};

// The function of a named aggregate "function(column)" (column: a name, "a quoted name" with ""
// for a quote, or *), checked against the registry; fails at `where` with the column of the
// problem in `text`.
ops::AggSpec parse_aggregate_call(const std::string& text, const std::string& path,
                                  const SourceLocation& where) {
  auto fail = [&](size_t at, const std::string& what) {
    fail_at(where, fmt::format("{}: '{}' is not an aggregate call: {} at column {}; write "
                               "function(column), e.g. \"stddev(v3)\" or \"count(*)\"",
                               path, text, what, at + 1));
  };
  auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  };
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
  };
  // A column: a name or "a quoted name" ("" for a quote); `star` allows *.
  auto read_column = [&](bool star_allowed, bool& star) {
    std::string column;
    star = false;
    if (star_allowed && i < text.size() && text[i] == '*') {
      star = true;
      ++i;
    } else if (i < text.size() && text[i] == '"') {
      const size_t open = i++;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            column += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        column += text[i++];
      }
      if (!closed) fail(open, "unterminated quoted column name");
      if (column.empty()) fail(open, "empty column name");
    } else {
      const size_t column_start = i;
      while (i < text.size() && is_name_char(text[i]))
        ++i;
      if (i == column_start)
        fail(i, star_allowed ? "expected a column name, \"a quoted name\" or *"
                             : "expected a column name or \"a quoted name\"");
      column = text.substr(column_start, i - column_start);
    }
    return column;
  };
  skip_spaces();
  const size_t name_start = i;
  while (i < text.size() && is_name_char(text[i]))
    ++i;
  if (i == name_start) fail(i, "expected a function name");
  std::string function = text.substr(name_start, i - name_start);
  std::transform(function.begin(), function.end(), function.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const ops::AggregateFunction* registered = ops::find_aggregate_function(function);
  if (registered == nullptr) {
    const std::vector<std::string> names = ops::aggregate_function_names();
    fail_at(where,
            fmt::format("{}: unknown aggregate function '{}'{} (functions: {})", path, function,
                        ops::aggregate_function_suggestion(function), list_names(names)));
  }
  skip_spaces();
  if (i >= text.size() || text[i] != '(') fail(i, "expected '('");
  ++i;
  skip_spaces();
  bool star = false;
  const std::string column = read_column(true, star);
  skip_spaces();
  std::string column2;
  if (registered->two_columns && !star) {
    if (i >= text.size() || text[i] != ',')
      fail(i, fmt::format("expected ',' and a second column ({} takes two: {}(x, y))",
                          registered->name, registered->name));
    ++i;
    skip_spaces();
    bool unused = false;
    column2 = read_column(false, unused);
    skip_spaces();
  }
  // Constant arguments: quantile(v, 0.9), or one list of them: histogram(v, [0, 10, 100]).
  std::vector<double> args;
  bool list_args = false;
  size_t list_at = 0;
  while (i < text.size() && text[i] == ',') {
    ++i;
    skip_spaces();
    if (i < text.size() && text[i] == '[') {
      if (registered->check_list == nullptr)
        fail(i, fmt::format(
                    "{} takes no list argument ({} takes {})", registered->name, registered->name,
                    registered->args_help.empty() ? "one column"
                                                  : "one column and " + registered->args_help));
      if (!args.empty() || list_args) fail(i, "a list must be the only argument after the column");
      list_args = true;
      list_at = i++;
      skip_spaces();
      while (i < text.size() && text[i] != ']') {
        if (!args.empty()) {
          if (text[i] != ',') fail(i, "expected ',' or ']' in the list");
          ++i;
          skip_spaces();
        }
        const size_t item_start = i;
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) &&
               text[i] != ',' && text[i] != ']' && text[i] != ')')
          ++i;
        const std::string item = text.substr(item_start, i - item_start);
        double value = 0;
        const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
        if (item.empty() || ec != std::errc() || end != item.data() + item.size() ||
            !std::isfinite(value))
          fail(item_start, "expected a finite number in the list");
        args.push_back(value);
        skip_spaces();
      }
      if (i >= text.size()) fail(list_at, "unterminated list: expected ']'");
      ++i;
      skip_spaces();
      continue;
    }
    if (list_args) fail(i, "a list must be the only argument after the column");
    const size_t arg_start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) &&
           text[i] != ',' && text[i] != ')')
      ++i;
    const std::string arg = text.substr(arg_start, i - arg_start);
    double value = 0;
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), value);
    if (arg.empty() || ec != std::errc() || end != arg.data() + arg.size() ||
        !std::isfinite(value)) {
      fail(arg_start, fmt::format("expected a number ({} takes {})", registered->name,
                                  registered->two_columns ? "two columns"
                                  : registered->args_help.empty()
                                      ? "one column"
                                      : "one column and " + registered->args_help));
    }
    args.push_back(value);
    skip_spaces();
  }
  if (i >= text.size() || text[i] != ')') fail(i, "expected ')'");
  ++i;
  skip_spaces();
  if (i != text.size()) fail(i, "unexpected text after ')'");
  if (star && !registered->allows_no_column) {
    fail_at(where, fmt::format("{}: {}(*) is not an aggregate; only count(*) may omit the column",
                               path, registered->name));
  }
  try {
    ops::check_aggregate_args(*registered, args, list_args);
  } catch (const ConfigError& e) {
    fail_at(where, fmt::format("{}: {}", path, e.what()));
  }
  ops::AggSpec agg;
  agg.function = registered->name;
  agg.column = column;
  agg.column2 = column2;
  agg.args = std::move(args);
  agg.list_args = list_args;
  return agg;
}

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const size_t last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// The hidden output column of aggregate number `n` of a step.
std::string hidden_name(size_t n) {
  return fmt::format("\"__agg{}__\"", n);
}

// `text` with every aggregate call (a registered aggregate name followed by "(...)", outside
// quotes) replaced by the quoted name of a hidden column, the calls appended to `calls` (numbered
// from `first`). Fails at `where` when there is no aggregate call or a call is malformed.
std::string rewrite_aggregate_calls(const std::string& text, const std::string& path,
                                    const SourceLocation& where, size_t first,
                                    std::vector<ops::AggSpec>& calls,
                                    std::vector<CallReplacement>& replacements) {
  std::string out;
  size_t i = 0;
  auto skip_quoted = [&](char quote) {  // copies a quoted token ('' or "" escapes) to out
    const size_t open = i++;
    while (i < text.size()) {
      if (text[i] == quote) {
        if (i + 1 < text.size() && text[i + 1] == quote) {
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      ++i;
    }
    out.append(text, open, i - open);
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\'' || c == '"') {
      skip_quoted(c);
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = i;
      while (i < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
        ++i;
      std::string name = text.substr(start, i - start);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      size_t j = i;
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j])))
        ++j;
      if (j < text.size() && text[j] == '(' && ops::find_aggregate_function(name) != nullptr) {
        // The matching ')', quotes respected.
        size_t k = j + 1;
        int depth = 1;
        while (k < text.size() && depth > 0) {
          if (text[k] == '\'' || text[k] == '"') {
            const char q = text[k++];
            while (k < text.size() && !(text[k] == q && (k + 1 >= text.size() || text[k + 1] != q)))
              k += (text[k] == q) ? 2 : 1;
          } else if (text[k] == '(') {
            ++depth;
          } else if (text[k] == ')') {
            --depth;
          }
          ++k;
        }
        calls.push_back(parse_aggregate_call(text.substr(start, k - start), path, where));
        calls.back().output = trimmed(hidden_name(first + calls.size() - 1));
        calls.back().output = calls.back().output.substr(1, calls.back().output.size() - 2);
        replacements.push_back(
            {start, k - start, out.size(), hidden_name(first + calls.size() - 1).size()});
        out += hidden_name(first + calls.size() - 1);
        i = k;
        continue;
      }
      out.append(text, start, i - start);
      continue;
    }
    out += c;
    ++i;
  }
  if (calls.empty()) {
    // The first call in the text names an unknown aggregate: say which, with a suggestion.
    for (size_t k = 0; k < text.size(); ++k) {
      if (!(std::isalpha(static_cast<unsigned char>(text[k])) || text[k] == '_')) continue;
      size_t e = k;
      while (e < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '_'))
        ++e;
      size_t p = e;
      while (p < text.size() && std::isspace(static_cast<unsigned char>(text[p])))
        ++p;
      if (p < text.size() && text[p] == '(') {
        std::string name = text.substr(k, e - k);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        const std::string suggestion = ops::aggregate_function_suggestion(name);
        if (!suggestion.empty()) {
          fail_at(where,
                  fmt::format("{}: unknown aggregate function '{}'{} (functions: {})", path, name,
                              suggestion, list_names(ops::aggregate_function_names())));
        }
        break;
      }
      k = e;
    }
    fail_at(where, fmt::format("{}: '{}' has no aggregate call; write an aggregate such as "
                               "\"stddev(v3)\" or an expression over aggregates such as "
                               "\"max(v1) - min(v2)\" (functions: {})",
                               path, text, list_names(ops::aggregate_function_names())));
  }
  return out;
}

void read_aggs(const ConfigNode& node, const std::string& path, GroupByStep& step) {
  const MapView map(node, path);
  if (node.keys.empty()) {
    fail_at(node.location,
            fmt::format("{} must name at least one column to aggregate, e.g. {{amount: [sum]}} or "
                        "{{sd_amount: \"stddev(amount)\"}}",
                        path));
  }
  auto& aggs = step.aggs;
  for (size_t i = 0; i < node.keys.size(); ++i) {
    const std::string& key = node.keys[i];
    const std::string key_path = fmt::format("{}.{}", path, key);
    const ConfigNode& value = node.items[i];
    step.entry_order.push_back(key);
    if (value.kind == ConfigNode::Kind::kScalar && value.scalar.find('(') != std::string::npos) {
      // Named: the key is the output column, the value a call or an expression over calls.
      std::vector<ops::AggSpec> calls;
      std::vector<CallReplacement> replacements;
      std::string rewritten = rewrite_aggregate_calls(value.scalar, key_path, value.location,
                                                      aggs.size(), calls, replacements);
      if (calls.size() == 1 && trimmed(rewritten) == hidden_name(aggs.size())) {
        ops::AggSpec agg = std::move(calls[0]);
        agg.output = key;
        aggs.push_back(std::move(agg));
        step.written_under.push_back(key);
        step.named.push_back(true);
        step.hidden.push_back(false);
        continue;
      }
      for (auto& call : calls) {
        // Its edge columns would be hidden with it: the expression would give bin rows
        // without their edges.
        const ops::AggregateFunction* f = ops::find_aggregate_function(call.function);
        if (f != nullptr && !f->leading_outputs.empty()) {
          fail_at(value.location,
                  fmt::format("{}: {} gives each bin's edges as columns of their own "
                              "({}_lower, {}_upper), so it cannot be part of an expression: "
                              "write it alone ({}: \"{}\") and compute from its columns in a "
                              "later derive step",
                              key_path, ops::aggregate_call_text(call), key, key, key,
                              ops::aggregate_call_text(call)));
        }
        aggs.push_back(std::move(call));
        step.written_under.push_back(key);
        step.named.push_back(true);
        step.hidden.push_back(true);
      }
      try {
        ops::Expression::parse(rewritten);
      } catch (const ConfigError& e) {
        fail_at(value.location,
                fmt::format("{}: in '{}': {}", key_path, value.scalar,
                            in_written_terms(e.what(), value.scalar, rewritten, replacements)));
      }
      step.derived.push_back({key, value.scalar, std::move(rewritten), std::move(replacements)});
      continue;
    }
    // The key is a column ("*": the rows), the value its functions.
    const std::string& column = key;
    const std::vector<std::string> functions = to_string_list(value, key_path, false);
    for (size_t f = 0; f < functions.size(); ++f) {
      const std::string& function = functions[f];
      const SourceLocation& function_location =
          value.kind == ConfigNode::Kind::kSequence ? value.items[f].location : value.location;
      const ops::AggregateFunction* registered = ops::find_aggregate_function(function);
      if (registered == nullptr) {
        const std::vector<std::string> names = ops::aggregate_function_names();
        fail_at(
            function_location,
            fmt::format("unknown aggregate function '{}' in {}{} (functions: {})", function,
                        key_path, ops::aggregate_function_suggestion(function), list_names(names)));
      }
      if (column == "*" && !registered->allows_no_column) {
        fail_at(function_location,
                fmt::format("{} can only be count (count of rows), got '{}'", key_path, function));
      }
      if (registered->two_columns) {
        fail_at(function_location,
                fmt::format("{} in {} takes two columns; use the named form, e.g. {{r: "
                            "\"{}({}, other_column)\"}}",
                            registered->name, key_path, registered->name, column));
      }
      if (!registered->example_args.empty()) {
        fail_at(function_location,
                fmt::format("{} in {} needs arguments ({}), so it has no list form; use the "
                            "named form, e.g. {{{}_{}: \"{}({}, {})\"}}",
                            registered->name, key_path, registered->args_help, column,
                            registered->name, registered->name, column, registered->example_args));
      }
      if (!registered->args_help.empty()) {
        fail_at(function_location,
                fmt::format("{} in {} needs arguments ({}); use the named form, e.g. {{p90_{}: "
                            "\"{}({}, 0.9)\"}}",
                            registered->name, key_path, registered->args_help, column,
                            registered->name, column));
      }
      ops::AggSpec agg;
      agg.function = registered->name;
      agg.column = column == "*" ? std::string() : column;  // ops: empty column = count(*)
      agg.output = ops::output_name(agg);
      aggs.push_back(std::move(agg));
      step.written_under.push_back(key);
      step.named.push_back(false);
      step.hidden.push_back(false);
    }
  }
  for (size_t i = 0; i < aggs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (aggs[i].output == aggs[j].output) {
        fail_at(node.location, fmt::format("{} computes column '{}' twice", path, aggs[i].output));
      }
    }
  }
}

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "keys", "aggs", "output"}, " (a group_by step)");
  auto step = std::make_shared<GroupByStep>();
  step->keys = to_string_list(map.require("keys"), map.path("keys"), true);
  const ConfigNode& aggs = map.require("aggs");
  read_aggs(aggs, map.path("aggs"), *step);
  for (size_t i = 0; i < aggs.keys.size(); ++i)
    step->fields.values["aggs." + aggs.keys[i]] = aggs.key_locations[i];
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType group_by_step_type() {
  return {"group_by",
          "one row per distinct key with aggregates (count, sum, mean, min, max, variances, "
          "standard deviations, any, all, count_distinct, median, quantile, first, last, corr, "
          "covariances; top_k and histogram give several rows per group)",

          {"op", "input", "keys", "aggs", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
