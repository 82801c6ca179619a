#include "shardflow/io/hdf5_table.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <thread>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/io/hdf5_handle.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/version.hpp"

namespace shardflow::io {

namespace {

using table::Column;
using table::DataType;

Hdf5TransferStats g_stats;

constexpr const char* kValidSuffix = ".valid";
constexpr const char* kDictionarySuffix = ".dictionary";
constexpr const char* kBytesSuffix = ".bytes";
// Chunk size of a strings' bytes dataset: large enough that Fletcher32 and chunk bookkeeping cost
// little, small enough that a rank's slab spans many chunks (collective I/O splits work by chunk).
constexpr idx_t kStringChunkBytes = idx_t{1} << 20;

// The HDF5 memory/file type of a column's physical values (strings: only dictionary codes).
hid_t native_type(const Column& column) {
  switch (column.type()) {
    case DataType::kInt32:
      return H5T_NATIVE_INT32;
    case DataType::kInt64:
    case DataType::kTimestamp:
      return H5T_NATIVE_INT64;
    case DataType::kFloat32:
      return H5T_NATIVE_FLOAT;
    case DataType::kFloat64:
      return H5T_NATIVE_DOUBLE;
    case DataType::kBool:
      return H5T_NATIVE_UINT8;
    case DataType::kString:
      return H5T_NATIVE_INT32;
  }
  return H5T_NATIVE_INT64;
}

const void* values_pointer(const Column& column) {
  return column.visit([](const auto& v) -> const void* {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, table::PlainStrings>) {
      return nullptr;
    } else {
      return v.data();
    }
  });
}

// Tallies the I/O mode HDF5 actually used for the transfer just made with `dxpl`.
void record_transfer_mode(hid_t dxpl, const std::string& object) {
  H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
  if (H5Pget_mpio_actual_io_mode(dxpl, &mode) < 0) return;
  if (mode == H5D_MPIO_CHUNK_COLLECTIVE || mode == H5D_MPIO_CONTIGUOUS_COLLECTIVE) {
    ++g_stats.collective;
  } else if (mode == H5D_MPIO_CHUNK_MIXED) {
    ++g_stats.mixed;
  } else {
    ++g_stats.independent;
    uint32_t local_cause = 0, global_cause = 0;
    H5Pget_mpio_no_collective_cause(dxpl, &local_cause, &global_cause);
    spdlog::debug("HDF5 transfer of '{}' was not collective (cause bits local {:#x}, global {:#x})",
                  object, local_cause, global_cause);
  }
}

// Selects rows [offset, offset + count) of a 1-D dataset (or nothing, for count 0) and returns the
// (file space, memory space) pair for a collective transfer. Ranks with no rows still take part.
std::pair<Hid, Hid> select_rows(hid_t dataset, idx_t offset, idx_t count) {
  Hid file_space(H5Dget_space(dataset), H5Sclose);
  const hsize_t mem_dims = static_cast<hsize_t>(std::max<idx_t>(count, 1));
  Hid mem_space(H5Screate_simple(1, &mem_dims, nullptr), H5Sclose);
  if (!file_space.valid() || !mem_space.valid()) {
    throw RuntimeError("HDF5 dataspace setup failed: {}", hdf5_error_detail());
  }
  if (count == 0) {
    H5Sselect_none(file_space.get());
    H5Sselect_none(mem_space.get());
  } else {
    const hsize_t start = static_cast<hsize_t>(offset);
    const hsize_t n = static_cast<hsize_t>(count);
    if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr) < 0) {
      throw RuntimeError("selecting rows [{}, {}) failed: {}", offset, offset + count,
                         hdf5_error_detail());
    }
  }
  return {std::move(file_space), std::move(mem_space)};
}

// Caps rows per chunk so one chunk stays well below HDF5's 4 GiB chunk limit and the memory a
// filter needs per chunk stays modest, whatever the element size (wide fixed-length strings).
idx_t clip_chunk_rows(idx_t requested, idx_t global_rows, std::size_t element_size) {
  constexpr idx_t kMaxChunkBytes = idx_t{64} << 20;
  const idx_t by_bytes = std::max<idx_t>(
      1, kMaxChunkBytes / static_cast<idx_t>(std::max<std::size_t>(element_size, 1)));
  const idx_t rows = std::max<idx_t>(global_rows, 1);
  const idx_t chunk = std::clamp<idx_t>(std::min(requested, by_bytes), 1, rows);
  // HDF5 stores the last chunk whole: spread the rows evenly over the chunks needed, so a
  // dataset slightly longer than one chunk does not take two full chunks.
  const idx_t chunks = (rows + chunk - 1) / chunk;
  return (rows + chunks - 1) / chunks;
}

// HDF5 1.10 does not agree errors across ranks: inside a collective HDF5 call (creating a dataset,
// a filtered collective write, a flush), a rank whose write fails (a full disk) returns early
// while the others wait in a collective of HDF5's own that it never joins, so agreeing on the
// error would wait forever. A rank that saw an HDF5 call fail arms this watchdog: unless the
// write's error path completes within kStuckSeconds, it removes the temporary file it was writing
// and ends the job with its error (exit 1) instead of hanging.
class StuckWriteWatchdog {
 public:
  static constexpr int kStuckSeconds = 10;
  StuckWriteWatchdog(const mpi::Comm& comm, std::string path, const bool& created)
      : comm_(comm), path_(std::move(path)), created_(created) {}
  StuckWriteWatchdog(const StuckWriteWatchdog&) = delete;
  StuckWriteWatchdog& operator=(const StuckWriteWatchdog&) = delete;
  ~StuckWriteWatchdog() { disarm(); }

  // Starts the clock (once; a single rank cannot be stuck).
  void arm(const std::string& message) {
    if (comm_.size() == 1 || thread_.joinable()) return;
    thread_ = std::thread([this, message] {
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, std::chrono::seconds(kStuckSeconds), [this] { return done_; })) return;
      if (created_) {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
      }
      comm_.abort(1, fmt::format("rank {}: {} (the other ranks did not get past HDF5's collective "
                                 "calls within {} s after this failure; ending the job)",
                                 comm_.rank(), message, kStuckSeconds));
    });
  }
  void disarm() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  const mpi::Comm& comm_;
  std::string path_;
  const bool& created_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// HDF5 reports a failed write without errno ("file write failed"); say so when the disk holding
