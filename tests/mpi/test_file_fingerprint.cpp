// content_fingerprint and stat_fingerprint (io/file_fingerprint.hpp). Every content fingerprint is
// compared with a brute-force single-process computation of the documented definition (whole
// files in memory, one-shot XXH3_128bits per block), so it is the same at every rank count this
// test runs at; plus the edge cases (empty files, a file smaller than, equal to or a multiple of a
// block), what must change it, what must not, and the agreed error for a missing file.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shardflow/common/fingerprint.hpp"
#include "shardflow/io/file_fingerprint.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using io::content_fingerprint;
using io::ContentFingerprintOptions;
using io::FingerprintRead;
namespace fs = std::filesystem;

namespace {

#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "expected to find \"" << (part) << "\" in \"" << (text) << "\""

/// The definition in file_fingerprint.hpp, computed the obvious way.
std::string reference(const std::vector<std::string>& contents, idx_t block) {
  Fingerprint f;
  f.add(std::string_view("shardflow content fingerprint v1"))
      .add(block)
      .add(static_cast<std::int64_t>(contents.size()));
  for (const auto& bytes : contents) {
    f.add(static_cast<std::int64_t>(bytes.size()));
    for (size_t offset = 0; offset < bytes.size(); offset += static_cast<size_t>(block)) {
      const size_t n = std::min(static_cast<size_t>(block), bytes.size() - offset);
      const XXH128_hash_t d = XXH3_128bits(bytes.data() + offset, n);
      f.add(static_cast<std::int64_t>(d.low64)).add(static_cast<std::int64_t>(d.high64));
    }
  }
  return f.hex();
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng());
  return out;
}

/// Runs `f`, which must throw InputError; returns the message.
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<wrong exception type> ") + e.what();
  }
  return "<no exception>";
}

class FileFingerprint : public ::testing::Test {
 protected:
  /// Rank 0 writes `contents` as files f0, f1, ... in a shared temp dir; returns their paths.
  std::vector<std::string> write_files(const std::vector<std::string>& contents,
                                       const std::string& prefix = "f") {
    std::vector<std::string> paths;
    for (size_t i = 0; i < contents.size(); ++i) {
      const auto path = dir.path() / (prefix + std::to_string(i) + ".bin");
      if (comm.is_root()) testing_util::write_file(path, contents[i]);
      paths.push_back(path.string());
    }
    comm.barrier();
    return paths;
  }

  /// The fingerprint with both read strategies (which must agree), checked against the reference
  /// and for equality on every rank.
  std::string checked(const std::vector<std::string>& contents, idx_t block,
                      idx_t read_bytes = idx_t{1} << 20) {
    const auto paths = write_files(contents, "c" + std::to_string(counter_++) + "-");
    const std::string expected = reference(contents, block);
    const std::string by_pread = content_fingerprint(
        comm, paths,
        {.block_bytes = block, .read = FingerprintRead::kPread, .read_bytes = read_bytes});
    const std::string by_mmap =
        content_fingerprint(comm, paths, {.block_bytes = block, .read = FingerprintRead::kMmap});
    EXPECT_EQ(by_pread, expected) << "block " << block << ", read_bytes " << read_bytes;
    EXPECT_EQ(by_mmap, expected) << "block " << block;
    EXPECT_EQ(by_pread.size(), 32u);
    std::vector<char> mine(by_pread.begin(), by_pread.end());
    const auto all = mpi::allgatherv<char>(comm, std::span<const char>(mine));
    for (int r = 0; r < comm.size(); ++r) {
      EXPECT_EQ(std::string(all.begin() + r * 32, all.begin() + (r + 1) * 32), by_pread)
          << "rank " << r << " differs";
    }
    return by_pread;
  }

  mpi::Comm comm;
  testing_util::TempDir dir{comm};

 private:
  int counter_ = 0;
};

}  // namespace

// ---- the definition, at this rank count --------------------------------------------------------

TEST_F(FileFingerprint, MatchesTheReferenceOnRandomFiles) {
  const std::vector<std::string> contents = {
      random_bytes(1000, 1), "", random_bytes(1, 2),  random_bytes(17, 3),
      random_bytes(4096, 4), "", random_bytes(333, 5)};
  for (idx_t block : {1, 7, 16, 64, 1000, 4096, 1 << 20}) {
    checked(contents, block);
    checked(contents, block, 3);  // several preads per block
  }
}

TEST_F(FileFingerprint, EmptyFiles) {
  const std::string one_empty = checked({""}, 16);
  EXPECT_NE(one_empty, checked({}, 16));
  EXPECT_NE(one_empty, checked({"", ""}, 16));
}

TEST_F(FileFingerprint, FileSmallerThanOneBlockExactlyOneBlockAndSeveral) {
  const std::string bytes = random_bytes(64, 6);
  checked({bytes.substr(0, 63)}, 64);
  checked({bytes}, 64);
  checked({bytes + bytes + "x"}, 64);
  checked({bytes + bytes}, 64);
}

