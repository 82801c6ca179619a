// The registries of the train section (models, optimizers, transforms) and of metrics: what each
// lists, the did-you-mean messages for unknown names with their locations, and canonical forms
// that load back to the same text.

#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "support/canonical_yaml.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::canonical;

namespace {

const char* kJob = R"(name: t
inputs:
  events: {format: generate, kind: classification, rows: 100}
train:
  input: events
  label: label
  features: {numeric: [x1, x2]}
)";

Job load(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return load_job_from_string(text, "job.yaml", {}, overrides);
}

// The message of the ConfigError that loading (and, with `validate`, validating) throws.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {},
                     bool validate = false) {
  try {
    const Job job = load(text, overrides);
    if (validate) validate_job(job);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for:\n" << text;
  return "";
}

// The `train:` section of a canonical YAML text.
std::string train_section(const std::string& canonical_yaml) {
  const auto begin = canonical_yaml.find("\ntrain:\n");
  const auto end = canonical_yaml.find("\n", canonical_yaml.find("\n  checkpoint:", begin) + 1);
  return canonical_yaml.substr(begin + 1, end - begin);
}

// ---- the registries ---------------------------------------------------------------------------

TEST(TrainRegistries, ListTheirEntries) {
  EXPECT_EQ(model_type_names(), (std::vector<std::string>{"logistic", "linear", "softmax", "mlp"}));
  EXPECT_EQ(optimizer_type_names(), (std::vector<std::string>{"sgd", "adam", "adamw", "lbfgs"}));
  EXPECT_EQ(transform_type_names(),
            (std::vector<std::string>{"impute", "scale", "one_hot", "index", "hash"}));

  for (const auto& t : model_types()) {
    EXPECT_FALSE(t.summary.empty()) << t.name;
    EXPECT_EQ(t.keys.front(), "type") << t.name;
    EXPECT_EQ(find_model_type(t.name), &t);
  }
  for (const auto& t : optimizer_types()) {
    EXPECT_FALSE(t.summary.empty()) << t.name;
    EXPECT_EQ(t.keys.front(), "type") << t.name;
    EXPECT_EQ(find_optimizer_type(t.name), &t);
  }
  for (const auto& t : transform_types()) {
    EXPECT_FALSE(t.summary.empty()) << t.name;
    EXPECT_EQ(find_transform_type(t.name), &t);
  }
  EXPECT_EQ(find_model_type("ridge"), nullptr);
  EXPECT_EQ(find_optimizer_type("newton"), nullptr);
  EXPECT_EQ(find_transform_type("normalize"), nullptr);

  EXPECT_EQ(default_model_type().name, "logistic");
  EXPECT_EQ(default_optimizer_type().name, "sgd");
  EXPECT_EQ(find_model_type("logistic")->keys,
            (std::vector<std::string>{"type", "l2", "focal_gamma", "l1"}));
  EXPECT_EQ(
      find_model_type("mlp")->keys,
      (std::vector<std::string>{"type", "task", "hidden", "activation", "l2", "focal_gamma"}));
  EXPECT_EQ(
      find_optimizer_type("sgd")->keys,
      (std::vector<std::string>{"type", "lr", "batch_size", "epochs", "momentum", "schedule"}));
  EXPECT_EQ(find_transform_type("scale")->example, "{scale: standard}");
}

TEST(TrainRegistries, MetricRegistryListsItsEntries) {
  EXPECT_EQ(ml::metric_names(),
            (std::vector<std::string>{"auc", "logloss", "accuracy", "pr_auc", "precision", "recall",
                                      "f1", "macro_f1", "rmse", "mae", "r2"}));
  EXPECT_TRUE(ml::find_metric("auc")->higher_is_better);
  EXPECT_FALSE(ml::find_metric("logloss")->higher_is_better);
  EXPECT_TRUE(ml::find_metric("accuracy")->higher_is_better);
  EXPECT_EQ(ml::find_metric("mcc"), nullptr);
}

// ---- unknown names: did-you-mean with the location ---------------------------------------------

TEST(TrainRegistries, UnknownNamesSuggestWithTheirLocation) {
  const std::string job = kJob;
  EXPECT_EQ(error_of(job + "  model: {type: logistc}\n"),
            "job.yaml:8:17: train.model.type must be one of logistic, linear, softmax, mlp, got "
            "'logistc'; did you mean 'logistic'?");
  EXPECT_EQ(
      error_of(job + "  optimizer:\n    type: sgdd\n"),
      "job.yaml:9:11: train.optimizer.type must be one of sgd, adam, adamw, lbfgs, got 'sgdd'; "
      "did you mean 'sgd'?");
  EXPECT_EQ(error_of(job, {"train.optimizer.type=newton"}),
            "--set train.optimizer.type: train.optimizer.type must be one of sgd, adam, adamw, "
            "lbfgs, got 'newton'");
  // Keys are checked per type: momentum is sgd's, weight_decay adamw's.
  EXPECT_EQ(error_of(job + "  optimizer: {type: adam, momentum: 0.9}\n"),
            "job.yaml:8:27: unknown key 'momentum' in train.optimizer (an adam optimizer) (valid "
            "keys: type, lr, batch_size, epochs, beta1, beta2, eps, schedule)");
  EXPECT_EQ(error_of(job + "  optimizer: {type: adam, weight_decay: 0.1}\n"),
            "job.yaml:8:41: train.optimizer.weight_decay applies to adamw only (decoupled weight "
            "decay); use type: adamw, or train.model.l2 for an L2 penalty with adam");
  EXPECT_EQ(error_of(job + "  optimizer: {type: adamw, beta2: 1}\n"),
            "job.yaml:8:35: train.optimizer.beta2 must be in [0, 1), got 1");
  // Schedules: type, keys per type, ranges, each at its value.
  EXPECT_EQ(error_of(job + "  optimizer: {type: sgd, schedule: {type: cosin}}\n"),
            "job.yaml:8:43: train.optimizer.schedule.type must be one of constant, step, cosine, "
            "got 'cosin'; did you mean 'cosine'?");
  EXPECT_EQ(error_of(job + "  optimizer: {type: sgd, schedule: {type: step}}\n"),
            "job.yaml:8:36: missing required key 'every_steps' in train.optimizer.schedule");
  EXPECT_EQ(error_of(job + "  optimizer: {type: sgd, schedule: {type: cosine, factor: 0.5}}\n"),
            "job.yaml:8:51: unknown key 'factor' in train.optimizer.schedule (a cosine schedule) "
            "(valid keys: type, warmup_steps, min_lr)");
  EXPECT_EQ(error_of(job + "  optimizer: {type: adam, lr: 0.01, schedule: {type: cosine, min_lr: "
                           "0.1}}\n"),
            "job.yaml:8:70: train.optimizer.schedule.min_lr must be in [0, lr = 0.01], got 0.1");
  EXPECT_EQ(error_of(job + "  transforms: [{scael: standard}]\n"),
            "job.yaml:8:17: unknown key 'scael' in train.transforms.0 (supported transforms: "
            "{impute: median}, {scale: standard}, {one_hot: [city]}, {index: [weekday]}, {hash: "
            "{columns: [user_agent], buckets: 64}}); did you mean 'scale'?");
  EXPECT_EQ(error_of(job + "  transforms: [{scale: standrad}]\n"),
            "job.yaml:8:24: train.transforms.0.scale must be one of standard, minmax, got "
            "'standrad'; did you mean 'standard'?");
  EXPECT_EQ(error_of(job + "  transforms: [{scale: standard, onehot: [x1]}]\n"),
            "job.yaml:8:16: train.transforms.0 must have exactly one key, e.g. {impute: median}");
  EXPECT_EQ(error_of(job + "  model: {type: logistic, lr: 0.1}\n"),
            "job.yaml:8:27: unknown key 'lr' in train.model; did you mean 'l2'?");
  EXPECT_EQ(error_of(job + "evaluate: {input: events, metrics: [auc, acuracy]}\n", {}, true),
            "job.yaml:8:36: unknown metric 'acuracy' in evaluate.metrics; did you mean "
            "'accuracy'? (metrics for binary classification: auc, logloss, accuracy, pr_auc, "
            "precision, recall, f1)");
}

// ---- canonical forms --------------------------------------------------------------------------

TEST(TrainRegistries, CanonicalTrainSectionIsPinned) {
  // The text every training fingerprint covers; it must not change when the registries change.
  const Job job = load(std::string(kJob) +
                       "  transforms: [{scale: standard}]\n"
                       "  model: {type: logistic, l2: 1.0e-4}\n"
                       "  optimizer: {type: sgd, lr: 0.1, batch_size: 1024, epochs: 5, momentum: "
                       "0.9}\n"
                       "  checkpoint: {every_steps: 50, keep: 2}\n");
  EXPECT_EQ(train_section(job.canonical_yaml),
            "train:\n"
            "  input: events\n"
            "  label: label\n"
            "  features:\n"
            "    numeric: [x1, x2]\n"
            "  transforms: [{scale: standard}]\n"
            "  model: {type: logistic, l2: 0.0001}\n"
            "  optimizer: {type: sgd, lr: 0.1, batch_size: 1024, epochs: 5, momentum: 0.9}\n"
            "  checkpoint: {every_steps: 50, keep: 2}\n");

  // A schedule is written only when it is not the default (so the texts above stay pinned).
  const Job scheduled = load(std::string(kJob) +
                             "  optimizer: {type: adamw, lr: 0.01, schedule: {type: cosine, "
                             "warmup_steps: 20, min_lr: 0.001}}\n");
  EXPECT_NE(scheduled.canonical_yaml.find(
                "  optimizer: {type: adamw, lr: 0.01, batch_size: 256, epochs: 5, beta1: 0.9, "
                "beta2: 0.999, eps: 1e-08, weight_decay: 0.01, schedule: {type: cosine, "
                "warmup_steps: 20, min_lr: 0.001}}\n"),
            std::string::npos)
      << scheduled.canonical_yaml;

  const Job defaults = load(kJob);
  EXPECT_EQ(train_section(defaults.canonical_yaml),
            "train:\n"
            "  input: events\n"
            "  label: label\n"
            "  features:\n"
            "    numeric: [x1, x2]\n"
            "  transforms: []\n"
            "  model: {type: logistic, l2: 0}\n"
            "  optimizer: {type: sgd, lr: 0.1, batch_size: 256, epochs: 5, momentum: 0}\n"
            "  checkpoint: {every_steps: 0, keep: 3}\n");
}

TEST(TrainRegistries, CanonicalFormsLoadBackToTheSameText) {
  const std::string job = kJob;
  for (const std::string& text : {
           job,
           job + "  model: {l2: 2.5e-3}\n  optimizer: {momentum: 0.5, lr: 1e-2}\n",
           job + "  transforms: [{scale: standard}]\n  model:\n  optimizer: {type: sgd}\n",
           job + "  transforms: []\n  optimizer: {epochs: 2, batch_size: 17}\n",
           job + "  model: {type: softmax, l2: 0.01}\n  optimizer: {type: lbfgs, memory: 5}\n",
       }) {
    const Job first = load(text);
    const Job again = load(first.canonical_yaml);
    EXPECT_EQ(again.canonical_yaml, first.canonical_yaml) << text;
    EXPECT_EQ(again.fingerprint(), first.fingerprint()) << text;
    // Each component's own canonical form, written back in its place, loads to the same form.
    const std::string model = canonical(*first.train->model);
    const std::string optimizer = canonical(*first.train->optimizer);
    const Job replaced =
        load(first.canonical_yaml, {"train.model=" + model, "train.optimizer=" + optimizer});
    EXPECT_EQ(canonical(*replaced.train->model), model) << text;
    EXPECT_EQ(canonical(*replaced.train->optimizer), optimizer) << text;
    EXPECT_EQ(replaced.canonical_yaml, first.canonical_yaml) << text;
    for (const auto& transform : first.train->transforms) {
      const Job t = load(job, {"train.transforms=[" + canonical(*transform) + "]"});
      ASSERT_EQ(t.train->transforms.size(), 1u);
      EXPECT_EQ(canonical(*t.train->transforms[0]), canonical(*transform));
    }
  }
}

TEST(TrainRegistries, EveryTransformFormHasACanonicalTextThatLoadsBack) {
  // Each written form and the canonical text it must give; that text loads back to itself.
  std::string job = kJob;
  job.replace(job.find("{numeric: [x1, x2]}"), 19, "{numeric: [x1, x2], categorical: [c, d]}");
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"{impute: median}", "{impute: median}"},
      {"{impute: {strategy: mean, columns: [x1]}}", "{impute: {strategy: mean, columns: [x1]}}"},
      {"{impute: {strategy: constant, columns: [c], value: none}}",
       "{impute: {strategy: constant, columns: [c], value: \"none\"}}"},
      {"{impute: {strategy: constant, value: 0.5}}",
       "{impute: {strategy: constant, value: \"0.5\"}}"},
      {"{scale: minmax}", "{scale: minmax}"},
      {"{scale: {method: standard, columns: [x2]}}", "{scale: {method: standard, columns: [x2]}}"},
      {"{one_hot: [c, d]}", "{one_hot: {columns: [c, d], unknown: error, max_categories: 1000}}"},
      {"{index: {columns: [c, d], unknown: ignore, max_categories: 7}}",
       "{index: {columns: [c, d], unknown: ignore, max_categories: 7}}"},
      {"{hash: {columns: [c, d], buckets: 8}}", "{hash: {columns: [c, d], buckets: 8}}"},
  };
  for (const auto& [written, expected] : forms) {
    // Categorical features need an encoder: add one unless the form is one.
    const bool encodes = written.starts_with("{one_hot") || written.starts_with("{index") ||
                         written.starts_with("{hash");
    const std::string list =
        "[" + written + (encodes ? "" : ", {hash: {columns: [c, d], buckets: 2}}") + "]";
    const Job first = load(job, {"train.transforms=" + list});
    EXPECT_EQ(canonical(*first.train->transforms.at(0)), expected) << written;
    const Job again = load(first.canonical_yaml);
    EXPECT_EQ(again.canonical_yaml, first.canonical_yaml) << written;
    EXPECT_EQ(canonical(*again.train->transforms.at(0)), expected) << written;
  }
  EXPECT_NE(load(job, {"train.transforms=[{one_hot: [c, d]}]"})
                .canonical_yaml.find("    categorical: [c, d]\n"),
            std::string::npos);
  // Wrong settings, with their locations.
  EXPECT_EQ(error_of(job + "  transforms: [{impute: constant}]\n"),
            "job.yaml:8:25: train.transforms.0.impute: strategy constant needs a value: write "
            "{impute: {strategy: constant, value: 0}}");
  EXPECT_EQ(
      error_of(job + "  transforms: [{impute: {strategy: mean, value: 3}}, {one_hot: [c, d]}]\n"),
      "job.yaml:8:49: train.transforms.0.impute.value: value is only for strategy constant "
      "(the strategy is mean); remove it");
  EXPECT_EQ(error_of(job + "  transforms: [{hash: {columns: [c, d], buckets: 0}}]\n"),
            "job.yaml:8:50: train.transforms.0.hash.buckets must be >= 1, got 0");
  EXPECT_EQ(
      error_of(job + "  transforms: [{one_hot: {columns: [c], unknown: skip}}, {index: [d]}]\n"),
      "job.yaml:8:50: train.transforms.0.one_hot.unknown must be one of error, ignore, got "
      "'skip'");
  EXPECT_EQ(error_of(job + "  transforms: [{one_hot: [c]}]\n"),
            "job.yaml:7:13: categorical feature 'd' has no encoder; add one of {one_hot: "
            "{columns: [d]}}, {index: {columns: [d]}} or {hash: {columns: [d], buckets: 32}} to "
            "train.transforms");
  EXPECT_EQ(error_of(job + "  transforms: [{one_hot: [c, d]}, {scale: {method: minmax, columns: "
                           "[x9]}}]\n"),
            "job.yaml:8:35: train.transforms.1 (scale): 'x9' is not a feature: transforms apply "
            "to the columns listed under train.features (numeric: x1, x2; categorical: c, d); "
            "did you mean 'x1'?");
}

