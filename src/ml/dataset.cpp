#include "shardflow/ml/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <span>

#include "shardflow/common/memory.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {

const char* to_string(MatrixType type) {
  return type == MatrixType::kFloat32 ? "float32" : "float64";
}
namespace {

// Calls sink(row, value as double) for every row of a numeric column. The variant is resolved once
// per column, so the per-row loop runs on the typed vector. Used to find the row an error names.
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

// Rows [begin, end) of a typed column, as doubles, written `stride` doubles apart.
template <typename T>
void copy_strided(const void* values, idx_t begin, idx_t end, double* out, Eigen::Index stride) {
  const T* v = static_cast<const T*>(values);
  for (idx_t i = begin; i < end; ++i, out += stride)
    *out = static_cast<double>(v[i]);
}

// One numeric column, resolved once: where its values are and how to copy them.
struct ColumnSource {
  const void* values = nullptr;
  void (*copy)(const void*, idx_t, idx_t, double*, Eigen::Index) = nullptr;
};

ColumnSource source_of(const table::Column& column) {
  ColumnSource s;
  column.visit([&](const auto& values) {
    using V = std::decay_t<decltype(values)>;
    if constexpr (!std::is_same_v<V, table::PlainStrings>) {
      s.values = values.data();
      s.copy = &copy_strided<typename V::value_type>;
    }
  });
  return s;
}

// Whether a numeric column has a null or (for floats) a non-finite value: one branch-free pass,
// so that the common clean column costs no per-value test in the copy.
bool has_bad_value(const table::Column& column) {
  for (const std::uint8_t valid : column.validity())
    if (valid == 0) return true;
  bool bad = false;
  column.visit([&](const auto& values) {
    using V = std::decay_t<decltype(values)>;
    if constexpr (std::is_same_v<V, table::Buffer<double>> ||
                  std::is_same_v<V, table::Buffer<float>>) {
      constexpr auto kMax = std::numeric_limits<typename V::value_type>::max();
      int finite = 1;
      for (const auto x : values)
        finite &= static_cast<int>(std::abs(x) <= kMax);  // false for inf and NaN
      bad = finite == 0;
    }
  });
  return bad;
}

// The classes for a message: all of a short list, the first ones of a long one.
std::string class_list(const std::vector<double>& classes) {
  constexpr size_t kShown = 10;
  std::string out;
  for (size_t i = 0; i < std::min(classes.size(), kShown); ++i)
    out += fmt::format("{}{}", i == 0 ? "" : ", ", classes[i]);
  if (classes.size() > kShown) out += fmt::format(", ... ({} more)", classes.size() - kShown);
  return out;
}

}  // namespace

CheckedColumns check_training_columns(const mpi::Comm& comm, const table::Table& table,
                                      const std::vector<std::string>& features,
                                      const std::string& label, idx_t global_offset,
                                      const LabelEncoding& encoding) {
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
      throw ConfigError("column '{}' is both the label and a feature; remove it from the features",
                        name);
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
  CheckedColumns out;
  for (const auto& name : features)
    out.features.push_back(&table.column(check_numeric(name, "feature")));
  // No label: scoring data to predict (predict_table); only the features are read.
  const int label_index = label.empty() ? -1 : check_numeric(label, "label");
  for (size_t j = 0; j < features.size(); ++j)
    check_feature_values(comm.rank(), *out.features[j], features[j], global_offset, false);
  if (label_index >= 0) out.labels = read_labels(comm, table, label, global_offset, encoding);
  return out;
}

void check_feature_values(int rank, const table::Column& column, const std::string& name,
                          idx_t global_offset, bool missing_allowed) {
  // A column with a null or non-finite value is walked row by row to name the first one; the
  // rest are copied without per-value tests.
  if (!has_bad_value(column)) return;
  for_each_value(column, [&](idx_t i, double v) {
    if (missing_allowed && (!column.is_valid(i) || std::isnan(v))) return;
    if (!column.is_valid(i)) {
      throw InputError(
          "feature column '{}' is null at row {} of rank {} (global row {}); impute it (train "
          "transforms: [{{impute: {{columns: [{}]}}}}]) or filter nulls first",
          name, i, rank, global_offset + i, name);
    }
    if (!std::isfinite(v)) {
      throw InputError(
          "feature column '{}' holds {} at row {} of rank {} (global row {}); features must be "
          "finite numbers; filter such rows{}",
          name, v, i, rank, global_offset + i,
          std::isnan(v)
              ? fmt::format(" or impute them (transforms: [{{impute: {{columns: [{}]}}}}])", name)
              : std::string());
    }
  });
}

