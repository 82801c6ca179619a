// op: derive — adds columns computed per row from expressions (ops::Expression), in the order
// written; a later column may use an earlier one. A name that is already a column replaces that
// column in place (same position); a new name is appended.
//
//   - {op: derive, input: t, columns: {year: "year(ts)", amount_log: "log(1 + amount)",
//      is_big: "amount > 100 and country in ('DE', 'FR')"}, output: t2}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/expression.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

struct DerivedColumn {
  std::string name;
  std::string expression;
};

class DeriveStep final : public StepSpec {
 public:
  std::vector<DerivedColumn> columns;  // in the order written

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "columns" << YAML::Value << YAML::BeginMap;
    for (const auto& c : columns)
      out << YAML::Key << c.name << YAML::Value << c.expression;
    out << YAML::EndMap;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    TableShape shape = *inputs.at(0);
    for (const auto& c : columns) {
      const std::optional<DataType> type = column_type(label, shape, c);
      auto it = std::find_if(shape.columns.begin(), shape.columns.end(),
                             [&](const ColumnShape& s) { return s.name == c.name; });
      if (it != shape.columns.end()) {
        it->type = type;
      } else {
        shape.columns.push_back({c.name, type});
      }
    }
    return {shape};
  }

  // rand() draws from the job's seed, which the canonical form does not show.
  bool uses_job_seed() const override {
    return std::any_of(columns.begin(), columns.end(), [](const DerivedColumn& c) {
      try {
        return ops::Expression::parse(c.expression).uses_random();
      } catch (const ConfigError&) {
        return true;  // reported by bind; a spec that does not parse never runs
      }
    });
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    const table::Table& input = *inputs.at(0);
    // rand() is a function of the global row index: this rank's first row's.
    ops::EvalContext eval;
    eval.seed = context.seed;
    eval.row_offset = mpi::exscan_sum(context.comm, input.num_rows());
    table::Table out = input;
    // Evaluation is local; agree so that an error in one rank's data stops every rank.
    context.comm.agree([&] {
      for (const auto& c : columns) {
        try {
          eval.stream = hash_string(name() + "\n" + c.name);
          table::Column values = ops::Expression::parse(c.expression).evaluate(out, eval);
          if (const auto index = out.schema().find(c.name)) {
            out.replace_column(*index, std::move(values));
          } else {
            out.add_column(c.name, std::move(values));
          }
        } catch (const Error& e) {
          throw_error(e.kind(), fmt::format("{}: {}: column '{}': {}",
                                            fields.of("columns." + c.name, location).to_string(),
                                            context.label, c.name, e.what()));
        }
      }
    });
    std::vector<table::Table> result;
    result.push_back(std::move(out));
    return result;
  }

 private:
  // The type of column `c` over `shape`, or nullopt when it depends on types known only after
  // reading (a CSV input without a schema). Throws ConfigError at the expression's location.
  std::optional<DataType> column_type(const std::string& label, const TableShape& shape,
                                      const DerivedColumn& c) const {
    const SourceLocation& at = fields.of("columns." + c.name, location);
    auto error = [&](const std::string& message) {
      return ConfigError("{}: {}: column '{}': {}", at.to_string(), label, c.name, message);
    };
    std::optional<ops::Expression> expr;
    try {
      expr = ops::Expression::parse(c.expression);
    } catch (const ConfigError& e) {
      throw error(e.what());
    }
    bool any_untyped = false;
    for (const auto& name : expr->referenced_columns()) {
      const ColumnShape* column = shape.find(name);
      if (!column) throw error(shape.unknown_column(name));
      if (!column->type) any_untyped = true;
    }
    if (!any_untyped) {
      try {
        return expr->result_type(shape.schema());
      } catch (const ConfigError& e) {
        throw error(e.what());
      }
    }
    // As filter does: try each type the CSV reader can infer for all unknown columns at once. An
    // error under every typing that is the same each time does not depend on the types; one
    // result type under every typing that works is the column's type.
    std::vector<std::string> errors;
    std::vector<DataType> results;
    for (DataType guess : {DataType::kFloat64, DataType::kInt64, DataType::kString, DataType::kBool,
                           DataType::kTimestamp}) {
      try {
        results.push_back(expr->result_type(shape.schema_with_unknown_as(guess)));
      } catch (const ConfigError& e) {
        errors.emplace_back(e.what());
      }
    }
    if (results.empty() &&
        std::all_of(errors.begin(), errors.end(), [&](const auto& e) { return e == errors[0]; })) {
      throw error(errors[0]);
    }
    if (!results.empty() &&
        std::all_of(results.begin(), results.end(), [&](DataType t) { return t == results[0]; })) {
      return results[0];
    }
    return std::nullopt;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "columns", "output"}, " (a derive step)");
  auto step = std::make_shared<DeriveStep>();
  const ConfigNode& columns = map.require("columns");
  const std::string path = map.path("columns");
  if (!columns.is_map() || columns.keys.empty()) {
    fail_at(columns.location,
            fmt::format("{} must map new column names to expressions, e.g. {{year: \"year(ts)\", "
                        "big: \"amount > 100\"}}",
                        path));
  }
  for (size_t i = 0; i < columns.keys.size(); ++i) {
    const std::string& name = columns.keys[i];
    // Stage files are HDF5, whose dataset names cannot be these (io::write_table checks the same
    // at run time; here it is an error before any data is read).
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      fail_at(columns.key_locations[i],
              fmt::format("{}: '{}' cannot be a column name (empty, '.', '..' or containing '/')",
                          path, name));
    }
    for (size_t j = 0; j < i; ++j) {
      if (columns.keys[j] == name) {
        fail_at(columns.key_locations[i], fmt::format("{} computes column '{}' twice", path, name));
      }
    }
    step->columns.push_back({name, to_nonempty_string(columns.items[i], join_path(path, name))});
    step->fields.values["columns." + name] = columns.items[i].location;
  }
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType derive_step_type() {
  return {"derive",
          "adds (or replaces) columns computed per row from expressions, in the order written",
          {"op", "input", "columns", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
