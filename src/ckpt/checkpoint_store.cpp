#include "shardflow/ckpt/checkpoint_store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <set>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/fingerprint.hpp"
#include "shardflow/io/hdf5_handle.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/version.hpp"

namespace shardflow::ckpt {

namespace fs = std::filesystem;
using io::Hid;

namespace {

constexpr const char* kLatest = "latest";
constexpr size_t kDigits = 10;
constexpr idx_t kMaxChunk = 1 << 16;

constexpr const char* kMetaChecksum = "meta_checksum";
// Format 1 had no meta_checksum; such files are still read, with the consistency checks only.
constexpr std::int64_t kFirstChecksummedVersion = 2;

const std::set<std::string>& reserved_attributes() {
  static const std::set<std::string> names{
      "format_version", "step",        "epoch",   "sample_cursor",
      "world_size",     "fingerprint", "created", "shardflow_version",
      kMetaChecksum};
  return names;
}

// Digest of every /meta value a checkpoint carries (HDF5 checksums datasets with Fletcher32, not
// attributes): a step, epoch, fingerprint or free-form attribute altered after writing no longer
// matches it, so the file counts as damaged instead of passing for another position or another
// configuration.
std::string meta_checksum(std::int64_t format_version, const CheckpointMeta& m) {
  Fingerprint f;
  f.add(std::string_view("shardflow-checkpoint-meta"))
      .add(format_version)
      .add(static_cast<std::int64_t>(m.step))
      .add(static_cast<std::int64_t>(m.epoch))
      .add(static_cast<std::int64_t>(m.sample_cursor))
      .add(static_cast<std::int64_t>(m.world_size))
      .add(m.fingerprint)
      .add(m.created)
      .add(m.version)
      .add(static_cast<std::int64_t>(m.attributes.size()));
  for (const auto& [name, value] : m.attributes)
    f.add(name).add(value);
  return f.hex();
}

// The positions a checkpoint records must be possible at all; anything else is damage.
void check_meta_consistent(const CheckpointMeta& m, const fs::path& file) {
  const auto bad = [&](const std::string& what) {
    return InputError("checkpoint {} is damaged: its /meta attributes are inconsistent ({})",
                      file.string(), what);
  };
  if (m.step < 0) throw bad(fmt::format("step {} is negative", m.step));
  if (m.epoch < 0 || m.epoch > m.step) {
    throw bad(fmt::format("epoch {} is outside [0, step {}]", m.epoch, m.step));
  }
  if (m.sample_cursor < 0 || m.sample_cursor < m.epoch) {
    throw bad(fmt::format("{} samples seen at epoch {}", m.sample_cursor, m.epoch));
  }
  if (m.world_size < 1) throw bad(fmt::format("world size {} is below 1", m.world_size));
}

// Step of a "ckpt-<10 digits>.h5" name, or -1.
idx_t step_of(const std::string& name) {
  const std::string prefix = "ckpt-", suffix = ".h5";
  if (name.size() != prefix.size() + kDigits + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return -1;
  }
  idx_t step = 0;
  for (size_t i = prefix.size(); i < prefix.size() + kDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

void validate_key(const std::string& key, const fs::path& file) {
  bool ok = !key.empty() && key.front() != '/' && key.back() != '/' &&
            key.find("//") == std::string::npos && key != "meta" && key.rfind("meta/", 0) != 0;
  for (size_t b = 0; ok && b <= key.size();) {
    const size_t e = std::min(key.find('/', b), key.size());
    const std::string part = key.substr(b, e - b);
    if (part == "." || part == "..") ok = false;
    b = e + 1;
  }
  if (!ok) {
    throw RuntimeError(
        "cannot write checkpoint {}: array key '{}' is invalid; use 'group/name' such as "
        "'model/weights' (not under 'meta', no empty or '.' parts)",
        file.string(), key);
  }
}

template <typename T>
void write_array(hid_t file, const fs::path& path, const std::string& key,
                 const std::vector<T>& values, hid_t type, hid_t lcpl) {
  const std::string object = "/" + key;
  const hsize_t n = values.size();
  const hsize_t max_dims = n == 0 ? H5S_UNLIMITED : n;
  Hid space(H5Screate_simple(1, &n, &max_dims), H5Sclose);
  Hid dcpl = io::chunked_creation(std::clamp<idx_t>(static_cast<idx_t>(n), 1, kMaxChunk), true);
  Hid dataset = io::checked_hid(
      H5Dcreate2(file, key.c_str(), type, space.get(), lcpl, dcpl.get(), H5P_DEFAULT), H5Dclose,
      "creating the dataset", path.string(), object);
  if (n > 0) {
    io::check_h5(H5Dwrite(dataset.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
                 "H5Dwrite", path.string(), object);
  }
  if (!dataset.reset()) {
    throw RuntimeError("closing dataset '{}' in {} failed: {}", object, path.string(),
                       io::hdf5_error_detail());
  }
}

// ---- broadcast encoding (rank 0 reads, everyone receives the same bytes) ----------------------

class Writer {
 public:
  template <typename T>
  void put(T value) {
    out_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    out_ += s;
  }
  template <typename T>
  void put_vector(const std::vector<T>& v) {
    put<std::uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  template <typename T>
  T get() {
    T value;
    need(sizeof(T));
    std::memcpy(&value, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string get_string() {
    const auto n = static_cast<size_t>(get<std::uint64_t>());
    need(n);
    std::string s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  template <typename T>
  std::vector<T> get_vector() {
    const auto n = static_cast<size_t>(get<std::uint64_t>());
    need(n * sizeof(T));
    std::vector<T> v(n);
    if (n > 0) std::memcpy(v.data(), in_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }

 private:
  void need(size_t n) const {
    if (pos_ + n > in_.size()) {
      throw RuntimeError("internal error: truncated checkpoint broadcast; this is a shardflow bug");
    }
  }
  const std::string& in_;
  size_t pos_ = 0;
};

std::string encode(const Checkpoint& c) {
  Writer w;
  w.put<std::int64_t>(c.meta.step);
  w.put<std::int64_t>(c.meta.epoch);
  w.put<std::int64_t>(c.meta.sample_cursor);
  w.put<std::int64_t>(c.meta.world_size);
  w.put_string(c.meta.fingerprint);
  w.put_string(c.meta.created);
  w.put_string(c.meta.version);
  w.put<std::uint64_t>(c.meta.attributes.size());
  for (const auto& [k, v] : c.meta.attributes) {
    w.put_string(k);
    w.put_string(v);
  }
  w.put<std::uint64_t>(c.arrays.size());
  for (const auto& [k, v] : c.arrays) {
    w.put_string(k);
    w.put_vector(v);
  }
  w.put<std::uint64_t>(c.uint_arrays.size());
  for (const auto& [k, v] : c.uint_arrays) {
    w.put_string(k);
    w.put_vector(v);
  }
  return w.take();
}

Checkpoint decode(const std::string& bytes) {
  Reader r(bytes);
  Checkpoint c;
  c.meta.step = r.get<std::int64_t>();
  c.meta.epoch = r.get<std::int64_t>();
  c.meta.sample_cursor = r.get<std::int64_t>();
  c.meta.world_size = static_cast<int>(r.get<std::int64_t>());
  c.meta.fingerprint = r.get_string();
  c.meta.created = r.get_string();
  c.meta.version = r.get_string();
  for (auto n = r.get<std::uint64_t>(); n > 0; --n) {
    auto k = r.get_string();
    c.meta.attributes[k] = r.get_string();
  }
  for (auto n = r.get<std::uint64_t>(); n > 0; --n) {
    auto k = r.get_string();
    c.arrays[k] = r.get_vector<double>();
  }
  for (auto n = r.get<std::uint64_t>(); n > 0; --n) {
    auto k = r.get_string();
    c.uint_arrays[k] = r.get_vector<std::uint64_t>();
  }
  return c;
}

// Collective: broadcasts rank 0's encoded checkpoint.
Checkpoint broadcast(const mpi::Comm& comm, std::string& bytes) {
  mpi::bcast_string(comm, bytes, 0);
  return decode(bytes);
}

}  // namespace

namespace {

// Local: creates or truncates `file` and writes exactly `bytes`, continuing short writes and
// retrying EINTR; the close is checked too (NFS reports delayed write errors there). On failure
// the partial file is removed and RuntimeError names the file, the OS reason and what to do.
void write_whole_file(const fs::path& file, std::string_view bytes) {
  const auto fail = [&](int error) {
    std::error_code ec;
    fs::remove(file, ec);
    // Name the checkpoint, not the temporary file it is written to first.
    throw RuntimeError("writing checkpoint {} failed: {}; check free disk space and permissions",
                       temp_target(file).value_or(file).string(), std::strerror(error));
  };
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail(errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(error);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) fail(errno);
}

}  // namespace

std::string checkpoint_file_name(idx_t step) {
  return fmt::format("ckpt-{:010d}.h5", step);
}

void write_checkpoint_file(const fs::path& file, const Checkpoint& checkpoint) {
  io::silence_hdf5_errors();
  for (const auto& [name, value] : checkpoint.meta.attributes) {
    if (name.empty() || reserved_attributes().count(name) > 0) {
      throw RuntimeError(
          "cannot write checkpoint {}: the meta attribute name '{}' is empty or "
          "reserved; rename it",
          file.string(), name);
    }
  }
  for (const auto& [key, values] : checkpoint.arrays) {
    validate_key(key, file);
    if (checkpoint.uint_arrays.count(key) > 0) {
      throw RuntimeError(
          "cannot write checkpoint {}: '{}' is both a float64 and a uint64 array; rename one",
          file.string(), key);
    }
  }
  for (const auto& [key, values] : checkpoint.uint_arrays)
    validate_key(key, file);

  // Why the file is built in memory: on a full disk HDF5 1.10 can fail to close a file whose
  // first bytes it could not write, and then crashes when the library shuts down (exit 139 when
  // a checkpoint did not fit). With the core driver and no backing store nothing touches the disk
  // until the finished image is written with plain, checked writes, so a full disk is an ordinary
  // write error. Checkpoints hold replicated state (weights, optimizer, scaler): a few MiB.
  const std::string path = file.string();
  Hid fapl =
      io::checked_hid(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "creating file access", path, "/");
  io::check_h5(H5Pset_fapl_core(fapl.get(), std::size_t{1} << 20, /*backing_store=*/0),
               "H5Pset_fapl_core", path, "/");
  Hid h5 = io::checked_hid(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                           H5Fclose, "creating the checkpoint file", path, "/");
  {
    Hid meta = io::checked_hid(H5Gcreate2(h5.get(), "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                               H5Gclose, "creating the group", path, "/meta");
    const auto& m = checkpoint.meta;
    io::write_int64_attribute(meta.get(), "format_version", kCheckpointFormatVersion);
    io::write_int64_attribute(meta.get(), "step", m.step);
    io::write_int64_attribute(meta.get(), "epoch", m.epoch);
    io::write_int64_attribute(meta.get(), "sample_cursor", m.sample_cursor);
    io::write_int64_attribute(meta.get(), "world_size", m.world_size);
    io::write_string_attribute(meta.get(), "fingerprint", m.fingerprint);
    io::write_string_attribute(meta.get(), "created", m.created);
    io::write_string_attribute(meta.get(), "shardflow_version", m.version);
    for (const auto& [name, value] : m.attributes) {
      io::write_string_attribute(meta.get(), name, value);
    }
    io::write_string_attribute(meta.get(), kMetaChecksum,
                               meta_checksum(kCheckpointFormatVersion, m));
  }
  Hid lcpl = io::intermediate_link_creation();
  for (const auto& [key, values] : checkpoint.arrays) {
    write_array(h5.get(), file, key, values, H5T_NATIVE_DOUBLE, lcpl.get());
  }
  for (const auto& [key, values] : checkpoint.uint_arrays) {
    write_array(h5.get(), file, key, values, H5T_NATIVE_UINT64, lcpl.get());
  }
  io::check_h5(H5Fflush(h5.get(), H5F_SCOPE_GLOBAL), "H5Fflush", path, "/");
  const ssize_t image_size = H5Fget_file_image(h5.get(), nullptr, 0);
  if (image_size < 0) {
    throw RuntimeError("building checkpoint {} in memory failed: {}", path,
                       io::hdf5_error_detail());
  }
  std::string image(static_cast<std::size_t>(image_size), '\0');
  if (H5Fget_file_image(h5.get(), image.data(), image.size()) != image_size) {
    throw RuntimeError("building checkpoint {} in memory failed: {}", path,
                       io::hdf5_error_detail());
  }
  h5.reset();
  write_whole_file(file, image);
}

namespace {

herr_t collect_link(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

Checkpoint read_checkpoint_file(const fs::path& file) {
  io::silence_hdf5_errors();
  const std::string path = file.string();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw InputError("checkpoint {} does not exist or is not a regular file", path);
  }
  Hid fapl = io::serial_file_access();
  Hid h5(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!h5.valid()) {
    throw InputError("checkpoint {} cannot be opened as HDF5 (truncated or not a checkpoint): {}",
                     path, io::hdf5_error_detail());
  }
  if (!io::link_exists(h5.get(), "meta")) {
    throw InputError("{} is not a shardflow checkpoint: it has no /meta group", path);
  }
  Checkpoint c;
  try {
    Hid meta = io::checked_hid(H5Gopen2(h5.get(), "meta", H5P_DEFAULT), H5Gclose,
                               "opening the group", path, "/meta");
    const auto version = io::read_int64_attribute(meta.get(), "format_version");
    if (!version) {
      throw InputError("{} is not a shardflow checkpoint: /meta has no format_version", path);
    }
    if (*version < 1 || *version > kCheckpointFormatVersion) {
      throw InputError(
          "checkpoint {} has format version {}, but this shardflow reads versions 1 to {}", path,
          *version, kCheckpointFormatVersion);
    }
    const bool checksummed = *version >= kFirstChecksummedVersion;
    auto need_int = [&](const char* name) {
      const auto v = io::read_int64_attribute(meta.get(), name);
      if (!v) throw InputError("checkpoint {} lacks the /meta attribute '{}'", path, name);
      return *v;
    };
    c.meta.step = need_int("step");
    c.meta.epoch = need_int("epoch");
    c.meta.sample_cursor = need_int("sample_cursor");
    const std::int64_t world_size = need_int("world_size");
    if (world_size < std::numeric_limits<int>::min() ||
        world_size > std::numeric_limits<int>::max()) {
      throw InputError("checkpoint {} is damaged: its /meta world_size {} is out of range", path,
                       world_size);
    }
    c.meta.world_size = static_cast<int>(world_size);
    // Since format 2 every fixed attribute is required: a missing fingerprint is damage, not
    // "another configuration".
    auto string_attr = [&](const char* name) {
      auto v = io::read_string_attribute(meta.get(), name);
      if (!v && checksummed) {
        throw InputError("checkpoint {} is damaged: it lacks the /meta attribute '{}'", path, name);
      }
      return v.value_or("");
    };
    c.meta.fingerprint = string_attr("fingerprint");
    c.meta.created = string_attr("created");
    c.meta.version = string_attr("shardflow_version");
    for (const auto& name : io::attribute_names(meta.get())) {
      if (reserved_attributes().count(name) > 0) continue;
      if (!io::is_string_attribute(meta.get(), name)) {
        if (checksummed) {
          throw InputError(
              "checkpoint {} is damaged: its /meta attribute '{}' is not a string (shardflow "
              "writes only strings besides the fixed attributes)",
              path, name);
        }
        continue;
      }
      c.meta.attributes[name] = io::read_string_attribute(meta.get(), name).value_or("");
    }
    if (checksummed) {
      const auto stored = io::read_string_attribute(meta.get(), kMetaChecksum);
      if (!stored) {
        throw InputError("checkpoint {} is damaged: it lacks the /meta attribute '{}'", path,
                         kMetaChecksum);
      }
      const std::string expected = meta_checksum(*version, c.meta);
      if (*stored != expected) {
        throw InputError(
            "checkpoint {} is damaged: its /meta attributes (step {}, epoch {}, fingerprint '{}', "
            "...) do not match their checksum ({} stored, {} computed); one was altered after "
            "the file was written",
            path, c.meta.step, c.meta.epoch, c.meta.fingerprint, *stored, expected);
      }
    }
    check_meta_consistent(c.meta, file);
    const idx_t named_step = step_of(file.filename().string());
    if (named_step >= 0 && named_step != c.meta.step) {
      throw InputError(
          "checkpoint {} is damaged: its /meta step {} differs from the step {} in its file name",
          path, c.meta.step, named_step);
    }

    std::vector<std::string> links;
    if (H5Lvisit(h5.get(), H5_INDEX_NAME, H5_ITER_INC, collect_link, &links) < 0) {
      throw InputError("checkpoint {}: listing its contents failed: {}", path,
                       io::hdf5_error_detail());
    }
    for (const auto& key : links) {
      if (key == "meta" || key.rfind("meta/", 0) == 0) continue;
      Hid object(H5Oopen(h5.get(), key.c_str(), H5P_DEFAULT), H5Oclose);
      if (!object.valid()) {
        throw InputError("checkpoint {}: object '/{}' cannot be opened: {}", path, key,
                         io::hdf5_error_detail());
      }
      if (H5Iget_type(object.get()) != H5I_DATASET) continue;
      const hid_t dataset = object.get();
      Hid type(H5Dget_type(dataset), H5Tclose);
      Hid space(H5Dget_space(dataset), H5Sclose);
      const hssize_t n = H5Sget_simple_extent_npoints(space.get());
      const H5T_class_t cls = H5Tget_class(type.get());
      const bool is_float = cls == H5T_FLOAT;
      const bool is_uint = cls == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE &&
                           H5Tget_size(type.get()) == 8;
      if (n < 0 || H5Sget_simple_extent_ndims(space.get()) != 1 || (!is_float && !is_uint)) {
        throw InputError(
            "checkpoint {}: dataset '/{}' is not a 1-D float64 or uint64 array; the file was not "
            "written by shardflow",
            path, key);
      }
      auto read_into = [&](auto& values, hid_t mem_type) {
        values.resize(static_cast<size_t>(n));
        if (n > 0 && H5Dread(dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
          throw InputError("checkpoint {}: dataset '/{}' is damaged and cannot be read: {}", path,
                           key, io::hdf5_error_detail());
        }
      };
      if (is_float) {
        read_into(c.arrays[key], H5T_NATIVE_DOUBLE);
      } else {
        read_into(c.uint_arrays[key], H5T_NATIVE_UINT64);
      }
    }
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    // Damaged metadata shows up as RuntimeError from the HDF5 helpers; for a checkpoint that is
    // a reason to skip the file, i.e. an input problem.
    throw InputError("checkpoint {} is damaged: {}", path, e.what());
  }
  return c;
}

bool is_checkpoint_file(const fs::path& file) {
  io::silence_hdf5_errors();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return false;
  if (H5Fis_hdf5(file.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  try {
    Hid fapl = io::serial_file_access();
    Hid h5(H5Fopen(file.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
    if (!h5.valid() || !io::link_exists(h5.get(), "meta")) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    Hid meta(H5Gopen2(h5.get(), "meta", H5P_DEFAULT), H5Gclose);
    return meta.valid() && io::has_attribute(meta.get(), "format_version");
  } catch (const std::exception&) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
}

CheckpointStore::CheckpointStore(fs::path directory, int keep)
    : directory_(std::move(directory)), keep_(keep) {
  if (keep < 1) {
    throw ConfigError("checkpoint keep = {} is invalid; keep at least 1 checkpoint", keep);
  }
  std::error_code ec;
  fs::create_directories(directory_, ec);  // reported by save() if it failed
}

std::vector<fs::path> CheckpointStore::list() const {
  std::vector<std::pair<idx_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it(directory_, ec), end; !ec && it != end; it.increment(ec)) {
    const idx_t step = step_of(it->path().filename().string());
    if (step >= 0) found.emplace_back(step, it->path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& [step, path] : found)
    out.push_back(std::move(path));
  return out;
}

void CheckpointStore::remove_temporaries_here() const {
  std::error_code ec;
  for (fs::directory_iterator it(directory_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto target = temp_target(it->path());
    if (target && (step_of(target->filename().string()) >= 0 || target->filename() == kLatest)) {
      std::error_code rm;
      if (fs::remove(it->path(), rm)) {
        spdlog::debug("removed {}, left by a checkpoint writer that was stopped",
                      it->path().string());
      }
    }
  }
}

void CheckpointStore::remove_temporaries(const mpi::Comm& comm) const {
  comm.agree([&] {
    if (comm.is_root()) remove_temporaries_here();
  });
}

void CheckpointStore::save(const mpi::Comm& comm, const Checkpoint& checkpoint) {
  maybe_inject_fault("ckpt_write:" + std::to_string(checkpoint.meta.step), comm.rank());
  comm.agree([&] {
    if (!comm.is_root()) return;
    if (checkpoint.meta.step < 0) {
      throw RuntimeError("cannot save a checkpoint with negative step {}", checkpoint.meta.step);
    }
    std::error_code ec;
    fs::create_directories(directory_, ec);
    if (!fs::is_directory(directory_, ec)) {
      throw RuntimeError(
          "cannot create the checkpoint directory {}; check the path and "
          "permissions",
          directory_.string());
    }
    Checkpoint c = checkpoint;
    c.meta.world_size = comm.size();
    c.meta.version = kVersion;
    if (c.meta.created.empty()) c.meta.created = now_iso8601();

    const std::string name = checkpoint_file_name(c.meta.step);
    const fs::path final_path = directory_ / name;
    const fs::path tmp_path = temp_path_for(final_path);
    try {
      write_checkpoint_file(tmp_path, c);
    } catch (...) {
      fs::remove(tmp_path, ec);
      throw;
    }
    maybe_inject_fault("ckpt_rename:" + std::to_string(c.meta.step), comm.rank());
    publish_file(tmp_path, final_path);
    maybe_inject_fault("ckpt_renamed:" + std::to_string(c.meta.step), comm.rank());
    write_file_atomically(directory_ / kLatest, name + "\n");

    // Pruning: the file just written always stays (even if older steps exist above it, e.g. after
    // resuming from an earlier checkpoint), plus the newest keep-1 others; stale .tmp files go.
    auto files = list();
    std::reverse(files.begin(), files.end());
    int kept = 1;
    for (const auto& f : files) {
      if (f.filename() == name) continue;
      if (kept < keep_) {
        ++kept;
        continue;
      }
      if (!fs::remove(f, ec) && ec) {
        spdlog::warn("could not delete old checkpoint {}: {}", f.string(), ec.message());
      }
    }
    remove_temporaries_here();
    spdlog::debug("checkpoint step {} written to {}", c.meta.step, final_path.string());
  });
}

std::optional<Checkpoint> CheckpointStore::load_latest(const mpi::Comm& comm,
                                                       const std::string& expected_fingerprint,
                                                       const Acceptor& accept) const {
  std::string bytes;
  int found = 0;
  comm.agree([&] {
    if (!comm.is_root()) return;
    std::vector<fs::path> candidates;
    {
      std::ifstream in(directory_ / kLatest);
      std::string pointed;
      if (in && std::getline(in, pointed)) {
        while (!pointed.empty() && std::isspace(static_cast<unsigned char>(pointed.back()))) {
          pointed.pop_back();
        }
        if (step_of(pointed) >= 0 && fs::exists(directory_ / pointed)) {
          candidates.push_back(directory_ / pointed);
        } else {
          spdlog::warn(
              "ignoring the checkpoint pointer {}: it names '{}', which is not a present "
              "checkpoint file",
              (directory_ / kLatest).string(), pointed);
        }
      }
    }
    auto files = list();
    // A newer checkpoint written after `latest` was last replaced was renamed into place by a
    // save that died before it could update the pointer: it is complete (renamed only once
    // fsynced) and the newest valid one, so it goes first. (An older pointer is otherwise kept
    // first on purpose: after --resume PATH, checkpoints of higher steps may belong to the
    // training that was resumed away from; those were all written before the pointer.)
    if (!files.empty() && !candidates.empty() &&
        step_of(files.back().filename().string()) >
            step_of(candidates.front().filename().string())) {
      std::error_code pointer_error, file_error;
      const auto pointer_time = fs::last_write_time(directory_ / kLatest, pointer_error);
      const auto file_time = fs::last_write_time(files.back(), file_error);
      if (!pointer_error && !file_error && file_time > pointer_time) {
        candidates.insert(candidates.begin(), files.back());
      }
    }
    for (auto it = files.rbegin(); it != files.rend(); ++it) {
      if (std::find(candidates.begin(), candidates.end(), *it) == candidates.end()) {
        candidates.push_back(*it);
      }
    }
    for (const auto& file : candidates) {
      Checkpoint c;
      try {
        c = read_checkpoint_file(file);
      } catch (const Error& e) {
        spdlog::warn("skipping an unusable checkpoint, trying an older one: {}", e.what());
        continue;
      }
      if (!expected_fingerprint.empty() && c.meta.fingerprint != expected_fingerprint) {
        spdlog::warn(
            "skipping checkpoint {}: it was written by a job with fingerprint '{}', but "
            "this job's fingerprint is '{}' (the configuration or inputs changed)",
            file.string(), c.meta.fingerprint, expected_fingerprint);
        continue;
      }
      if (accept) {
        try {
          accept(c, file);
        } catch (const Error& e) {
          spdlog::warn("skipping an unusable checkpoint, trying an older one: {}", e.what());
          continue;
        }
      }
      bytes = encode(c);
      found = 1;
      return;
    }
  });
  found = mpi::bcast_value(comm, found, 0);
  if (found == 0) return std::nullopt;
  return broadcast(comm, bytes);
}

Checkpoint CheckpointStore::load(const mpi::Comm& comm, const fs::path& file) const {
  std::string bytes;
  comm.agree([&] {
    if (comm.is_root()) bytes = encode(read_checkpoint_file(file));
  });
  return broadcast(comm, bytes);
}

}  // namespace shardflow::ckpt