// `path` is (nearly) full, the usual cause.
std::string full_disk_hint(const std::string& path) {
  std::error_code ec;
  const auto parent = std::filesystem::absolute(path, ec).parent_path();
  const auto space = std::filesystem::space(parent, ec);
  if (ec || space.available >= (std::uintmax_t{1} << 20)) return "";
  return fmt::format(
      "; the disk holding it is full (No space left on device: {} bytes free); free space or "
      "choose another directory",
      space.available);
}

// Collective: comm.agree(work), arming `watchdog` on a rank where `work` fails.
void agree_h5(const mpi::Comm& comm, StuckWriteWatchdog& watchdog, const std::string& path,
              const std::function<void()>& work) {
  comm.agree([&] {
    try {
      work();
    } catch (const Error& e) {
      const std::string message = e.what() + full_disk_hint(path);
      watchdog.arm(message);
      throw_error(e.kind(), message);
    } catch (const std::exception& e) {
      watchdog.arm(e.what());
      throw;
    }
  });
}

struct WriteContext {
  const mpi::Comm& comm;
  const std::string& path;
  const std::string& table;
  hid_t group;
  hid_t dxpl;
  const Hdf5WriteOptions& options;
  const std::function<void()>& release;  // collective: called on every rank after a failed write
  StuckWriteWatchdog& watchdog;
};

// Collective: creates dataset `name` with `global_rows` elements of `type` (chunks of
// `chunk_rows`, clipped) and writes this rank's `local_rows` elements from `data` at `offset`.
// Attributes are attached before the data.
void write_dataset(const WriteContext& ctx, const std::string& name, hid_t type, idx_t global_rows,
                   idx_t offset, idx_t local_rows, const void* data,
                   const std::vector<std::pair<std::string, std::string>>& attributes,
                   idx_t chunk_rows) {
  const std::string object = "/" + ctx.table + "/" + name;
  const hsize_t dims = static_cast<hsize_t>(global_rows);
  // A chunked dataset needs a chunk no larger than a fixed extent; an empty one gets an unlimited
  // maximum extent so it can still be chunked (and carry the filter) with chunk size 1.
  const hsize_t max_dims = global_rows == 0 ? H5S_UNLIMITED : dims;
  Hid space(H5Screate_simple(1, &dims, &max_dims), H5Sclose);
  const idx_t chunk = clip_chunk_rows(chunk_rows, global_rows, H5Tget_size(type));
  Hid dcpl = chunked_creation(chunk, ctx.options.fletcher32);
  Hid dataset;
  agree_h5(ctx.comm, ctx.watchdog, ctx.path, [&] {
    dataset = checked_hid(H5Dcreate2(ctx.group, name.c_str(), type, space.get(), H5P_DEFAULT,
                                     dcpl.get(), H5P_DEFAULT),
                          H5Dclose, "creating the dataset", ctx.path, object);
    for (const auto& [key, value] : attributes)
      write_string_attribute(dataset.get(), key, value);
  });
  if (global_rows == 0) return;
  try {
    // Not a structured binding: clang before 16 cannot capture one in the lambda below.
    const auto spaces = select_rows(dataset.get(), offset, local_rows);
    const Hid& file_space = spaces.first;
    const Hid& mem_space = spaces.second;
    static const char dummy = 0;  // a non-null buffer for ranks that write nothing
    agree_h5(ctx.comm, ctx.watchdog, ctx.path, [&] {
      check_h5(H5Dwrite(dataset.get(), type, mem_space.get(), file_space.get(), ctx.dxpl,
                        local_rows > 0 ? data : &dummy),
               "collective H5Dwrite", ctx.path, object);
      record_transfer_mode(ctx.dxpl, object);
    });
    // Chunks still cached are written here, where a failure can be handled, not in the close.
    agree_h5(ctx.comm, ctx.watchdog, ctx.path,
             [&] { check_h5(H5Dflush(dataset.get()), "H5Dflush", ctx.path, object); });
  } catch (...) {
    ctx.release();  // before the dataset's close, which may have chunks to write
    throw;
  }
  agree_h5(ctx.comm, ctx.watchdog, ctx.path, [&] {
    if (!dataset.reset()) {
      throw RuntimeError("closing dataset '{}' in {} failed: {}", object, ctx.path,
                         hdf5_error_detail());
    }
  });
}

void write_dataset(const WriteContext& ctx, const std::string& name, hid_t type, idx_t global_rows,
                   idx_t offset, idx_t local_rows, const void* data,
                   const std::vector<std::pair<std::string, std::string>>& attributes) {
  write_dataset(ctx, name, type, global_rows, offset, local_rows, data, attributes,
                ctx.options.chunk_rows);
}

// The narrowest unsigned integer type that holds every string length up to `max_length`: string
// lengths cost 1 byte per row for strings under 256 bytes, and never more than 8.
struct LengthType {
  hid_t type;
  size_t width;
};
hid_t unsigned_type(size_t width) {
  switch (width) {
    case 1:
      return H5T_NATIVE_UINT8;
    case 2:
      return H5T_NATIVE_UINT16;
    case 4:
      return H5T_NATIVE_UINT32;
    default:
      return H5T_NATIVE_UINT64;
  }
}
LengthType length_type(idx_t max_length) {
  const size_t width = max_length <= 0xff           ? 1
                       : max_length <= 0xffff       ? 2
                       : max_length <= 0xffffffffLL ? 4
                                                    : 8;
  return {unsigned_type(width), width};
}

// Calls f(U{}) with U the unsigned integer type of `width` bytes.
template <typename F>
void with_length_type(size_t width, F&& f) {
  switch (width) {
    case 1:
      return f(std::uint8_t{});
    case 2:
      return f(std::uint16_t{});
    case 4:
      return f(std::uint32_t{});
    default:
      return f(std::uint64_t{});
  }
}

