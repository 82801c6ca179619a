// CheckpointStore at every rank count: bit-exact round trips, pruning, the `latest` pointer, and
// every way a checkpoint can be unusable (flipped bit, truncation, leftover .tmp, other
// fingerprint, garbage pointer), which must fall back to the previous checkpoint with a warning
// naming the file.

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "shardflow/ckpt/checkpoint_store.hpp"
#include "shardflow/io/hdf5_handle.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/version.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::ckpt;
using shardflow::testing_util::TempDir;
namespace fs = std::filesystem;

namespace {

#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "expected to find \"" << (part) << "\" in \"" << (text) << "\""

Checkpoint make_checkpoint(idx_t step, const std::string& fingerprint = "fp") {
  std::mt19937_64 rng(static_cast<std::uint64_t>(step) * 7919 + 1);
  Checkpoint c;
  c.meta.step = step;
  c.meta.epoch = step / 3;
  c.meta.sample_cursor = step * 1000 + 17;
  c.meta.fingerprint = fingerprint;
  c.meta.attributes["metrics"] = R"({"loss": 0.25, "step": )" + std::to_string(step) + "}";
  c.meta.attributes["note"] = "";
  std::vector<double> weights(1000 + static_cast<size_t>(step));
  std::normal_distribution<double> normal;
  for (auto& w : weights)
    w = normal(rng);
  weights[0] = -0.0;
  weights[1] = std::numeric_limits<double>::infinity();
  weights[2] = std::numeric_limits<double>::denorm_min();
  weights[3] = std::numeric_limits<double>::max();
  c.arrays["model/weights"] = weights;
  c.arrays["model/bias"] = {normal(rng)};
  c.arrays["optimizer/velocity"] = std::vector<double>(weights.size(), 0.5);
  c.arrays["features/scaler/mean"] = {1.0, 2.0, 3.0};
  c.arrays["features/empty"] = {};
  c.uint_arrays["rng/state"] = {rng(), rng(), rng(), std::numeric_limits<std::uint64_t>::max()};
  return c;
}

// Bit-exact comparison (operator== on doubles would accept -0.0 == 0.0).
void expect_bit_exact(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(a.meta, b.meta);
  ASSERT_EQ(a.arrays.size(), b.arrays.size());
  for (const auto& [key, values] : a.arrays) {
    ASSERT_TRUE(b.arrays.count(key)) << key;
    const auto& other = b.arrays.at(key);
    ASSERT_EQ(values.size(), other.size()) << key;
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(std::bit_cast<std::uint64_t>(values[i]), std::bit_cast<std::uint64_t>(other[i]))
          << key << "[" << i << "]";
    }
  }
  EXPECT_EQ(a.uint_arrays, b.uint_arrays);
}

