#pragma once
// Wall time this process spends communicating. Every mpi:: wrapper that moves data between ranks
// or waits for them (the typed collectives, alltoall/alltoallv and their point-to-point split,
// Exchange::exchange with its on-node copies, Comm::barrier, the allgather and broadcasts of
// Comm::agree) opens a CommTimer for the length of its MPI calls; communication_seconds() is the
// process-wide total. The one-time host and shared-segment setup is not timed, nor is MPI-IO
// (mpi/file.hpp) or HDF5: those are I/O. The job runner reads the total before and after each
// step to split the step's wall time into compute, communication and I/O (metrics.json
// `comm_seconds`).
//
// Cost: one steady_clock pair and one relaxed atomic add per outermost wrapper call. Nested
// wrappers (allgatherv calling allgather, exchange calling a node barrier) count once: only the
// outermost timer of a thread adds its time.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shardflow::mpi {

namespace detail {

inline std::atomic<std::int64_t> communication_nanoseconds{0};
inline thread_local int communication_depth = 0;

/// Local: adds the wall time from construction to destruction to the process-wide total, unless
/// another CommTimer of this thread is already open.
class CommTimer {
 public:
  CommTimer() : outermost_(communication_depth++ == 0) {
    if (outermost_) start_ = std::chrono::steady_clock::now();
  }
  ~CommTimer() {
    --communication_depth;
    if (outermost_) {
      const auto elapsed = std::chrono::steady_clock::now() - start_;
      communication_nanoseconds.fetch_add(
          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count(),
          std::memory_order_relaxed);
    }
  }
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;

 private:
  bool outermost_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace detail

/// Local: seconds this process has spent inside the mpi:: communication wrappers since it
/// started (monotonic; differences of two readings time a phase).
inline double communication_seconds() {
  return static_cast<double>(detail::communication_nanoseconds.load(std::memory_order_relaxed)) *
         1e-9;
}

}  // namespace shardflow::mpi
