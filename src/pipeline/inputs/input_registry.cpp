// The table of input formats. Adding a format: write src/pipeline/inputs/<format>_input.cpp with
// an `InputFormat <format>_input_format()` and add it to the two lists below.

#include <yaml-cpp/yaml.h>

#include "shardflow/common/error.hpp"
#include "shardflow/common/registry.hpp"
#include "shardflow/io/file_fingerprint.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/pipeline/input_format.hpp"

namespace shardflow::pipeline {

InputFormat csv_input_format();
InputFormat hdf5_input_format();
InputFormat generate_input_format();
InputFormat partitioned_input_format();

const std::vector<InputFormat>& input_formats() {
  static const std::vector<InputFormat> formats = {
      csv_input_format(),
      hdf5_input_format(),
      generate_input_format(),
      partitioned_input_format(),
  };
  return formats;
}

const InputFormat* find_input_format(std::string_view format) {
  return find_entry(input_formats(), format, &InputFormat::format);
}

std::vector<std::string> input_format_names() {
  return entry_names(input_formats(), &InputFormat::format);
}

FileIdentity read_file_identity(const MapView& map) {
  const ConfigNode* node = map.find("fingerprint");
  if (!node) return FileIdentity::kContent;
  return to_choice(*node, map.path("fingerprint"), {"content", "stat"}) == "stat"
             ? FileIdentity::kStat
             : FileIdentity::kContent;
}

std::string_view to_string(FileIdentity identity) {
  return identity == FileIdentity::kStat ? "stat" : "content";
}

std::string file_data_fingerprint(const mpi::Comm& comm, const std::vector<std::string>& paths,
                                  FileIdentity identity) {
  if (identity == FileIdentity::kContent) return io::content_fingerprint(comm, paths);
  // Rank 0 alone stats the files: ranks on other nodes may see another mtime for a while.
  std::string result;
  comm.agree([&] {
    if (comm.is_root()) result = io::stat_fingerprint(paths);
  });
  mpi::bcast_string(comm, result, 0);
  return result;
}

}  // namespace shardflow::pipeline