// Captures warnings of the default logger (rank 0 logs warnings in the test main).
class WarningCapture {
 public:
  WarningCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~WarningCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const {
    std::string out;
    for (const auto& line : sink_->last_formatted())
      out += line;
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Flips one bit in the middle of the first chunk of `dataset` in `file` (rank 0 only).
void flip_bit_in_dataset(const fs::path& file, const std::string& dataset) {
  haddr_t address = 0;
  hsize_t size = 0;
  {
    io::Hid h5(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_TRUE(h5.valid());
    io::Hid d(H5Dopen2(h5.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
    ASSERT_TRUE(d.valid());
    io::Hid space(H5Dget_space(d.get()), H5Sclose);
    hsize_t offset[1];
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info(d.get(), space.get(), 0, offset, &mask, &address, &size), 0);
  }
  std::FILE* f = std::fopen(file.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, static_cast<long>(address + size / 2), SEEK_SET);
  const int byte = std::fgetc(f);
  std::fseek(f, static_cast<long>(address + size / 2), SEEK_SET);
  std::fputc(byte ^ 0x04, f);
  std::fclose(f);
}

std::vector<std::string> names(const std::vector<fs::path>& files) {
  std::vector<std::string> out;
  for (const auto& f : files)
    out.push_back(f.filename().string());
  return out;
}

}  // namespace

TEST(CheckpointStore, RoundTripIsBitExact) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path() / "ckpt", 3);
  const Checkpoint original = make_checkpoint(42);
  store.save(comm, original);
  const auto loaded = store.load_latest(comm, "fp");
  ASSERT_TRUE(loaded.has_value());
  Checkpoint expected = original;
  expected.meta.world_size = comm.size();
  expected.meta.version = kVersion;
  expected.meta.created = loaded->meta.created;
  expect_bit_exact(*loaded, expected);
  // ISO-8601 UTC, e.g. 2026-11-21T08:30:00Z.
  ASSERT_EQ(loaded->meta.created.size(), 20u);
  EXPECT_EQ(loaded->meta.created[10], 'T');
  EXPECT_EQ(loaded->meta.created.back(), 'Z');
  expect_bit_exact(store.load(comm, dir.path() / "ckpt" / "ckpt-0000000042.h5"), *loaded);
  EXPECT_TRUE(is_checkpoint_file(dir.path() / "ckpt" / "ckpt-0000000042.h5"));
}

TEST(CheckpointStore, KeepsTheNewestKAndUpdatesLatest) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 2);
  for (idx_t step = 1; step <= 5; ++step) {
    store.save(comm, make_checkpoint(step * 10));
    comm.barrier();
    EXPECT_EQ(testing_util::read_file(dir.path() / "latest"),
              checkpoint_file_name(step * 10) + "\n");
    const auto files = names(store.list());
    // EXPECT, not ASSERT: a rank leaving the loop early would skip the next collective save.
    EXPECT_EQ(files.size(), static_cast<size_t>(std::min<idx_t>(step, 2)));
    if (!files.empty()) {
      EXPECT_EQ(files.back(), checkpoint_file_name(step * 10));
    }
    // Rank 0 must not start writing the next checkpoint while another rank is still listing.
    comm.barrier();
  }
  EXPECT_EQ(names(store.list()),
            (std::vector<std::string>{"ckpt-0000000040.h5", "ckpt-0000000050.h5"}));
  EXPECT_EQ(store.load_latest(comm)->meta.step, 50);
  // Saving an older step (after resuming from it) keeps the file just written.
  store.save(comm, make_checkpoint(7));
  EXPECT_EQ(names(store.list()),
            (std::vector<std::string>{"ckpt-0000000007.h5", "ckpt-0000000050.h5"}));
  EXPECT_EQ(store.load_latest(comm)->meta.step, 7);  // `latest` wins over the higher step
}

TEST(CheckpointStore, CorruptNewestFallsBackToPrevious) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  for (idx_t step : {1, 2, 3})
    store.save(comm, make_checkpoint(step));
  const fs::path newest = dir.path() / checkpoint_file_name(3);
  if (comm.is_root()) flip_bit_in_dataset(newest, "/model/weights");
  comm.barrier();
  WarningCapture warnings;
  const auto loaded = store.load_latest(comm, "fp");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->meta.step, 2);
  EXPECT_EQ(loaded->arrays, make_checkpoint(2).arrays);
  if (comm.is_root()) {
    EXPECT_CONTAINS(
        warnings.text(),
        "skipping an unusable checkpoint, trying an older one: checkpoint " + newest.string());
    EXPECT_CONTAINS(warnings.text(), "/model/weights");
    EXPECT_CONTAINS(warnings.text(), "Fletcher32");
  }
  // Loading the corrupt file directly is an InputError on every rank.
  try {
    store.load(comm, newest);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "checkpoint " + newest.string() +
                                  ": dataset '/model/weights' is "
                                  "damaged and cannot be read");
  }
}

TEST(CheckpointStore, TruncatedAndPartialFilesAreSkipped) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  store.save(comm, make_checkpoint(1));
  store.save(comm, make_checkpoint(2));
  const fs::path second = dir.path() / checkpoint_file_name(2);
  const fs::path tmp = dir.path() / (checkpoint_file_name(3) + ".tmp");
  if (comm.is_root()) {
    fs::resize_file(second, fs::file_size(second) / 2);
    testing_util::write_file(tmp, "half-written garbage");
  }
  comm.barrier();
  WarningCapture warnings;
  EXPECT_EQ(names(store.list()),
            (std::vector<std::string>{"ckpt-0000000001.h5", "ckpt-0000000002.h5"}));
  const auto loaded = store.load_latest(comm);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->meta.step, 1);
  if (comm.is_root()) {
    EXPECT_CONTAINS(warnings.text(),
                    "skipping an unusable checkpoint, trying an older one: checkpoint " +
                        second.string() + " cannot be opened as HDF5");
  }
  // The next save removes the leftover .tmp file.
  store.save(comm, make_checkpoint(4));
  comm.barrier();
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(store.load_latest(comm)->meta.step, 4);
}