TEST(TrainRegistries, FocalGammaIsForBinaryModelsAndWrittenOnlyWhenSet) {
  const Job focal = load(std::string(kJob) + "  model: {type: logistic, focal_gamma: 2}\n");
  EXPECT_EQ(canonical(*focal.train->model), "{type: logistic, l2: 0, focal_gamma: 2}");
  EXPECT_EQ(load(focal.canonical_yaml).canonical_yaml, focal.canonical_yaml);
  const Job mlp = load(std::string(kJob) +
                       "  model: {type: mlp, task: binary, hidden: [4], focal_gamma: 0.5}\n");
  EXPECT_EQ(canonical(*mlp.train->model),
            "{type: mlp, task: binary, hidden: [4], activation: relu, l2: 0, focal_gamma: 0.5}");
  EXPECT_EQ(canonical(*load(kJob).train->model), "{type: logistic, l2: 0}");
  EXPECT_EQ(error_of(std::string(kJob) + "  model: {type: softmax, focal_gamma: 2}\n"),
            "job.yaml:8:26: unknown key 'focal_gamma' in train.model (a linear model) (valid "
            "keys: type, l2)");
  EXPECT_EQ(error_of(std::string(kJob) +
                     "  model: {type: mlp, task: regression, hidden: [4], focal_gamma: 2}\n"),
            "job.yaml:8:66: train.model.focal_gamma: the focal loss is for binary classification "
            "(type logistic, or mlp with task: binary); remove focal_gamma");
  EXPECT_EQ(error_of(std::string(kJob) + "  model: {type: logistic, focal_gamma: -1}\n"),
            "job.yaml:8:40: train.model.focal_gamma must be >= 0 (0: the log loss), got -1");
}

