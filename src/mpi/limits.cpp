#include "shardflow/mpi/limits.hpp"

#include <climits>

namespace shardflow::mpi {
namespace {
idx_t g_max_message_elements = INT_MAX;
}

idx_t max_message_elements() {
  return g_max_message_elements;
}

void set_max_message_elements(idx_t limit) {
  if (limit < 1 || limit > INT_MAX) {
    throw RuntimeError("max message elements must be in [1, {}], got {}", INT_MAX, limit);
  }
  g_max_message_elements = limit;
}

}  // namespace shardflow::mpi