// A run killed while replacing `latest` after its last step leaves `latest.tmp.<pid>`; the rerun
// resumes at that step and never saves again, so the sweep must not wait for the next save.
TEST(CheckpointStore, RemoveTemporariesClearsLeftoversOfKilledWriters) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  store.save(comm, make_checkpoint(1));
  const std::vector<fs::path> leftovers = {dir.path() / "latest.tmp.31928",
                                           dir.path() / (checkpoint_file_name(2) + ".tmp.77"),
                                           dir.path() / (checkpoint_file_name(3) + ".tmp")};
  const fs::path unrelated = dir.path() / "notes.txt.tmp.5";
  if (comm.is_root()) {
    for (const auto& f : leftovers)
      testing_util::write_file(f, "half-written");
    testing_util::write_file(unrelated, "not ours");
  }
  comm.barrier();
  store.remove_temporaries(comm);
  comm.barrier();
  for (const auto& f : leftovers)
    EXPECT_FALSE(fs::exists(f)) << f;
  EXPECT_TRUE(fs::exists(unrelated));
  EXPECT_EQ(store.load_latest(comm)->meta.step, 1);
  // A directory that does not exist yet is not an error.
  CheckpointStore absent(dir.path() / "absent", 2);
  EXPECT_NO_THROW(absent.remove_temporaries(comm));
}

TEST(CheckpointStore, OtherFingerprintsAreSkippedWithBothNamed) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  store.save(comm, make_checkpoint(1, "aaaa"));
  store.save(comm, make_checkpoint(2, "bbbb"));
  WarningCapture warnings;
  EXPECT_EQ(store.load_latest(comm, "aaaa")->meta.step, 1);
  if (comm.is_root()) {
    EXPECT_CONTAINS(warnings.text(), "skipping checkpoint " +
                                         (dir.path() / checkpoint_file_name(2)).string() +
                                         ": it was written by a job with fingerprint 'bbbb', but "
                                         "this job's fingerprint is 'aaaa'");
  }
  EXPECT_EQ(store.load_latest(comm)->meta.step, 2);
  EXPECT_FALSE(store.load_latest(comm, "cccc").has_value());
}

// An altered /meta attribute (a step, the fingerprint) makes the newest checkpoint damaged: the
// store falls back to the previous one with a warning naming the file, and never reports an
// altered fingerprint as another configuration.
TEST(CheckpointStore, AlteredMetaFallsBackToPrevious) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  const fs::path newest = dir.path() / checkpoint_file_name(3);
  const std::vector<std::pair<std::string, std::function<void(hid_t)>>> edits = {
      {"step", [](hid_t g) { io::write_int64_attribute(g, "step", 2); }},
      {"epoch", [](hid_t g) { io::write_int64_attribute(g, "epoch", 0); }},
      {"fingerprint", [](hid_t g) { io::write_string_attribute(g, "fingerprint", "fq"); }},
      {"metrics", [](hid_t g) { io::write_string_attribute(g, "metrics", "{}"); }},
      {"deleted fingerprint", [](hid_t g) { H5Adelete(g, "fingerprint"); }},
  };
  for (const auto& [what, edit] : edits) {
    SCOPED_TRACE(what);
    for (idx_t step : {1, 2, 3})
      store.save(comm, make_checkpoint(step));
    if (comm.is_root()) {
      io::Hid f(H5Fopen(newest.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
      io::Hid g(H5Gopen2(f.get(), "meta", H5P_DEFAULT), H5Gclose);
      edit(g.get());
    }
    comm.barrier();
    WarningCapture warnings;
    const auto loaded = store.load_latest(comm, "fp");
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->meta.step, 2);
    EXPECT_EQ(loaded->arrays, make_checkpoint(2).arrays);
    if (comm.is_root()) {
      EXPECT_CONTAINS(warnings.text(),
                      "skipping an unusable checkpoint, trying an older one: checkpoint " +
                          newest.string() + " is damaged");
      EXPECT_EQ(warnings.text().find("configuration or inputs changed"), std::string::npos)
          << warnings.text();
    }
    try {
      store.load(comm, newest);
      ADD_FAILURE() << "expected InputError";
    } catch (const InputError& e) {
      EXPECT_CONTAINS(e.what(), "checkpoint " + newest.string() + " is damaged");
    }
  }
}

