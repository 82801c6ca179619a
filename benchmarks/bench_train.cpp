// Costs of reproducible training (run as a single process, or under mpiexec: every rank runs the
// same benchmarks, rank 0 reports).
//   BM_ReproducibleSum vs BM_PlainAllreduceSum: the exact fixed-point sum against the obvious
//     "add locally in double, MPI_Allreduce(MPI_SUM)" that is not reproducible across rank counts.
//   BM_TrainEpoch: one epoch of mini-batch SGD (rows/s), including the per-step collectives, at
//     (rows, features, batch size, classes, path, simd), logistic (1 class) or softmax, with the
//     gradients summed from stored per-sample values (path 0) or from the linear model's factors
//     without storing them (path 1, ml::reproducible_outer_sum), which justifies that path; simd
//     0 / 1 compares FixedPointSums' scalar rounding with its AVX2 path, which justifies the latter
//     (2 ranks, 2026-12-03, 1.6e6 x 64, batch 4096: softmax 646 against 459 ms, logistic 261
//     against 222 ms). Path 1's quantum from bounds on the inputs (one pass over a row's features
//     instead of one per class, reproducible_sum.hpp) then took the same runs to softmax 688 /
//     399 / 271 ms (paths 0, 1 scalar, 1 AVX2) and logistic 252 / 218 / 185 ms.
//     The trainer gathers each step's rows with ml::Dataset::prefetch_row kPrefetchRows ahead;
//     until 2026-12-07 GCC deleted that prefetch loop (common/prefetch.hpp). With it kept, 1 rank,
//     .../1/1/1 and .../5/1/1, three rounds alternating with the build before: logistic 350-383
//     against 410-479 ms, softmax 651-723 against 710-778 ms; at 2 ranks within the noise
//     (logistic 222-225 against 218-290, softmax 403-442 against 381-423).
//   BM_FullBatchObjective/.../0/0 vs .../1/0: one evaluation of lbfgs' objective and gradient
//     over (rows, features) for logistic regression through Model::add_gradients' default
//     (per-sample values, then added) against LinearModel's fused loop, which justifies that
//     loop; .../1/1 the fused loop reading a float32 matrix (add_gradients_f32) instead of
//     converting each row to double first. 1 rank, 2026-12-06, the same machine an hour apart:
//     row by row with glibc's exp and log, 66-68 ms (float64) and 62 ms (float32); the blocked
//     AVX2 kernel with ml/exact_math's vectorized exp and log (linear_models.cpp), 71-72 and
//     39-40 ms (float64 is bound by memory bandwidth either way).
//   BM_SetupMakeDatasetAndScaler vs BM_SetupFeaturePipeline: the training matrix of a table of
//     (rows, features) float64 columns, standardized: the make_dataset + StandardScaler path
//     against ml::FeaturePipeline::fit with {scale: standard} (what a job runs), which must not
//     cost more. 2 ranks, 2026-12-03: 866 ms against 369 ms (fit checks the values once, fits
//     each column's scaler from the column and assembles the scaled matrix once). Its last
//     argument switches FixedPointSums' AVX2 path (the scaler's exact sums): 352 against 297 ms,
//     both with the transposing assembly of float64 columns. With the scaler's extremes in AVX2
//     too (ml::local_extremes), on a fresh machine the same day: 1170 / 490 / 298 ms.
//   BM_AssembleFeatureMatrix: the transposing assembly of the float64 matrix alone (fitted
//     pipeline, memory reused). 2 ranks, 2026-12-04, alternating: 94-101 ms with 32-row tiles of
//     all 64 columns, 70-74 ms with 1024-row blocks filled 8 columns at a time (1 rank: 142-157
//     against 128-130 ms).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/memory.hpp"
#include "shardflow/common/simd.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/lbfgs.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"
#include "support/per_sample_model.hpp"

using namespace shardflow;
using testing_util::PerSampleModel;

