#include "shardflow/io/partitioned_writer.hpp"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <set>
#include <unordered_map>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/io/csv_writer.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::io {

namespace fs = std::filesystem;
using table::DataType;

namespace {

constexpr std::array<bool, 256> make_escape_table() {
  std::array<bool, 256> t{};
  for (int b = 0; b < 256; ++b)
    t[static_cast<size_t>(b)] = b < 0x20 || b >= 0x7F;
  for (const char c : std::string_view("\"#%'*/:=?\\[]^{}"))
    t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kEscape = make_escape_table();

bool needs_escape(char c) {
  return kEscape[static_cast<unsigned char>(c)];
}

std::size_t escaped_size(std::string_view text) {
  std::size_t n = text.size();
  for (const char c : text)
    n += needs_escape(c) ? 2 : 0;
  return n;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The escaped value part of a component (after '=').
std::string escape_value(const std::optional<std::string>& value) {
  if (!value) return std::string(kHiveNullPartition);
  std::string out = escape_partition_text(*value);
  // The literal text of the null marker: escape its first '_' so it stays apart from null.
  if (out == kHiveNullPartition) out = "%5F" + out.substr(1);
  return out;
}

// A short, printable excerpt of a value for error messages.
std::string excerpt(std::string_view value) {
  const std::string escaped = escape_partition_text(value.substr(0, 40));
  return value.size() > 40 ? escaped + "..." : escaped;
}

// Replaces every dictionary of `t` by the sorted set of the values its rows use.
void compact_dictionaries(table::Table& t) {
  for (int k = 0; k < t.num_columns(); ++k) {
    table::Column& col = t.column(k);
    if (col.type() != DataType::kString || !col.is_dictionary_encoded()) continue;
    const auto& dict = *col.dictionary();
    auto& codes = col.codes();
    std::vector<std::int32_t> remap(static_cast<size_t>(dict.size()), -1);
    for (idx_t i = 0; i < col.size(); ++i) {
      if (col.is_valid(i)) remap[static_cast<size_t>(codes[static_cast<size_t>(i)])] = 0;
    }
    std::vector<std::string> used;
    for (size_t c = 0; c < remap.size(); ++c) {
      if (remap[c] < 0) continue;
      remap[c] = static_cast<std::int32_t>(used.size());
      used.push_back(dict.at(static_cast<std::int32_t>(c)));
    }
    // Only nulls: null rows still need a valid code, so keep one (deterministic) value.
    if (used.empty() && dict.size() > 0 && col.size() > 0) used.push_back(dict.at(0));
    for (idx_t i = 0; i < col.size(); ++i) {
      auto& code = codes[static_cast<size_t>(i)];
      code = col.is_valid(i) ? remap[static_cast<size_t>(code)] : 0;
    }
    col.set_dictionary(std::make_shared<const table::Dictionary>(std::move(used)));
  }
}

// The directory names of one partition column: `ids[row]` indexes `names`, one entry per
// distinct name. Each distinct value is formatted and escaped once (dictionary codes, integer
// values and plain strings are looked up; floats by their text, so all NaNs are one name and
// -0.0 another than 0.0, as the names say).
struct ColumnNames {
  std::vector<std::uint32_t> ids;
  std::vector<std::string> names;
  std::vector<idx_t> first_row;  // per name: the first row that has it
};

ColumnNames column_names(const table::Table& t, int k) {
  const table::Column& col = t.column(k);
  const std::string& column = t.schema().field(k).name;
  ColumnNames out;
  const auto n = static_cast<size_t>(t.num_rows());
  out.ids.resize(n);
  std::unordered_map<std::string, std::uint32_t> by_name;
  auto id_of_row = [&](idx_t i) {
    std::string name = partition_component(column, partition_value_text(col, i));
    auto [it, inserted] = by_name.try_emplace(std::move(name), out.names.size());
    if (inserted) {
      out.names.push_back(it->first);
      out.first_row.push_back(i);
    }
    return it->second;
  };
  constexpr std::uint32_t kUnset = UINT32_MAX;
  std::uint32_t null_id = kUnset;
  auto null_or = [&](idx_t i, auto&& valid_id) {
    if (col.is_valid(i)) return valid_id();
    if (null_id == kUnset) null_id = id_of_row(i);
    return null_id;
  };
  if (col.type() == DataType::kString && col.is_dictionary_encoded()) {
    std::vector<std::uint32_t> of_code(static_cast<size_t>(col.dictionary()->size()), kUnset);
    for (size_t i = 0; i < n; ++i) {
      const auto r = static_cast<idx_t>(i);
      out.ids[i] = null_or(r, [&] {
        auto& id = of_code[static_cast<size_t>(col.codes()[i])];
        if (id == kUnset) id = id_of_row(r);
        return id;
      });
    }
  } else if (col.type() == DataType::kInt32 || col.type() == DataType::kInt64 ||
             col.type() == DataType::kTimestamp || col.type() == DataType::kBool) {
    std::unordered_map<std::int64_t, std::uint32_t> of_value;
    for (size_t i = 0; i < n; ++i) {
      const auto r = static_cast<idx_t>(i);
      out.ids[i] = null_or(r, [&] {
        const std::int64_t v = col.type() == DataType::kInt32 ? col.values<std::int32_t>()[i]
                               : col.type() == DataType::kBool
                                   ? std::int64_t{col.values<std::uint8_t>()[i]}
                                   : col.values<std::int64_t>()[i];
        auto [it, inserted] = of_value.try_emplace(v, 0);
        if (inserted) it->second = id_of_row(r);
        return it->second;
      });
    }
  } else if (col.type() == DataType::kString) {
    std::unordered_map<std::string_view, std::uint32_t> of_value;
    for (size_t i = 0; i < n; ++i) {
      const auto r = static_cast<idx_t>(i);
      out.ids[i] = null_or(r, [&] {
        auto [it, inserted] = of_value.try_emplace(col.string_at(r), 0);
        if (inserted) it->second = id_of_row(r);
        return it->second;
      });
    }
  } else {  // floats: by their text
    for (size_t i = 0; i < n; ++i)
      out.ids[i] = id_of_row(static_cast<idx_t>(i));
  }
  return out;
}

// Swaps the complete tree `tmp` into place as `final_dir` (see the header) and fsyncs the parent.
void publish_directory(const fs::path& tmp, const fs::path& final_dir) {
  const fs::path parent = final_dir.has_parent_path() ? final_dir.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(final_dir))) {
    fs::rename(tmp, final_dir, ec);
    if (ec) {
      throw RuntimeError("cannot publish partitioned output '{}': renaming '{}' failed: {}",
                         final_dir.string(), tmp.string(), ec.message());
    }
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) ==
             0) {
    fs::remove_all(tmp, ec);  // now the previous tree
  } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
    // A file system without RENAME_EXCHANGE: move the old tree aside first (a crash in between
    // leaves no tree under the final name, never a mixed one).
    const fs::path old = final_dir.string() + ".old.tmp";
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    if (!ec) fs::rename(tmp, final_dir, ec);
    if (ec) {
      throw RuntimeError("cannot publish partitioned output '{}': {}", final_dir.string(),
                         ec.message());
    }
    fs::remove_all(old, ec);
  } else {
    throw RuntimeError("cannot publish partitioned output '{}': exchanging it with '{}' failed: {}",
                       final_dir.string(), tmp.string(), std::strerror(errno));
  }
  fsync_directory(parent);
}

}  // namespace

