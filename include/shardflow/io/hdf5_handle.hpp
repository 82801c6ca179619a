#pragma once
// Thin RAII layer over the HDF5 C API, in the spirit of HighFive: `Hid` closes an identifier with
// the matching H5?close, small builders make the property lists shardflow uses, and every failing
// call becomes a shardflow error that names the file and object instead of HDF5's own stack dump.
//
// Parallel HDF5 rule: with the MPI-IO driver, every call that changes file metadata (create/open/
// close of files, groups, datasets, attributes) is collective and must be made by all ranks with
// the same arguments in the same order. The helpers here are purely local; callers keep that
// discipline.

#include <hdf5.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::io {

/// An owned HDF5 identifier. Move-only; closes with the function given at construction.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Hid() { reset(); }
  Hid(Hid&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  Hid& operator=(Hid&& other) noexcept;
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes now; returns false if the close call failed (e.g. the final flush of a file).
  bool reset();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

/// Turns off HDF5's automatic printing of error stacks for this process (idempotent). Every entry
/// point of the io/ckpt modules calls it; failures are reported through exceptions instead.
void silence_hdf5_errors();

/// The innermost messages of the current HDF5 error stack ("major/minor: description"), or
/// "no HDF5 error details" when the stack is empty. Clears the stack.
std::string hdf5_error_detail();

/// Throws RuntimeError "<what> failed for '<object>' in <file>: <detail>" if `id` < 0; otherwise
/// wraps it.
Hid checked_hid(hid_t id, Hid::Closer closer, std::string_view what, std::string_view file,
                std::string_view object);
/// Throws RuntimeError like checked_hid if `status` < 0.
void check_h5(herr_t status, std::string_view what, std::string_view file, std::string_view object);

// ---- property lists --------------------------------------------------------------------------
/// File access through MPI-IO on `comm` (collective open/create).
Hid mpio_file_access(const mpi::Comm& comm);
/// File access through the serial POSIX (sec2) driver.
Hid serial_file_access();
/// Data transfer with collective MPI-IO.
Hid collective_transfer();
/// Dataset creation: chunked with `chunk_rows` (>= 1) rows, Fletcher32 if asked, no fill writes.
Hid chunked_creation(idx_t chunk_rows, bool fletcher32);
/// Link creation that creates missing intermediate groups.
Hid intermediate_link_creation();

// ---- attributes (scalar or 1-D; strings are fixed-length, null-padded ASCII) -----------------
void write_string_attribute(hid_t object, const std::string& name, const std::string& value);
void write_string_array_attribute(hid_t object, const std::string& name,
                                  const std::vector<std::string>& values);
void write_int64_attribute(hid_t object, const std::string& name, std::int64_t value);
bool has_attribute(hid_t object, const std::string& name);
/// nullopt if the attribute is absent; throws RuntimeError if it is not a string.
std::optional<std::string> read_string_attribute(hid_t object, const std::string& name);
std::optional<std::vector<std::string>> read_string_array_attribute(hid_t object,
                                                                    const std::string& name);
/// nullopt if absent; throws RuntimeError if it is not an integer scalar.
std::optional<std::int64_t> read_int64_attribute(hid_t object, const std::string& name);
/// Names of all attributes of `object`, in creation/name order.
std::vector<std::string> attribute_names(hid_t object);
/// True if the attribute `name` has a string type.
bool is_string_attribute(hid_t object, const std::string& name);

/// Local: truncates `path`, an HDF5 file still open for writing whose write failed and which will
/// be deleted, to zero bytes. Call it before closing the file: HDF5 flushes metadata on close, and
/// on a full disk that flush fails; in HDF5 1.10 a failed H5Fclose leaves a half-destroyed file
/// that crashes HDF5's shutdown in MPI_Finalize. With the file's space given back, the close
/// usually succeeds (not when the file held almost nothing and the disk stays full). Never throws.
void release_failed_file(const std::string& path) noexcept;

/// True if `name` is a link in `group` (intermediate path components must exist).
bool link_exists(hid_t group, const std::string& name);

/// A fixed-length, null-padded C string type of `size` (>= 1) bytes.
Hid fixed_string_type(idx_t size);

}  // namespace shardflow::io