TEST(TrainRegistries, EarlyStoppingHasACanonicalFormAndLocatedErrors) {
  const Job job = load(std::string(kJob) + "  early_stopping: {input: valid, metric: auc}\n");
  ASSERT_TRUE(job.train->early_stopping.has_value());
  EXPECT_EQ(job.train->early_stopping->patience, 3);
  EXPECT_NE(job.canonical_yaml.find("  early_stopping: {input: valid, metric: auc, patience: 3, "
                                    "min_delta: 0}\n"),
            std::string::npos)
      << job.canonical_yaml;
  EXPECT_EQ(load(job.canonical_yaml).canonical_yaml, job.canonical_yaml);
  // Without it, the canonical text (and so the training fingerprint) does not mention it.
  EXPECT_EQ(load(kJob).canonical_yaml.find("early_stopping"), std::string::npos);
  EXPECT_EQ(error_of(std::string(kJob) + "  early_stopping: {input: valid}\n"),
            "job.yaml:8:19: missing required key 'metric' in train.early_stopping");
  EXPECT_EQ(error_of(std::string(kJob) +
                     "  early_stopping: {input: valid, metric: auc, min_delta: -1}\n"),
            "job.yaml:8:58: train.early_stopping.min_delta must be >= 0, got -1");
  EXPECT_EQ(error_of(std::string(kJob) + "  early_stopping: {input: valid, metric: auc, "
                                         "patience: 2, patients: 3}\n"),
            "job.yaml:8:60: unknown key 'patients' in train.early_stopping; did you mean "
            "'patience'?");
}