// ---- names ------------------------------------------------------------------------------------

std::string escape_partition_text(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(escaped_size(text));
  for (const char c : text) {
    if (!needs_escape(c)) {
      out.push_back(c);
      continue;
    }
    const auto b = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string unescape_partition_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int h = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
    const int l = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (h < 0 || l < 0) {
      throw InputError(
          "bad escape in partition directory name '{}': '%' at byte {} is not "
          "followed by two hex digits",
          text, i);
    }
    out.push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return out;
}

std::optional<std::string> partition_value_text(const table::Column& col, idx_t i) {
  if (!col.is_valid(i)) return std::nullopt;
  std::string out;
  append_value_text(col, i, out);
  return out;
}

std::string partition_component(std::string_view column, const std::optional<std::string>& value) {
  return escape_partition_text(column) + "=" + escape_value(value);
}

std::optional<PartitionComponent> parse_partition_component(std::string_view name) {
  const size_t eq = name.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  PartitionComponent out;
  out.column = unescape_partition_text(name.substr(0, eq));
  const std::string_view value = name.substr(eq + 1);
  if (value != kHiveNullPartition) out.value = unescape_partition_text(value);
  return out;
}

// ---- checking -----------------------------------------------------------------------------------

void check_partition_names(const mpi::Comm& comm, const table::Table& t,
                           const std::vector<int>& partition_columns) {
  const idx_t first_row = mpi::exscan_sum(comm, t.num_rows());
  comm.agree([&] {
    for (const int k : partition_columns) {
      const std::string& name = t.schema().field(k).name;
      const std::size_t prefix = escaped_size(name) + 1;
      if (prefix > kMaxPartitionComponentBytes) {
        throw InputError(
            "partition column name '{}' escapes to {} bytes, too long for a "
            "directory name ({} bytes at most); rename the column",
            excerpt(name), prefix, kMaxPartitionComponentBytes);
      }
      const ColumnNames names = column_names(t, k);
      // The first row (in table order) whose name is too long.
      idx_t bad = -1;
      for (size_t id = 0; id < names.names.size(); ++id) {
        if (names.names[id].size() > kMaxPartitionComponentBytes &&
            (bad < 0 || names.first_row[id] < bad))
          bad = names.first_row[id];
      }
      if (bad < 0) continue;
      const std::string value = *partition_value_text(t.column(k), bad);
      throw InputError(
          "partition column '{}', row {} (0-based, in table order): the value '{}' ({} bytes) "
          "gives a directory name of {} bytes, longer than the {}-byte limit of a file name; "
          "partition by a shorter column (e.g. derive substr(...) or hash(...) of it first)",
          name, first_row + bad, excerpt(value), value.size(),
          names.names[names.ids[static_cast<size_t>(bad)]].size(), kMaxPartitionComponentBytes);
    }
  });
}

// ---- writing ------------------------------------------------------------------------------------

PartitionedWriteResult write_partitioned(const mpi::Comm& comm, const table::Table& t,
                                         const std::vector<int>& partition_columns,
                                         const std::string& directory,
                                         const PartitionedWriteOptions& options) {
  fs::path final_dir = fs::path(directory).lexically_normal();
  if (final_dir.has_filename() == false && final_dir.has_parent_path()) {
    final_dir = final_dir.parent_path();  // "events/" -> "events"
  }
  const fs::path tmp = final_dir.string() + ".tmp";
  const fs::path old = final_dir.string() + ".old.tmp";
  const std::string ext = options.format == "csv" ? "csv" : "h5";
  if (options.format != "csv" && options.format != "hdf5") {
    throw ConfigError("partitioned output '{}': unknown format '{}' (csv, hdf5)", directory,
                      options.format);
  }

  std::vector<int> data_columns;
  std::vector<std::string> data_names;
  for (int k = 0; k < t.num_columns(); ++k) {
    if (std::find(partition_columns.begin(), partition_columns.end(), k) ==
        partition_columns.end()) {
      data_columns.push_back(k);
      data_names.push_back(t.schema().field(k).name);
    }
  }
  if (data_columns.empty()) {
    throw ConfigError(
        "partitioned output '{}': partition_by lists every column of the table; "
        "leave at least one column for the files",
        directory);
  }

  comm.agree([&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    if (final_dir.has_parent_path()) fs::create_directories(final_dir.parent_path(), ec);
    if (ec) {
      throw RuntimeError("cannot create the parent directory of partitioned output '{}': {}",
                         final_dir.string(), ec.message());
    }
    fs::remove_all(tmp, ec);  // left by a killed run
    fs::remove_all(old, ec);
    fs::create_directory(tmp, ec);
    if (ec) {
      throw RuntimeError(
          "cannot create '{}' for partitioned output '{}': {}; check the "
          "permissions and free space of '{}'",
          tmp.string(), final_dir.string(), ec.message(), final_dir.parent_path().string());
    }
  });

  PartitionedWriteResult result;
  try {
    comm.agree([&] {
      maybe_inject_fault("partition_write:" + options.table_name, comm.rank());
      // Rows by partition directory, each in table order: rows are grouped by their tuple of
      // per-column name ids, and each group's path built once.
      std::vector<ColumnNames> names;
      for (const int k : partition_columns)
        names.push_back(column_names(t, k));
      std::unordered_map<std::string, std::vector<idx_t>> rows_of;
      std::vector<std::string> order;
      {
        std::unordered_map<std::string, size_t> group_of_key;
        std::vector<std::vector<idx_t>> groups;
        std::string key;
        for (idx_t i = 0; i < t.num_rows(); ++i) {
          key.clear();
          for (const auto& c : names) {
            const std::uint32_t id = c.ids[static_cast<size_t>(i)];
            key.append(reinterpret_cast<const char*>(&id), sizeof id);
          }
          auto [it, inserted] = group_of_key.try_emplace(key, groups.size());
          if (inserted) {
            std::string path;
            for (size_t c = 0; c < names.size(); ++c) {
              if (c > 0) path.push_back('/');
              path += names[c].names[names[c].ids[static_cast<size_t>(i)]];
            }
            order.push_back(std::move(path));
            groups.emplace_back();
          }
          groups[it->second].push_back(i);
        }
        for (size_t g = 0; g < groups.size(); ++g)
          rows_of.emplace(order[g], std::move(groups[g]));
      }
      std::sort(order.begin(), order.end());
      std::unique_ptr<mpi::Comm> self;
      if (options.format == "hdf5" && !order.empty())
        self = std::make_unique<mpi::Comm>(mpi::Comm::self());
      std::set<fs::path> directories;
      Progress progress("writing partitions of " + final_dir.filename().string(), t.num_rows(),
                        "rows", comm.is_root());
      idx_t rows_written = 0;
      for (const std::string& part : order) {
        const fs::path dir = tmp / part;
        const fs::path file = dir / ("part-00000." + ext);
        try {
          fs::create_directories(dir);
          const std::vector<idx_t>& rows = rows_of.at(part);
          table::Table sub = t.take(rows).select(data_names);
          compact_dictionaries(sub);
          if (options.format == "csv") {
            std::string text;
            append_csv_header(sub.schema(), ',', text);
            append_csv_rows(sub, 0, sub.num_rows(), ',', text);
            write_file_atomically(file, text);
          } else {
            Hdf5WriteOptions h5;
            h5.chunk_rows = options.chunk_rows;
            h5.fingerprint = options.fingerprint;
            h5.report_progress = false;  // this loop reports for all partitions
            write_table(*self, file.string(), options.table_name, sub, h5);
            fsync_file(file);
          }
        } catch (const std::exception& e) {
          throw RuntimeError("cannot write partition file '{}': {}", file.string(), e.what());
        }
        for (fs::path d = dir; d != tmp && d.has_parent_path(); d = d.parent_path())
          directories.insert(d);
        ++result.partitions;
        ++result.files;
        rows_written += static_cast<idx_t>(rows_of.at(part).size());
        progress.update(rows_written);
      }
      for (const fs::path& d : directories)
        fsync_directory(d);
    });
    comm.agree([&] {
      if (!comm.is_root()) return;
      fsync_directory(tmp);
      publish_directory(tmp, final_dir);
    });
  } catch (...) {
    if (comm.is_root()) {
      std::error_code ec;
      fs::remove_all(tmp, ec);
    }
    throw;
  }
  return result;
}

}  // namespace shardflow::io
