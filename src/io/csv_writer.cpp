#include "shardflow/io/csv_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iterator>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/file.hpp"

namespace shardflow::io {

using table::DataType;

void write_ordered_text(const mpi::Comm& comm, const std::string& local_text,
                        const std::string& path) {
  const auto size = static_cast<idx_t>(local_text.size());
  const idx_t offset = mpi::exscan_sum(comm, size);
  // Each collective write moves at most 1 GiB per rank; every rank takes part in every round
  // (with zero bytes once its block is done) because write_at_all is collective.
  constexpr idx_t kRound = idx_t{1} << 30;
  const idx_t rounds = mpi::allreduce_max(comm, (size + kRound - 1) / kRound);
  const std::string tmp = path + ".tmp";

  comm.agree([&] {
    if (!comm.is_root()) return;
    const std::filesystem::path p(path);
    std::error_code ec;
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) {
      throw RuntimeError("cannot create the directory of output file '{}': {}", path, ec.message());
    }
    std::filesystem::remove(tmp, ec);  // a stale temp file from a killed run
  });

  mpi::File file = mpi::File::create(comm, tmp);
  for (idx_t round = 0; round < rounds; ++round) {
    const idx_t begin = std::min(size, round * kRound);
    const idx_t n = std::min(kRound, size - begin);
    file.write_at_all(offset + begin,
                      std::span<const char>(local_text.data() + begin, static_cast<size_t>(n)));
  }
  file.close();  // reports, agreed, any rank's failed write or close
  maybe_inject_fault("text_written:" + std::filesystem::path(path).filename().string(),
                     comm.rank());
  // Some MPI-IO paths report a failed write (ENOSPC) only on stderr and return success, so the
  // file's size is checked before it may appear under its final name.
  const idx_t total = mpi::allreduce_sum(comm, size);
  comm.agree([&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    const auto written = std::filesystem::file_size(tmp, ec);
    if (ec || static_cast<idx_t>(written) != total) {
      std::filesystem::remove(tmp, ec);
      throw RuntimeError(
          "short write: '{}' holds {} of {} bytes (is the disk full? No space left on device is "
          "the usual cause); free space or choose another directory",
          tmp, ec ? 0 : static_cast<idx_t>(written), total);
    }
    publish_file(tmp, path);  // fsync, rename, fsync the directory
  });
}

void append_csv_header(const table::Schema& schema, char delimiter, std::string& out) {
  for (int k = 0; k < schema.num_fields(); ++k) {
    if (k > 0) out.push_back(delimiter);
    csv::append_string_field(schema.field(k).name, delimiter, out);
  }
  out.push_back('\n');
}

void append_value_text(const table::Column& col, idx_t i, std::string& out) {
  const auto row = static_cast<size_t>(i);
  switch (col.type()) {
    case DataType::kInt32:
      fmt::format_to(std::back_inserter(out), "{}", col.values<std::int32_t>()[row]);
      break;
    case DataType::kInt64:
      fmt::format_to(std::back_inserter(out), "{}", col.values<std::int64_t>()[row]);
      break;
    case DataType::kFloat32: {
      const size_t start = out.size();
      fmt::format_to(std::back_inserter(out), "{}", col.values<float>()[row]);
      if (std::string_view(out).substr(start).find_first_of(".eEna") == std::string::npos)
        out.append(".0");
      break;
    }
    case DataType::kFloat64:
      csv::append_float64(col.values<double>()[row], out);
      break;
    case DataType::kBool:
      out.append(col.values<std::uint8_t>()[row] ? "true" : "false");
      break;
    case DataType::kTimestamp:
      csv::append_timestamp(col.values<std::int64_t>()[row], out);
      break;
    case DataType::kString:
      out.append(col.string_at(i));
      break;
  }
}

void append_csv_rows(const table::Table& table, idx_t first, idx_t count, char delimiter,
                     std::string& out) {
  const int ncols = table.num_columns();
  for (idx_t i = first; i < first + count; ++i) {
    for (int k = 0; k < ncols; ++k) {
      if (k > 0) out.push_back(delimiter);
      const table::Column& col = table.column(k);
      if (!col.is_valid(i)) {
        // An empty line would be read back as a blank line, not as a row.
        if (ncols == 1) out.append("\"\"");
        continue;
      }
      if (col.type() == DataType::kString)
        csv::append_string_field(col.string_at(i), delimiter, out);
      else
        append_value_text(col, i, out);
    }
    out.push_back('\n');
  }
}

void write_csv(const mpi::Comm& comm, const table::Table& table, const std::string& path,
               char delimiter) {
  std::string text;
  if (comm.is_root()) append_csv_header(table.schema(), delimiter, text);
  // Formatting is most of the time (the write is one collective pass), so progress counts the
  // rows formatted, a block at a time.
  const idx_t n = table.num_rows();
  Progress progress("writing " + std::filesystem::path(path).filename().string(), n, "rows",
                    comm.is_root());
  constexpr idx_t kBlock = idx_t{1} << 16;
  for (idx_t first = 0; first < n; first += kBlock) {
    const idx_t count = std::min(kBlock, n - first);
    append_csv_rows(table, first, count, delimiter, text);
    progress.update(first + count);
  }
  write_ordered_text(comm, text, path);
}

}  // namespace shardflow::io
