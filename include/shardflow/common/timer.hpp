#pragma once
// Wall-clock stopwatch for progress logs and benchmarks.

#include <chrono>

namespace shardflow {

class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  void reset() {
    start_ = Clock::now();
    last_lap_ = 0;
  }
  /// Seconds since construction or the last reset.
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  /// Seconds since the previous lap (the first: since construction or the last reset), for the
  /// phase times of an operator.
  double lap() {
    const double now = seconds();
    const double since = now - last_lap_;
    last_lap_ = now;
    return since;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  double last_lap_ = 0;
};

}  // namespace shardflow
