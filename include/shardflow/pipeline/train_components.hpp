#pragma once
// The registries of the `train:` section: models (`train.model`, one entry per `type:`),
// optimizers (`train.optimizer`, one entry per `type:`) and transforms (`train.transforms`, one
// entry per key of a list item such as `{scale: standard}`). Each entry lives in one file,
// src/pipeline/{models,optimizers,transforms}/<name>_<kind>.cpp, which owns its typed spec,
// parsing (with source locations) and canonical form; the three registry files in those
// directories list the entries. The loader, the canonical YAML and the did-you-mean lists loop
// over the registries (docs/architecture.md, "Adding a model, an optimizer or a transform").

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/pipeline/config_node.hpp"

namespace YAML {
class Emitter;
}

namespace shardflow::pipeline {

struct TrainSpec;  // pipeline/job.hpp

// ============================================================================================
// Models
// ============================================================================================

/// A parsed `train.model`. Subclasses (one per type) add their typed settings; instances are
/// immutable once loaded and shared by the Job's copies.
class ModelSpec {
 public:
  virtual ~ModelSpec() = default;

  std::string type;         // the `type:` value (the default type's name when not written)
  SourceLocation location;  // the model map; the train section when `model:` is not written
  FieldLocations fields;    // where each key's value was written

  /// Local: emits the model as a canonical YAML map (`type` first, every default written, fixed
  /// key order) that loads back to an equal spec. The training fingerprint covers this text.
  virtual void emit(YAML::Emitter& out) const = 0;
  /// What the model predicts (decides how the label is read and which metrics apply).
  virtual ml::Task task() const = 0;
  /// The model for `num_features` features; `classes` (multiclass only) are the label values of
  /// the training data, ascending. Throws as the model's constructor does.
  virtual std::unique_ptr<ml::Model> build(int num_features, std::vector<double> classes) const = 0;
  /// Local: throws a ConfigError at the offending value's location when this model cannot be
  /// trained as the rest of `train` asks (its optimizer); the loader calls it once the whole
  /// section is read. Accepts everything by default.
  virtual void check_train(const TrainSpec& train) const { static_cast<void>(train); }

  template <typename T>
  const T& as() const {
    return dynamic_cast<const T&>(*this);
  }
};

/// One model registry entry.
struct ModelType {
  std::string name;     // the `type:` value
  std::string summary;  // one line for the docs
  /// Every key a model map of this type may have, `type` included, in canonical order.
  std::vector<std::string> keys;
  /// Local: parses a model map (`map.path()` is "train.model"; an empty map when `model:` is not
  /// written). Rejects unknown keys and reads the settings with the conversions of
  /// config_node.hpp; the loader then sets type, location and the fields.
  std::shared_ptr<ModelSpec> (*parse)(const MapView& map);
};

/// All models, in registry order.
const std::vector<ModelType>& model_types();
/// The entry named `name`, or nullptr.
const ModelType* find_model_type(std::string_view name);
std::vector<std::string> model_type_names();
/// The entry used when `train.model` or its `type` is not written.
const ModelType& default_model_type();

// ============================================================================================
// Optimizers
// ============================================================================================

/// A parsed `train.optimizer`. Subclasses (one per type) add their typed settings.
class OptimizerSpec {
 public:
  virtual ~OptimizerSpec() = default;

  std::string type;         // the `type:` value (the default type's name when not written)
  SourceLocation location;  // the optimizer map; the train section when not written
  FieldLocations fields;

  /// Local: emits the optimizer as a canonical YAML map (`type` first, every default written).
  virtual void emit(YAML::Emitter& out) const = 0;
  /// The trainer's options (ml/sgd_trainer.hpp) this optimizer stands for; the seed is left at
  /// its default for the caller to set from the job.
  virtual ml::SgdOptions training_options() const = 0;
  /// Local: throws a ConfigError at the offending value's location when this optimizer cannot
  /// train the rest of `train` (its model, its early stopping); the loader calls it once the
  /// whole section is read. Accepts everything by default.
  virtual void check_train(const TrainSpec& train) const { static_cast<void>(train); }

  template <typename T>
  const T& as() const {
    return dynamic_cast<const T&>(*this);
  }
};

/// One optimizer registry entry (fields as in ModelType; `map.path()` is "train.optimizer").
struct OptimizerType {
  std::string name;
  std::string summary;
  std::vector<std::string> keys;
  std::shared_ptr<OptimizerSpec> (*parse)(const MapView& map);
};

/// `schedule:` of any optimizer type (src/pipeline/optimizers/learning_rate_schedule.cpp): parses
/// the map at `path` ("train.optimizer.schedule"); `learning_rate` is the optimizer's lr, which
/// bounds a cosine schedule's min_lr. Errors carry the value's file:line:column.
ml::LearningRateSchedule parse_schedule(const ConfigNode& node, const std::string& path,
                                        double learning_rate);
/// Emits `schedule: {...}` into an optimizer's canonical map, or nothing for the default (constant,
/// no warm-up), so that jobs written before schedules keep their training fingerprint.
void emit_schedule(YAML::Emitter& out, const ml::LearningRateSchedule& schedule);

const std::vector<OptimizerType>& optimizer_types();
const OptimizerType* find_optimizer_type(std::string_view name);
std::vector<std::string> optimizer_type_names();
/// The entry used when `train.optimizer` or its `type` is not written.
const OptimizerType& default_optimizer_type();

// ============================================================================================
// Transforms
// ============================================================================================

/// One parsed item of `train.transforms`, a map with one key: the transform's name, whose value
/// holds its settings (`{scale: standard}`, `{one_hot: {columns: [city]}}`). Every entry parses
/// into the settings of one ml::FeatureTransform (ml/feature_pipeline.hpp), which does the work;
/// the canonical form is written from those settings (src/pipeline/transforms/transform_spec.cpp).
class TransformSpec {
 public:
  std::string name;         // the item's key
  SourceLocation location;  // the list item
  FieldLocations fields;    // the location of the value, under `name`
  /// The transform's settings; `settings.where` names the item for messages
  /// ("job.yaml:9:7: train.transforms.1 (one_hot)").
  ml::FeatureTransform settings;

