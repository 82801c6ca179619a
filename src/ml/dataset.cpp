#include "shardflow/ml/dataset.hpp"

#include <cmath>
#include <set>

#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {
namespace {

// Calls sink(row, value as double) for every row of a numeric column. The variant is resolved once
// per column, so the per-row loop runs on the typed vector.
template <typename Sink>
void for_each_value(const table::Column& column, Sink&& sink) {
  column.visit([&](const auto& values) {
    using V = std::decay_t<decltype(values)>;
    if constexpr (std::is_same_v<V, table::PlainStrings>) {
      // Strings are rejected before this is reached.
    } else {
      for (size_t i = 0; i < values.size(); ++i)
        sink(static_cast<idx_t>(i), static_cast<double>(values[i]));
    }
  });
}

}  // namespace

Dataset make_dataset(const mpi::Comm& comm, const table::Table& table,
                     const std::vector<std::string>& features, const std::string& label) {
  Dataset data;
  const idx_t rows = table.num_rows();
  // Collectives first, on every rank: the global position of this rank's rows.
  data.global_offset = mpi::exscan_sum(comm, rows);
  data.global_rows = mpi::allreduce_sum(comm, rows);
  data.feature_names = features;

  comm.agree([&] {
    if (features.empty()) {
      throw ConfigError(
          "no feature columns given for training; list at least one numeric column under "
          "train.features");
    }
    std::set<std::string> seen;
    for (const auto& name : features) {
      if (!seen.insert(name).second) {
        throw ConfigError("feature column '{}' is listed twice; list each feature once", name);
      }
      if (name == label) {
        throw ConfigError(
            "column '{}' is both the label and a feature; remove it from the features", name);
      }
    }
    const auto check_numeric = [&](const std::string& name, const char* role) {
      const int index = table.schema().index_of(name, "the training table");
      const table::DataType type = table.schema().field(index).type;
      if (!table::is_numeric(type)) {
        throw InputError(
            "{} column '{}' has type {}; only numeric columns (int32, int64, float32, float64, "
            "bool, timestamp) can be used; encode it first (e.g. one-hot) or drop it",
            role, name, table::to_string(type));
      }
      return index;
    };
    std::vector<int> feature_index;
    for (const auto& name : features)
      feature_index.push_back(check_numeric(name, "feature"));
    const int label_index = check_numeric(label, "label");

    const auto d = static_cast<Eigen::Index>(features.size());
    data.features.resize(static_cast<Eigen::Index>(rows), d);
    data.labels.resize(static_cast<Eigen::Index>(rows));
    for (Eigen::Index j = 0; j < d; ++j) {
      const table::Column& column = table.column(feature_index[static_cast<size_t>(j)]);
      for_each_value(column, [&](idx_t i, double v) {
        if (!column.is_valid(i)) {
          throw InputError(
              "feature column '{}' is null at row {} of rank {} (global row {}); impute or filter "
              "nulls before training",
              features[static_cast<size_t>(j)], i, comm.rank(), data.global_offset + i);
        }
        if (!std::isfinite(v)) {
          throw InputError(
              "feature column '{}' holds {} at row {} of rank {} (global row {}); features must be "
              "finite numbers; filter or impute such rows",
              features[static_cast<size_t>(j)], v, i, comm.rank(), data.global_offset + i);
        }
        data.features(static_cast<Eigen::Index>(i), j) = v;
      });
    }
    const table::Column& labels = table.column(label_index);
    for_each_value(labels, [&](idx_t i, double v) {
      if (!labels.is_valid(i)) {
        throw InputError(
            "label column '{}' is null at row {} of rank {} (global row {}); drop unlabeled rows "
            "before training",
            label, i, comm.rank(), data.global_offset + i);
      }
      if (v != 0.0 && v != 1.0) {
        throw InputError(
            "label column '{}' holds {} at row {} of rank {} (global row {}); labels must be 0 or "
            "1 (or bool)",
            label, labels.to_string_at(i), i, comm.rank(), data.global_offset + i);
      }
      data.labels(static_cast<Eigen::Index>(i)) = v;
    });
  });
  return data;
}

}  // namespace shardflow::ml
