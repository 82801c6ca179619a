#pragma once
// The feature pipeline of a model: from table columns to the dense feature rows the model reads.
//
// Inputs are the job's numeric features (int32, int64, float32, float64, bool, timestamp) and
// categorical features (string, int32, int64, bool). Transforms, in the order written:
//   impute         fills the missing values of some columns (numeric: null or NaN; categorical:
//                  null) with the training data's mean, median, most frequent value or a constant;
//   one_hot/index/ encode a categorical column (exactly one encoder per categorical column): one
//   hash           0/1 feature per category, the category's index, or one 0/1 feature per hash
//                  bucket (XXH3-64 of the value's text, seed 0, modulo the bucket count);
//   scale          standard (x - mean) / sd or min-max (x - min) / (max - min) of numeric columns.
// Every statistic is fitted on the training rows only, across ranks, and exactly: sums are
// reproducible fixed-point sums, the median an exact distributed selection, counts are integers;
// so a fitted pipeline is bit-identical at any rank count.
//
// The assembled features, in order: each numeric feature (after its imputation and scaling),
// then each categorical feature's encoding (one_hot: "<column>=<category>" per category in
// category order; index: "<column>"; hash: "<column>#<bucket>" per bucket). Categories are the
// distinct non-null training values, ascending (integers by value, strings by bytes).
//
// Stages: imputers and encoders work on table columns while the rows are assembled; scalers are
// fitted on the assembled matrix and applied to it (and, when scoring, to each tile of rows with
// the same expression, so scoring gives the same bits as the training matrix). The written order
// must agree with those stages: a column is imputed before it is encoded or scaled.

#include <Eigen/Core>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ml {

enum class TransformKind { kImpute, kStandardScale, kMinMaxScale, kOneHot, kIndex, kHash };
enum class ImputeStrategy { kMean, kMedian, kMostFrequent, kConstant };
/// What an encoder does with a category the training data did not have (one_hot, index).
enum class UnknownCategory {
  kError,   // the run stops naming the column, the value and the row
  kIgnore,  // one_hot: every indicator 0; index: -1
};

std::string_view to_string(TransformKind kind);
std::string_view to_string(ImputeStrategy strategy);
std::string_view to_string(UnknownCategory unknown);

/// One transform: its settings as the job wrote them and, once fitted, its state.
struct FeatureTransform {
  TransformKind kind = TransformKind::kStandardScale;
  /// The feature columns it acts on; empty = every numeric feature (impute and scale only).
  std::vector<std::string> columns;
  ImputeStrategy strategy = ImputeStrategy::kMean;    // impute
  std::string constant;                               // impute kConstant: the fill value, as text
  UnknownCategory unknown = UnknownCategory::kError;  // one_hot, index
  int max_categories = 1000;  // one_hot, index: more distinct training values stop the fit
  int buckets = 0;            // hash: > 0
  /// Where the job wrote it, for messages: "job.yaml:9:7: train.transforms.1 (one_hot)".
  std::string where;

  // ---- fitted state, one entry per column of `columns` (resolved) ----------------------------
  std::vector<double> fill;                          // impute of numeric columns
  std::vector<std::string> fill_text;                // impute of categorical columns
  std::vector<std::vector<std::string>> categories;  // one_hot, index (canonical text)
  std::vector<double> offset, divisor;               // scale: x -> (x - offset) / divisor
};

class FeaturePipeline {
 public:
  FeaturePipeline() = default;
  /// Local: a pipeline over the given features. Resolves each transform's columns (empty =
  /// every numeric feature) and checks the structure, throwing ConfigError that starts with the
  /// transform's `where`: a column that is not a feature (did-you-mean), listed twice, or of the
  /// wrong kind (scale and encoders on numeric/categorical ones), a categorical feature without
  /// an encoder or with two, a column imputed twice or imputed after it is encoded or scaled,
  /// mean/median on a categorical column, a constant that is not a number for a numeric column,
  /// no features at all, a feature listed twice or in both lists (these start with
  /// `features_where` when given: where the job lists its features).
  FeaturePipeline(std::vector<std::string> numeric, std::vector<std::string> categorical,
                  std::vector<FeatureTransform> transforms, const std::string& features_where = "");

  const std::vector<std::string>& numeric() const { return numeric_; }
  const std::vector<std::string>& categorical() const { return categorical_; }
  const std::vector<FeatureTransform>& transforms() const { return transforms_; }
  /// The table columns the pipeline reads: the numeric features, then the categorical ones.
  std::vector<std::string> input_columns() const;
  /// Whether numeric feature `name` is scaled by some transform.
  bool is_scaled(const std::string& name) const;
  bool fitted() const { return fitted_; }