// Collective: writes `global_count` strings, this rank's ends.size() of them starting at string
// `first`, as two datasets: `name`, the length in bytes of each string (the narrowest unsigned type
// that holds `max_length`, the longest string on any rank), and `name`.bytes (uint8, every
// string's UTF-8 bytes back to back, in order). `ends` holds this rank's end offsets relative to
// `bytes` (the first string starts at bytes[0]). Each rank's place in the bytes dataset comes from
// an exclusive scan of the byte counts, so every rank writes one contiguous slab of both datasets;
// nothing is padded.
void write_strings(const WriteContext& ctx, const std::string& name, idx_t global_count,
                   idx_t first, std::span<const std::int64_t> ends, const char* bytes,
                   idx_t max_length, std::vector<std::pair<std::string, std::string>> attributes) {
  const idx_t local_count = static_cast<idx_t>(ends.size());
  const idx_t local_bytes = ends.empty() ? 0 : ends.back();
  const idx_t byte_offset = mpi::exscan_sum(ctx.comm, local_bytes);
  const idx_t global_bytes = mpi::allreduce_sum(ctx.comm, local_bytes);
  const LengthType lt = length_type(max_length);
  std::vector<unsigned char> lengths(ends.size() * lt.width);
  with_length_type(lt.width, [&]<typename U>(U) {
    std::int64_t previous = 0;
    for (size_t i = 0; i < ends.size(); ++i) {
      const U length = static_cast<U>(ends[i] - previous);
      std::memcpy(lengths.data() + i * sizeof(U), &length, sizeof(U));
      previous = ends[i];
    }
  });
  const std::string bytes_name = name + kBytesSuffix;
  attributes.emplace_back("bytes", bytes_name);
  attributes.emplace_back("decode", "string i is the UTF-8 text " + bytes_name + "[e-" + name +
                                        "[i]:e] where e = sum(" + name + "[:i+1])");
  write_dataset(ctx, name, lt.type, global_count, first, local_count, lengths.data(), attributes);
  write_dataset(ctx, bytes_name, H5T_NATIVE_UINT8, global_bytes, byte_offset, local_bytes, bytes,
                {}, kStringChunkBytes);
}

void validate_names(const std::string& path, const std::string& name, const table::Table& table) {
  auto bad = [](const std::string& n) {
    return n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos;
  };
  if (bad(name)) {
    throw RuntimeError(
        "cannot write table '{}' to {}: a table name must be non-empty and contain no '/'", name,
        path);
  }
  std::set<std::string> used;
  for (const auto& field : table.schema().fields()) {
    if (bad(field.name)) {
      throw RuntimeError(
          "cannot write column '{}' of table '{}' to {}: HDF5 column names must be non-empty and "
          "contain no '/'; rename the column",
          field.name, name, path);
    }
    for (const std::string& n :
         {field.name, field.name + kValidSuffix, field.name + kDictionarySuffix,
          field.name + kBytesSuffix, field.name + kDictionarySuffix + kBytesSuffix}) {
      if (!used.insert(n).second) {
        throw RuntimeError(
            "cannot write table '{}' to {}: column '{}' clashes with the dataset '{}' of another "
            "column (suffixes .valid, .dictionary and .bytes are reserved); rename it",
            name, path, field.name, n);
      }
    }
  }
}

std::string schema_string(const table::Schema& schema) {
  std::string out;
  for (const auto& field : schema.fields()) {
    if (!out.empty()) out += ',';
    out += field.name + ":" + std::string(table::to_string(field.type));
  }
  return out;
}

// Types from the `schema` attribute, given the column names from `columns` (names may contain ','
// or ':', so the string is walked name by name rather than split).
table::Schema parse_schema(const std::string& text, const std::vector<std::string>& names,
                           const std::string& where) {
  std::vector<table::Field> fields;
  size_t pos = 0;
  for (const auto& name : names) {
    if (pos > 0) {
      if (pos >= text.size() || text[pos] != ',') break;
      ++pos;
    }
    if (text.compare(pos, name.size(), name) != 0 || pos + name.size() >= text.size() ||
        text[pos + name.size()] != ':') {
      break;
    }
    pos += name.size() + 1;
    const size_t end = std::min(text.find(',', pos), text.size());
    const auto type = table::parse_data_type(text.substr(pos, end - pos));
    if (!type) break;
    fields.push_back({name, *type});
    pos = end;
  }
  if (fields.size() != names.size() || pos != text.size()) {
    throw InputError(
        "{}: the schema attribute '{}' does not match the columns attribute; the file was not "
        "written by this shardflow version or is damaged; rerun the stage that produces it",
        where, text);
  }
  return table::Schema(std::move(fields));
}

// Everything write_table requires to be identical on all ranks, hashed: a rank that disagrees would
// otherwise make different collective HDF5 calls (a hang) or write codes into another dictionary.
std::uint64_t layout_hash(const std::string& name, const table::Table& table,
                          const Hdf5WriteOptions& options) {
  std::uint64_t h = hash_string(name);
  h = hash_combine(h, hash_string(schema_string(table.schema())));
  h = hash_combine(h, hash_string(options.fingerprint));
  h = hash_combine(h, hash_u64(static_cast<std::uint64_t>(options.chunk_rows)));
  h = hash_combine(h, hash_u64(options.fletcher32 ? 1 : 0));
  for (const auto& column : table.columns()) {
    h = hash_combine(h, hash_u64(column.is_dictionary_encoded() ? 1 : 0));
    if (!column.is_dictionary_encoded()) continue;
    for (const auto& v : column.dictionary()->values())
      h = hash_combine(h, hash_string(v));
  }
  return h;
}

}  // namespace

Hdf5TransferStats transfer_stats() {
  return g_stats;
}

