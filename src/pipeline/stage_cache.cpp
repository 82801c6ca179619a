#include "shardflow/pipeline/stage_cache.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/mpi/bcast.hpp"

namespace shardflow::pipeline {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSuffix = ".h5";
constexpr std::string_view kTempMarker = ".h5.tmp";

// "<table>-<32 hex>.h5" -> (table, fingerprint); false for anything else.
bool parse_name(const std::string& file, std::string& table, std::string& fingerprint) {
  if (!file.ends_with(kSuffix) || file.size() < kSuffix.size() + 34) return false;
  const std::string stem = file.substr(0, file.size() - kSuffix.size());
  const auto dash = stem.size() - 33;
  if (stem[dash] != '-') return false;
  fingerprint = stem.substr(dash + 1);
  if (!std::all_of(fingerprint.begin(), fingerprint.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return false;
  table = stem.substr(0, dash);
  return !table.empty();
}

}  // namespace

StageCache::StageCache(fs::path directory) : directory_(std::move(directory)) {}

fs::path StageCache::path_for(const std::string& table, const std::string& fingerprint) const {
  return directory_ / fmt::format("{}-{}{}", table, fingerprint, kSuffix);
}

std::optional<idx_t> StageCache::probe(const mpi::Comm& comm, const std::string& table,
                                       const std::string& fingerprint) const {
  idx_t rows = -1;
  if (comm.is_root()) {
    const fs::path path = path_for(table, fingerprint);
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
      try {
        for (const auto& info : io::list_tables(path.string())) {
          if (info.name == table && info.complete && info.fingerprint == fingerprint)
            rows = info.num_rows;
        }
      } catch (const Error& e) {
        spdlog::warn("stage file {} is unreadable ({}); the step will be recomputed", path.string(),
                     e.what());
      }
    }
  }
  rows = mpi::bcast_value(comm, rows, 0);
  if (rows < 0) return std::nullopt;
  return rows;
}

std::optional<table::Table> StageCache::load(const mpi::Comm& comm, const std::string& table,
                                             const std::string& fingerprint) const {
  const fs::path path = path_for(table, fingerprint);
  try {
    // read_table agrees its outcome: every rank returns or every rank throws the same error.
    return io::read_table(comm, path.string(), table);
  } catch (const Error& e) {
    if (comm.is_root()) {
      spdlog::warn("stage file {} cannot be used ({}); removing it and recomputing the step",
                   path.string(), e.what());
      std::error_code ec;
      fs::remove(path, ec);
    }
    comm.barrier();
    return std::nullopt;
  }
}

void StageCache::commit(const mpi::Comm& comm, const std::string& table,
                        const std::string& fingerprint, const table::Table& data,
                        idx_t chunk_rows) const {
  const fs::path path = path_for(table, fingerprint);
  const fs::path tmp = path.string() + ".tmp";
  comm.agree([&] {
    if (!comm.is_root()) return;
    fs::create_directories(directory_);
    fs::remove(tmp);  // a leftover of a killed run
  });
  maybe_inject_fault("stage_write:" + table, comm.rank());
  Stopwatch timer;
  io::Hdf5WriteOptions options;
  options.chunk_rows = chunk_rows;
  options.fingerprint = fingerprint;
  try {
    io::write_table(comm, tmp.string(), table, data, options);
  } catch (const Error&) {
    comm.agree([&] {
      if (comm.is_root()) fs::remove(tmp);
    });
    throw;
  }
  maybe_inject_fault("stage_publish:" + table, comm.rank());
  const double write_seconds = timer.seconds();
  comm.agree([&] {
    if (!comm.is_root()) return;
    try {
      publish_file(tmp, path);
    } catch (...) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw;
    }
  });
  spdlog::debug("stage {}: written in {:.3f} s, published (fsync, rename) in {:.3f} s",
                path.filename().string(), write_seconds, timer.seconds() - write_seconds);
  maybe_inject_fault("stage_committed:" + table, comm.rank());
}

void StageCache::remove_temporaries(const mpi::Comm& comm) const {
  comm.agree([&] {
    if (!comm.is_root() || !fs::is_directory(directory_)) return;
    for (const auto& entry : fs::directory_iterator(directory_)) {
      if (entry.path().filename().string().find(kTempMarker) != std::string::npos)
        fs::remove(entry.path());
    }
  });
}

int StageCache::prune(const mpi::Comm& comm,
                      const std::vector<std::pair<std::string, std::string>>& current,
                      int keep) const {
  int removed = 0;
  comm.agree([&] {
    if (!comm.is_root() || !fs::is_directory(directory_)) return;
    std::map<std::string, std::vector<std::pair<fs::file_time_type, fs::path>>> by_table;
    for (const auto& entry : fs::directory_iterator(directory_)) {
      std::string table, fingerprint;
      if (!parse_name(entry.path().filename().string(), table, fingerprint)) continue;
      auto it = std::find_if(current.begin(), current.end(),
                             [&](const auto& c) { return c.first == table; });
      if (it == current.end() || it->second == fingerprint) continue;
      by_table[table].emplace_back(entry.last_write_time(), entry.path());
    }
    for (auto& [table, files] : by_table) {
      std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a > b; });
      for (size_t i = static_cast<size_t>(std::max(0, keep - 1)); i < files.size(); ++i) {
        fs::remove(files[i].second);
        ++removed;
      }
    }
  });
  return mpi::bcast_value(comm, removed, 0);
}

std::vector<StageEntry> StageCache::list() const {
  std::vector<StageEntry> entries;
  std::error_code ec;
  if (!fs::is_directory(directory_, ec)) return entries;
  for (const auto& entry : fs::directory_iterator(directory_)) {
    StageEntry e;
    if (!parse_name(entry.path().filename().string(), e.table, e.fingerprint)) continue;
    e.path = entry.path();
    e.bytes = entry.file_size(ec);
    e.modified = entry.last_write_time(ec);
    try {
      for (const auto& info : io::list_tables(e.path.string())) {
        if (info.name == e.table && info.complete) e.rows = info.num_rows;
      }
    } catch (const Error&) {
      e.rows = -1;
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.table != b.table ? a.table < b.table : a.modified > b.modified;
  });
  return entries;
}

}  // namespace shardflow::pipeline
