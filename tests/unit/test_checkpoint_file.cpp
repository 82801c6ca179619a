// The local (no MPI) checkpoint file functions used by `shardflow inspect` and by
// CheckpointStore: round trip, validation of keys and attributes, and rejection of files that are
// not checkpoints, with the reason in the message.

#include <gtest/gtest.h>
#include <hdf5.h>

#include "shardflow/ckpt/checkpoint_store.hpp"
#include "shardflow/io/hdf5_handle.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::ckpt;
using shardflow::testing_util::TempDir;

namespace {

#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "expected to find \"" << (part) << "\" in \"" << (text) << "\""

Checkpoint sample() {
  Checkpoint c;
  c.meta.step = 12;
  c.meta.epoch = 2;
  c.meta.sample_cursor = 123456789012;
  c.meta.world_size = 3;
  c.meta.fingerprint = "abc123";
  c.meta.created = "2026-11-21T08:00:00Z";
  c.meta.version = "0.1.0";
  c.meta.attributes = {{"metrics", R"({"auc": 0.9})"}, {"stage", "train"}};
  c.arrays = {{"model/weights", {1.5, -2.25, 1e-300}},
              {"model/deep/nested/w", {3.0}},
              {"features/none", {}}};
  c.uint_arrays = {{"rng/state", {1, 2, 0xffffffffffffffffULL}}};
  return c;
}

}  // namespace

TEST(CheckpointFile, RoundTripWithoutMpi) {
  TempDir dir;
  const auto file = dir.path() / "c.h5";
  write_checkpoint_file(file, sample());
  EXPECT_TRUE(is_checkpoint_file(file));
  EXPECT_EQ(read_checkpoint_file(file), sample());
}

TEST(CheckpointFile, FileNameHasTenDigits) {
  EXPECT_EQ(checkpoint_file_name(42), "ckpt-0000000042.h5");
  EXPECT_EQ(checkpoint_file_name(1234567890), "ckpt-1234567890.h5");
}

TEST(CheckpointFile, RejectsBadKeysAndReservedAttributes) {
  TempDir dir;
  const auto file = dir.path() / "bad.h5";
  for (const std::string key : {"", "/abs", "meta/x", "a//b", "a/../b", "trailing/"}) {
    Checkpoint c;
    c.arrays[key] = {1.0};
    try {
      write_checkpoint_file(file, c);
      FAIL() << "key '" << key << "' was accepted";
    } catch (const RuntimeError& e) {
      EXPECT_CONTAINS(e.what(), "array key '" + key + "' is invalid");
    }
  }
  Checkpoint clash;
  clash.arrays["rng/x"] = {1.0};
  clash.uint_arrays["rng/x"] = {1};
  EXPECT_THROW(write_checkpoint_file(file, clash), RuntimeError);
  Checkpoint reserved;
  reserved.meta.attributes["step"] = "3";
  try {
    write_checkpoint_file(file, reserved);
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_CONTAINS(e.what(), "the meta attribute name 'step' is empty or reserved");
  }
}

