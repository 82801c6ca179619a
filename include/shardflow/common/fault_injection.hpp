#pragma once
// Deliberate failures for testing the failure paths of a real run (the e2e and Slurm tests, and
// the fault campaign tests/e2e/test_fault_campaign.sh).
//
// SHARDFLOW_INJECT_FAULT="<point>@<rank>" makes rank <rank> throw a RuntimeError at <point> without
// telling the other ranks, which is exactly the situation DESIGN.md rule 2 must survive: the job
// has to end on every rank within seconds with one clear message. A <point> ending in `*` matches
// every point that starts with the text before it (`text_written:events-*`). With
// SHARDFLOW_INJECT_KILL=1 as well, the rank kills itself with SIGKILL instead of throwing (the
// fault campaign's exact crash points: nothing is flushed, closed or agreed).
//
// Points, by phase ("every rank" = any rank can be named; "root" = only rank 0 passes there):
//   ingest
//     input                  every rank, before reading inputs (inside the agreed input phase)
//     csv_parsed:<input>     every rank, after the CSV reader parsed its byte range, before the
//                            ranks agree on column types and dictionaries
//     text_written:<file>    every rank, after its part of a collectively written text file
//                            (generated data, CSV outputs, quarantine) is in `<file>.tmp`, before
//                            the size check and the rename; <file> is the final file name
//   shuffle
//     shuffle_round:<k>      every rank, before round k (0-based) of a shuffle's exchange; the
//                            first shuffle to reach round k fires
//   stage commit
//     stage_write:<T>        every rank, before the collective write of stage table T
//     stage_publish:<T>      every rank, after T is written under its temporary name, before the
//                            rename
//     stage_committed:<T>    every rank, after T's stage file is renamed into place
//   training
//     train_step:<N>         every rank, after training step N (the other ranks are already in
//                            the next allreduce)
//   checkpoint write
//     ckpt_write:<N>         every rank, as checkpoint N is saved, before its temp file exists
//     ckpt_rename:<N>        root, checkpoint N complete under its temporary name, not renamed
//     ckpt_renamed:<N>       root, checkpoint N renamed into place, `latest` not yet updated and
//                            older checkpoints not yet pruned
//   output write
//     output_write:<T>       every rank, before output table T is written or copied
//     output_written:<T>     every rank, T written by the HDF5 writer under its temporary name,
//                            before the rename (outputs of input tables; outputs of steps are
//                            copies of their stage files)
//     output_published:<T>   every rank, after T is published under outputs/
//     partition_write:<T>    every rank, before it writes its partitions of the partitioned
//                            output T (into <path>.tmp)

#include <string_view>

namespace shardflow {

/// Local: throws RuntimeError on this rank (or raises SIGKILL, see above) if
/// SHARDFLOW_INJECT_FAULT names `point` and `rank`.
void maybe_inject_fault(std::string_view point, int rank);

/// Local: whether the <point> part of SHARDFLOW_INJECT_FAULT, `pattern`, names `point`: equal
/// text, or a prefix of it when `pattern` ends in `*`.
bool fault_point_matches(std::string_view pattern, std::string_view point);

}  // namespace shardflow