void write_table(const mpi::Comm& comm, const std::string& path, const std::string& name,
                 const table::Table& table, const Hdf5WriteOptions& options) {
  silence_hdf5_errors();
  const std::uint64_t h = layout_hash(name, table, options);
  std::uint64_t hashes[2] = {h, ~h};  // max of both gives max and ~min: equal iff all agree
  mpi::allreduce_inplace(comm, std::span<std::uint64_t>(hashes), mpi::Reduce::kMax);
  if (hashes[0] != ~hashes[1]) {
    throw RuntimeError(
        "cannot write table '{}' to {}: the ranks disagree on the table name, schema, string "
        "encodings, dictionaries or write options; this is a shardflow bug (unify dictionaries "
        "with table::encode_all_strings before writing)",
        name, path);
  }
  validate_names(path, name, table);  // deterministic once the schemas agree: no hang
  const int ncols = table.num_columns();
  const idx_t local_rows = table.num_rows();
  const idx_t offset = mpi::exscan_sum(comm, local_rows);
  const idx_t global_rows = mpi::allreduce_sum(comm, local_rows);

  // Per column, over all ranks: whether it has a null (then it gets a validity dataset), and the
  // longest plain string (it picks the type of the string lengths).
  std::vector<idx_t> column_info(2 * static_cast<size_t>(ncols), 0);
  for (int c = 0; c < ncols; ++c) {
    const Column& column = table.column(c);
    column_info[2 * static_cast<size_t>(c)] = column.has_nulls() ? 1 : 0;
    if (column.type() != DataType::kString || column.is_dictionary_encoded()) continue;
    const auto& offsets = column.plain().offsets;
    idx_t longest = 0;
    for (size_t i = 1; i < offsets.size(); ++i)
      longest = std::max<idx_t>(longest, offsets[i] - offsets[i - 1]);
    column_info[2 * static_cast<size_t>(c) + 1] = longest;
  }
  mpi::allreduce_inplace(comm, std::span<idx_t>(column_info), mpi::Reduce::kMax);

  // Rank 0 decides create-vs-open so all ranks make the same collective call.
  int exists = 0;
  comm.agree([&] {
    if (!comm.is_root()) return;
    const std::filesystem::path p(path);
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) {
      exists = 1;
    } else if (p.has_parent_path() && !std::filesystem::is_directory(p.parent_path(), ec)) {
      throw RuntimeError("cannot write table '{}': the directory of {} does not exist", name, path);
    }
  });
  exists = mpi::bcast_value(comm, exists, 0);

  Hid fapl = mpio_file_access(comm);
  Hid file;
  Hid group;
  const bool created = exists == 0;
  StuckWriteWatchdog watchdog(comm, path, created);
  // A write that fails (a full disk, mostly) leaves dirty metadata that closing the file must
  // flush. In HDF5 1.10 a failed H5Fclose leaves a half-destroyed file behind, on which HDF5's
  // shutdown inside MPI_Finalize crashes; and one rank's failed close can leave another waiting in
  // a collective. A file this call created is garbage once a write failed, so its space is given
  // back first (truncated to zero bytes): the close then finds room for the metadata it writes.
  // Collective: every rank runs it, after the same agreed error.
  const std::function<void()> release = [&] {
    if (created && comm.is_root()) release_failed_file(path);
    comm.barrier();
  };
  try {
    agree_h5(comm, watchdog, path, [&] {
      const hid_t id = exists ? H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get())
                              : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
      if (id < 0) {
        throw RuntimeError(
            "cannot {} HDF5 file {} for writing table '{}': {}; check the path and "
            "that no other process holds the file open",
            exists ? "open" : "create", path, name, hdf5_error_detail());
      }
      file = Hid(id, H5Fclose);
    });

    agree_h5(comm, watchdog, path, [&] {
      // Replacing: unlink the old group first so a reader never sees a mix of old and new columns.
      if (link_exists(file.get(), name)) {
        check_h5(H5Ldelete(file.get(), name.c_str(), H5P_DEFAULT), "deleting the old table", path,
                 "/" + name);
      }
      group =
          checked_hid(H5Gcreate2(file.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      H5Gclose, "creating the group", path, "/" + name);
      write_string_attribute(group.get(), "schema", schema_string(table.schema()));
      write_string_array_attribute(group.get(), "columns", table.schema().names());
      write_int64_attribute(group.get(), "num_rows", global_rows);
      write_string_attribute(group.get(), "fingerprint", options.fingerprint);
      write_string_attribute(group.get(), "shardflow_version", kVersion);
      write_int64_attribute(group.get(), "format_version", kTableFormatVersion);
    });

    Hid dxpl = collective_transfer();
    const WriteContext ctx{comm, path, name, group.get(), dxpl.get(), options, release, watchdog};
    // Column by column: done is the share of columns written times this rank's rows.
    Progress progress(fmt::format("writing table '{}' to {}", name,
                                  std::filesystem::path(path).filename().string()),
                      local_rows, "rows", options.report_progress && comm.is_root());
    for (int c = 0; c < ncols; ++c) {
      const Column& column = table.column(c);
      const std::string& col_name = table.schema().field(c).name;
      std::vector<std::pair<std::string, std::string>> attrs{
          {"logical_type", std::string(table::to_string(column.type()))}};
      if (column.type() == DataType::kTimestamp) attrs.emplace_back("unit", "us");

      if (column.is_plain_strings()) {
        attrs.emplace_back("encoding", "lengths");
        const auto& plain = column.plain();
        const std::int64_t base = plain.offsets.front();
        std::vector<std::int64_t> ends(plain.offsets.begin() + 1, plain.offsets.end());
        for (auto& e : ends)
          e -= base;
        write_strings(ctx, col_name, global_rows, offset, ends, plain.chars.data() + base,
                      column_info[2 * static_cast<size_t>(c) + 1], std::move(attrs));
      } else {
        if (column.type() == DataType::kString) attrs.emplace_back("encoding", "dictionary");
        write_dataset(ctx, col_name, native_type(column), global_rows, offset, local_rows,
                      values_pointer(column), attrs);
      }

      if (column.is_dictionary_encoded()) {
        // Identical on all ranks: each rank writes a contiguous share of the entries, so no rank
        // carries a large dictionary alone.
        const auto& values = column.dictionary()->values();
        const idx_t n = static_cast<idx_t>(values.size());
        const idx_t p = comm.size();
        const idx_t r = comm.rank();
        const idx_t begin = n / p * r + std::min(n % p, r);
        const idx_t end = begin + n / p + (r < n % p ? 1 : 0);
        idx_t longest = 0;
        for (const auto& v : values)
          longest = std::max<idx_t>(longest, static_cast<idx_t>(v.size()));
        std::string bytes;
        std::vector<std::int64_t> ends;
        ends.reserve(static_cast<size_t>(end - begin));
        for (idx_t i = begin; i < end; ++i) {
          bytes += values[static_cast<size_t>(i)];
          ends.push_back(static_cast<std::int64_t>(bytes.size()));
        }
        write_strings(ctx, col_name + kDictionarySuffix, n, begin, ends, bytes.data(), longest, {});
      }

      if (column_info[2 * static_cast<size_t>(c)] != 0) {
        std::vector<std::uint8_t> all_valid;
        const std::uint8_t* validity = column.validity().data();
        if (!column.has_nulls()) {
          all_valid.assign(static_cast<size_t>(local_rows), 1);
          validity = all_valid.data();
        }
        write_dataset(ctx, col_name + kValidSuffix, H5T_NATIVE_UINT8, global_rows, offset,
                      local_rows, validity, {});
      }
      progress.update(local_rows * (c + 1) / ncols);
    }

    // Only after every dataset is closed and flushed does the group claim to be complete.
    agree_h5(comm, watchdog, path, [&] {
      check_h5(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", path, "/" + name);
    });
    agree_h5(comm, watchdog, path, [&] { write_int64_attribute(group.get(), "complete", 1); });
    // Flushed before the close, so that the close itself has nothing to write (see release).
    agree_h5(comm, watchdog, path, [&] {
      check_h5(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", path, "/" + name);
    });
    agree_h5(comm, watchdog, path, [&] {
      if (!group.reset() || !file.reset()) {
        throw RuntimeError("closing HDF5 file {} after writing table '{}' failed: {}", path, name,
                           hdf5_error_detail());
      }
    });
  } catch (...) {
    release();
    group.reset();
    file.reset();
    watchdog.disarm();  // every rank got here: nobody is stuck
    throw;
  }
}

namespace {

struct ReadContext {
  const mpi::Comm& comm;
  const std::string& path;
  const std::string& table;
  hid_t group;
  hid_t dxpl;
};

// Collective: opens dataset `name` and checks that it holds `expected_rows` elements.
Hid open_dataset(const ReadContext& ctx, const std::string& name, idx_t expected_rows) {
  const std::string object = "/" + ctx.table + "/" + name;
  Hid dataset;
  ctx.comm.agree([&] {
    if (!link_exists(ctx.group, name)) {
      throw InputError(
          "table '{}' in {} lacks the dataset '{}'; the file is damaged; rerun the "
          "stage that produces it",
          ctx.table, ctx.path, object);
    }
    dataset = checked_hid(H5Dopen2(ctx.group, name.c_str(), H5P_DEFAULT), H5Dclose,
                          "opening the dataset", ctx.path, object);
    Hid space(H5Dget_space(dataset.get()), H5Sclose);
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (H5Sget_simple_extent_ndims(space.get()) != 1 || n != expected_rows) {
      throw InputError(
          "dataset '{}' in {} has {} elements but the table has {} rows; the file is "
          "damaged; rerun the stage that produces it",
          object, ctx.path, n, expected_rows);
    }
  });
  return dataset;
}

// Collective: reads rows [offset, offset + count) of `dataset` as `type` into `out`.
void read_rows(const ReadContext& ctx, hid_t dataset, const std::string& name, hid_t type,
               idx_t global_rows, idx_t offset, idx_t count, void* out) {
  if (global_rows == 0) return;
  const std::string object = "/" + ctx.table + "/" + name;
  // Not a structured binding: clang before 16 cannot capture one in the lambda below.
  const auto spaces = select_rows(dataset, offset, count);
  const Hid& file_space = spaces.first;
  const Hid& mem_space = spaces.second;
  char dummy = 0;
  ctx.comm.agree([&] {
    check_h5(H5Dread(dataset, type, mem_space.get(), file_space.get(), ctx.dxpl,
                     count > 0 ? out : &dummy),
             "collective H5Dread", ctx.path, object);
    record_transfer_mode(ctx.dxpl, object);
  });
}

// Collective: reads a fixed-length string dataset's rows [offset, offset + count).
std::vector<std::string> read_fixed_strings(const ReadContext& ctx, hid_t dataset,
                                            const std::string& name, idx_t global_rows,
                                            idx_t offset, idx_t count) {
  size_t width = 0;
  ctx.comm.agree([&] {
    Hid type(H5Dget_type(dataset), H5Tclose);
    if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING ||
        H5Tis_variable_str(type.get()) > 0) {
      throw InputError(
          "dataset '/{}/{}' in {} is not a fixed-length string dataset; the file was "
          "not written by shardflow or is damaged",
          ctx.table, name, ctx.path);
    }
    width = H5Tget_size(type.get());
  });
  Hid type = fixed_string_type(static_cast<idx_t>(width));
  std::string buffer(width * static_cast<size_t>(count), '\0');
  read_rows(ctx, dataset, name, type.get(), global_rows, offset, count, buffer.data());
  std::vector<std::string> out(static_cast<size_t>(count));
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = buffer.data() + i * width;
    out[i] = std::string(p, strnlen(p, width));
  }
  return out;
}

