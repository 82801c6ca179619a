#pragma once
// The input-format registry (one entry per `format:` of `inputs:`). Each format lives in one file,
// src/pipeline/inputs/<format>_input.cpp, which owns its typed spec, parsing, canonical form,
// binding (the table's shape without reading its rows), the data's fingerprint, and loading;
// src/pipeline/inputs/input_registry.cpp lists the formats.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/pipeline/config_node.hpp"
#include "shardflow/pipeline/table_shape.hpp"
#include "shardflow/table/table.hpp"

namespace YAML {
class Emitter;
}

namespace shardflow::pipeline {

struct RuntimeSpec;

/// What loading or fingerprinting an input may use.
struct InputContext {
  const mpi::Comm& comm;
  const RuntimeSpec& runtime;
  std::uint64_t seed;             // the job's seed
  std::filesystem::path workdir;  // the job's workdir (generated data, rejects)
  /// When set, load() of a format that can reject rows (csv with bad_rows: skip or quarantine)
  /// stores how many it rejected over all ranks; others leave it alone.
  idx_t* rejected_rows = nullptr;
};

/// How a file input's identity is computed (`fingerprint:` of csv and hdf5 inputs).
enum class FileIdentity {
  kContent,  // XXH3 over the bytes, in parallel (io/file_fingerprint.hpp): notices every change
  kStat,     // path, size and modification time: cheaper, misses a same-size same-mtime rewrite
};

/// A parsed input. Subclasses (one per format) add their typed settings.
class InputSpec {
 public:
  virtual ~InputSpec() = default;

  std::string name;         // the key under `inputs:`; also the table's name
  std::string format;       // the `format:` value
  SourceLocation location;  // the input's name in `inputs:`
  FieldLocations fields;

  /// Local: emits the input's settings as a canonical YAML map (every default written) that loads
  /// back to an equal spec.
  virtual void emit(YAML::Emitter& out) const = 0;

  /// Local: the table's shape without reading its rows (header line, HDF5 metadata, generator
  /// schema). Throws InputError (exit 3) for missing files and ConfigError for settings that
  /// contradict the data, both with the input's location.
  virtual TableShape bind() const = 0;

  /// Collective: a fingerprint of the data this input reads (not of its settings), so that the
  /// stage cache and training resume notice changed data. Equal on all ranks, independent of
  /// the rank count.
  virtual std::string data_fingerprint(const InputContext& context) const = 0;

  /// Collective: reads the table. Every failure is agreed.
  virtual table::Table load(const InputContext& context) const = 0;

  template <typename T>
  const T& as() const {
    return dynamic_cast<const T&>(*this);
  }
};

/// One registry entry.
struct InputFormat {
  std::string format;   // the `format:` value
  std::string summary;  // one line for the docs
  /// Every key an input of this format may have, `format` included.
  std::vector<std::string> keys;
  /// Local: parses the map of input `name` (written at `name_location`) whose format is this one.
  std::shared_ptr<InputSpec> (*parse)(const std::string& name, const SourceLocation& name_location,
                                      const MapView& map);
};

const std::vector<InputFormat>& input_formats();
const InputFormat* find_input_format(std::string_view format);
std::vector<std::string> input_format_names();

/// Local: the `schema:` map of a file input ({column: type, ...}, in order), recording where each
/// column was written as fields["schema.<column>"]. Throws ConfigError at the offending place
/// for an empty map, an empty column name or an unknown type (with the list of types).
table::Schema parse_schema_map(const MapView& input, FieldLocations& fields);

/// Reads `fingerprint: content|stat` of a file input (default content).
FileIdentity read_file_identity(const MapView& map);
std::string_view to_string(FileIdentity identity);

/// Collective: the identity of `paths` (already expanded, in reading order) by `identity`.
std::string file_data_fingerprint(const mpi::Comm& comm, const std::vector<std::string>& paths,
                                  FileIdentity identity);

}  // namespace shardflow::pipeline