// The caller's own check (does the position fit the training data?) rejects a checkpoint the
// same way: skipped with the caller's reason, the previous one is used.
TEST(CheckpointStore, RejectedByTheCallerFallsBackToPrevious) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  for (idx_t step : {4, 5, 6})
    store.save(comm, make_checkpoint(step));
  WarningCapture warnings;
  std::vector<idx_t> asked;
  const auto loaded = store.load_latest(comm, "fp", [&](const Checkpoint& c, const fs::path& file) {
    asked.push_back(c.meta.step);
    if (c.meta.step > 4) throw InputError("checkpoint {} does not fit", file.string());
  });
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->meta.step, 4);
  if (comm.is_root()) {
    EXPECT_EQ(asked, (std::vector<idx_t>{6, 5, 4}));
    EXPECT_CONTAINS(warnings.text(),
                    "skipping an unusable checkpoint, trying an older one: "
                    "checkpoint " +
                        (dir.path() / checkpoint_file_name(6)).string() + " does not fit");
  } else {
    EXPECT_TRUE(asked.empty()) << "only rank 0 reads and checks";
  }
}

TEST(CheckpointStore, EmptyOrMissingDirectoryHasNone) {
  mpi::Comm comm;
  TempDir dir(comm);
  EXPECT_FALSE(CheckpointStore(dir.path(), 1).load_latest(comm).has_value());
  EXPECT_TRUE(CheckpointStore(dir.path(), 1).list().empty());
  if (comm.is_root()) testing_util::write_file(dir.path() / "latest", "garbage\n");
  comm.barrier();
  EXPECT_FALSE(CheckpointStore(dir.path(), 1).load_latest(comm).has_value());
}

TEST(CheckpointStore, GarbageLatestPointerFallsBackToScanning) {
  mpi::Comm comm;
  TempDir dir(comm);
  CheckpointStore store(dir.path(), 5);
  store.save(comm, make_checkpoint(5));
  store.save(comm, make_checkpoint(6));
  if (comm.is_root()) testing_util::write_file(dir.path() / "latest", "ckpt-0000000099.h5\n");
  comm.barrier();
  EXPECT_EQ(store.load_latest(comm)->meta.step, 6);
}

TEST(CheckpointStore, SavedAtTwoRanksLoadsAtAnySize) {
  mpi::Comm comm;
  TempDir dir(comm);
  const int color = comm.rank() < 2 ? 0 : 1;
  MPI_Comm split = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split(comm.native(), color, comm.rank(), &split), MPI_SUCCESS);
  {
    mpi::Comm sub(split);
    if (color == 0) CheckpointStore(dir.path(), 2).save(sub, make_checkpoint(11));
  }
  MPI_Comm_free(&split);
  comm.barrier();
  const auto loaded = CheckpointStore(dir.path(), 2).load_latest(comm);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->meta.world_size, std::min(comm.size(), 2));
  EXPECT_EQ(loaded->arrays, make_checkpoint(11).arrays);
  EXPECT_EQ(loaded->uint_arrays, make_checkpoint(11).uint_arrays);
}

TEST(CheckpointStore, SaveFailureIsAgreed) {
  mpi::Comm comm;
  TempDir dir(comm);
  if (comm.is_root()) testing_util::write_file(dir.path() / "not-a-dir", "x");
  comm.barrier();
  CheckpointStore store(dir.path() / "not-a-dir", 1);
  try {
    store.save(comm, make_checkpoint(1));
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_CONTAINS(
        e.what(), "cannot create the checkpoint directory " + (dir.path() / "not-a-dir").string());
  }
  CheckpointStore good(dir.path() / "ok", 1);
  Checkpoint bad = make_checkpoint(1);
  bad.arrays["meta/x"] = {1.0};
  EXPECT_THROW(good.save(comm, bad), RuntimeError);
}
