#pragma once
// Deliberate failures for testing the failure paths of a real run (the e2e and Slurm tests).
//
// SHARDFLOW_INJECT_FAULT="<point>@<rank>" makes rank <rank> throw a RuntimeError at <point> without
// telling the other ranks, which is exactly the situation DESIGN.md rule 2 must survive: the job
// has to end on every rank within seconds with one clear message. Points:
//   train_step:<N>   after training step N (the other ranks are already in the next allreduce)
//   input            before reading inputs (inside the agreed input phase)
//   stage_write:<T>  before the collective write of stage table T
//   stage_publish:<T> after T is written under its temporary name, before the rename
//   stage_committed:<T> after T's stage file is renamed into place
// With SHARDFLOW_INJECT_KILL=1 as well, the rank kills itself with SIGKILL instead of throwing
// (the fault campaign's exact crash points).

#include <string_view>

namespace shardflow::pipeline {

/// Throws RuntimeError on this rank (or raises SIGKILL, see above) if SHARDFLOW_INJECT_FAULT
/// names `point` and `rank`.
void maybe_inject_fault(std::string_view point, int rank);

}  // namespace shardflow::pipeline
