#pragma once
// Deliberate failures for testing the failure paths of a real run (the e2e and Slurm tests).
//
// SHARDFLOW_INJECT_FAULT="<point>@<rank>" makes rank <rank> throw a RuntimeError at <point> without
// telling the other ranks, which is exactly the situation DESIGN.md rule 2 must survive: the job
// has to end on every rank within seconds with one clear message. Points:
//   train_step:<N>   after training step N (the other ranks are already in the next allreduce)
//   input            before reading inputs (inside the agreed input phase)

#include <string_view>

namespace shardflow::pipeline {

/// Throws RuntimeError on this rank if SHARDFLOW_INJECT_FAULT names `point` and `rank`.
void maybe_inject_fault(std::string_view point, int rank);

}  // namespace shardflow::pipeline
