#pragma once
// Which host each rank runs on.

#include <vector>

#include "shardflow/mpi/comm.hpp"

namespace shardflow::mpi {

/// Collective: for every rank of `comm`, the index of the host it runs on: 0 for rank 0's host,
/// then numbered in order of each host's lowest rank. "Host" is what MPI calls a shared-memory node
/// (MPI_COMM_TYPE_SHARED): Open MPI's node, one per host name given to mpirun or node of a Slurm
/// allocation -- not the process's gethostname(), which several nodes (containers, network
/// namespaces) may share. Costs three small collectives.
std::vector<int> hosts(const Comm& comm);

}  // namespace shardflow::mpi
