// The atomic-file service (common/atomic_file.hpp): content, replacement, the temp-name rule, no
// temp file left behind on success or failure, and the failure paths with their messages: a
// missing directory, a missing source, and a full disk (a tiny tmpfs mounted inside the test).

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using shardflow::testing_util::read_file;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;
namespace fs = std::filesystem;

namespace {

#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "expected to find \"" << (part) << "\" in \"" << (text) << "\""

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.insert(e.path().filename().string());
  return out;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng());
  return out;
}

// Runs `f`, which must throw RuntimeError; returns its message.
template <typename F>
std::string runtime_error_of(F&& f) {
  try {
    f();
  } catch (const RuntimeError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a RuntimeError";
  return "";
}

/// A tmpfs of `size` mounted at `dir` for the life of the object. The test process first moves
/// into a private mount namespace where it can, so the mount is never visible to anyone else and
/// disappears with the process even if the test crashes.
class TinyTmpfs {
 public:
  TinyTmpfs(const fs::path& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    if (::unshare(CLONE_NEWNS) == 0) {
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    }
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~TinyTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TinyTmpfs(const TinyTmpfs&) = delete;
  TinyTmpfs& operator=(const TinyTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace

// ---- names -------------------------------------------------------------------------------------

TEST(AtomicFile, TempPathIsNextToTheFileWithThePid) {
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(temp_path_for("runs/x/out.h5"), fs::path("runs/x/out.h5.tmp." + pid));
  EXPECT_EQ(temp_path_for("latest"), fs::path("latest.tmp." + pid));
  EXPECT_EQ(temp_target(temp_path_for("runs/x/out.h5")), fs::path("runs/x/out.h5"));
}

TEST(AtomicFile, TempTargetRecognisesBothPatterns) {
  EXPECT_EQ(temp_target("d/ckpt-0000000003.h5.tmp.123"), fs::path("d/ckpt-0000000003.h5"));
  EXPECT_EQ(temp_target("d/out.csv.tmp"), fs::path("d/out.csv"));
  EXPECT_EQ(temp_target("latest.tmp.9"), fs::path("latest"));
  for (const char* not_temp : {"d/out.csv", "d/.tmp", "d/.tmp.12", "d/x.tmp.", "d/x.tmp.12a",
                               "d/x.tmpfoo", "d/x.tmp.1.h5"}) {
    EXPECT_FALSE(temp_target(not_temp).has_value()) << not_temp;
  }
}

// ---- write_file_atomically ---------------------------------------------------------------------

TEST(AtomicFile, WritesExactBytesAndLeavesNoTemp) {
  TempDir dir;
  const auto file = dir.path() / "a.bin";
  const std::string bytes = std::string("with\0nul\nand newline", 20) + random_bytes(100000, 1);
  write_file_atomically(file, bytes);
  EXPECT_EQ(read_file(file), bytes);
  EXPECT_EQ(entries(dir.path()), (std::set<std::string>{"a.bin"}));
}

TEST(AtomicFile, WritesAnEmptyFile) {
  TempDir dir;
  write_file_atomically(dir.path() / "empty", "");
  EXPECT_TRUE(fs::exists(dir.path() / "empty"));
  EXPECT_EQ(fs::file_size(dir.path() / "empty"), 0u);
}

TEST(AtomicFile, ReplacesAnExistingFile) {
  TempDir dir;
  const auto file = dir.path() / "latest";
  write_file(file, "a much longer old content that must disappear entirely\n");
  write_file_atomically(file, "new\n");
  EXPECT_EQ(read_file(file), "new\n");
  // A leftover temp file of a killed writer with this pid does not get in the way either.
  write_file(temp_path_for(file), "stale");
  write_file_atomically(file, "newer\n");
  EXPECT_EQ(read_file(file), "newer\n");
  EXPECT_EQ(entries(dir.path()), (std::set<std::string>{"latest"}));
}

TEST(AtomicFile, MissingDirectoryIsAnErrorNamingTheFile) {
  TempDir dir;
  const auto file = dir.path() / "missing" / "out.txt";
  const std::string message = runtime_error_of([&] { write_file_atomically(file, "x"); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "no such file or directory");
  EXPECT_CONTAINS(message, "check that the directory '" + (dir.path() / "missing").string());
  EXPECT_TRUE(entries(dir.path()).empty());
}

// ---- publish_file ------------------------------------------------------------------------------

TEST(AtomicFile, PublishRenamesTheTempFileOverTheFinalOne) {
  TempDir dir;
  const auto file = dir.path() / "out.h5";
  write_file(file, "old");
  const auto tmp = temp_path_for(file);
  write_file(tmp, "complete new file");
  publish_file(tmp, file);
  EXPECT_EQ(read_file(file), "complete new file");
  EXPECT_EQ(entries(dir.path()), (std::set<std::string>{"out.h5"}));
}

TEST(AtomicFile, PublishOfAMissingTempFileLeavesTheFinalFile) {
  TempDir dir;
  const auto file = dir.path() / "out.h5";
  write_file(file, "old");
  const std::string message = runtime_error_of([&] { publish_file(temp_path_for(file), file); });
  EXPECT_CONTAINS(message, "cannot publish '" + file.string() + "'");
  EXPECT_CONTAINS(message, "no such file or directory");
  EXPECT_EQ(read_file(file), "old");
}

TEST(AtomicFile, FsyncFileAndDirectory) {
  TempDir dir;
  write_file(dir.path() / "f", "x");
  EXPECT_NO_THROW(fsync_file(dir.path() / "f"));
  EXPECT_NO_THROW(fsync_directory(dir.path()));
  EXPECT_CONTAINS(runtime_error_of([&] { fsync_directory(dir.path() / "nope"); }),
                  (dir.path() / "nope").string());
  EXPECT_CONTAINS(runtime_error_of([&] { fsync_file(dir.path() / "nope"); }),
                  "no such file or directory");
}

// ---- copy_file_atomically ----------------------------------------------------------------------

TEST(AtomicFile, CopyIsByteIdenticalAndReplaces) {
  TempDir dir;
  const auto from = dir.path() / "stage.h5";
  const auto to = dir.path() / "out" / "table.h5";
  fs::create_directories(to.parent_path());
  const std::string bytes = random_bytes((size_t{3} << 20) + 17, 2);
  write_file(from, bytes);
  write_file(to, "old output");
  copy_file_atomically(from, to);
  EXPECT_EQ(read_file(to), bytes);
  EXPECT_EQ(read_file(from), bytes);
  EXPECT_EQ(entries(to.parent_path()), (std::set<std::string>{"table.h5"}));
  // Empty source.
  write_file(from, "");
  copy_file_atomically(from, to);
  EXPECT_EQ(read_file(to), "");
}

TEST(AtomicFile, CopyOfAMissingSourceNamesItAndLeavesTheTarget) {
  TempDir dir;
  const auto to = dir.path() / "table.h5";
  write_file(to, "old output");
  const std::string message =
      runtime_error_of([&] { copy_file_atomically(dir.path() / "gone.h5", to); });
  EXPECT_CONTAINS(message, (dir.path() / "gone.h5").string());
  EXPECT_CONTAINS(message, "no such file or directory");
  EXPECT_EQ(read_file(to), "old output");
  EXPECT_EQ(entries(dir.path()), (std::set<std::string>{"table.h5"}));
}

TEST(AtomicFile, CopyOfADirectoryIsRefused) {
  TempDir dir;
  EXPECT_CONTAINS(runtime_error_of([&] { copy_file_atomically(dir.path(), dir.path() / "x"); }),
                  "not a regular file");
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{});
}

// ---- a full disk -------------------------------------------------------------------------------

TEST(AtomicFile, FullDiskLeavesTheOldFileAndNoTemp) {
  TempDir dir;
  const auto mount_point = dir.path() / "tiny";
  TinyTmpfs tmpfs(mount_point, "64k");
  if (!tmpfs.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << mount_point << " (" << tmpfs.error()
                 << "); the ENOSPC case needs root with CAP_SYS_ADMIN";
  }
  const auto file = mount_point / "latest";
  write_file_atomically(file, "old content\n");

  const std::string big = random_bytes(size_t{1} << 20, 3);
  std::string message = runtime_error_of([&] { write_file_atomically(file, big); });
  EXPECT_CONTAINS(message, "cannot write '" + file.string() + "'");
  EXPECT_CONTAINS(message, "no space left on device");
  EXPECT_CONTAINS(message, "free space or choose another workdir");
  EXPECT_EQ(read_file(file), "old content\n");
  EXPECT_EQ(entries(mount_point), (std::set<std::string>{"latest"}));

  // The same for a copy from a file system with room into the full one.
  const auto source = dir.path() / "big.h5";
  write_file(source, big);
  message = runtime_error_of([&] { copy_file_atomically(source, file); });
  EXPECT_CONTAINS(message, "cannot copy '" + source.string() + "' to '" + file.string() + "'");
  EXPECT_CONTAINS(message, "no space left on device");
  EXPECT_CONTAINS(message, "free space or choose another workdir");
  EXPECT_EQ(read_file(file), "old content\n");
  EXPECT_EQ(entries(mount_point), (std::set<std::string>{"latest"}));

  // Once there is room again, the same calls succeed.
  write_file_atomically(file, "fits\n");
  EXPECT_EQ(read_file(file), "fits\n");
}
