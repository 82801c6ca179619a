// format: generate — a synthetic data set (io/synthetic.hpp) written once as CSV under
// <workdir>/data and read like a csv input; a pure function of (kind, rows, seed).
//
//   events: {format: generate, kind: classification, rows: 200000}

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "shardflow/common/error.hpp"
#include "shardflow/common/fingerprint.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/pipeline/input_format.hpp"
#include "shardflow/pipeline/job.hpp"

namespace shardflow::pipeline {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kKeys = {"format", "kind", "rows"};

class GenerateInput final : public InputSpec {
 public:
  std::string kind;  // io::synthetic_schema kind
  idx_t rows = 0;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "format" << YAML::Value << format;
    out << YAML::Key << "kind" << YAML::Value << kind;
    out << YAML::Key << "rows" << YAML::Value << rows;
    out << YAML::EndMap;
  }

  TableShape bind() const override {
    table::Schema schema;
    try {
      schema = io::synthetic_schema(kind);
    } catch (const Error& e) {
      throw_error(e.kind(),
                  fmt::format("{}: input '{}': {}", location.to_string(), name, e.what()));
    }
    TableShape t;
    for (const auto& field : schema.fields())
      t.columns.push_back({field.name, field.type});
    return t;
  }

  std::string data_fingerprint(const InputContext& context) const override {
    return Fingerprint()
        .add(std::string_view("generate"))
        .add(static_cast<std::int64_t>(io::kSyntheticVersion))
        .add(kind)
        .add(static_cast<std::int64_t>(rows))
        .add(static_cast<std::int64_t>(context.seed))
        .hex();
  }

  table::Table load(const InputContext& context) const override {
    const mpi::Comm& comm = context.comm;
    // The file's name carries the data's fingerprint and it appears under that name only once
    // completely written (temp name, fsync, rename), so an existing file is a finished one.
    const std::string fingerprint = data_fingerprint(context);
    const fs::path directory = context.workdir / "data";
    const fs::path path = directory / fmt::format("{}-{}.csv", name, fingerprint.substr(0, 16));
    int present = 0;
    comm.agree([&] {
      if (!comm.is_root()) return;
      fs::create_directories(directory);
      present = fs::is_regular_file(path) ? 1 : 0;
      if (present) return;
      // Data generated for other (kind, rows, seed) of this input is stale now.
      // Names are exactly <name>-<16 hex>.csv, so another input whose name starts with this
      // one's ("events" and "events-2") is never touched.
      const std::string prefix = name + "-";
      auto is_ours = [&](const std::string& file) {
        if (file == name + ".csv" || file == name + ".csv.fingerprint") return true;  // before v2
        if (!file.starts_with(prefix) || !file.ends_with(".csv")) return false;
        const std::string hex = file.substr(prefix.size(), file.size() - prefix.size() - 4);
        return hex.size() == 16 && hex.find_first_not_of("0123456789abcdef") == std::string::npos;
      };
      for (const auto& entry : fs::directory_iterator(directory)) {
        if (is_ours(entry.path().filename().string())) fs::remove(entry.path());
      }
    });
    present = mpi::bcast_value(comm, present, 0);
    if (present == 0) {
      spdlog::info("input '{}': generating {} rows of '{}' into {}", name, rows, kind,
                   path.string());
      io::generate_csv(comm, kind, rows, context.seed, path.string());
    }
    io::CsvOptions options;
    options.paths = {path.string()};
    options.schema = io::synthetic_schema(kind);
    options.max_dictionary_size = context.runtime.max_dictionary_size;
    options.input_name = name;
    return io::read_csv(comm, options);
  }
};

std::shared_ptr<InputSpec> parse(const std::string&, const SourceLocation&, const MapView& map) {
  map.allow_only(kKeys, " (a generate input)");
  auto in = std::make_shared<GenerateInput>();
  in->kind = to_choice(map.require("kind"), map.path("kind"), io::synthetic_kind_names());
  in->rows = to_int(map.require("rows"), map.path("rows"), 1);
  return in;
}

}  // namespace

InputFormat generate_input_format() {
  return {"generate",
          "synthetic data (classification, groupby, events, labels), generated once per (kind, "
          "rows, seed)",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