// Collective: strings [first, first + count) of the lengths dataset `name` (global_count
// strings) and its bytes dataset `name`.bytes (see write_strings). The lengths are checked against
// the bytes dataset, so a damaged file is reported rather than read out of bounds. Either the ranks
// read consecutive ranges in rank order, or (`everything`) each reads all strings.
table::PlainStrings read_strings(const ReadContext& ctx, const std::string& name,
                                 idx_t global_count, idx_t first, idx_t count,
                                 bool everything = false) {
  const std::string object = "/" + ctx.table + "/" + name;
  const std::string bytes_name = name + kBytesSuffix;
  Hid lengths_ds = open_dataset(ctx, name, global_count);
  idx_t global_bytes = 0;
  size_t width = 0;
  ctx.comm.agree([&] {
    Hid type(H5Dget_type(lengths_ds.get()), H5Tclose);
    width = type.valid() ? H5Tget_size(type.get()) : 0;
    if (!type.valid() || H5Tget_class(type.get()) != H5T_INTEGER ||
        H5Tget_sign(type.get()) != H5T_SGN_NONE ||
        (width != 1 && width != 2 && width != 4 && width != 8)) {
      throw InputError(
          "dataset '{}' in {} does not hold unsigned string lengths; the file was not written by "
          "shardflow or is damaged",
          object, ctx.path);
    }
    if (!link_exists(ctx.group, bytes_name)) {
      throw InputError(
          "table '{}' in {} lacks the dataset '/{}/{}'; the file is damaged; rerun the stage "
          "that produces it",
          ctx.table, ctx.path, ctx.table, bytes_name);
    }
    Hid d = checked_hid(H5Dopen2(ctx.group, bytes_name.c_str(), H5P_DEFAULT), H5Dclose,
                        "opening the string bytes", ctx.path, "/" + ctx.table + "/" + bytes_name);
    Hid space(H5Dget_space(d.get()), H5Sclose);
    global_bytes = H5Sget_simple_extent_npoints(space.get());
  });
  // Read in the stored type: a conversion would make HDF5 1.10 give up collective I/O.
  std::vector<unsigned char> raw(static_cast<size_t>(count) * width);
  read_rows(ctx, lengths_ds.get(), name, unsigned_type(width), global_count, first, count,
            raw.data());
  table::PlainStrings out;
  out.offsets.resize(static_cast<size_t>(count) + 1);
  bool overflow = false;
  with_length_type(width, [&]<typename U>(U) {
    std::int64_t end = 0;
    for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
      U length;
      std::memcpy(&length, raw.data() + i * sizeof(U), sizeof(U));
      if (static_cast<std::uint64_t>(length) > static_cast<std::uint64_t>(global_bytes - end)) {
        overflow = true;
        break;
      }
      end += static_cast<std::int64_t>(length);
      out.offsets[i + 1] = end;
    }
  });
  const idx_t local_bytes = overflow ? global_bytes + 1 : out.offsets.back();
  // Where this rank's strings start in the bytes dataset, and whether the lengths add up to it.
  // With `everything`, every rank reads all strings.
  const idx_t start = everything ? 0 : mpi::exscan_sum(ctx.comm, local_bytes);
  const idx_t total = everything ? local_bytes : mpi::allreduce_sum(ctx.comm, local_bytes);
  ctx.comm.agree([&] {
    if (total != global_bytes) {
      throw InputError(
          "the string lengths in '{}' of {} add up to {} bytes, but '{}' holds {}; the file is "
          "damaged; rerun the stage that produces it",
          object, ctx.path, total, bytes_name, global_bytes);
    }
  });
  out.chars.resize(static_cast<size_t>(local_bytes));
  Hid bytes = open_dataset(ctx, bytes_name, global_bytes);
  read_rows(ctx, bytes.get(), bytes_name, H5T_NATIVE_UINT8, global_bytes, start, local_bytes,
            out.chars.data());
  return out;
}

