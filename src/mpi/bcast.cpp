#include "shardflow/mpi/bcast.hpp"

namespace shardflow::mpi {

void bcast_string(const Comm& comm, std::string& text, int root) {
  idx_t n = static_cast<idx_t>(text.size());
  bcast(comm, std::span<idx_t>(&n, 1), root);
  text.resize(static_cast<size_t>(n));
  bcast(comm, std::span<char>(text.data(), text.size()), root);
}

}  // namespace shardflow::mpi