Eigen::VectorXd read_labels(const mpi::Comm& comm, const table::Table& table,
                            const std::string& label, idx_t global_offset,
                            const LabelEncoding& encoding) {
  const int label_index = table.schema().index_of(label, "the training table");
  const table::DataType type = table.schema().field(label_index).type;
  if (!table::is_numeric(type)) {
    throw InputError(
        "label column '{}' has type {}; only numeric columns (int32, int64, float32, float64, "
        "bool, timestamp) can be used; encode it first (e.g. one-hot) or drop it",
        label, table::to_string(type));
  }
  const table::Column& labels = table.column(label_index);
  Eigen::VectorXd out(static_cast<Eigen::Index>(table.num_rows()));
  for_each_value(labels, [&](idx_t i, double v) {
    if (!labels.is_valid(i)) {
      throw InputError(
          "label column '{}' is null at row {} of rank {} (global row {}); drop unlabeled rows "
          "before training",
          label, i, comm.rank(), global_offset + i);
    }
    switch (encoding.task) {
      case Task::kBinary:
        if (v != 0.0 && v != 1.0) {
          throw InputError(
              "label column '{}' holds {} at row {} of rank {} (global row {}); a binary model "
              "needs labels 0 or 1 (or bool); for more classes use model type softmax, for a "
              "numeric target type linear",
              label, labels.to_string_at(i), i, comm.rank(), global_offset + i);
        }
        break;
      case Task::kRegression:
        if (!std::isfinite(v)) {
          throw InputError(
              "label column '{}' holds {} at row {} of rank {} (global row {}); a regression "
              "target must be a finite number; filter such rows",
              label, labels.to_string_at(i), i, comm.rank(), global_offset + i);
        }
        break;
      case Task::kMulticlass: {
        const auto& classes = encoding.classes;
        const auto it = std::lower_bound(classes.begin(), classes.end(), v);
        if (it == classes.end() || *it != v) {
          throw InputError(
              "label column '{}' holds {} at row {} of rank {} (global row {}), which is not one "
              "of the model's {} classes (the labels of the training data: {}); filter rows of "
              "unknown classes",
              label, labels.to_string_at(i), i, comm.rank(), global_offset + i, classes.size(),
              class_list(classes));
        }
        v = static_cast<double>(it - classes.begin());
        break;
      }
    }
    out(static_cast<Eigen::Index>(i)) = v;
  });
  return out;
}

NumericColumnReader numeric_reader(const table::Column& column) {
  const ColumnSource s = source_of(column);
  if (!s.copy) throw RuntimeError("numeric_reader: a string column has no numeric values");
  return {s.values, s.copy};
}

void copy_column_block(const table::Column& column, idx_t begin, idx_t end, double* out) {
  const ColumnSource s = source_of(column);
  s.copy(s.values, begin, end, out, 1);
}

Dataset make_dataset(const mpi::Comm& comm, const table::Table& table,
                     const std::vector<std::string>& features, const std::string& label,
                     const LabelEncoding& labels) {
  Dataset data;
  const idx_t rows = table.num_rows();
  // Collectives first, on every rank: the global position of this rank's rows.
  data.global_offset = mpi::exscan_sum(comm, rows);
  data.global_rows = mpi::allreduce_sum(comm, rows);
  data.feature_names = features;

  comm.agree([&] {
    CheckedColumns checked =
        check_training_columns(comm, table, features, label, data.global_offset, labels);
    const auto d = static_cast<Eigen::Index>(features.size());
    data.features.resize(static_cast<Eigen::Index>(rows), d);
    data.labels = std::move(checked.labels);
    // Training reads the rows in a random order: with 4 KiB pages nearly every row of a large
    // matrix also misses the TLB. bench_train's 1.6e6 x 64 epoch at 2 ranks: 1.08 s with 4 KiB
    // pages, 0.84 s with huge pages (medians of three alternating runs).
    advise_huge_pages_for_buffer(data.features.data(),
                                 static_cast<size_t>(data.features.size()) * sizeof(double));
    // Columns into the row-major matrix a tile of rows at a time: a tile's rows (kBlock x d
    // doubles, 16 KB for 64 features) stay in L1 while each column writes its stride, instead of
    // every column pass touching every row's cache line of the whole matrix. 1.6e6 rows x 64
    // features at 2 ranks: make_dataset took 1.87 s, now 1.1-1.2 s, of which the copy is 0.18 s
    // and the rest the first touch of the fresh 410 MB matrix (page faults, 0.6 GB/s in that VM).
    std::vector<ColumnSource> sources;
    for (const table::Column* column : checked.features)
      sources.push_back(source_of(*column));
    constexpr idx_t kBlock = 32;
    for (idx_t begin = 0; begin < rows; begin += kBlock) {
      const idx_t end = std::min(rows, begin + kBlock);
      double* row = data.features.data() + begin * d;
      for (Eigen::Index j = 0; j < d; ++j) {
        const ColumnSource& s = sources[static_cast<size_t>(j)];
        s.copy(s.values, begin, end, row + j, d);
      }
    }
  });
  return data;
}

std::vector<double> distinct_label_values(const mpi::Comm& comm, const table::Table& table,
                                          const std::string& label, size_t max_classes) {
  std::vector<double> local;
  const auto too_many = [&](size_t count) {
    return InputError(
        "label column '{}' has more than {} distinct values ({} seen); a classification model "
        "needs class labels; for a numeric target use model type linear",
        label, max_classes, count);
  };
  comm.agree([&] {
    const int index = table.schema().index_of(label, "the training table");
    const table::Column& column = table.column(index);
    if (!table::is_numeric(table.schema().field(index).type)) {
      throw InputError(
          "label column '{}' has type {}; class labels must be numeric (int, bool or float); "
          "encode it first",
          label, table::to_string(table.schema().field(index).type));
    }
    std::set<double> seen;
    for_each_value(column, [&](idx_t i, double v) {
      if (!column.is_valid(i)) return;
      if (!std::isfinite(v)) {
        throw InputError("label column '{}' holds {} at row {} of rank {}; labels must be finite",
                         label, v, i, comm.rank());
      }
      if (seen.insert(v + 0.0).second && seen.size() > max_classes) throw too_many(seen.size());
    });
    local.assign(seen.begin(), seen.end());
  });
  std::vector<double> all = mpi::allgatherv(comm, std::span<const double>(local));
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  comm.agree([&] {
    if (all.size() > max_classes) throw too_many(all.size());
  });
  return all;
}

}  // namespace shardflow::ml