std::vector<std::string> root_groups(hid_t file) {
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t index = 0;
  H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names);
  std::vector<std::string> groups;
  for (const auto& n : names) {
    Hid object(H5Oopen(file, n.c_str(), H5P_DEFAULT), H5Oclose);
    if (object.valid() && H5Iget_type(object.get()) == H5I_GROUP) groups.push_back(n);
  }
  H5Eclear2(H5E_DEFAULT);
  return groups;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// Reads a table group's attributes; `where` names the group for messages.
Hdf5TableInfo read_info(hid_t group, const std::string& name, const std::string& where) {
  Hdf5TableInfo info;
  info.name = name;
  const auto version = read_int64_attribute(group, "format_version");
  if (!version) {
    throw InputError("{} is not a shardflow table (no format_version attribute)", where);
  }
  if (*version < 1 || *version > kTableFormatVersion) {
    throw InputError(
        "{} has table format version {}, but this shardflow reads versions 1 to {}; rerun "
        "the stage that produces it with this version",
        where, *version, kTableFormatVersion);
  }
  info.format_version = *version;
  const auto columns = read_string_array_attribute(group, "columns");
  const auto schema = read_string_attribute(group, "schema");
  const auto rows = read_int64_attribute(group, "num_rows");
  if (!columns || !schema || !rows || *rows < 0) {
    throw InputError(
        "{} lacks its columns, schema or num_rows attribute; the file is damaged; "
        "rerun the stage that produces it",
        where);
  }
  info.schema = parse_schema(*schema, *columns, where);
  info.num_rows = *rows;
  info.fingerprint = read_string_attribute(group, "fingerprint").value_or("");
  info.complete = read_int64_attribute(group, "complete").value_or(0) == 1;
  return info;
}

// ---- tables written by other tools (see the header) -------------------------------------------

// The names of the 1-D datasets in `group`, in name order, with their lengths.
std::vector<std::pair<std::string, idx_t>> vector_datasets(hid_t group) {
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t index = 0;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names);
  std::vector<std::pair<std::string, idx_t>> out;
  for (const auto& n : names) {
    Hid object(H5Oopen(group, n.c_str(), H5P_DEFAULT), H5Oclose);
    if (!object.valid() || H5Iget_type(object.get()) != H5I_DATASET) continue;
    Hid space(H5Dget_space(object.get()), H5Sclose);
    if (!space.valid() || H5Sget_simple_extent_ndims(space.get()) != 1) continue;
    hsize_t dims[1] = {0};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    out.emplace_back(n, static_cast<idx_t>(dims[0]));
  }
  H5Eclear2(H5E_DEFAULT);
  return out;
}

// The column type of a dataset of HDF5 type `type`, or "" in `why` and nullopt.
std::optional<DataType> foreign_column_type(hid_t type, std::string& why) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      if ((is_signed && size <= 4) || (!is_signed && size <= 2)) return DataType::kInt32;
      if ((is_signed && size == 8) || (!is_signed && size == 4)) return DataType::kInt64;
      why = fmt::format("{}-bit {} integers do not fit int64; convert them to int64", 8 * size,
                        is_signed ? "signed" : "unsigned");
      return std::nullopt;
    }
    case H5T_FLOAT:
      if (size == 4) return DataType::kFloat32;
      if (size == 8) return DataType::kFloat64;
      why = fmt::format("{}-bit floats are not supported; convert them to float32 or float64",
                        8 * size);
      return std::nullopt;
    case H5T_ENUM: {
      // h5py's bool: an 8-bit enum {FALSE: 0, TRUE: 1}.
      char name[16] = {};
      if (H5Tget_nmembers(type) == 2 && size == 1 && H5Tenum_nameof(type, "\x00", name, 16) >= 0 &&
          std::string(name) == "FALSE")
        return DataType::kBool;
      why = "enums other than h5py's bool (FALSE/TRUE) are not supported";
      return std::nullopt;
    }
    case H5T_STRING:
      return DataType::kString;
    default:
      why = "only integer, float, bool and string datasets can be columns";
      return std::nullopt;
  }
}

