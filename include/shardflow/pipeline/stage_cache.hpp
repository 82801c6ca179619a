#pragma once
// The stage cache: every step's output tables, committed as
// <workdir>/stages/<table>-<fingerprint>.h5 (an HDF5 table file, io/hdf5_table.hpp, whose group
// <table> carries the fingerprint and the `complete` flag). The fingerprint covers the step's
// canonical spec, its inputs' fingerprints and the format version, so a file under a given name
// holds exactly the table that name promises. Files are written under a temporary name, fsynced,
// renamed and the directory fsynced: a file under its final name is whole. One that is damaged
// anyway (a flipped bit: Fletcher32) is never used; it is removed and the step recomputed.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::pipeline {

/// Version of the stage file naming, fingerprint scheme and table layout; part of every step
/// fingerprint, so stage files of another version are never reused. 2: compact strings (table
/// format_version 2).
inline constexpr int kStageFormatVersion = 2;

/// One file of the cache, as `shardflow cache list` shows it.
struct StageEntry {
  std::string table;
  std::string fingerprint;
  std::filesystem::path path;
  idx_t rows = -1;  // -1 when the file cannot be read
  std::uintmax_t bytes = 0;
  std::filesystem::file_time_type modified;
};

class StageCache {
 public:
  explicit StageCache(std::filesystem::path directory);

  const std::filesystem::path& directory() const { return directory_; }
  std::filesystem::path path_for(const std::string& table, const std::string& fingerprint) const;

  /// Collective: the global row count of the committed stage file of (table, fingerprint) when it
  /// exists, is marked complete and carries that fingerprint (rank 0 reads its metadata); nullopt
  /// otherwise. Does not read the rows.
  std::optional<idx_t> probe(const mpi::Comm& comm, const std::string& table,
                             const std::string& fingerprint) const;

  /// Collective: reads the committed table; nullopt (after a warning naming the file and the
  /// reason, and removing the file) when it is missing or damaged.
  std::optional<table::Table> load(const mpi::Comm& comm, const std::string& table,
                                   const std::string& fingerprint) const;

  /// Collective: commits `data` as (table, fingerprint): collective write to a temporary name,
  /// fsync, rename, directory fsync. Every failure is agreed and leaves no file under the final
  /// name.
  void commit(const mpi::Comm& comm, const std::string& table, const std::string& fingerprint,
              const table::Table& data, idx_t chunk_rows) const;

  /// Collective: removes leftover temporary files (of runs killed mid-commit).
  void remove_temporaries(const mpi::Comm& comm) const;

  /// Collective: keeps, for each table in `current` (table -> fingerprint), its current file and
  /// the `keep - 1` newest others; removes the rest. Returns the number of files removed.
  int prune(const mpi::Comm& comm, const std::vector<std::pair<std::string, std::string>>& current,
            int keep) const;

  /// Local: every committed file, by table then newest first. Reads each file's metadata.
  std::vector<StageEntry> list() const;

 private:
  std::filesystem::path directory_;
};

}  // namespace shardflow::pipeline
