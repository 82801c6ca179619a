#include "shardflow/common/memory.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

namespace shardflow {

idx_t current_rss_bytes() {
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream statm("/proc/self/statm");
  idx_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<idx_t>(sysconf(_SC_PAGESIZE));
}

idx_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<idx_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

}  // namespace shardflow
