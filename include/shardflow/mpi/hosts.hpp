#pragma once
// Which host each rank runs on.

#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"

namespace shardflow::mpi {

/// Collective: for every rank of `comm`, the index of the host it runs on: 0 for rank 0's host,
/// then numbered in order of each host's lowest rank. "Host" is what MPI calls a shared-memory node
/// (MPI_COMM_TYPE_SHARED): Open MPI's node, one per host name given to mpirun or node of a Slurm
/// allocation -- not the process's gethostname(), which several nodes (containers, network
/// namespaces) may share. Costs two small collectives (and the node split on first use);
/// Comm::hosts() caches the result.
std::vector<int> hosts(const Comm& comm);

/// Collective: for every rank of `comm`, the name of the node it runs on as the launcher knows it
/// (PMIX_HOSTNAME, which Open MPI's mpirun and Slurm's PMIx plugin set to the name mpirun's own
/// messages use, e.g. "Remote daemon: ... on node NAME"), else MPI_Get_processor_name. One
/// allgather of MPI_MAX_PROCESSOR_NAME bytes per rank.
std::vector<std::string> host_names(const Comm& comm);

/// Local: the id of the Open MPI daemon (orted) that started this process -- what mpirun's "lost
/// communication with a remote daemon" notice names -- or -1 when not started by Open MPI's
/// mpirun (a single process, srun).
int local_daemon_id();

/// Local: "vm: 0-1; node2: 2-3" -- each host with its ranks (ranges where consecutive), hosts in
/// order of their lowest rank. `names[r]` is rank r's host.
std::string describe_ranks_by_host(const std::vector<std::string>& names);

}  // namespace shardflow::mpi