TEST(TrainRegistries, LbfgsSettingsAndLocatedErrors) {
  const std::string job = kJob;
  const Job lbfgs = load(job +
                         "  optimizer: {type: lbfgs, memory: 5, max_iterations: 50, "
                         "tolerance: 1.0e-8}\n");
  EXPECT_EQ(canonical(*lbfgs.train->optimizer),
            "{type: lbfgs, memory: 5, max_iterations: 50, tolerance: 1e-08, objective_tolerance: "
            "1e-12}");
  const ml::SgdOptions o = lbfgs.train->optimizer->training_options();
  EXPECT_EQ(o.optimizer, ml::OptimizerKind::kLbfgs);
  EXPECT_EQ(o.batch_size, ml::kFullBatch);
  EXPECT_EQ(o.epochs, 50);
  EXPECT_EQ(o.lbfgs_memory, 5);
  EXPECT_EQ(o.tolerance, 1e-8);
  EXPECT_EQ(o.objective_tolerance, 1e-12);
  EXPECT_EQ(canonical(*load(job + "  optimizer: {type: lbfgs}\n").train->optimizer),
            "{type: lbfgs, memory: 10, max_iterations: 100, tolerance: 5e-06, "
            "objective_tolerance: 1e-12}");

  // Mini-batch settings are named with the reason they do not apply.
  EXPECT_EQ(error_of(job + "  optimizer: {type: lbfgs, batch_size: 100}\n"),
            "job.yaml:8:40: train.optimizer.batch_size: lbfgs is full-batch: every iteration uses "
            "all training rows; remove batch_size (lbfgs takes type, memory, max_iterations, "
            "tolerance, objective_tolerance)");
  EXPECT_EQ(error_of(job + "  optimizer: {type: lbfgs, lr: 0.1}\n"),
            "job.yaml:8:32: train.optimizer.lr: lbfgs chooses every step by a line search, so it "
            "takes no learning rate; remove lr (lbfgs takes type, memory, max_iterations, "
            "tolerance, objective_tolerance)");
  EXPECT_EQ(error_of(job, {"train.optimizer={type: lbfgs, epochs: 3}"}),
            "--set train.optimizer: train.optimizer.epochs: lbfgs counts iterations, not epochs; "
            "bound them with max_iterations; remove epochs (lbfgs takes type, memory, "
            "max_iterations, tolerance, objective_tolerance)");
  EXPECT_EQ(error_of(job + "  optimizer: {type: lbfgs, memroy: 5}\n"),
            "job.yaml:8:28: unknown key 'memroy' in train.optimizer; did you mean 'memory'?");
  EXPECT_EQ(error_of(job + "  optimizer: {type: lbfgs, memory: 0}\n"),
            "job.yaml:8:36: train.optimizer.memory must be >= 1, got 0");
  EXPECT_EQ(error_of(job + "  optimizer: {type: lbfgs, tolerance: -1}\n"),
            "job.yaml:8:39: train.optimizer.tolerance must be >= 0, got -1");
  // Only the convex models, and no early stopping.
  EXPECT_EQ(error_of(job + "  model: {type: mlp, task: binary}\n  optimizer: {type: lbfgs}\n"),
            "job.yaml:9:21: train.optimizer: lbfgs trains the convex models (linear, logistic, "
            "softmax), not the mlp model of train.model (job.yaml:8:10); use sgd, adam or adamw "
            "for it");
  EXPECT_EQ(error_of(job + "  optimizer: {type: lbfgs}\n  early_stopping: {input: events, "
                           "metric: logloss}\n"),
            "job.yaml:9:19: train.early_stopping measures a validation metric after each epoch of "
            "a mini-batch optimizer; lbfgs minimizes the whole objective to its tolerance "
            "instead: remove early_stopping (regularize with train.model.l2), or use sgd, adam or "
            "adamw");
  // An L1 penalty: logistic only, lbfgs (OWL-QN) only, written only when set.
  const Job l1 = load(job + "  model: {type: logistic, l1: 0.1}\n  optimizer: {type: lbfgs}\n");
  EXPECT_EQ(canonical(*l1.train->model), "{type: logistic, l2: 0, l1: 0.1}");
  EXPECT_EQ(load(l1.canonical_yaml).canonical_yaml, l1.canonical_yaml);
  EXPECT_EQ(canonical(*load(job + "  model: {type: logistic, l1: 0}\n").train->model),
            "{type: logistic, l2: 0}");
  EXPECT_EQ(error_of(job + "  model: {type: logistic, l1: 0.1}\n"),
            "job.yaml:8:31: train.model.l1: an L1 penalty is trained by optimizer lbfgs (OWL-QN) "
            "only, not by sgd; use optimizer: {type: lbfgs}, or remove l1");
  EXPECT_EQ(error_of(job + "  model: {type: logistic, l1: -1}\n  optimizer: {type: lbfgs}\n"),
            "job.yaml:8:31: train.model.l1 must be >= 0, got -1");
  EXPECT_EQ(error_of(job + "  model: {type: linear, l1: 0.1}\n  optimizer: {type: lbfgs}\n"),
            "job.yaml:8:25: unknown key 'l1' in train.model (a linear model); did you mean "
            "'l2'?");
  for (const char* model : {"linear", "logistic", "softmax"}) {
    EXPECT_NO_THROW(load(job + "  model: {type: " + model + "}\n  optimizer: {type: lbfgs}\n"));
  }
}

