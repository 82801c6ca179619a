#include "shardflow/ml/scoring.hpp"

#include <algorithm>
#include <vector>

#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {

namespace {

// score_table, and predict_table when `label` is empty (no labels read).
ScoredRows score_rows(const mpi::Comm& comm, const table::Table& table,
                      const FeaturePipeline& features, const std::string& label, const Model& model,
                      const Eigen::VectorXd& weights) {
  const idx_t rows = table.num_rows();
  const idx_t global_offset = mpi::exscan_sum(comm, rows);
  ScoredRows out;
  out.num_outputs = model.num_outputs();
  comm.agree([&] {
    if (!features.fitted() || features.num_outputs() != model.num_features() ||
        weights.size() != model.num_parameters()) {
      throw RuntimeError(
          "the {} model has {} features ({} parameters given, {} expected), but the feature "
          "pipeline gives {}; score with the feature pipeline the model was trained with",
          model.type(), model.num_features(), weights.size(), model.num_parameters(),
          features.fitted() ? features.num_outputs() : -1);
    }
    const FeaturePipeline::Rows assembler(features, table, comm.rank(), global_offset);
    if (!label.empty())
      out.labels = read_labels(comm, table, label, global_offset, model.label_encoding());
    out.outputs.resize(static_cast<Eigen::Index>(rows) * out.num_outputs);
    // Why tiles: the evaluation set's full matrix (rows x features doubles) would be written once
    // and read once, and as fresh memory it costs its page faults too: 2e6 x 64 at 2 ranks spent
    // most of the evaluation building it. A tile of kTile rows (16 KB at 64 features) stays in L1
    // between the assembly and predict().
    constexpr idx_t kTile = 32;
    std::vector<double> tile(static_cast<size_t>(kTile) *
                             static_cast<size_t>(features.num_outputs()));
    for (idx_t begin = 0; begin < rows; begin += kTile) {
      const idx_t end = std::min(rows, begin + kTile);
      assembler.write(begin, end, tile.data());
      model.predict(
          tile.data(), static_cast<size_t>(end - begin), weights.data(),
          out.outputs.data() + static_cast<size_t>(begin) * static_cast<size_t>(out.num_outputs));
    }
  });
  return out;
}

// The pipeline of numeric `features` standardized by `scaler` (none when its mean is empty).
FeaturePipeline scaled_features(const std::vector<std::string>& features,
                                const StandardScaler& scaler) {
  std::vector<FeatureTransform> transforms;
  if (!scaler.mean.empty()) {
    if (scaler.mean.size() != features.size() || scaler.scale.size() != features.size()) {
      throw RuntimeError(
          "the scaler has {} means and {} scales for {} features; score with the "
          "feature list the model was trained on",
          scaler.mean.size(), scaler.scale.size(), features.size());
    }
    FeatureTransform t;
    t.kind = TransformKind::kStandardScale;
    t.where = "scale: standard";
    transforms.push_back(t);
    t.offset = scaler.mean;
    t.divisor = scaler.scale;
    t.columns = features;
    FeaturePipeline pipeline(features, {}, transforms);
    pipeline.restore_fitted({t}, "the standard scaler");
    return pipeline;
  }
  FeaturePipeline pipeline(features, {}, transforms);
  pipeline.restore_fitted({}, "the feature list");
  return pipeline;
}

}  // namespace

ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const FeaturePipeline& features, const std::string& label,
                       const Model& model, const Eigen::VectorXd& weights) {
  if (label.empty()) throw RuntimeError("score_table: no label column given; use predict_table");
  return score_rows(comm, table, features, label, model, weights);
}

Eigen::VectorXd predict_table(const mpi::Comm& comm, const table::Table& table,
                              const FeaturePipeline& features, const Model& model,
                              const Eigen::VectorXd& weights) {
  return score_rows(comm, table, features, "", model, weights).outputs;
}

ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const Model& model,
                       const Eigen::VectorXd& weights) {
  FeaturePipeline pipeline;
  comm.agree([&] { pipeline = scaled_features(features, scaler); });
  return score_table(comm, table, pipeline, label, model, weights);
}

ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const LogisticRegression& model) {
  const LinearModel logistic(LinearKind::kLogistic, model.num_features(), model.l2);
  return score_table(comm, table, features, label, scaler, logistic, model.weights);
}

}  // namespace shardflow::ml