TEST_F(FileFingerprint, DefaultBlockSizeWithMoreRanksThanBlocks) {
  // 2 full default blocks and a partial one: at 4 ranks one rank hashes nothing.
  const std::string bytes =
      random_bytes(static_cast<size_t>(2 * io::kDefaultFingerprintBlockBytes) + 12345, 7);
  checked({bytes}, io::kDefaultFingerprintBlockBytes);
}

// ---- what changes it and what does not ---------------------------------------------------------

TEST_F(FileFingerprint, OrderAndSplitIntoFilesMatter) {
  const std::string a = random_bytes(100, 8), b = random_bytes(50, 9);
  const std::string ab = checked({a, b}, 16);
  EXPECT_NE(ab, checked({b, a}, 16));
  EXPECT_NE(ab, checked({a + b}, 16));
  EXPECT_NE(ab, checked({a.substr(0, 96), a.substr(96) + b}, 16));
}

TEST_F(FileFingerprint, OneChangedByteChangesIt) {
  const std::string bytes = random_bytes(1000, 10);
  const std::string original = checked({"head", bytes}, 64);
  for (size_t pos : {size_t{0}, size_t{500}, size_t{999}}) {
    std::string changed = bytes;
    changed[pos] = static_cast<char>(changed[pos] ^ 1);
    EXPECT_NE(checked({"head", changed}, 64), original) << "byte " << pos;
  }
  EXPECT_NE(checked({"head", bytes + "!"}, 64), original);
}

TEST_F(FileFingerprint, PathsAndMtimesDoNotMatterTheBlockSizeDoes) {
  const std::vector<std::string> contents = {random_bytes(300, 11), random_bytes(20, 12)};
  const auto first = write_files(contents, "first-");
  const auto second = write_files(contents, "second-");
  EXPECT_EQ(content_fingerprint(comm, first, {.block_bytes = 64}),
            content_fingerprint(comm, second, {.block_bytes = 64}));
  EXPECT_NE(content_fingerprint(comm, first, {.block_bytes = 64}),
            content_fingerprint(comm, first, {.block_bytes = 32}));
  if (comm.is_root()) {
    fs::last_write_time(first[0], fs::last_write_time(first[0]) - std::chrono::hours(1));
  }
  comm.barrier();
  EXPECT_EQ(content_fingerprint(comm, first, {.block_bytes = 64}),
            content_fingerprint(comm, second, {.block_bytes = 64}));
}

// ---- errors ------------------------------------------------------------------------------------

TEST_F(FileFingerprint, MissingFileIsTheSameInputErrorOnEveryRank) {
  const auto paths = write_files({"abc", "def"});
  const std::string missing = (dir.path() / "missing.csv").string();
  const std::string message = input_error([&] {
    content_fingerprint(comm, {paths[0], missing, paths[1]});
  });
  // Every rank failed the same way, so every rank reports it as is, without a rank.
  EXPECT_EQ(message, "cannot read input file '" + missing + "': No such file or directory");
}

TEST_F(FileFingerprint, DirectoryIsAnInputError) {
  EXPECT_EQ(input_error([&] { content_fingerprint(comm, {dir.str()}); }),
            "input path '" + dir.str() + "' is not a regular file");
}

TEST_F(FileFingerprint, NonPositiveBlockSizeIsAConfigError) {
  const auto paths = write_files({"abc"});
  EXPECT_THROW(content_fingerprint(comm, paths, {.block_bytes = 0}), ConfigError);
  EXPECT_THROW(content_fingerprint(comm, paths, {.read_bytes = -1}), ConfigError);
}

// ---- stat_fingerprint --------------------------------------------------------------------------

TEST_F(FileFingerprint, StatFingerprintFollowsPathSizeAndMtime) {
  const auto paths = write_files({"abc", "defg"});
  const std::string original = io::stat_fingerprint(paths);
  EXPECT_EQ(original.size(), 32u);
  EXPECT_EQ(io::stat_fingerprint(paths), original);
  EXPECT_NE(io::stat_fingerprint({paths[1], paths[0]}), original);
  EXPECT_NE(io::stat_fingerprint({paths[0]}), original);
  comm.barrier();
  if (comm.is_root()) {
    fs::last_write_time(paths[0], fs::last_write_time(paths[0]) - std::chrono::seconds(5));
  }
  comm.barrier();
  const std::string touched = io::stat_fingerprint(paths);
  EXPECT_NE(touched, original);
  comm.barrier();
  if (comm.is_root()) {
    const auto mtime = fs::last_write_time(paths[1]);
    testing_util::write_file(paths[1], "defgh");
    fs::last_write_time(paths[1], mtime);  // same mtime, other size
  }
  comm.barrier();
  EXPECT_NE(io::stat_fingerprint(paths), touched);
  try {
    io::stat_fingerprint({(dir.path() / "nope").string()});
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), (dir.path() / "nope").string());
  }
}