// A foreign group's table description (`problem` set when it is not a table).
Hdf5TableInfo read_foreign_info(hid_t group, const std::string& name) {
  Hdf5TableInfo info;
  info.name = name;
  info.complete = true;
  info.format_version = 0;
  const auto datasets = vector_datasets(group);
  if (datasets.empty()) {
    info.problem = "it holds no 1-D dataset (a table is a group of equal-length 1-D datasets)";
    return info;
  }
  std::vector<table::Field> fields;
  for (const auto& [dataset, length] : datasets) {
    if (length != datasets.front().second) {
      info.problem = fmt::format(
          "its datasets differ in length ('{}' has {} elements, '{}' has {}); a table is a group "
          "of equal-length 1-D datasets",
          datasets.front().first, datasets.front().second, dataset, length);
      return info;
    }
    Hid d(H5Dopen2(group, dataset.c_str(), H5P_DEFAULT), H5Dclose);
    Hid type(d.valid() ? H5Dget_type(d.get()) : -1, H5Tclose);
    std::string why = "its type cannot be read";
    const auto column_type = type.valid() ? foreign_column_type(type.get(), why) : std::nullopt;
    if (!column_type) {
      info.problem = fmt::format("dataset '{}': {}", dataset, why);
      H5Eclear2(H5E_DEFAULT);
      return info;
    }
    fields.push_back({dataset, *column_type});
  }
  info.schema = table::Schema(std::move(fields));
  info.num_rows = datasets.front().second;
  return info;
}

// Collective: strings [offset, offset + count) of a variable-length string dataset (read
// independently: parallel HDF5 reads variable-length data only that way).
std::vector<std::string> read_vlen_strings(const ReadContext& ctx, hid_t dataset,
                                           const std::string& name, idx_t offset, idx_t count) {
  const std::string object = "/" + ctx.table + "/" + name;
  const auto spaces = select_rows(dataset, offset, count);
  const Hid& file_space = spaces.first;
  const Hid& mem_space = spaces.second;
  Hid file_type(H5Dget_type(dataset), H5Tclose);
  Hid mem_type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem_type.get(), H5T_VARIABLE);
  H5Tset_cset(mem_type.get(), H5Tget_cset(file_type.get()));
  std::vector<char*> pointers(static_cast<size_t>(std::max<idx_t>(count, 1)), nullptr);
  std::vector<std::string> out(static_cast<size_t>(count));
  ctx.comm.agree([&] {
    check_h5(H5Dread(dataset, mem_type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT,
                     pointers.data()),
             "H5Dread of variable-length strings", ctx.path, object);
    for (size_t i = 0; i < out.size(); ++i)
      if (pointers[i] != nullptr) out[i] = pointers[i];
    if (count > 0) H5Dvlen_reclaim(mem_type.get(), mem_space.get(), H5P_DEFAULT, pointers.data());
  });
  return out;
}

// The table's columns, every fixed-width one sized to `count` rows before any is read, so that
// the columns lie next to each other in the heap. Sized one by one between the reads, what the
// reads allocate and keep (HDF5, MPI-IO) could land between them and split the memory the table
// leaves when freed into pieces too small for the next large block, which then took fresh pages.
// Measured on the training benchmark's job (2e6 x 64 synthetic HDF5 input, two filters, logistic
// training, 2 ranks, alternating with the previous build, 2026-12-04): the largest free block at
// the training matrix's allocation grew from 280 MB to 520 MB, so the 410 MB float64 matrix now
// reuses the input's freed pages (peak 1077 MiB per rank instead of 1468; set-up before the first
// step 0.34-1.34 s against 1.98-4.46 s, on a machine busy with a test run). Stage files read back
// the same way (2026-12-05): the 8.7 GB training table of train_comparisons.sh --rows 2e7, read
// at 2 ranks by a job whose input is that stage file (`{format: hdf5, path: STAGE, table: NAME}`
// and a count), alternating builds: 7.6 and 8.9 s against 26.2 and 32.8 s sized one by one.
std::vector<Column> presized_columns(const table::Schema& schema, idx_t count) {
  std::vector<Column> columns;
  for (const auto& field : schema.fields()) {
    Column column(field.type);
    if (field.type != DataType::kString) {
      column.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, table::PlainStrings>) v.resize(static_cast<size_t>(count));
      });
    }
    columns.push_back(std::move(column));
  }
  return columns;
}

// Collective: the columns of a foreign table (see the header).
table::Table read_foreign_table(const ReadContext& ctx, const Hdf5TableInfo& info, idx_t begin,
                                idx_t count) {
  std::vector<Column> columns = presized_columns(info.schema, count);
  table::Table result;
  for (size_t f = 0; f < info.schema.fields().size(); ++f) {
    const auto& field = info.schema.fields()[f];
    Hid dataset = open_dataset(ctx, field.name, info.num_rows);
    Column& column = columns[f];
    if (field.type == DataType::kString) {
      column = Column::plain_strings();
      int variable = 0;
      ctx.comm.agree([&] {
        Hid type(H5Dget_type(dataset.get()), H5Tclose);
        variable = H5Tis_variable_str(type.get()) > 0 ? 1 : 0;
      });
      const auto strings =
          variable
              ? read_vlen_strings(ctx, dataset.get(), field.name, begin, count)
              : read_fixed_strings(ctx, dataset.get(), field.name, info.num_rows, begin, count);
      for (const auto& s : strings)
        column.plain().push_back(s);
    } else if (field.type == DataType::kBool) {
      auto& v = column.values<std::uint8_t>();
      Hid file_type(H5Dget_type(dataset.get()), H5Tclose);
      Hid mem_type(H5Tget_native_type(file_type.get(), H5T_DIR_ASCEND), H5Tclose);
      read_rows(ctx, dataset.get(), field.name, mem_type.get(), info.num_rows, begin, count,
                v.data());
      for (auto& b : v)
        b = b != 0 ? 1 : 0;
    } else {
      column.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, table::PlainStrings>) {
          read_rows(ctx, dataset.get(), field.name, native_type(column), info.num_rows, begin,
                    count, v.data());
        }
      });
    }
    result.add_column(field.name, std::move(column));
  }
  return result;
}

}  // namespace

