#pragma once
// The training matrix of one rank: numeric feature columns and the label, as dense doubles.
// Rows keep their global order (input order), so rank r holds global rows
// [global_offset, global_offset + rows) and the concatenation over ranks is the whole table. The
// trainer identifies rows by that global index, which is what makes training independent of the
// rank count.

#include <Eigen/Core>

#include <algorithm>
#include <string>
#include <vector>

#include "shardflow/common/prefetch.hpp"
#include "shardflow/common/types.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ml {

/// How a training matrix stores its values. kFloat32 halves its memory (and the fresh pages a
/// job's set-up pays for): each value is rounded once to the nearest float when assembled, and
/// training converts the rows back to double (exactly) as it reads them, so all arithmetic stays
/// in double and the weights are still bit-identical at every rank count.
enum class MatrixType { kFloat64, kFloat32 };
/// "float64" or "float32".
const char* to_string(MatrixType type);

/// Features and labels of this rank's rows, in global order. The features are in `features`, or
/// with MatrixType::kFloat32 in `features32` (then `features` has no columns, and `features32`
/// has d columns even with no rows); rows(), num_features(), copy_row(), prefetch_row() serve
/// both.
struct Dataset {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> features;  // rows x d
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> features32;
  Eigen::VectorXd labels;   // as the LabelEncoding says: 0/1, a class index, or the value
  idx_t global_offset = 0;  // global index of local row 0
  idx_t global_rows = 0;    // N over all ranks
  std::vector<std::string> feature_names;

  MatrixType matrix_type() const {
    return features32.cols() > 0 ? MatrixType::kFloat32 : MatrixType::kFloat64;
  }
  idx_t rows() const {
    return static_cast<idx_t>(matrix_type() == MatrixType::kFloat32 ? features32.rows()
                                                                    : features.rows());
  }
  int num_features() const {
    return static_cast<int>(matrix_type() == MatrixType::kFloat32 ? features32.cols()
                                                                  : features.cols());
  }
  /// Local row r's features as doubles into out[0, num_features()).
  void copy_row(idx_t r, double* out) const {
    if (matrix_type() == MatrixType::kFloat32) {
      const float* source = features32.row(static_cast<Eigen::Index>(r)).data();
      for (Eigen::Index j = 0; j < features32.cols(); ++j)
        out[j] = static_cast<double>(source[j]);
    } else {
      const double* source = features.row(static_cast<Eigen::Index>(r)).data();
      std::copy(source, source + features.cols(), out);
    }
  }
  /// Asks for the cache lines of local row r (training reads the rows in a random order).
  void prefetch_row(idx_t r) const {
    const bool single = matrix_type() == MatrixType::kFloat32;
    const char* bytes =
        single ? reinterpret_cast<const char*>(features32.row(static_cast<Eigen::Index>(r)).data())
               : reinterpret_cast<const char*>(features.row(static_cast<Eigen::Index>(r)).data());
    const size_t size =
        static_cast<size_t>(num_features()) * (single ? sizeof(float) : sizeof(double));
    prefetch_range(bytes, size);
  }
};

/// Collective: builds the dataset from the numeric columns `features` (int32, int64, float32,
/// float64, bool, timestamp as microseconds) and the `label` column of this rank's part of
/// `table`, the label read as `labels` says (binary by default). The schema, `features` and `label`
/// must be equal on all ranks; rows are taken in local order, and the global order is rank order
/// (global_offset = rows on lower ranks). Errors, agreed so that every rank throws the same one
/// (the lowest failing rank's):
///   ConfigError: no features, a feature or label column that does not exist (did-you-mean), a
///     duplicated feature, the label listed as a feature;
///   InputError: a non-numeric (string) feature or label column; a null or non-finite feature
///     value; a null label, or a label that does not fit the task (binary: other than 0/1;
///     regression: not finite; multiclass: not one of the classes) — naming the column, the row
///     on that rank and the global row.
Dataset make_dataset(const mpi::Comm& comm, const table::Table& table,
                     const std::vector<std::string>& features, const std::string& label,
                     const LabelEncoding& labels = {});

/// Collective: the distinct values of the numeric column `label` over all ranks' rows, ascending
/// (nulls skipped; -0.0 counts as 0.0): the classes of a multiclass model. Errors, agreed:
/// ConfigError if the column does not exist; InputError if it is not numeric, holds a non-finite
/// value, or has more than `max_classes` distinct values (naming the column and suggesting a
/// regression model).
std::vector<double> distinct_label_values(const mpi::Comm& comm, const table::Table& table,
                                          const std::string& label, size_t max_classes = 1000);

/// The columns make_dataset reads, checked, and the labels.
struct CheckedColumns {
  std::vector<const table::Column*> features;  // in `features` order
  Eigen::VectorXd labels;                      // every row of the table, encoded
};
/// Local: make_dataset's checks (every error listed there, in the same order, with global rows
/// numbered from `global_offset`) without building the matrix; call it inside comm.agree. An
/// empty `label` checks the features only (labels stay empty).
CheckedColumns check_training_columns(const mpi::Comm& comm, const table::Table& table,
                                      const std::vector<std::string>& features,
                                      const std::string& label, idx_t global_offset,
                                      const LabelEncoding& labels = {});
/// Local: make_dataset's value errors for the numeric feature column `name`: a null or a
/// non-finite value, naming the row, `rank` and the global row (rows numbered from
/// `global_offset`). With `missing_allowed` (an imputer fills them) nulls and NaN pass; infinities
/// never do.
void check_feature_values(int rank, const table::Column& column, const std::string& name,
                          idx_t global_offset, bool missing_allowed);
/// Local: the `label` column of every row of `table`, encoded as `encoding` says, with
/// make_dataset's label errors (not numeric, null, a value that does not fit the task).
Eigen::VectorXd read_labels(const mpi::Comm& comm, const table::Table& table,
                            const std::string& label, idx_t global_offset,
                            const LabelEncoding& encoding);
/// Local: rows [begin, end) of one numeric column as doubles into out[0, end - begin).
void copy_column_block(const table::Column& column, idx_t begin, idx_t end, double* out);

/// One numeric column resolved once (its type's copy loop chosen), for copies in many blocks.
struct NumericColumnReader {
  const void* values = nullptr;
  void (*copy)(const void* values, idx_t begin, idx_t end, double* out,
               Eigen::Index stride) = nullptr;
  /// Local: rows [begin, end) as doubles, written `stride` doubles apart from `out`.
  void read(idx_t begin, idx_t end, double* out, Eigen::Index stride) const {
    copy(values, begin, end, out, stride);
  }
};
/// Local: the reader of a numeric (not string) column; RuntimeError for a string column.
NumericColumnReader numeric_reader(const table::Column& column);

}  // namespace shardflow::ml
