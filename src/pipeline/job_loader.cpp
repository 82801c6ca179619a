#include "shardflow/pipeline/job_loader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/ml/metric.hpp"

namespace shardflow::pipeline {

namespace {

// ============================================================================================
// Config tree
// ============================================================================================
// yaml-cpp nodes carry a line and column but not the file they came from, and the merged config
// mixes nodes from several files and --set flags. So the YAML is first copied into this small tree
// where every value and every map key carries its full SourceLocation; merging, overrides and the
// typed conversion all work on it.

using Node = ConfigNode;

SourceLocation location_of(const YAML::Mark& mark, const std::string& file) {
  // yaml-cpp marks are 0-based, and -1 for nodes created in code.
  if (mark.line < 0) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

Node from_yaml(const YAML::Node& y, const std::string& file, const std::string& path) {
  Node node;
  node.location = location_of(y.Mark(), file);
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      node.kind = Node::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::kScalar;
      node.scalar = y.Scalar();
      break;
    case YAML::NodeType::Sequence: {
      node.kind = Node::Kind::kSequence;
      std::size_t i = 0;
      for (const auto& item : y) {
        node.items.push_back(from_yaml(item, file, join_path(path, std::to_string(i))));
        ++i;
      }
      break;
    }
    case YAML::NodeType::Map:
      node.kind = Node::Kind::kMap;
      for (const auto& entry : y) {
        const SourceLocation key_location = location_of(entry.first.Mark(), file);
        if (!entry.first.IsScalar()) {
          fail_at(key_location, fmt::format("map keys must be plain names {}, got a {}",
                                            in_path(path), entry.first.IsMap() ? "map" : "list"));
        }
        const std::string key = entry.first.Scalar();
        for (size_t k = 0; k < node.keys.size(); ++k) {
          if (node.keys[k] == key) {
            fail_at(key_location,
                    fmt::format("duplicate key '{}' {} (first written at {}); remove one of them",
                                key, in_path(path), node.key_locations[k].to_string()));
          }
        }
        node.keys.push_back(key);
        node.key_locations.push_back(key_location);
        node.items.push_back(from_yaml(entry.second, file, join_path(path, key)));
        // yaml-cpp places an empty value ("key:") at the next token, possibly lines later.
        if (node.items.back().kind == Node::Kind::kNull) node.items.back().location = key_location;
      }
      break;
  }
  return node;
}

// Reads and parses a YAML file; `what` is "job file" or "profile".
// Aliases ('*name') are refused before the text is loaded: yaml-cpp resolves them into shared
// nodes, so a self-referencing alias ('a: &a [*a]') makes the tree infinite and nested ones
// ("billion laughs") make it exponentially large. A job file gains nothing from them that
// profiles and --set do not give.
class AliasRefuser final : public YAML::EventHandler {
 public:
  explicit AliasRefuser(std::string source) : source_(std::move(source)) {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    throw ConfigError(
        "{}: YAML aliases ('*name') are not supported in job files (they can expand without "
        "bound); write the value out, or share settings through --profile files",
        location_of(mark, source_).to_string());
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::string source_;
};

// Loads YAML text after refusing aliases; YAML::Exception passes through.
YAML::Node load_without_aliases(const std::string& text, const std::string& source_name) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  AliasRefuser refuser(source_name);
  // The first document only: it is the one YAML::Load reads. Looping until HandleNextDocument
  // returns false hangs on a stray ',' at document level (", a"): yaml-cpp 0.7 then reports an
  // empty document on every call without ever advancing.
  parser.HandleNextDocument(refuser);
  return YAML::Load(text);
}

Node parse_yaml_text(const std::string& text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = load_without_aliases(text, source_name);
  } catch (const YAML::Exception& e) {
    const SourceLocation at = location_of(e.mark, source_name);
    throw ConfigError("{}: YAML syntax error: {}", at.line > 0 ? at.to_string() : source_name,
                      e.msg);
  }
  Node node = from_yaml(root, source_name, "");
  if (node.kind == Node::Kind::kNull) {
    node.kind = Node::Kind::kMap;  // an empty file is an empty map (and then misses 'name')
    node.location = SourceLocation{source_name, 1, 1};
  }
  return node;
}

Node parse_yaml_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("cannot read {} '{}': {}", what, path, std::strerror(EISDIR));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read {} '{}': {}", what, path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read {} '{}': {}", what, path, std::strerror(errno));
  return parse_yaml_text(text.str(), path);
}

