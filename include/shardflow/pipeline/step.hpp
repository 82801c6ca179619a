#pragma once
// The step registry (one entry per `op:`). A step reads n named tables and writes m named tables.
// Each op lives in one file, src/pipeline/steps/<op>_step.cpp, which owns its typed spec, parsing
// (with source locations), canonical form, binding (output shapes from input shapes: what
// `validate` runs) and execution; src/pipeline/steps/step_registry.cpp lists the ops. The loader,
// validator, runner and did-you-mean lists loop over the registry, so adding an
// op is one new file and one line in that list (docs/architecture.md, "Adding an op").

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/table_profile.hpp"
#include "shardflow/pipeline/config_node.hpp"
#include "shardflow/pipeline/table_shape.hpp"
#include "shardflow/table/table.hpp"

namespace YAML {
class Emitter;
}

namespace shardflow::pipeline {

struct RuntimeSpec;

/// One table a step reads or writes: the key it was written under (its role: "input", "left",
/// "output", ...), the table's name, and where that name was written.
struct TableRef {
  std::string role;
  std::string table;
  SourceLocation location;
};

/// What a running step may use besides its input tables.
struct StepContext {
  const mpi::Comm& comm;
  const RuntimeSpec& runtime;
  std::string label;       // "step 2 (group_by)", the prefix of the step's messages
  std::uint64_t seed = 0;  // the job's seed (steps with random choices derive them from it)
  /// Local: frees the step's inputs that nothing after this step reads (with
  /// runtime.table_liveness); the step must not read its `inputs` after calling it. A step calls
  /// it once it has consumed its inputs (group_by: before its shuffle, from its own copies), so
  /// that its input and its output are not both whole. May be empty (a step run outside a job);
  /// does nothing when table_liveness is off.
  std::function<void()> release_inputs = nullptr;
  /// Local: input k itself, moved out of the job, when nothing after this step reads it (with
  /// runtime.table_liveness) and it is no other input of this step; nullopt otherwise (then the
  /// step reads `inputs[k]`). After a move the step must not read `inputs[k]`. For a step that
  /// frees its input column by column as it builds its outputs (filter). May be empty.
  std::function<std::optional<table::Table>(std::size_t)> take_input = nullptr;
  /// Local: the profile of input k's values over all ranks when the job has one (an input table
  /// loaded in this run: the run report's data-quality profile), else null; equal on all ranks.
  /// Steps plan with it instead of scanning (group_by: its integer keys' ranges). May be empty.
  std::function<const ops::TableProfile*(std::size_t)> input_profile = nullptr;
};

/// A parsed step. Subclasses (one per op) add their typed settings; instances are immutable once
/// loaded and shared by the Job's copies.
class StepSpec {
 public:
  virtual ~StepSpec() = default;

  std::string op;
  std::vector<TableRef> inputs;   // in the order the op defines
  std::vector<TableRef> outputs;  // in the order the op defines; at least one
  SourceLocation location;        // the step's list item
  FieldLocations fields;          // where each key's value was written

  /// The step's name in logs, metrics.json and `--rerun`: its first output table's name (unique,
  /// because no two steps may write the same table).
  const std::string& name() const { return outputs.front().table; }

  /// Local: emits the step as a canonical YAML map (fixed key order, every default written) that
  /// loads back to an equal spec. The step's fingerprint covers exactly this text.
  virtual void emit(YAML::Emitter& out) const = 0;

  /// Local: the shapes of the outputs (in `outputs` order) given the shapes of the inputs (in
  /// `inputs` order). Throws ConfigError "<file:line:col>: <label>: <what>" for anything that can
  /// be known wrong without data (unknown columns, wrong types).
  virtual std::vector<TableShape> bind(const std::string& label,
                                       const std::vector<const TableShape*>& inputs) const = 0;

  /// Collective: computes the outputs (in `outputs` order) from the inputs (in `inputs` order).
  /// Every failure is agreed (all ranks throw the same error).
  virtual std::vector<table::Table> run(const StepContext& context,
                                        const std::vector<const table::Table*>& inputs) const = 0;

  /// Whether the outputs depend on the job's seed (StepContext::seed), which the canonical form
  /// does not show: the step's fingerprint then covers the seed too.
  virtual bool uses_job_seed() const { return false; }

  /// Files outside the job's tables whose content the outputs depend on (a model file): the
  /// step's fingerprint covers their content fingerprint, so changing one reruns the step.
  virtual std::vector<std::string> file_dependencies() const { return {}; }

  template <typename T>
  const T& as() const {
    return dynamic_cast<const T&>(*this);
  }
};

/// One registry entry.
struct StepType {
  std::string op;       // the `op:` value
  std::string summary;  // one line for the docs
  /// Every key a step of this op may have, `op` included, in canonical order.
  std::vector<std::string> keys;
  /// Local: parses a step map whose `op` is this op; `map.path()` is "steps.<index>". Rejects
  /// unknown keys (map.allow_only(keys, ...)) and fills inputs, outputs and its settings; the
  /// loader then sets op, location and the fields the step did not record itself.
  std::shared_ptr<StepSpec> (*parse)(const MapView& map);
};

/// All ops, in registry order.
const std::vector<StepType>& step_types();
/// The entry for `op`, or nullptr.
const StepType* find_step_type(std::string_view op);
/// The ops' names.
std::vector<std::string> step_type_names();

// ---- helpers for step files -----------------------------------------------------------------

/// Rethrows `error` as "<where>: <label>: <what>", same kind and agreement.
[[noreturn]] void rethrow_located(const SourceLocation& where, const std::string& label,
                                  const Error& error);

/// Runs a step's computation `op` and returns its result; a shardflow::Error it throws comes out
/// as "<where>: <step label>: <what>" (same kind, same agreement), so that a failure found in the
/// data names the step and the line of the setting it concerns.
template <typename Op>
auto run_located(const SourceLocation& where, const StepContext& context, Op&& op) {
  try {
    return op();
  } catch (const Error& e) {
    rethrow_located(where, context.label, e);
  }
}

/// Reads the table name under `role` (required; a non-empty string) into spec.inputs.
void read_input_table(const MapView& map, std::string_view role, StepSpec& spec);
/// Reads the table name under `role` (required; an identifier: it names files) into spec.outputs.
void read_output_table(const MapView& map, std::string_view role, StepSpec& spec);
/// Emits `op` and then the step's inputs by role; a step's emit starts with this.
void emit_op_and_inputs(YAML::Emitter& out, const StepSpec& spec);
/// Emits the step's outputs by role; a step's emit ends with this.
void emit_outputs(YAML::Emitter& out, const StepSpec& spec);

}  // namespace shardflow::pipeline
