#include "shardflow/io/hdf5_handle.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/native.hpp"

namespace shardflow::io {

Hid& Hid::operator=(Hid&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

bool Hid::reset() {
  bool ok = true;
  if (id_ >= 0 && closer_ != nullptr) ok = closer_(id_) >= 0;
  id_ = -1;
  return ok;
}

void silence_hdf5_errors() {
  // HDF5 prints its whole error stack to stderr by default; we report our own sentence instead.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {

struct WalkState {
  std::vector<std::string> lines;
};

herr_t collect_error(unsigned n, const H5E_error2_t* err, void* data) {
  auto* state = static_cast<WalkState*>(data);
  // The innermost few entries say what actually went wrong (e.g. the Fletcher32 failure); the
  // outer ones only repeat "can't read data".
  if (n >= 2) return 0;
  char minor[256] = {0};
  H5Eget_msg(err->min_num, nullptr, minor, sizeof(minor));
  std::string line = err->desc != nullptr ? err->desc : "";
  // The sec2 driver's description embeds ctime() output, which ends in a newline: keep messages
  // on one line.
  std::replace(line.begin(), line.end(), '\n', ' ');
  if (minor[0] != '\0') line = fmt::format("{} ({})", line, minor);
  state->lines.push_back(std::move(line));
  return 0;
}

// Name of the object (or file) behind `id`, for error messages; "" if unknown.
std::string object_path(hid_t id) {
  char buffer[1024] = {0};
  if (H5Iget_name(id, buffer, sizeof(buffer)) <= 0) return "";
  return buffer;
}
std::string file_path(hid_t id) {
  char buffer[4096] = {0};
  if (H5Fget_name(id, buffer, sizeof(buffer)) <= 0) return "?";
  return buffer;
}

[[noreturn]] void throw_attribute_error(hid_t object, std::string_view what,
                                        const std::string& name) {
  throw RuntimeError("HDF5 {} of attribute '{}' on '{}' in {} failed: {}", what, name,
                     object_path(object), file_path(object), hdf5_error_detail());
}

}  // namespace

std::string hdf5_error_detail() {
  WalkState state;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &state);
  H5Eclear2(H5E_DEFAULT);
  if (state.lines.empty()) return "no HDF5 error details";
  std::string out;
  for (size_t i = 0; i < state.lines.size(); ++i) {
    if (i > 0) out += "; ";
    out += state.lines[i];
  }
  return out;
}

Hid checked_hid(hid_t id, Hid::Closer closer, std::string_view what, std::string_view file,
                std::string_view object) {
  if (id < 0) {
    throw RuntimeError("{} failed for '{}' in {}: {}", what, object, file, hdf5_error_detail());
  }
  return Hid(id, closer);
}

void check_h5(herr_t status, std::string_view what, std::string_view file,
              std::string_view object) {
  if (status < 0) {
    throw RuntimeError("{} failed for '{}' in {}: {}", what, object, file, hdf5_error_detail());
  }
}

Hid mpio_file_access(const mpi::Comm& comm) {
  Hid fapl = checked_hid(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate", "-", "file access");
  // HDF5's MPI-IO driver takes the raw communicator (and keeps a duplicate of it).
  check_h5(H5Pset_fapl_mpio(fapl.get(), comm.native(), mpi::null_info()), "H5Pset_fapl_mpio", "-",
           "file access");
  return fapl;
}

Hid serial_file_access() {
  Hid fapl = checked_hid(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate", "-", "file access");
  check_h5(H5Pset_fapl_sec2(fapl.get()), "H5Pset_fapl_sec2", "-", "file access");
  return fapl;
}

Hid collective_transfer() {
  Hid dxpl = checked_hid(H5Pcreate(H5P_DATASET_XFER), H5Pclose, "H5Pcreate", "-", "transfer");
  check_h5(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", "-", "transfer");
  return dxpl;
}

Hid chunked_creation(idx_t chunk_rows, bool fletcher32) {
  Hid dcpl = checked_hid(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "H5Pcreate", "-", "creation");
  const hsize_t chunk = static_cast<hsize_t>(std::max<idx_t>(1, chunk_rows));
  check_h5(H5Pset_chunk(dcpl.get(), 1, &chunk), "H5Pset_chunk", "-", "creation");
  if (fletcher32) check_h5(H5Pset_fletcher32(dcpl.get()), "H5Pset_fletcher32", "-", "creation");
  // Every element is written right after creation, so writing fill values first is wasted I/O.
  check_h5(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", "-", "creation");
  // No access/modification times in the object headers: the same table gives the same bytes
  // (partitioned outputs are compared byte for byte across rank counts).
  check_h5(H5Pset_obj_track_times(dcpl.get(), false), "H5Pset_obj_track_times", "-", "creation");
  return dcpl;
}

Hid intermediate_link_creation() {
  Hid lcpl = checked_hid(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "H5Pcreate", "-", "link");
  check_h5(H5Pset_create_intermediate_group(lcpl.get(), 1), "H5Pset_create_intermediate_group", "-",
           "link");
  return lcpl;
}

void release_failed_file(const std::string& path) noexcept {
  std::error_code ec;
  std::filesystem::resize_file(path, 0, ec);
}

Hid fixed_string_type(idx_t size) {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.valid()) throw RuntimeError("H5Tcopy(H5T_C_S1) failed: {}", hdf5_error_detail());
  check_h5(H5Tset_size(type.get(), static_cast<size_t>(std::max<idx_t>(1, size))), "H5Tset_size",
           "-", "string type");
  check_h5(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "H5Tset_strpad", "-", "string type");
  return type;
}

namespace {

// Replaces an existing attribute: attributes cannot change shape or type in place.
void delete_if_present(hid_t object, const std::string& name) {
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) throw_attribute_error(object, "lookup", name);
  if (exists > 0 && H5Adelete(object, name.c_str()) < 0) {
    throw_attribute_error(object, "deletion", name);
  }
}

void write_attribute(hid_t object, const std::string& name, hid_t type, hid_t space,
                     const void* data) {
  delete_if_present(object, name);
  Hid attr(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) throw_attribute_error(object, "creation", name);
  if (H5Awrite(attr.get(), type, data) < 0) throw_attribute_error(object, "write", name);
  if (!attr.reset()) throw_attribute_error(object, "close", name);
}

Hid open_attribute(hid_t object, const std::string& name) {
  Hid attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) throw_attribute_error(object, "open", name);
  return attr;
}

}  // namespace

void write_string_attribute(hid_t object, const std::string& name, const std::string& value) {
  Hid type = fixed_string_type(static_cast<idx_t>(value.size()));
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  std::string buffer = value;
  buffer.resize(std::max<size_t>(1, value.size()), '\0');
  write_attribute(object, name, type.get(), space.get(), buffer.data());
}

void write_string_array_attribute(hid_t object, const std::string& name,
                                  const std::vector<std::string>& values) {
  size_t width = 1;
  for (const auto& v : values)
    width = std::max(width, v.size());
  std::string buffer(width * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    std::memcpy(buffer.data() + i * width, values[i].data(), values[i].size());
  }
  Hid type = fixed_string_type(static_cast<idx_t>(width));
  const hsize_t n = values.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  write_attribute(object, name, type.get(), space.get(), buffer.data());
}

void write_int64_attribute(hid_t object, const std::string& name, std::int64_t value) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attribute(object, name, H5T_NATIVE_INT64, space.get(), &value);
}

bool has_attribute(hid_t object, const std::string& name) {
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) throw_attribute_error(object, "lookup", name);
  return exists > 0;
}

