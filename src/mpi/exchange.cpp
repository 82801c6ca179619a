#include "shardflow/mpi/exchange.hpp"
#include "shardflow/mpi/comm_time.hpp"

#include <algorithm>

#include "shardflow/common/streaming_copy.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/limits.hpp"
#include "shardflow/mpi/shared_segments.hpp"

namespace shardflow::mpi {

std::string_view to_string(ExchangeTransport transport) {
  switch (transport) {
    case ExchangeTransport::kMpi:
      return "MPI";
    case ExchangeTransport::kSharedMemory:
      return "shared memory";
    case ExchangeTransport::kHybrid:
      return "shared memory on this host, MPI to other hosts";
  }
  return "?";
}

namespace {

MPI_Datatype unsigned_of_width(int width) {
  switch (width) {
    case 1:
      return MPI_UINT8_T;
    case 2:
      return MPI_UINT16_T;
    case 4:
      return MPI_UINT32_T;
    case 8:
      return MPI_UINT64_T;
    default:
      throw RuntimeError("Exchange: element width {} is not 1, 2, 4 or 8 bytes", width);
  }
}

}  // namespace

Exchange::Exchange(const Comm& comm, idx_t area_bytes, bool allow_shared_memory) : comm_(comm) {
  const int p = comm.size();
  const idx_t bytes = std::max<idx_t>(area_bytes, 64);
  bool staged = false;
  if (allow_shared_memory && p > 1) {
    const std::vector<int>& hosts = comm.hosts();
    const int my_host = hosts[static_cast<size_t>(comm.rank())];
    // Whether any host holds two ranks is known to every rank alike (hosts is global).
    std::vector<int> per_host(
        static_cast<size_t>(*std::max_element(hosts.begin(), hosts.end()) + 1));
    for (int h : hosts)
      ++per_host[static_cast<size_t>(h)];
    if (*std::max_element(per_host.begin(), per_host.end()) > 1) {
      node_ = &comm.node();
      if (node_->size() > 1) segments_ = node_->staging_segments(bytes);
      // A host whose segments failed sends through MPI; the others could still stage, but then
      // ranks would disagree on whether receivers read their peers' areas: all or none.
      const int ok = node_->size() == 1 || segments_ != nullptr ? 1 : 0;
      staged = allreduce_min(comm, ok) == 1;
      if (!staged) segments_ = nullptr;
    }
    if (staged) {
      node_rank_.assign(static_cast<size_t>(p), -1);
      int next = 0;
      for (int r = 0; r < p; ++r)
        if (hosts[static_cast<size_t>(r)] == my_host) node_rank_[static_cast<size_t>(r)] = next++;
      transport_ =
          per_host.size() == 1 ? ExchangeTransport::kSharedMemory : ExchangeTransport::kHybrid;
    }
  }
  if (segments_ != nullptr) {
    send_area_ = segments_->mine();
  } else {
    // A rank alone on its host in a hybrid exchange has no segment: its area is private.
    own_area_.reset(new std::uint64_t[static_cast<size_t>((bytes + 7) / 8)]);
    send_area_ = reinterpret_cast<std::byte*>(own_area_.get());
  }
}

Exchange::~Exchange() = default;

bool Exchange::through_shared_memory(int r) const {
  return segments_ != nullptr && r != comm_.rank() && node_rank_[static_cast<size_t>(r)] >= 0;
}

void Exchange::exchange(int width, std::span<const idx_t> send_counts,
                        std::span<const idx_t> send_displs, void* recv,
                        std::span<const idx_t> recv_counts, std::span<const idx_t> recv_displs,
                        std::span<const idx_t> peer_displs) const {
  const detail::CommTimer timer;
  const int p = comm_.size();
  const auto up = static_cast<size_t>(p);
  const MPI_Datatype type = unsigned_of_width(width);
  if (send_counts.size() != up || send_displs.size() != up || recv_counts.size() != up ||
      recv_displs.size() != up || (reads_peer_areas() && peer_displs.size() != up)) {
    throw RuntimeError("Exchange: layouts for {} ranks expected; this is a shardflow bug", p);
  }
  // ---- MPI for every peer not reached through shared memory ---------------------------------
  const bool any_mpi = transport_ != ExchangeTransport::kSharedMemory;
  MPI_Request request = MPI_REQUEST_NULL;
  std::vector<int> layout;
  if (any_mpi) {
    const idx_t limit = max_message_elements();
    layout.assign(4 * up, 0);  // send counts, send displs, recv counts, recv displs
    for (size_t r = 0; r < up; ++r) {
      if (through_shared_memory(static_cast<int>(r))) continue;
      const idx_t values[4] = {send_counts[r], send_displs[r], recv_counts[r], recv_displs[r]};
      for (size_t k = 0; k < 4; ++k) {
        if (values[k] < 0 || values[k] > limit) {
          throw RuntimeError(
              "Exchange: count or displacement {} outside [0, {}]; this is a shardflow bug",
              values[k], limit);
        }
        layout[k * up + r] = static_cast<int>(values[k]);
      }
    }
    // Started first and finished last: on-host copies overlap the network.
    check(MPI_Ialltoallv(send_area_, layout.data(), layout.data() + up, type, recv,
                         layout.data() + 2 * up, layout.data() + 3 * up, type, comm_.native(),
                         &request),
          "MPI_Ialltoallv (exchange)");
  }
  // ---- shared memory for peers on this host -------------------------------------------------
  if (segments_ != nullptr) {
    node_->barrier();  // every segment on this host is filled
    const auto w = static_cast<size_t>(width);
    for (int s = 0; s < p; ++s) {
      const auto us = static_cast<size_t>(s);
      if (!through_shared_memory(s) || recv_counts[us] == 0) continue;
      const std::byte* from =
          segments_->of(node_rank_[us]) + static_cast<size_t>(peer_displs[us]) * w;
      copy_streaming(static_cast<std::byte*>(recv) + static_cast<size_t>(recv_displs[us]) * w, from,
                     static_cast<size_t>(recv_counts[us]) * w);
    }
    node_->barrier();  // every segment on this host has been read
  }
  if (any_mpi) check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait (exchange)");
}

}  // namespace shardflow::mpi