  /// Local: emits the item as a canonical one-key YAML map that loads back to an equal spec: the
  /// short form ({scale: standard}, {impute: mean}) when only the kind is set, else the full map
  /// with every setting of its kind.
  void emit(YAML::Emitter& out) const;
};

/// One transform registry entry.
struct TransformType {
  std::string name;     // the item's key
  std::string summary;  // one line for the docs
  std::string example;  // a complete item, for messages: "{scale: standard}"
  /// Local: parses the value of the item's key; `path` is "train.transforms.<i>.<name>".
  std::shared_ptr<TransformSpec> (*parse)(const ConfigNode& value, const std::string& path);
};

const std::vector<TransformType>& transform_types();
const TransformType* find_transform_type(std::string_view name);
std::vector<std::string> transform_type_names();

// ============================================================================================
// The entries the trainer reads by type
// ============================================================================================
// The runner builds the model through ModelSpec::build and reads optimizers through
// training_options(), so adam and adamw keep their class inside their own file, like the steps
// do; transforms hand their settings to ml::FeaturePipeline. The SGD and logistic specs stay here
// because tests read their settings by type.

/// `model: {type: linear|logistic|softmax, l2: 0}`: the generalized linear models
/// (ml/linear_models.hpp), one file per type (src/pipeline/models/<type>_model.cpp) sharing this
/// class (src/pipeline/models/linear_model_spec.cpp).
class LinearModelSpec : public ModelSpec {
 public:
  ml::LinearKind kind = ml::LinearKind::kLogistic;
  double l2 = 0.0;  // L2 penalty l2/2 * ||coefficients||^2 (intercepts not penalized); >= 0
  double focal_gamma = 0.0;  // logistic only: > 0 trains on the focal loss (ml::binary_loss)
  double l1 = 0.0;           // logistic only: L1 penalty l1 * ||coefficients||_1, lbfgs only

  void emit(YAML::Emitter& out) const override;
  void check_train(const TrainSpec& train) const override;
  ml::Task task() const override;
  std::unique_ptr<ml::Model> build(int num_features, std::vector<double> classes) const override;
};

/// Parses a linear model's map into `spec` (its kind set): the keys `type` and `l2` (logistic:
/// also `focal_gamma` and `l1`).
std::shared_ptr<ModelSpec> parse_linear_model(const MapView& map,
                                              std::shared_ptr<LinearModelSpec> spec);
/// A model map's `l2` (0 when not written): a number >= 0, else a ConfigError at its location.
double read_l2(const MapView& map);
/// A model map's `focal_gamma` (0 when not written): a number >= 0, for a `binary` model only,
/// else a ConfigError at its location.
double read_focal_gamma(const MapView& map, bool binary);
/// Writes `focal_gamma: g` into a model's canonical map unless g is 0, so that log-loss models
/// keep their canonical text and training fingerprint.
void emit_focal_gamma(YAML::Emitter& out, double gamma);
/// The keys of a linear model's map.
const std::vector<std::string>& linear_model_keys(ml::LinearKind kind);

/// `model: {type: logistic, l2: 0}` (src/pipeline/models/logistic_model.cpp).
class LogisticModelSpec final : public LinearModelSpec {
 public:
  static constexpr std::string_view kType = "logistic";
  LogisticModelSpec() { kind = ml::LinearKind::kLogistic; }
};

/// `optimizer: {type: sgd, lr: 0.1, batch_size: 256, epochs: 5, momentum: 0}`
/// (src/pipeline/optimizers/sgd_optimizer.cpp): mini-batch SGD with momentum (ml/sgd_trainer.hpp).
class SgdOptimizerSpec final : public OptimizerSpec {
 public:
  static constexpr std::string_view kType = "sgd";
  double learning_rate = 0.1;  // `lr`; > 0
  idx_t batch_size = 256;      // global rows per step; >= 1
  int epochs = 5;              // >= 1
  double momentum = 0.0;       // in [0, 1)
  ml::LearningRateSchedule schedule;

  void emit(YAML::Emitter& out) const override;
  ml::SgdOptions training_options() const override;
};

}  // namespace shardflow::pipeline