// Layers `over` onto `base`: maps merge key by key (recursively), anything else replaces.
void merge_into(Node& base, const Node& over) {
  if (!base.is_map() || !over.is_map()) {
    base = over;
    return;
  }
  base.location = over.location;
  for (size_t i = 0; i < over.keys.size(); ++i) {
    if (Node* existing = base.find(over.keys[i])) {
      merge_into(*existing, over.items[i]);
      for (size_t k = 0; k < base.keys.size(); ++k) {
        if (base.keys[k] == over.keys[i]) base.key_locations[k] = over.key_locations[i];
      }
    } else {
      base.keys.push_back(over.keys[i]);
      base.key_locations.push_back(over.key_locations[i]);
      base.items.push_back(over.items[i]);
    }
  }
}

void relocate(Node& node, const SourceLocation& location) {
  node.location = location;
  for (auto& l : node.key_locations)
    l = location;
  for (auto& item : node.items)
    relocate(item, location);
}

std::optional<std::size_t> parse_index(std::string_view text) {
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Applies one "--set a.b.c=value".
void apply_override(Node& root, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set '{}': expected KEY=VALUE, e.g. --set train.optimizer.lr=0.05", text);
  }
  const std::string key_path = text.substr(0, eq);
  const std::string value_text = text.substr(eq + 1);
  std::vector<std::string> segments;
  for (std::size_t start = 0;;) {
    const auto dot = key_path.find('.', start);
    segments.push_back(key_path.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (std::any_of(segments.begin(), segments.end(), [](const auto& s) { return s.empty(); })) {
    throw ConfigError("--set '{}': the key '{}' has an empty part; write it like a.b.c", text,
                      key_path);
  }
  const SourceLocation here{"--set " + key_path, 0, 0};

  Node value;
  try {
    value = from_yaml(load_without_aliases(value_text, here.file), here.file, key_path);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set '{}': the value is not valid YAML: {}", text, e.msg);
  }
  relocate(value, here);

  Node* current = &root;
  std::string walked;
  for (size_t s = 0; s < segments.size(); ++s) {
    const std::string& segment = segments[s];
    const bool last = s + 1 == segments.size();
    if (current->kind == Node::Kind::kNull) {
      current->kind = Node::Kind::kMap;
      current->location = here;
    }
    if (current->kind == Node::Kind::kSequence) {
      const auto index = parse_index(segment);
      if (!index) {
        throw ConfigError(
            "--set '{}': {} is a list, so the next key part must be an index "
            "(0, 1, ...), got '{}'",
            text, walked, segment);
      }
      const std::size_t size = current->items.size();
      if (*index > size || (*index == size && !last)) {
        throw ConfigError("--set '{}': index {} is out of range: {} has {} item{}", text, *index,
                          walked, size, size == 1 ? "" : "s");
      }
      if (*index == size) {
        current->items.push_back(value);
        return;
      }
      if (last) {
        current->items[*index] = value;
        return;
      }
      current = &current->items[*index];
    } else if (current->kind == Node::Kind::kMap) {
      Node* next = current->find(segment);
      if (!next) {
        current->keys.push_back(segment);
        current->key_locations.push_back(here);
        Node fresh;
        fresh.location = here;
        current->items.push_back(fresh);
        next = &current->items.back();
      }
      if (last) {
        *next = value;
        for (size_t k = 0; k < current->keys.size(); ++k) {
          if (current->keys[k] == segment) current->key_locations[k] = here;
        }
        return;
      }
      current = next;
    } else {
      throw ConfigError("--set '{}': {} is the value {}, not a map or list, so it has no key '{}'",
                        text, walked, describe(*current), segment);
    }
    walked = join_path(walked, segment);
  }
}

// ============================================================================================
// Typed conversion (the conversions themselves are in config_node.cpp)
// ============================================================================================

// Every key that some entry of a registry accepts (for the unknown-key check before the entry is
// known).
template <typename Registry>
std::vector<std::string> all_keys(const Registry& entries) {
  std::vector<std::string> keys;
  for (const auto& entry : entries) {
    for (const auto& key : entry.keys) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  return keys;
}

// ---- inputs --------------------------------------------------------------------------------

std::shared_ptr<const InputSpec> read_input(const std::string& name,
                                            const SourceLocation& name_location, const Node& node) {
  if (!is_identifier(name)) {
    fail_at(name_location, fmt::format("input name '{}' may only contain letters, digits, '_' "
                                       "and '-' (it names files and HDF5 groups)",
                                       name));
  }
  const MapView map(node, join_path("inputs", name));
  // The format decides which keys are valid, so read it before rejecting unknown keys, unless
  // the format key itself is the misspelled one.
  if (!map.find("format")) map.allow_only(all_keys(input_formats()));
  const std::string format_name =
      to_choice(map.require("format"), map.path("format"), input_format_names());
  std::shared_ptr<InputSpec> in = find_input_format(format_name)->parse(name, name_location, map);
  in->name = name;
  in->format = format_name;
  in->location = name_location;
  for (auto& [key, location] : map.field_locations().values)
    in->fields.values.emplace(key, location);
  return in;
}

// ---- steps ---------------------------------------------------------------------------------

std::shared_ptr<const StepSpec> read_step(const Node& node, std::size_t index) {
  const MapView map(node, fmt::format("steps.{}", index));
  if (!map.find("op")) map.allow_only(all_keys(step_types()));
  const Node& op = map.require("op");
  const std::string op_name = to_string(op, map.path("op"));
  const StepType* type = find_step_type(op_name);
  if (!type) {
    const auto names = step_type_names();
    fail_at(op.location, fmt::format("unknown op '{}' in {}{} (supported: {})", op_name, map.path(),
                                     did_you_mean(op_name, names), list_names(names)));
  }
  std::shared_ptr<StepSpec> step = type->parse(map);
  step->op = op_name;
  step->location = node.location;
  for (auto& [key, location] : map.field_locations().values)
    step->fields.values.emplace(key, location);
  return step;
}

// ---- outputs -------------------------------------------------------------------------------

OutputSpec read_output(const Node& node, std::size_t index) {
  const MapView map(node, fmt::format("outputs.{}", index));
  map.allow_only({"table", "path", "format", "allow_outside_workdir", "partition_by"});
  OutputSpec out;
  out.location = node.location;
  out.fields = map.field_locations();
  out.table = to_nonempty_string(map.require("table"), map.path("table"));
  if (const Node* partition_by = map.find("partition_by")) {
    out.partition_by = to_string_list(*partition_by, map.path("partition_by"), false);
    for (size_t i = 0; i < out.partition_by.size(); ++i) {
      out.fields.values[fmt::format("partition_by.{}", i)] =
          partition_by->kind == Node::Kind::kSequence ? partition_by->items[i].location
                                                      : partition_by->location;
    }
  }
  const Node* path = map.find("path");
  if (path) out.path = to_nonempty_string(*path, map.path("path"));
  if (const Node* format = map.find("format")) {
    out.format = to_choice(*format, map.path("format"), {"hdf5", "csv"});
  } else {
    out.format = out.path.ends_with(".csv") && out.partition_by.empty() ? "csv" : "hdf5";
  }
  if (!path) {
    out.path = out.partition_by.empty() ? out.table + (out.format == "csv" ? ".csv" : ".h5")
                                        : out.table + "/";
  }
  if (!out.partition_by.empty()) {
    // A partitioned output is a directory of part files; a file name here is a mistake.
    std::string name = out.path;
    while (name.size() > 1 && name.ends_with('/'))
      name.pop_back();
    for (const char* ext : {".csv", ".h5", ".hdf5", ".hdf", ".parquet"}) {
      if (name.ends_with(ext)) {
        fail_at(path ? path->location : node.location,
                fmt::format("{} '{}' names a file, but an output with partition_by writes a "
                            "directory (<path>/<column>=<value>/part-00000.{}); write a directory "
                            "path such as '{}/'",
                            map.path("path"), out.path, out.format == "csv" ? "csv" : "h5",
                            name.substr(0, name.size() - std::string_view(ext).size())));
      }
    }
  }
  if (const Node* allow = map.find("allow_outside_workdir")) {
    out.allow_outside_workdir = to_bool(*allow, map.path("allow_outside_workdir"));
  }
  // Outputs live in <workdir>/outputs; a path that leaves it (absolute, or '..' past it) could
  // overwrite anything the job's user may write, so it takes an explicit opt-in.
  const auto normal = (std::filesystem::path("outputs") / out.path).lexically_normal();
  const bool inside = !std::filesystem::path(out.path).is_absolute() &&
                      normal.begin() != normal.end() && *normal.begin() == "outputs" &&
                      normal != std::filesystem::path("outputs");
  if (!inside && !out.allow_outside_workdir) {
    fail_at(path ? path->location : node.location,
            fmt::format("{} '{}' leaves the workdir's outputs/ directory; write a relative path "
                        "without '..', or add allow_outside_workdir: true to this output to write "
                        "there on purpose",
                        map.path("path"), out.path));
  }
  return out;
}

// ---- train / evaluate / runtime ------------------------------------------------------------

const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error"};

// The names of a registry's entries.
template <typename Registry>
std::vector<std::string> entry_names(const Registry& entries) {
  std::vector<std::string> names;
  for (const auto& entry : entries)
    names.push_back(entry.name);
  return names;
}

// Reads `train.<key>`, a model or an optimizer: a map whose `type` picks the registry entry (the
// default entry when `type`, or the whole map, is not written) and whose other keys are that
// entry's settings.
template <typename Type>
auto read_typed_component(const MapView& train, std::string_view key,
                          const std::vector<Type>& types, const Type& default_type) {
  const Node* written = train.find(key);
  Node absent;  // an empty map at the train section: the default entry's defaults
  absent.kind = Node::Kind::kMap;
  absent.location = train.location();
  const MapView map(written ? *written : absent, train.path(key));
  // The type decides which keys are valid, but a key that no type has is reported first (and
  // the entry then checks its own keys).
  map.allow_only(all_keys(types));
  const Type* type = &default_type;
  if (const Node* node = map.find("type")) {
    const std::string name = to_choice(*node, map.path("type"), entry_names(types));
    type =
        &*std::find_if(types.begin(), types.end(), [&](const Type& t) { return t.name == name; });
  }
  auto spec = type->parse(map);
  spec->type = type->name;
  spec->location = map.location();
  for (auto& [k, location] : map.field_locations().values)
    spec->fields.values.emplace(k, location);
  return spec;
}

}  // namespace

std::shared_ptr<const ModelSpec> load_model_spec(const std::string& yaml,
                                                 const std::string& source_name) {
  Node train;
  train.kind = Node::Kind::kMap;
  train.keys = {"model"};
  train.key_locations = {SourceLocation{source_name, 0, 0}};
  train.items = {from_yaml(load_without_aliases(yaml, source_name), source_name, "model")};
  return read_typed_component(MapView(train, "train"), "model", model_types(),
                              default_model_type());
}

namespace {

// The canonical text of a transform (to recognise one listed twice).
std::string canonical_text(const TransformSpec& transform) {
  YAML::Emitter out;
  out << YAML::Flow;
  transform.emit(out);
  return out.c_str();
}

// Reads `train.transforms`: a list of one-key maps, the key naming the registry entry.
std::vector<std::shared_ptr<const TransformSpec>> read_transforms(const Node& node) {
  expect_sequence(node, "train.transforms");
  std::vector<std::string> examples;
  for (const auto& type : transform_types())
    examples.push_back(type.example);
  std::vector<std::shared_ptr<const TransformSpec>> transforms;
  std::vector<std::string> texts;
  for (size_t i = 0; i < node.items.size(); ++i) {
    const std::string path = fmt::format("train.transforms.{}", i);
    const Node& item = node.items[i];
    const MapView map(item, path);
    if (item.keys.size() != 1) {
      fail_at(item.location,
              fmt::format("{} must have exactly one key, e.g. {}", path, examples.front()));
    }
    map.allow_only(transform_type_names(),
                   fmt::format(" (supported transforms: {})", list_names(examples)));
    const TransformType& type = *find_transform_type(item.keys[0]);
    std::shared_ptr<TransformSpec> transform = type.parse(item.items[0], map.path(type.name));
    transform->name = type.name;
    transform->location = item.location;
    transform->settings.where =
        fmt::format("{}: {} ({})", item.location.to_string(), path, type.name);
    transform->fields = map.field_locations();
    // A transform listed twice with the same settings is applied once and written once in the
    // canonical form, as before the registry (when each transform was one flag of TrainSpec), so
    // such jobs keep their behaviour and fingerprints.
    std::string text = canonical_text(*transform);
    if (std::find(texts.begin(), texts.end(), text) != texts.end()) continue;
    texts.push_back(std::move(text));
    transforms.push_back(std::move(transform));
  }
  return transforms;
}

TrainSpec read_train(const Node& node) {
  const MapView map(node, "train");
  map.allow_only({"input", "label", "features", "transforms", "model", "optimizer", "checkpoint",
                  "class_weight", "early_stopping"});
  TrainSpec t;
  t.location = node.location;
  t.fields = map.field_locations();
  t.input = to_nonempty_string(map.require("input"), map.path("input"));
  t.label = to_nonempty_string(map.require("label"), map.path("label"));

  const MapView features(map.require("features"), map.path("features"));
  features.allow_only({"numeric", "categorical", "dtype"});
  const Node* numeric = features.find("numeric");
  const Node* categorical = features.find("categorical");
  if (!numeric && !categorical) {
    fail_at(features.location(),
            "train.features needs numeric: [columns] or categorical: [columns] (or both)");
  }
  if (numeric) {
    t.numeric_features = to_string_list(*numeric, features.path("numeric"), false);
    t.fields.values["features.numeric"] = numeric->location;
  }
  if (categorical) {
    t.categorical_features = to_string_list(*categorical, features.path("categorical"), false);
    t.fields.values["features.categorical"] = categorical->location;
  }
  if (const Node* dtype = features.find("dtype")) {
    const std::string text = to_nonempty_string(*dtype, features.path("dtype"));
    if (text == "float32") {
      t.matrix_type = ml::MatrixType::kFloat32;
    } else if (text != "float64") {
      fail_at(dtype->location,
              fmt::format("train.features.dtype must be float64 (the default) or float32 (half "
                          "the memory of the training matrix, each value rounded to float), not "
                          "'{}'",
                          text));
    }
  }

  if (const Node* transforms = map.find("transforms")) t.transforms = read_transforms(*transforms);
  // The pipeline's structure (each column a feature, one encoder per categorical feature, imputes
  // before their encoders and scalers) is checked now, with the transform's location.
  feature_pipeline_of(t);
  t.model = read_typed_component(map, "model", model_types(), default_model_type());
  t.optimizer = read_typed_component(map, "optimizer", optimizer_types(), default_optimizer_type());
  if (const Node* checkpoint = map.find("checkpoint")) {
    const MapView c(*checkpoint, map.path("checkpoint"));
    c.allow_only({"every_steps", "keep"});
    if (const Node* e = c.find("every_steps")) {
      t.checkpoint_every_steps = to_int(*e, c.path("every_steps"), 0);
    }
    if (const Node* k = c.find("keep")) {
      t.checkpoint_keep = static_cast<int>(to_int(*k, c.path("keep"), 1, 1000000));
    }
  }
  if (const Node* early = map.find("early_stopping")) {
    const MapView e(*early, map.path("early_stopping"));
    e.allow_only({"input", "metric", "patience", "min_delta"});
    EarlyStoppingSpec es;
    es.location = early->location;
    es.fields = e.field_locations();
    es.input = to_nonempty_string(e.require("input"), e.path("input"));
    es.metric = to_nonempty_string(e.require("metric"), e.path("metric"));
    if (const Node* patience = e.find("patience"))
      es.patience = static_cast<int>(to_int(*patience, e.path("patience"), 1, 1000000));
    if (const Node* delta = e.find("min_delta")) {
      es.min_delta = to_double(*delta, e.path("min_delta"));
      if (es.min_delta < 0) {
        fail_at(delta->location,
                fmt::format("{} must be >= 0, got {}", e.path("min_delta"), es.min_delta));
      }
    }
    t.early_stopping = std::move(es);
  }
  if (const Node* weight = map.find("class_weight")) {
    const std::string path = map.path("class_weight");
    if (weight->kind == Node::Kind::kScalar) {
      to_choice(*weight, path, {"balanced"});
      t.class_weight = TrainSpec::ClassWeight::kBalanced;
    } else if (weight->is_map() && !weight->keys.empty()) {
      t.class_weight = TrainSpec::ClassWeight::kGiven;
      for (size_t i = 0; i < weight->keys.size(); ++i) {
        Node key;
        key.kind = Node::Kind::kScalar;
        key.scalar = weight->keys[i];
        key.location = weight->key_locations[i];
        const double label = to_double(key, path + " (a label value)");
        const double w = to_double(weight->items[i], join_path(path, weight->keys[i]));
        if (!(w > 0.0)) {
          fail_at(weight->items[i].location, fmt::format("{} must be a positive number, got {}",
                                                         join_path(path, weight->keys[i]), w));
        }
        for (const auto& [other, unused] : t.class_weights) {
          if (other == label) {
            fail_at(key.location, fmt::format("{} gives label {} twice", path, label));
          }
        }
        t.class_weights.emplace_back(label, w);
      }
      std::sort(t.class_weights.begin(), t.class_weights.end());
    } else {
      fail_at(weight->location,
              fmt::format("{} must be balanced or a map from label value to weight, e.g. {{0: 1, "
                          "1: 5}}, got {}",
                          path, describe(*weight)));
    }
  }
  t.model->check_train(t);
  t.optimizer->check_train(t);
  return t;
}

EvaluateSpec read_evaluate(const Node& node) {
  const MapView map(node, "evaluate");
  map.allow_only({"input", "metrics"});
  EvaluateSpec e;
  e.location = node.location;
  e.fields = map.field_locations();
  e.input = to_nonempty_string(map.require("input"), map.path("input"));
  e.metrics = to_string_list(map.require("metrics"), map.path("metrics"), false);
  return e;
}

TrackSpec read_track(const Node& node, const std::string& job_name) {
  const MapView map(node, "track");
  map.allow_only({"store", "experiment", "run_name"});
  TrackSpec t;
  t.location = node.location;
  t.fields = map.field_locations();
  if (const Node* n = map.find("store")) t.store = to_nonempty_string(*n, map.path("store"));
  t.experiment = job_name;
  if (const Node* n = map.find("experiment"))
    t.experiment = to_nonempty_string(*n, map.path("experiment"));
  t.run_name = job_name;
  if (const Node* n = map.find("run_name"))
    t.run_name = to_nonempty_string(*n, map.path("run_name"));
  return t;
}

RegisterSpec read_register(const Node& node) {
  const MapView map(node, "register");
  map.allow_only({"model", "metric", "mode", "alias"});
  RegisterSpec r;
  r.location = node.location;
  r.fields = map.field_locations();
  r.model = to_nonempty_string(map.require("model"), map.path("model"));
  r.metric = to_nonempty_string(map.require("metric"), map.path("metric"));
  const ml::Metric* metric = ml::find_metric(r.metric);
  r.higher_is_better = metric == nullptr || metric->higher_is_better;
  if (const Node* n = map.find("mode")) {
    static const std::vector<std::string> kModes = {"max", "min"};
    r.higher_is_better = to_choice(*n, map.path("mode"), kModes) == "max";
  }
  if (const Node* n = map.find("alias")) r.alias = to_nonempty_string(*n, map.path("alias"));
  return r;
}

RuntimeSpec read_runtime(const Node& node) {
  const MapView map(node, "runtime");
  map.allow_only({"shuffle_round_bytes", "hdf5_chunk_rows", "max_dictionary_size", "log_level",
                  "log_all_ranks", "cache_keep", "table_liveness", "broadcast_max_bytes",
                  "keep_freed_memory", "huge_pages"});
  RuntimeSpec r;
  if (const Node* n = map.find("shuffle_round_bytes")) {
    r.shuffle_round_bytes = to_bytes(*n, map.path("shuffle_round_bytes"));
  }
  if (const Node* n = map.find("hdf5_chunk_rows")) {
    r.hdf5_chunk_rows = to_int(*n, map.path("hdf5_chunk_rows"), 1);
  }
  if (const Node* n = map.find("max_dictionary_size")) {
    r.max_dictionary_size = to_int(*n, map.path("max_dictionary_size"), 1);
  }
  if (const Node* n = map.find("log_level")) {
    r.log_level = to_choice(*n, map.path("log_level"), kLogLevels);
  }
  if (const Node* n = map.find("log_all_ranks")) {
    r.log_all_ranks = to_bool(*n, map.path("log_all_ranks"));
  }
  if (const Node* n = map.find("cache_keep")) {
    r.cache_keep = static_cast<int>(to_int(*n, map.path("cache_keep"), 1, 1000000));
  }
  if (const Node* n = map.find("table_liveness")) {
    r.table_liveness = to_bool(*n, map.path("table_liveness"));
  }
  if (const Node* n = map.find("broadcast_max_bytes")) {
    r.broadcast_max_bytes = to_bytes(*n, map.path("broadcast_max_bytes"));
  }
  if (const Node* n = map.find("keep_freed_memory")) {
    r.keep_freed_memory = to_bool(*n, map.path("keep_freed_memory"));
  }
  if (const Node* n = map.find("huge_pages")) {
    // true, false, or the smallest column buffer that gets huge pages ("128MiB"); one message
    // for every wrong value, naming both forms.
    const std::string path = map.path("huge_pages");
    auto wrong = [&] {
      fail_at(n->location,
              fmt::format("{} must be true, false, or a buffer size of at least "
                          "2MiB (one huge page), got {}; write e.g. 4MiB or 128MiB",
                          path,
                          n->kind == ConfigNode::Kind::kScalar ? "'" + n->scalar + "'"
                                                               : std::string("a list or map")));
    };
    const bool is_number = n->kind == ConfigNode::Kind::kScalar && !n->scalar.empty() &&
                           std::isdigit(static_cast<unsigned char>(n->scalar.front())) != 0;
    try {
      if (is_number)
        r.huge_page_min_bytes = to_bytes(*n, path);
      else
        r.huge_pages = to_bool(*n, path);
    } catch (const ConfigError&) {
      wrong();
    }
    if (is_number && r.huge_page_min_bytes < idx_t{2} << 20) wrong();
  }
  return r;
}

Job to_job(const Node& root, const std::string& source_file) {
  const MapView map(root, "");
  map.allow_only({"name", "seed", "workdir", "inputs", "steps", "outputs", "train", "evaluate",
                  "track", "register", "runtime"});
  Job job;
  job.source_file = source_file;
  job.name = to_identifier(map.require("name"), "name", "the job name");
  if (const Node* seed = map.find("seed")) {
    job.seed = static_cast<std::uint64_t>(to_int(*seed, "seed", 0));
  }
  job.workdir = "runs/" + job.name;
  if (const Node* workdir = map.find("workdir"))
    job.workdir = to_nonempty_string(*workdir, "workdir");

  const Node& inputs = map.require("inputs");
  MapView input_map(inputs, "inputs");
  if (inputs.keys.empty()) {
    fail_at(inputs.location,
            "inputs must name at least one input, e.g. inputs: {events: {format: "
            "csv, path: data/events.csv}}");
  }
  for (size_t i = 0; i < inputs.keys.size(); ++i) {
    job.inputs.push_back(read_input(inputs.keys[i], inputs.key_locations[i], inputs.items[i]));
  }
  if (const Node* steps = map.find("steps")) {
    expect_sequence(*steps, "steps");
    for (size_t i = 0; i < steps->items.size(); ++i)
      job.steps.push_back(read_step(steps->items[i], i));
  }
  if (const Node* outputs = map.find("outputs")) {
    expect_sequence(*outputs, "outputs");
    for (size_t i = 0; i < outputs->items.size(); ++i)
      job.outputs.push_back(read_output(outputs->items[i], i));
  }
  if (const Node* train = map.find("train")) job.train = read_train(*train);
  if (const Node* evaluate = map.find("evaluate")) {
    job.evaluate = read_evaluate(*evaluate);
    if (!job.train) {
      fail_at(evaluate->location,
              "evaluate needs a train section: there is no model to evaluate; add train: or "
              "remove evaluate:");
    }
  }
  if (const Node* track = map.find("track")) job.track = read_track(*track, job.name);
  if (const Node* reg = map.find("register")) {
    job.registration = read_register(*reg);
    const RegisterSpec& r = *job.registration;
    if (!job.train || !job.evaluate || !job.track) {
      fail_at(reg->location,
              fmt::format("register needs {}: it registers the trained model with an evaluate "
                          "metric in the tracking store; add {} or remove register:",
                          !job.train      ? "a train section"
                          : !job.evaluate ? "an evaluate section"
                                          : "a track section",
                          !job.train      ? "train:"
                          : !job.evaluate ? "evaluate: {input: ..., metrics: [" + r.metric + "]}"
                                          : "track: {store: mlruns}"));
    }
    const auto& metrics = job.evaluate->metrics;
    if (std::find(metrics.begin(), metrics.end(), r.metric) == metrics.end()) {
      fail_at(r.fields.of("metric", r.location),
              fmt::format("register.metric '{}' is not one of evaluate.metrics ({}): the run must "
                          "compute it; add it to evaluate.metrics",
                          r.metric, fmt::join(metrics, ", ")));
    }
  }
  if (const Node* runtime = map.find("runtime")) job.runtime = read_runtime(*runtime);
  job.canonical_yaml = to_canonical_yaml(job);
  return job;
}

Job load(Node job_root, const std::string& source_name, const std::vector<std::string>& profiles,
         const std::vector<std::string>& overrides) {
  Node merged;
  bool have_base = false;
  for (const auto& profile : profiles) {
    Node p = parse_yaml_file(profile, "profile");
    if (!p.is_map()) {
      fail_at(p.location, fmt::format("a profile must be a map of job keys (usually runtime: ...), "
                                      "got {}",
                                      describe(p)));
    }
    if (have_base) {
      merge_into(merged, p);
    } else {
      merged = std::move(p);
      have_base = true;
    }
  }
  if (!job_root.is_map()) {
    fail_at(job_root.location,
            fmt::format("a job file must be a map of keys (name, inputs, steps, ...), got {}",
                        describe(job_root)));
  }
  if (have_base) {
    merge_into(merged, job_root);
  } else {
    merged = std::move(job_root);
  }
  for (const auto& o : overrides)
    apply_override(merged, o);
  return to_job(merged, source_name);
}

}  // namespace

Job load_job(const std::string& path, const std::vector<std::string>& profiles,
             const std::vector<std::string>& overrides) {
  return load(parse_yaml_file(path, "job file"), path, profiles, overrides);
}

Job load_job_from_string(const std::string& yaml, const std::string& source_name,
                         const std::vector<std::string>& profiles,
                         const std::vector<std::string>& overrides) {
  return load(parse_yaml_text(yaml, source_name), source_name, profiles, overrides);
}

}  // namespace shardflow::pipeline