bool is_string_attribute(hid_t object, const std::string& name) {
  Hid attr = open_attribute(object, name);
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  return type.valid() && H5Tget_class(type.get()) == H5T_STRING;
}

namespace {

// Reads a string attribute of `count` elements (scalar: 1), fixed- or variable-length, so files
// written by h5py (which prefers variable-length strings) are understood too.
std::vector<std::string> read_strings(hid_t object, const std::string& name) {
  Hid attr = open_attribute(object, name);
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) {
    throw RuntimeError(
        "attribute '{}' on '{}' in {} is not a string; the file was not written by "
        "shardflow or is damaged",
        name, object_path(object), file_path(object));
  }
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0) throw_attribute_error(object, "dataspace query", name);
  std::vector<std::string> out(static_cast<size_t>(count));
  if (H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> ptrs(static_cast<size_t>(count), nullptr);
    Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    if (H5Aread(attr.get(), mem.get(), ptrs.data()) < 0) {
      throw_attribute_error(object, "read", name);
    }
    for (size_t i = 0; i < ptrs.size(); ++i)
      out[i] = ptrs[i] != nullptr ? ptrs[i] : "";
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return out;
  }
  const size_t width = H5Tget_size(type.get());
  std::string buffer(width * static_cast<size_t>(count), '\0');
  if (count > 0 && H5Aread(attr.get(), type.get(), buffer.data()) < 0) {
    throw_attribute_error(object, "read", name);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = buffer.data() + i * width;
    out[i] = std::string(p, strnlen(p, width));
  }
  return out;
}

}  // namespace

std::optional<std::string> read_string_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) return std::nullopt;
  auto values = read_strings(object, name);
  if (values.size() != 1) {
    throw RuntimeError("attribute '{}' on '{}' in {} holds {} strings where one was expected", name,
                       object_path(object), file_path(object), values.size());
  }
  return values.front();
}

std::optional<std::vector<std::string>> read_string_array_attribute(hid_t object,
                                                                    const std::string& name) {
  if (!has_attribute(object, name)) return std::nullopt;
  return read_strings(object, name);
}

std::optional<std::int64_t> read_int64_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) return std::nullopt;
  Hid attr = open_attribute(object, name);
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_INTEGER ||
      H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw RuntimeError(
        "attribute '{}' on '{}' in {} is not an integer scalar; the file was not written by "
        "shardflow or is damaged",
        name, object_path(object), file_path(object));
  }
  std::int64_t value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    throw_attribute_error(object, "read", name);
  return value;
}

namespace {
herr_t collect_attribute_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> attribute_names(hid_t object) {
  std::vector<std::string> names;
  hsize_t index = 0;
  if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, collect_attribute_name, &names) < 0) {
    throw RuntimeError("listing the attributes of '{}' in {} failed: {}", object_path(object),
                       file_path(object), hdf5_error_detail());
  }
  return names;
}

bool link_exists(hid_t group, const std::string& name) {
  const htri_t exists = H5Lexists(group, name.c_str(), H5P_DEFAULT);
  if (exists < 0) {
    throw RuntimeError("looking up '{}' under '{}' in {} failed: {}", name, object_path(group),
                       file_path(group), hdf5_error_detail());
  }
  return exists > 0;
}

}  // namespace shardflow::io