  /// The assembled features' names (fitted pipelines only), see the file comment.
  const std::vector<std::string>& output_names() const { return output_names_; }
  int num_outputs() const { return static_cast<int>(output_names_.size()); }

  /// Collective: fits every transform on this rank's rows of `table` (the training data; all
  /// ranks' rows together) and returns the assembled training rows with their labels (read as
  /// `labels` says). Errors, agreed: make_dataset's for the label and the numeric features
  /// (a null or NaN is allowed where an imputer fills it); a categorical feature of another type
  /// or null without an imputer; more than max_categories categories (use hash); InputError if
  /// the table has no rows at all. `matrix` chooses the returned matrix's type (the fit is the
  /// same: statistics are taken in double from the columns).
  Dataset fit(const mpi::Comm& comm, const table::Table& table, const std::string& label,
              const LabelEncoding& labels, MatrixType matrix = MatrixType::kFloat64);

  /// Collective: the rows of `table` assembled by the fitted pipeline, with labels when `label`
  /// is not empty. Errors as fit's, and an unknown category under `unknown: error`. With
  /// MatrixType::kFloat32 each value is the float nearest to the float64 matrix's value.
  Dataset assemble(const mpi::Comm& comm, const table::Table& table, const std::string& label,
                   const LabelEncoding& labels, MatrixType matrix = MatrixType::kFloat64) const;

  /// Local: takes the fitted state (fill, fill_text, categories, offset, divisor) of `fitted`,
  /// which must list the same transforms (kind and columns) in the same order, e.g. as read back
  /// from a checkpoint; checks that it has one entry per column and that categories and scales
  /// are well formed, throwing InputError naming `source` otherwise. Sets fitted().
  void restore_fitted(const std::vector<FeatureTransform>& fitted, const std::string& source);

  /// The features of one rank's table, resolved and checked once, assembled a tile at a time.
  class Rows {
   public:
    /// Local (call inside comm.agree): checks the columns of `table` (types, then every value a
    /// row of which would fail: null or non-finite without an imputer, unknown categories under
    /// `unknown: error`), naming the column, the row, `rank` and the global row.
    Rows(const FeaturePipeline& pipeline, const table::Table& table, int rank, idx_t global_offset);
    /// As above; `scaled` false leaves the scalers out (fit assembles before fitting them), and
    /// `check_values` false checks the column types only.
    Rows(const FeaturePipeline& pipeline, const table::Table& table, int rank, idx_t global_offset,
         bool scaled, bool check_values = true);
    Rows(Rows&&) noexcept;
    ~Rows();
    /// Local: rows [begin, end) into out (row-major, num_outputs() per row), scaled.
    void write(idx_t begin, idx_t end, double* out) const;
    /// Local: the values of numeric feature `j` (the j-th of `numeric`) in rows [begin, end) to
    /// out[0, end - begin), imputed and not scaled: the values write() starts that feature from.
    void numeric_values(size_t j, idx_t begin, idx_t end, double* out) const;
    /// Local: the values of numeric feature `j` where they are stored (every row of the table),
    /// when numeric_values would return them unchanged (a float64 column without an imputer);
    /// nullptr otherwise.
    const double* float64_values(size_t j) const;
    /// Local: false when numeric feature `j`'s column has no validity, so no value of it is null.
    bool may_have_nulls(size_t j) const;
    /// Local: the value checks of numeric feature `j` (named `name`) that the constructor makes
    /// when `check_values` is true: a null or non-finite value without an imputer.
    void check_numeric(size_t j, const std::string& name) const;

   private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
  };

 private:
  friend class Rows;
  void set_output_names();
  // Assembly with the fitted scalers; `check_values` false skips the value checks (fit made them).
  Dataset assemble_rows(const mpi::Comm& comm, const table::Table& table, const std::string& label,
                        const LabelEncoding& labels, bool check_values, MatrixType matrix) const;
  void fit_column_transforms(const mpi::Comm& comm, const table::Table& table);
  // The scalers, in transform order, from their columns' values (`rows`: the unscaled reader,
  // made without value checks); checks every numeric column's values, each before it is read.
  void fit_scalers(const mpi::Comm& comm, const Rows& rows, idx_t local_rows, idx_t global_rows,
                   idx_t global_offset);

  std::vector<std::string> numeric_;
  std::vector<std::string> categorical_;
  std::vector<FeatureTransform> transforms_;
  std::vector<std::string> output_names_;
  bool fitted_ = false;
};

/// Collective: the exact median of the finite values of a numeric column over all ranks (the mean
/// of the two middle values, by std::midpoint, for an even count), skipping nulls and NaN;
/// nullopt when no rank has a value. Bit-identical at any split of the values.
std::optional<double> exact_median(const mpi::Comm& comm, std::span<const double> values);

}  // namespace shardflow::ml