TEST(CheckpointFile, NonCheckpointsAreRejectedWithTheReason) {
  TempDir dir;
  const auto text = dir.path() / "text.h5";
  testing_util::write_file(text, "hello");
  EXPECT_FALSE(is_checkpoint_file(text));
  EXPECT_FALSE(is_checkpoint_file(dir.path() / "missing.h5"));
  try {
    read_checkpoint_file(text);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "checkpoint " + text.string() + " cannot be opened as HDF5");
  }

  // An HDF5 file without /meta (e.g. a stage output).
  const auto plain = dir.path() / "plain.h5";
  {
    io::Hid f(H5Fcreate(plain.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    io::Hid g(H5Gcreate2(f.get(), "table", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  }
  EXPECT_FALSE(is_checkpoint_file(plain));
  try {
    read_checkpoint_file(plain);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), plain.string() + " is not a shardflow checkpoint: it has no /meta");
  }

  // A future format version.
  const auto future = dir.path() / "future.h5";
  write_checkpoint_file(future, sample());
  {
    io::Hid f(H5Fopen(future.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    io::Hid g(H5Gopen2(f.get(), "meta", H5P_DEFAULT), H5Gclose);
    io::write_int64_attribute(g.get(), "format_version", 3);
  }
  EXPECT_TRUE(is_checkpoint_file(future));
  try {
    read_checkpoint_file(future);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "has format version 3, but this shardflow reads versions 1 to 2");
  }
}

namespace {

// Opens /meta of `file` read-write and hands it to `edit`.
template <typename Edit>
void edit_meta(const std::filesystem::path& file, Edit edit) {
  io::Hid f(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  ASSERT_TRUE(f.valid());
  io::Hid g(H5Gopen2(f.get(), "meta", H5P_DEFAULT), H5Gclose);
  ASSERT_TRUE(g.valid());
  edit(g.get());
}

void expect_damaged(const std::filesystem::path& file, const std::string& what,
                    const std::string& reason) {
  try {
    read_checkpoint_file(file);
    ADD_FAILURE() << what << ": the altered checkpoint was read as valid";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "checkpoint " + file.string() + " is damaged");
    EXPECT_CONTAINS(e.what(), reason);
  }
}

}  // namespace

// HDF5 checksums datasets (Fletcher32), not attributes: every /meta value is covered by
// meta_checksum, so an altered step, epoch, fingerprint or free-form attribute makes the file
// damaged (the store then falls back to an older checkpoint) instead of passing for another
// training position or another configuration.
TEST(CheckpointFile, EveryAlteredMetaAttributeIsDamage) {
  TempDir dir;
  const auto file = dir.path() / "c.h5";
  const char* kChecksum = "do not match their checksum";
  const std::vector<std::pair<std::string, std::int64_t>> ints = {
      {"step", 13}, {"epoch", 1}, {"sample_cursor", 5}, {"world_size", 4}};
  for (const auto& [name, value] : ints) {
    write_checkpoint_file(file, sample());
    edit_meta(file, [&](hid_t g) { io::write_int64_attribute(g, name, value); });
    expect_damaged(file, name, kChecksum);
  }
  for (const std::string name :
       {"fingerprint", "created", "shardflow_version", "metrics", "stage", "meta_checksum"}) {
    write_checkpoint_file(file, sample());
    edit_meta(file, [&](hid_t g) { io::write_string_attribute(g, name, "x"); });
    expect_damaged(file, name, kChecksum);
  }
  // A fixed attribute deleted, or stored with another type.
  for (const std::string name : {"fingerprint", "created", "shardflow_version", "meta_checksum"}) {
    write_checkpoint_file(file, sample());
    edit_meta(file, [&](hid_t g) { H5Adelete(g, name.c_str()); });
    expect_damaged(file, name + " deleted", "lacks the /meta attribute '" + name + "'");
  }
  write_checkpoint_file(file, sample());
  edit_meta(file, [&](hid_t g) {
    H5Adelete(g, "step");
    io::write_string_attribute(g, "step", "12");
  });
  expect_damaged(file, "step as a string", "is not an integer scalar");
  // An attribute added by someone else.
  write_checkpoint_file(file, sample());
  edit_meta(file, [&](hid_t g) { io::write_string_attribute(g, "extra", "1"); });
  expect_damaged(file, "an added attribute", kChecksum);
  write_checkpoint_file(file, sample());
  edit_meta(file, [&](hid_t g) { io::write_int64_attribute(g, "extra", 1); });
  expect_damaged(file, "an added integer attribute", "'extra' is not a string");
}

// Values no training can produce are damage even where no checksum is kept (format 1 files), and
// a ckpt-<step>.h5 file must hold that step.
TEST(CheckpointFile, ImpossibleMetaValuesAreDamage) {
  TempDir dir;
  // A format 1 file: no meta_checksum.
  auto format1 = [&](const std::filesystem::path& file, auto edit) {
    write_checkpoint_file(file, sample());
    edit_meta(file, [&](hid_t g) {
      H5Adelete(g, "meta_checksum");
      io::write_int64_attribute(g, "format_version", 1);
      edit(g);
    });
  };
  const auto file = dir.path() / "c.h5";
  format1(file, [](hid_t) {});
  EXPECT_EQ(read_checkpoint_file(file), sample()) << "format 1 files stay readable";
  format1(file, [](hid_t g) { io::write_int64_attribute(g, "step", -1); });
  expect_damaged(file, "negative step", "step -1 is negative");
  format1(file, [](hid_t g) { io::write_int64_attribute(g, "epoch", 13); });
  expect_damaged(file, "epoch > step", "epoch 13 is outside [0, step 12]");
  format1(file, [](hid_t g) { io::write_int64_attribute(g, "sample_cursor", -3); });
  expect_damaged(file, "negative cursor", "-3 samples seen at epoch 2");
  format1(file, [](hid_t g) { io::write_int64_attribute(g, "world_size", 0); });
  expect_damaged(file, "world size 0", "world size 0 is below 1");

  const auto named = dir.path() / checkpoint_file_name(12);
  write_checkpoint_file(named, sample());
  EXPECT_EQ(read_checkpoint_file(named).meta.step, 12);
  format1(named, [](hid_t g) { io::write_int64_attribute(g, "step", 11); });
  expect_damaged(named, "step vs file name", "its /meta step 11 differs from the step 12");
}

TEST(CheckpointFile, DatasetsAreChunkedWithFletcher32) {
  TempDir dir;
  const auto file = dir.path() / "c.h5";
  write_checkpoint_file(file, sample());
  io::Hid f(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  for (const char* name :
       {"/model/weights", "/model/deep/nested/w", "/features/none", "/rng/state"}) {
    io::Hid d(H5Dopen2(f.get(), name, H5P_DEFAULT), H5Dclose);
    ASSERT_TRUE(d.valid()) << name;
    io::Hid dcpl(H5Dget_create_plist(d.get()), H5Pclose);
    unsigned flags = 0, config = 0;
    size_t n = 0;
    EXPECT_GE(H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_FLETCHER32, &flags, &n, nullptr, 0,
                                   nullptr, &config),
              0)
        << name;
  }
}

TEST(CheckpointStoreLocal, KeepMustBePositive) {
  TempDir dir;
  try {
    CheckpointStore store(dir.path(), 0);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_CONTAINS(e.what(), "checkpoint keep = 0 is invalid");
  }
  CheckpointStore store(dir.path() / "new" / "dir", 1);
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "new" / "dir"));
  EXPECT_TRUE(store.list().empty());
}
