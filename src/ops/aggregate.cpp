#include "shardflow/ops/aggregate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"

namespace shardflow::ops {

void AggregateState::update_pair(const table::Column&, const table::Column&,
                                 std::span<const std::int32_t>) {
  throw RuntimeError("this aggregate takes one column, not two");
}

void AggregateState::update_rows(const table::Column*, idx_t, std::span<const std::int32_t>) {
  throw RuntimeError("this aggregate updates whole columns only, not blocks of rows");
}

table::Column AggregateState::finalize_rows(std::vector<idx_t>&,
                                            std::vector<table::Column>&) const {
  throw RuntimeError("this aggregate gives one row per group");
}

std::string output_name(const AggSpec& spec) {
  if (!spec.output.empty()) return spec.output;
  if (spec.column.empty()) return spec.function;
  if (!spec.column2.empty()) return spec.column + "_" + spec.column2 + "_" + spec.function;
  return spec.column + "_" + spec.function;
}

std::vector<std::string> output_names(const AggSpec& spec) {
  std::vector<std::string> names;
  const std::string name = output_name(spec);
  if (const AggregateFunction* f = find_aggregate_function(spec.function))
    for (const auto& leading : f->leading_outputs)
      names.push_back(name + leading.name);
  names.push_back(name);
  return names;
}

std::string call_column_text(const std::string& column) {
  const bool plain = !column.empty() && std::all_of(column.begin(), column.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
  if (plain) return column;
  std::string quoted = "\"";
  for (char c : column) {
    quoted += c;
    if (c == '"') quoted += '"';
  }
  return quoted + "\"";
}

std::string aggregate_call_text(const AggSpec& spec) {
  if (spec.column.empty()) return spec.function + "(*)";
  std::string text = spec.function + "(" + call_column_text(spec.column);
  if (!spec.column2.empty()) text += ", " + call_column_text(spec.column2);
  if (spec.list_args) return text + fmt::format(", [{}])", fmt::join(spec.args, ", "));
  for (double a : spec.args)
    text += fmt::format(", {}", a);
  return text + ")";
}

const AggregateFunction* find_aggregate_function(std::string_view name) {
  for (const auto& f : aggregate_functions()) {
    if (f.name == name) return &f;
    for (const auto& alias : f.aliases)
      if (alias == name) return &f;
  }
  return nullptr;
}

std::vector<std::string> aggregate_function_names() {
  std::vector<std::string> names;
  for (const auto& f : aggregate_functions())
    names.push_back(f.name);
  return names;
}

std::string aggregate_function_suggestion(std::string_view name) {
  std::vector<std::string> spellings;
  for (const auto& f : aggregate_functions()) {
    spellings.push_back(f.name);
    spellings.insert(spellings.end(), f.aliases.begin(), f.aliases.end());
  }
  return did_you_mean(name, spellings);
}

const AggregateFunction& aggregate_function(std::string_view name) {
  if (const auto* f = find_aggregate_function(name)) return *f;
  const auto names = aggregate_function_names();
  throw ConfigError("unknown aggregate function '{}'{} (functions: {})", name,
                    aggregate_function_suggestion(name), fmt::join(names, ", "));
}

table::DataType aggregate_output_type(std::string_view function, table::DataType input,
                                      std::string_view column) {
  return aggregate_function(function).output_type(input, column);
}

void check_second_column(const AggregateFunction& f, table::DataType input,
                         std::string_view column) {
  if (f.check_second != nullptr)
    f.check_second(input, column);
  else
    f.output_type(input, column);
}

void check_aggregate_args(const AggregateFunction& f, const std::vector<double>& args,
                          bool list_args) {
  if (list_args) {
    if (f.check_list == nullptr) {
      throw ConfigError("{} takes no list argument{}", f.name,
                        f.args_help.empty() ? "" : " (arguments: " + f.args_help + ")");
    }
    const std::string problem = f.check_list(args);
    if (!problem.empty()) throw ConfigError("{}: {} (arguments: {})", f.name, problem, f.args_help);
    return;
  }
  if (f.check_args == nullptr) {
    if (!args.empty())
      throw ConfigError("{} takes no arguments after the column, got {}", f.name, args.size());
    return;
  }
  const std::string problem = f.check_args(args);
  if (!problem.empty()) throw ConfigError("{}: {} (arguments: {})", f.name, problem, f.args_help);
}

bool is_holistic(const AggSpec& spec) {
  const AggregateFunction& f = aggregate_function(spec.function);
  return f.holistic && !(spec.list_args && f.list_mergeable) &&
         !(!spec.list_args && f.mergeable_with != nullptr && f.mergeable_with(spec.args));
}

std::unique_ptr<AggregateState> make_aggregate_state(const AggSpec& spec,
                                                     const AggregateInput& given) {
  const AggregateFunction& f = aggregate_function(spec.function);
  check_aggregate_args(f, spec.args, spec.list_args);
  AggregateInput input = given;
  input.args = spec.args;
  input.list_args = spec.list_args;
  if (input.count_star && !f.allows_no_column) {
    throw ConfigError("{}(*) is not an aggregate; only count(*) may omit the column", f.name);
  }
  if (!input.count_star) f.output_type(input.type, spec.column);  // rejects unsupported types
  if (f.two_columns != !spec.column2.empty()) {
    if (f.two_columns) throw ConfigError("{} needs two columns: {}(x, y)", f.name, f.name);
    throw ConfigError("{} takes one column", f.name);
  }
  if (f.two_columns) check_second_column(f, input.type2, spec.column2);
  return f.make_state(input);
}

}  // namespace shardflow::ops
