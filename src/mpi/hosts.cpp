#include "shardflow/mpi/hosts.hpp"

namespace shardflow::mpi {

std::vector<int> hosts(const Comm& comm) {
  // The lowest rank of each shared-memory node names the node; one allgather tells everyone.
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(comm.native(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
        "MPI_Comm_split_type (hosts)");
  const int rank = comm.rank();
  int leader = rank;
  const int code = MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  check(code, "MPI_Allreduce (hosts)");
  const auto p = static_cast<size_t>(comm.size());
  std::vector<int> leaders(p);
  check(MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, comm.native()),
        "MPI_Allgather (hosts)");
  std::vector<int> index_of_leader(p, -1);
  std::vector<int> result(p);
  int next = 0;
  for (size_t r = 0; r < p; ++r) {
    int& index = index_of_leader[static_cast<size_t>(leaders[r])];
    if (index < 0) index = next++;
    result[r] = index;
  }
  return result;
}

}  // namespace shardflow::mpi
