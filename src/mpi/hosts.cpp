#include "shardflow/mpi/hosts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace shardflow::mpi {

std::vector<int> hosts(const Comm& comm) {
  // The lowest rank of each shared-memory node names the node; one allgather tells everyone.
  // The node communicator is the one Comm caches (and the exchange uses).
  const int rank = comm.rank();
  int leader = rank;
  check(MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, comm.node().native()),
        "MPI_Allreduce (hosts)");
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

std::vector<std::string> host_names(const Comm& comm) {
  std::vector<char> mine(MPI_MAX_PROCESSOR_NAME, '\0');
  if (const char* pmix = std::getenv("PMIX_HOSTNAME"); pmix != nullptr && *pmix != '\0') {
    std::strncpy(mine.data(), pmix, mine.size() - 1);
  } else {
    int length = 0;
    check(MPI_Get_processor_name(mine.data(), &length), "MPI_Get_processor_name");
  }
  mine.back() = '\0';
  const auto p = static_cast<size_t>(comm.size());
  std::vector<char> all(p * mine.size());
  check(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_CHAR, all.data(),
                      static_cast<int>(mine.size()), MPI_CHAR, comm.native()),
        "MPI_Allgather (host names)");
  std::vector<std::string> names(p);
  for (size_t r = 0; r < p; ++r)
    names[r] = std::string(all.data() + r * mine.size());
  return names;
}

int local_daemon_id() {
  // "JOBFAMILY.VPID;tcp://..." in every process mpirun's daemons start (Open MPI 4).
  const char* uri = std::getenv("OMPI_MCA_orte_local_daemon_uri");
  if (uri == nullptr) return -1;
  const char* dot = std::strchr(uri, '.');
  const char* semicolon = std::strchr(uri, ';');
  if (dot == nullptr || (semicolon != nullptr && semicolon < dot)) return -1;
  char* end = nullptr;
  const long vpid = std::strtol(dot + 1, &end, 10);
  if (end == dot + 1 || vpid < 0 || vpid > (1L << 30)) return -1;
  return static_cast<int>(vpid);
}

std::string describe_ranks_by_host(const std::vector<std::string>& names) {
  std::vector<std::string> order;
  std::vector<std::vector<size_t>> ranks;
  for (size_t r = 0; r < names.size(); ++r) {
    const auto it = std::find(order.begin(), order.end(), names[r]);
    if (it == order.end()) {
      order.push_back(names[r]);
      ranks.push_back({r});
    } else {
      ranks[static_cast<size_t>(it - order.begin())].push_back(r);
    }
  }
  std::string out;
  for (size_t h = 0; h < order.size(); ++h) {
    if (h > 0) out += "; ";
    out += order[h] + ":";
    const auto& rs = ranks[h];
    for (size_t i = 0; i < rs.size();) {
      size_t j = i;
      while (j + 1 < rs.size() && rs[j + 1] == rs[j] + 1)
        ++j;
      out += fmt::format("{}{}", i == 0 ? " " : ",", rs[i]);
      if (j > i) out += fmt::format("-{}", rs[j]);
      i = j + 1;
    }
  }
  return out;
}

}  // namespace shardflow::mpi
