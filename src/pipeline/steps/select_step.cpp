// op: select — keeps the listed columns, in the order listed, optionally renaming some.
//
//   - {op: select, input: t2, columns: [id, year, amount_log], rename: {amount_log: la},
//      output: t3}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

class SelectStep final : public StepSpec {
 public:
  std::vector<std::string> columns;                         // input names, in output order
  std::vector<std::pair<std::string, std::string>> rename;  // old -> new, in the order written

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "columns" << YAML::Value << YAML::Flow << columns;
    out << YAML::Key << "rename" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [from, to] : rename)
      out << YAML::Key << from << YAML::Value << to;
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
    TableShape out;
    for (size_t i = 0; i < columns.size(); ++i) {
      const ColumnShape* c = input.find(columns[i]);
      if (!c) {
        throw error(fields.of(fmt::format("columns.{}", i), fields.of("columns", location)),
                    input.not_a_column("selected column", columns[i]));
      }
      out.columns.push_back({output_name(columns[i]), c->type});
    }
    return {out};
  }

  std::vector<table::Table> run(const StepContext&,
                                const std::vector<const table::Table*>& inputs) const override {
    // Local and infallible once bound (validation ran on the same shapes).
    const table::Table& input = *inputs.at(0);
    table::Table out;
    for (const auto& name : columns)
      out.add_column(output_name(name), input.column(name));
    std::vector<table::Table> result;
    result.push_back(std::move(out));
    return result;
  }

  std::string output_name(const std::string& name) const {
    for (const auto& [from, to] : rename) {
      if (from == name) return to;
    }
    return name;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "columns", "rename", "output"}, " (a select step)");
  auto step = std::make_shared<SelectStep>();
  const ConfigNode& columns = map.require("columns");
  step->columns = to_string_list(columns, map.path("columns"), false);
  if (columns.kind == ConfigNode::Kind::kSequence) {
    for (size_t i = 0; i < columns.items.size(); ++i)
      step->fields.values[fmt::format("columns.{}", i)] = columns.items[i].location;
  }
  if (const ConfigNode* rename = map.find("rename")) {
    const std::string path = map.path("rename");
    if (!rename->is_map()) {
      fail_at(rename->location,
              fmt::format("{} must map selected columns to new names, e.g. {{amount_log: la}}, "
                          "got {}",
                          path, describe(*rename)));
    }
    for (size_t i = 0; i < rename->keys.size(); ++i) {
      const std::string& from = rename->keys[i];
      if (std::find(step->columns.begin(), step->columns.end(), from) == step->columns.end()) {
        fail_at(rename->key_locations[i],
                fmt::format("{} renames '{}', which is not in columns ({})", path, from,
                            list_names(step->columns)));
      }
      std::string to = to_nonempty_string(rename->items[i], join_path(path, from));
      // Stage files are HDF5, whose dataset names cannot be these.
      if (to == "." || to == ".." || to.find('/') != std::string::npos) {
        fail_at(rename->items[i].location,
                fmt::format("{}: '{}' cannot be a column name (empty, '.', '..' or containing '/')",
                            join_path(path, from), to));
      }
      step->rename.emplace_back(from, std::move(to));
    }
  }
  // Output names must be distinct.
  std::vector<std::string> names;
  for (const auto& c : step->columns) {
    const std::string name = step->output_name(c);
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      fail_at(
          map.find("rename") ? map.find("rename")->location : columns.location,
          fmt::format("{} would give two output columns the name '{}'", map.path("rename"), name));
    }
    names.push_back(name);
  }
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType select_step_type() {
  return {"select",
          "keeps the listed columns in the listed order, optionally renaming them",
          {"op", "input", "columns", "rename", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
