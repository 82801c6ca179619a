// op: sample — a random sample of a fraction of the rows, exact per stratum (ops::sample).
//
//   - {op: sample, input: t, fraction: 0.1, stratify_by: label, seed: 7, output: s}
//
// Every stratum of n rows (the whole table without stratify_by; null is a stratum of its own)
// keeps exactly round(fraction * n) rows (halves up), chosen by (seed, global row index): the
// same rows at any rank count. seed defaults to the job's seed. The output keeps the input's row
// order (and its rows on their ranks).

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/sampling.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"op", "input", "fraction", "stratify_by", "seed", "output"};

class SampleStep final : public StepSpec {
 public:
  double fraction = 1.0;
  std::vector<std::string> stratify_by;
  std::optional<std::uint64_t> seed;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "fraction" << YAML::Value << canonical_number(fraction);
    out << YAML::Key << "stratify_by" << YAML::Value << YAML::Flow << stratify_by;
    if (seed) out << YAML::Key << "seed" << YAML::Value << *seed;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  bool uses_job_seed() const override { return !seed; }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    for (const auto& s : stratify_by) {
      if (!input.find(s)) {
        throw ConfigError("{}: {}: {}", fields.of("stratify_by", location).to_string(), label,
                          input.not_a_column("stratify_by", s));
      }
    }
    return {input};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::SamplingOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("fraction", location), context, [&] {
      return ops::sample(context.comm, *inputs.at(0), fraction, stratify_by,
                         seed.value_or(context.seed), options);
    }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a sample step)");
  auto step = std::make_shared<SampleStep>();
  read_input_table(map, "input", *step);
  const ConfigNode& fraction = map.require("fraction");
  step->fraction = to_double(fraction, map.path("fraction"));
  if (!(step->fraction > 0.0 && step->fraction <= 1.0)) {
    fail_at(fraction.location, fmt::format("{} must be a fraction in (0, 1], got {}",
                                           map.path("fraction"), fraction.scalar));
  }
  if (const ConfigNode* s = map.find("stratify_by"))
    step->stratify_by = to_string_list(*s, map.path("stratify_by"), true);
  if (const ConfigNode* s = map.find("seed"))
    step->seed = static_cast<std::uint64_t>(to_int(*s, map.path("seed"), 0));
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType sample_step_type() {
  return {"sample", "a random fraction of the rows, exact per stratum (input order kept)", kKeys,
          &parse};
}

}  // namespace shardflow::pipeline