namespace {

double uniform(idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(3), static_cast<std::uint64_t>(g * 64 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

std::vector<double> contributions(idx_t rows, idx_t width) {
  std::vector<double> v(static_cast<size_t>(rows * width));
  for (idx_t i = 0; i < rows * width; ++i)
    v[static_cast<size_t>(i)] = uniform(i, 0) * 2 - 1;
  return v;
}

void BM_ReproducibleSum(benchmark::State& state) {
  const mpi::Comm comm;
  const idx_t rows = state.range(0), width = state.range(1);
  const auto v = contributions(rows, width);
  for (auto _ : state)
    benchmark::DoNotOptimize(ml::reproducible_sum(comm, v, width, "bench"));
  state.SetItemsProcessed(state.iterations() * rows * width);
}

void BM_PlainAllreduceSum(benchmark::State& state) {
  const mpi::Comm comm;
  const idx_t rows = state.range(0), width = state.range(1);
  const auto v = contributions(rows, width);
  for (auto _ : state) {
    std::vector<double> sums(static_cast<size_t>(width), 0.0);
    for (size_t i = 0; i < v.size(); ++i)
      sums[i % static_cast<size_t>(width)] += v[i];
    mpi::allreduce_inplace(comm, std::span<double>(sums), mpi::Reduce::kSum);
    benchmark::DoNotOptimize(sums);
  }
  state.SetItemsProcessed(state.iterations() * rows * width);
}

// This rank's rows of a (n, d) logistic problem: uniform features in [-1, 1), a 0/1 label.
ml::Dataset logistic_rows(const mpi::Comm& comm, idx_t n, int d) {
  const idx_t begin = n * comm.rank() / comm.size(), end = n * (comm.rank() + 1) / comm.size();
  ml::Dataset data;
  data.features.resize(end - begin, d);
  data.labels.resize(end - begin);
  advise_huge_pages(data.features.data(),  // as make_dataset does
                    static_cast<size_t>(data.features.size()) * sizeof(double));
  for (idx_t g = begin; g < end; ++g) {
    double z = 0;
    for (int j = 0; j < d; ++j) {
      data.features(g - begin, j) = uniform(g, j + 1) * 2 - 1;
      z += data.features(g - begin, j) * (j % 2 == 0 ? 1 : -1);
    }
    data.labels(g - begin) = z > 0 ? 1 : 0;
  }
  data.global_offset = begin;
  data.global_rows = n;
  return data;
}

// (rows, features, batch, classes, path, simd): classes 1 is logistic regression, more is softmax
// on labels 0 .. classes-1 (the logistic rows' label plus a feature's bucket); path 0 stores the
// per-sample gradients (PerSampleModel), 1 sums them from the model's factors (what a job runs);
// simd 1 lets FixedPointSums add with AVX2 (the default where the CPU has it), 0 keeps it scalar.
void BM_TrainEpoch(benchmark::State& state) {
  const mpi::Comm comm;
  const bool previous_simd = simd::set_avx2(state.range(5) != 0);
  const idx_t n = state.range(0);
  const int d = static_cast<int>(state.range(1));
  const int classes = static_cast<int>(state.range(3));
  ml::Dataset data = logistic_rows(comm, n, d);
  std::vector<double> class_values;
  if (classes > 1) {
    for (int c = 0; c < classes; ++c)
      class_values.push_back(c);
    for (Eigen::Index i = 0; i < data.labels.size(); ++i) {
      const double bucket = std::floor((data.features(i, 1) + 1) * 0.5 * (classes - 1));
      data.labels(i) = std::min<double>(classes - 1, data.labels(i) + bucket);
    }
  }
  const ml::LinearModel model =
      classes > 1 ? ml::LinearModel(ml::LinearKind::kSoftmax, d, 0.0, class_values)
                  : ml::LinearModel(ml::LinearKind::kLogistic, d, 0.0);
  const PerSampleModel per_sample(model);
  const ml::Model& trained =
      state.range(4) == 0 ? static_cast<const ml::Model&>(per_sample) : model;
  ml::SgdOptions options;
  options.epochs = 1;
  options.batch_size = state.range(2);
  for (auto _ : state)
    benchmark::DoNotOptimize(ml::train_sgd(comm, data, trained, options, std::nullopt, {}).weights);
  state.SetItemsProcessed(state.iterations() * n);
  simd::set_avx2(previous_simd);
}

void BM_FullBatchObjective(benchmark::State& state) {
  const mpi::Comm comm;
  const int d = static_cast<int>(state.range(1));
  ml::Dataset data = logistic_rows(comm, state.range(0), d);
  if (state.range(3) == 1) {
    data.features32 = data.features.cast<float>();
    data.features.resize(data.features32.rows(), 0);
  }
  const ml::LinearModel logistic(ml::LinearKind::kLogistic, d, 1e-4);
  const PerSampleModel per_sample(logistic);
  const ml::Model& model =
      state.range(2) == 0 ? static_cast<const ml::Model&>(per_sample) : logistic;
  Eigen::VectorXd w(logistic.num_parameters());
  for (Eigen::Index j = 0; j < w.size(); ++j)
    w(j) = (j % 2 == 0 ? 0.1 : -0.1);
  Eigen::VectorXd g;
  for (auto _ : state)
    benchmark::DoNotOptimize(ml::full_batch_objective(comm, data, model, {}, w, &g));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// This rank's rows of a (n, d) table of float64 columns f0.. and a 0/1 label.
table::Table setup_table(const mpi::Comm& comm, idx_t n, int d) {
  const idx_t begin = n * comm.rank() / comm.size(), end = n * (comm.rank() + 1) / comm.size();
  table::Table t;
  for (int j = 0; j < d; ++j) {
    table::Column c(table::DataType::kFloat64);
    for (idx_t g = begin; g < end; ++g)
      c.values<double>().push_back(uniform(g, j) * 100 - 30);
    t.add_column("f" + std::to_string(j), std::move(c));
  }
  table::Column label(table::DataType::kInt64);
  for (idx_t g = begin; g < end; ++g)
    label.values<std::int64_t>().push_back(static_cast<std::int64_t>(g % 2));
  t.add_column("label", std::move(label));
  return t;
}

std::vector<std::string> feature_names(int d) {
  std::vector<std::string> names;
  for (int j = 0; j < d; ++j)
    names.push_back("f" + std::to_string(j));
  return names;
}

void BM_SetupMakeDatasetAndScaler(benchmark::State& state) {
  const mpi::Comm comm;
  const int d = static_cast<int>(state.range(1));
  const table::Table t = setup_table(comm, state.range(0), d);
  for (auto _ : state) {
    ml::Dataset data = ml::make_dataset(comm, t, feature_names(d), "label");
    ml::StandardScaler scaler;
    scaler.fit(comm, data);
    scaler.transform(data);
    benchmark::DoNotOptimize(data.features.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_SetupFeaturePipeline(benchmark::State& state) {
  const mpi::Comm comm;
  const bool previous_simd = simd::set_avx2(state.range(2) != 0);
  const int d = static_cast<int>(state.range(1));
  const table::Table t = setup_table(comm, state.range(0), d);
  for (auto _ : state) {
    ml::FeatureTransform standard;
    standard.kind = ml::TransformKind::kStandardScale;
    ml::FeaturePipeline pipeline(feature_names(d), {}, {standard});
    ml::Dataset data = pipeline.fit(comm, t, "label", {});
    benchmark::DoNotOptimize(data.features.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  simd::set_avx2(previous_simd);
}

// The assembly alone: a fitted pipeline (standard scaler) writes the float64 training matrix of
// the same table again and again, into the memory the previous matrix freed (freed memory kept, as
// in a job), so page faults stay out and the transposing kernel is what is timed.
void BM_AssembleFeatureMatrix(benchmark::State& state) {
  const mpi::Comm comm;
  keep_freed_memory(true);
  const int d = static_cast<int>(state.range(1));
  const table::Table t = setup_table(comm, state.range(0), d);
  ml::FeatureTransform standard;
  standard.kind = ml::TransformKind::kStandardScale;
  ml::FeaturePipeline pipeline(feature_names(d), {}, {standard});
  (void)pipeline.fit(comm, t, "label", {});
  for (auto _ : state) {
    ml::Dataset data = pipeline.assemble(comm, t, "label", {});
    benchmark::DoNotOptimize(data.features.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  keep_freed_memory(false);
}

// Ranks other than 0 run the same collectives but print nothing.
class QuietReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

BENCHMARK(BM_ReproducibleSum)->Args({256, 18})->Args({100000, 18});
BENCHMARK(BM_PlainAllreduceSum)->Args({256, 18})->Args({100000, 18});
// (rows, features, batch): the small case, and the 2e6 x 64 data set's training split
// (1.6e6 rows, batch 4096), where the rows of a batch are scattered over an 820 MB matrix.
// A fixed iteration count: Google Benchmark otherwise picks it per process from its own timings,
// and under mpirun ranks that pick different counts run different numbers of collectives and
// hang (seen at 2 ranks with --benchmark_min_time=2).
BENCHMARK(BM_TrainEpoch)
    ->Args({200000, 16, 256, 1, 1, 1})
    ->Args({1600000, 64, 4096, 1, 0, 1})
    ->Args({1600000, 64, 4096, 1, 1, 0})
    ->Args({1600000, 64, 4096, 1, 1, 1})
    ->Args({1600000, 64, 4096, 5, 0, 1})
    ->Args({1600000, 64, 4096, 5, 1, 0})
    ->Args({1600000, 64, 4096, 5, 1, 1})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

// (rows, features, 0 per-sample default | 1 fused, 0 float64 | 1 float32 matrix): the 2e6 x 64
// training split.
BENCHMARK(BM_FullBatchObjective)
    ->Args({1600000, 64, 0, 0})
    ->Args({1600000, 64, 1, 0})
    ->Args({1600000, 64, 1, 1})
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond);

// The 2e6 x 64 training split (1.6e6 rows); fixed iterations, as above.
BENCHMARK(BM_SetupMakeDatasetAndScaler)
    ->Args({1600000, 64})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SetupFeaturePipeline)
    ->Args({1600000, 64, 0})
    ->Args({1600000, 64, 1})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
// (rows over all ranks, features)
BENCHMARK(BM_AssembleFeatureMatrix)
    ->Args({1600000, 64})
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  benchmark::Initialize(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    QuietReporter quiet;
    benchmark::RunSpecifiedBenchmarks(&quiet);
  }
  benchmark::Shutdown();
  return 0;
}