table::Table read_table(const mpi::Comm& comm, const std::string& path, const std::string& name) {
  silence_hdf5_errors();
  comm.agree([&] {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw InputError(
          "HDF5 file {} does not exist (wanted table '{}'); check the path or rerun "
          "the stage that produces it",
          path, name);
    }
  });
  Hid fapl = mpio_file_access(comm);
  Hid file;
  comm.agree([&] {
    const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
    if (id < 0) {
      throw InputError(
          "cannot open {} as an HDF5 file to read table '{}': {}; the file is not "
          "HDF5 or is damaged",
          path, name, hdf5_error_detail());
    }
    file = Hid(id, H5Fclose);
  });
  const std::string where = "table '" + name + "' in " + path;
  Hid group;
  Hdf5TableInfo info;
  comm.agree([&] {
    if (name.empty() || (name != "/" && !link_exists(file.get(), name))) {
      throw InputError(
          "{} has no table '{}' (tables: {}); check the table name or rerun the stage "
          "that produces it",
          path, name, join(root_groups(file.get())));
    }
    group = checked_hid(H5Gopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Gclose,
                        "opening the group", path, name == "/" ? "/" : "/" + name);
    if (!has_attribute(group.get(), "format_version")) {
      info = read_foreign_info(group.get(), name);
      if (!info.problem.empty())
        throw InputError("{} cannot be read as a table: {}", where, info.problem);
      return;
    }
    info = read_info(group.get(), name, where);
    if (!info.complete) {
      throw InputError(
          "{} was not completely written (the writer was interrupted); rerun the "
          "stage that produces it",
          where);
    }
  });

  const idx_t total = info.num_rows;
  const idx_t p = comm.size();
  const idx_t r = comm.rank();
  const idx_t begin = total / p * r + std::min(total % p, r);
  const idx_t count = total / p + (r < total % p ? 1 : 0);

  Hid dxpl = collective_transfer();
  const ReadContext ctx{comm, path, name, group.get(), dxpl.get()};
  table::Table result;
  if (info.format_version == 0) {
    result = read_foreign_table(ctx, info, begin, count);
    comm.agree([&] {
      group.reset();
      if (!file.reset()) {
        throw RuntimeError("closing HDF5 file {} failed: {}", path, hdf5_error_detail());
      }
    });
    return result;
  }
  std::vector<Column> columns = presized_columns(info.schema, count);
  for (size_t f = 0; f < info.schema.fields().size(); ++f) {
    const auto& field = info.schema.fields()[f];
    Hid dataset = open_dataset(ctx, field.name, total);
    std::string encoding;
    comm.agree([&] { encoding = read_string_attribute(dataset.get(), "encoding").value_or(""); });
    Column& column = columns[f];
    if (field.type == DataType::kString && info.format_version >= 2 && encoding == "lengths") {
      column = Column::plain_strings();
      column.plain() = read_strings(ctx, field.name, total, begin, count);
    } else if (field.type == DataType::kString && info.format_version == 1 && encoding == "plain") {
      column = Column::plain_strings();
      auto strings = read_fixed_strings(ctx, dataset.get(), field.name, total, begin, count);
      for (const auto& s : strings)
        column.plain().push_back(s);
    } else if (field.type == DataType::kString) {
      if (encoding != "dictionary") {
        comm.agree([&] {
          throw InputError(
              "string column '{}' of {} has unknown encoding '{}' for table format version {}; "
              "the file was not written by this shardflow version",
              field.name, where, encoding, info.format_version);
        });
      }
      auto& codes = column.codes();
      codes.resize(static_cast<size_t>(count));
      read_rows(ctx, dataset.get(), field.name, H5T_NATIVE_INT32, total, begin, count,
                codes.data());
      const std::string dict_name = field.name + kDictionarySuffix;
      idx_t dict_size = 0;
      comm.agree([&] {
        Hid d = checked_hid(H5Dopen2(group.get(), dict_name.c_str(), H5P_DEFAULT), H5Dclose,
                            "opening the dictionary", path, "/" + name + "/" + dict_name);
        Hid space(H5Dget_space(d.get()), H5Sclose);
        dict_size = H5Sget_simple_extent_npoints(space.get());
      });
      // Every rank needs the whole dictionary.
      std::vector<std::string> values;
      if (info.format_version >= 2) {
        const auto strings = read_strings(ctx, dict_name, dict_size, 0, dict_size, true);
        values.reserve(static_cast<size_t>(dict_size));
        for (idx_t i = 0; i < strings.size(); ++i)
          values.emplace_back(strings.at(i));
      } else {
        Hid dict = open_dataset(ctx, dict_name, dict_size);
        values = read_fixed_strings(ctx, dict.get(), dict_name, dict_size, 0, dict_size);
      }
      comm.agree([&] {
        column.set_dictionary(std::make_shared<const table::Dictionary>(std::move(values)));
        for (auto code : codes) {
          if (code < 0 || code >= dict_size) {
            throw InputError(
                "column '{}' of {} holds dictionary code {} outside [0, {}); the file "
                "is damaged; rerun the stage that produces it",
                field.name, where, code, dict_size);
          }
        }
      });
    } else {
      column.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, table::PlainStrings>) {
          read_rows(ctx, dataset.get(), field.name, native_type(column), total, begin, count,
                    v.data());
        }
      });
    }
    const std::string valid_name = field.name + kValidSuffix;
    int has_valid = 0;
    comm.agree([&] { has_valid = link_exists(group.get(), valid_name) ? 1 : 0; });
    if (has_valid) {
      Hid valid = open_dataset(ctx, valid_name, total);
      auto& validity = column.validity();
      validity.resize(static_cast<size_t>(count));
      read_rows(ctx, valid.get(), valid_name, H5T_NATIVE_UINT8, total, begin, count,
                validity.data());
      column.compact_validity();
    }
    result.add_column(field.name, std::move(column));
  }
  comm.agree([&] {
    group.reset();
    if (!file.reset()) {
      throw RuntimeError("closing HDF5 file {} failed: {}", path, hdf5_error_detail());
    }
  });
  return result;
}

std::vector<Hdf5TableInfo> list_tables(const std::string& path) {
  silence_hdf5_errors();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw InputError("HDF5 file {} does not exist; check the path", path);
  }
  Hid fapl = serial_file_access();
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.valid()) {
    throw InputError("cannot open {} as an HDF5 file: {}; the file is not HDF5 or is damaged", path,
                     hdf5_error_detail());
  }
  std::vector<Hdf5TableInfo> out;
  std::vector<Hdf5TableInfo> foreign;
  for (const auto& name : root_groups(file.get())) {
    Hid group(H5Gopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Gclose);
    if (!group.valid()) continue;
    if (has_attribute(group.get(), "format_version")) {
      out.push_back(read_info(group.get(), name, "table '" + name + "' in " + path));
    } else if (!vector_datasets(group.get()).empty()) {
      foreign.push_back(read_foreign_info(group.get(), name));
    }
  }
  Hid root(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose);
  if (root.valid() && !vector_datasets(root.get()).empty())
    foreign.push_back(read_foreign_info(root.get(), "/"));
  out.insert(out.end(), foreign.begin(), foreign.end());
  return out;
}

}  // namespace shardflow::io