TEST(TrainRegistries, ATransformListedTwiceIsAppliedAndWrittenOnce) {
  const Job once = load(std::string(kJob) + "  transforms: [{scale: standard}]\n");
  const Job twice =
      load(std::string(kJob) + "  transforms: [{scale: standard}, {scale: standard}]\n");
  ASSERT_EQ(twice.train->transforms.size(), 1u);
  EXPECT_EQ(twice.canonical_yaml, once.canonical_yaml);
}

TEST(TrainRegistries, SpecsCarryTheirTypeAndLocations) {
  const Job job = load(std::string(kJob) + "  model: {l2: 0.5}\n  optimizer:\n    lr: 0.2\n");
  EXPECT_EQ(job.train->model->type, "logistic");  // the default type
  EXPECT_EQ(job.train->model->location, (SourceLocation{"job.yaml", 8, 10}));
  EXPECT_EQ(job.train->model->fields.of("l2", {}), (SourceLocation{"job.yaml", 8, 15}));
  EXPECT_EQ(job.train->optimizer->type, "sgd");
  EXPECT_EQ(job.train->optimizer->fields.of("lr", {}), (SourceLocation{"job.yaml", 10, 9}));
  EXPECT_DOUBLE_EQ(job.train->optimizer->as<SgdOptimizerSpec>().learning_rate, 0.2);
  EXPECT_DOUBLE_EQ(job.train->model->as<LogisticModelSpec>().l2, 0.5);
}

}  // namespace
