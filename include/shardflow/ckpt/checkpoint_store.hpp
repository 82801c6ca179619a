#pragma once
// Checkpoints of replicated training state (DESIGN.md "Data model and files"). Model, optimizer,
// fitted feature pipeline and RNG state are identical on every rank, so rank 0 alone writes a
// checkpoint (serial HDF5) and reads it back for everyone; nothing in it depends on the rank count,
// so a job can resume at a different size. File `<dir>/ckpt-<step, 10 digits>.h5`:
//
//   /meta        group; attributes format_version (2), step, epoch, sample_cursor, world_size,
//                fingerprint, created (ISO-8601 UTC), shardflow_version, plus free-form strings,
//                and meta_checksum: a digest (32 hex) of all of them, since HDF5 checksums
//                datasets (Fletcher32) but not attributes. Format 1 files (no meta_checksum) are
//                still read.
//   /model/*, /optimizer/*, /features/*, /rng/*   1-D chunked datasets with Fletcher32: float64
//                (Checkpoint::arrays) or uint64 (Checkpoint::uint_arrays)
//
// `<dir>/latest` holds the file name of the newest checkpoint. Every file is written to a temporary
// name, fsynced and renamed, and the directory fsynced (common/atomic_file.hpp), so a crash leaves
// either the old or the new state; leftover temporary files are ignored and removed by the next
// save.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ckpt {

/// Version of the checkpoint layout above (`/meta` attribute `format_version`).
inline constexpr std::int64_t kCheckpointFormatVersion = 2;

struct CheckpointMeta {
  idx_t step = 0;
  idx_t epoch = 0;
  idx_t sample_cursor = 0;  // global number of samples consumed
  int world_size = 1;       // set by save() to the saving job's size
  std::string fingerprint;  // job fingerprint
  std::string created;      // ISO-8601 UTC; set by save() when empty
  std::string version;      // shardflow version; set by save()
  /// Free-form string attributes of /meta (e.g. metrics as JSON). Names must not collide with the
  /// fixed attributes above.
  std::map<std::string, std::string> attributes;
  bool operator==(const CheckpointMeta&) const = default;
};

struct Checkpoint {
  CheckpointMeta meta;
  /// Keys "group/name" ("model/weights", "optimizer/velocity", "features/mean", ...), stored as
  /// float64 datasets /group/name. Deeper keys ("model/layer0/w") create nested groups.
  std::map<std::string, std::vector<double>> arrays;
  /// Same, stored as uint64 ("rng/state", ...).
  std::map<std::string, std::vector<std::uint64_t>> uint_arrays;
  bool operator==(const Checkpoint&) const = default;
};

class CheckpointStore {
 public:
  /// Local: `directory` is created if absent (failures surface at the first save, agreed);
  /// `keep` >= 1 newest checkpoints are retained (ConfigError otherwise).
  CheckpointStore(std::filesystem::path directory, int keep);

  /// Collective: `checkpoint` must be identical on all ranks. Rank 0 writes
  /// temp_path_for(ckpt-<step>.h5) and publishes it (publish_file: fsync, rename, fsync the
  /// directory), replaces the `latest` pointer the same way (write_file_atomically), then deletes
  /// leftover temp files of checkpoints and of `latest` (temp_target) and all checkpoints but the
  /// one just written and the newest `keep`-1 others. Failure on rank 0 (a full disk included) is
  /// agreed: every rank throws the same RuntimeError, and no temp file is left. meta.world_size and
  /// meta.version are filled in; meta.created if empty.
  void save(const mpi::Comm& comm, const Checkpoint& checkpoint);

  /// Called on rank 0 with a checkpoint that read back intact and carries the expected
  /// fingerprint; throws (any shardflow Error, naming the file) if the caller cannot use it.
  using Acceptor = std::function<void(const Checkpoint&, const std::filesystem::path&)>;

  /// Collective: the newest *valid* checkpoint: `latest` first, then every ckpt-*.h5 from the
  /// highest step down. A file that read_checkpoint_file rejects (cannot be opened, lacks /meta,
  /// another format version, damaged or inconsistent /meta, a Fletcher32 failure), that has a
  /// fingerprint different from a non-empty `expected_fingerprint`, or that `accept` (if given)
  /// rejects is skipped with a warning naming the file and the reason. Only an intact file is
  /// compared by fingerprint, so a damaged fingerprint is reported as damage, never as another
  /// configuration. Rank 0 reads; the result is broadcast, so every rank returns the same value.
  /// nullopt if there is none. `accept` must not call MPI.
  std::optional<Checkpoint> load_latest(const mpi::Comm& comm,
                                        const std::string& expected_fingerprint = "",
                                        const Acceptor& accept = {}) const;

  /// Collective: loads `file` (same on all ranks) on rank 0 and broadcasts it; every rank throws
  /// the same InputError with the reason if it is invalid.
  Checkpoint load(const mpi::Comm& comm, const std::filesystem::path& file) const;

  /// Collective: rank 0 deletes the temp files of checkpoints and of `latest` (temp_target) that
  /// a writer killed between creating and renaming them left behind. Only for a caller that holds
  /// the workdir lock (no writer can be alive); a run that resumes at its last step never saves
  /// again, so save()'s own sweep would not reach them.
  void remove_temporaries(const mpi::Comm& comm) const;

  /// Local: the checkpoint files present (ckpt-<10 digits>.h5, no temp files), ascending step.
  std::vector<std::filesystem::path> list() const;

  const std::filesystem::path& directory() const { return directory_; }
  int keep() const { return keep_; }

 private:
  // Local (rank 0): the sweep behind remove_temporaries and save.
  void remove_temporaries_here() const;

  std::filesystem::path directory_;
  int keep_;
};

/// "ckpt-0000000042.h5".
std::string checkpoint_file_name(idx_t step);

/// Local (no MPI): writes `checkpoint` to `file` as is (no temp name/rename/fsync; save() does
/// that).
/// Throws RuntimeError on failure, naming the file and object.
void write_checkpoint_file(const std::filesystem::path& file, const Checkpoint& checkpoint);

/// Local (no MPI): reads and validates a checkpoint file (for `shardflow inspect` and tests).
/// Throws InputError naming the file and the reason: cannot be opened, no /meta, another format
/// version, damaged /meta (a missing or unreadable attribute, attributes that do not match
/// meta_checksum, impossible values such as a negative step or epoch > step, a step that differs
/// from the one in a ckpt-<step>.h5 file name), a damaged dataset (Fletcher32 mismatch) or a
/// dataset of an unexpected type.
Checkpoint read_checkpoint_file(const std::filesystem::path& file);

/// Local: true if `file` is an HDF5 file with a /meta group carrying format_version. Never throws.
bool is_checkpoint_file(const std::filesystem::path& file);

}  // namespace shardflow::ckpt
