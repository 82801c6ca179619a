#pragma once
// Raw MPI handles for C libraries whose API takes them. Only HDF5's MPI-IO driver does today
// (H5Pset_fapl_mpio in io/hdf5_handle.cpp, which with Comm::native() is the one file outside
// mpi/ allowed to hold a raw handle: see tests/arch/check_architecture.py). Everything else goes
// through the typed API.

#include <mpi.h>

namespace shardflow::mpi {

/// MPI_INFO_NULL: "no hints", for a library call that takes an MPI_Info.
inline MPI_Info null_info() {
  return MPI_INFO_NULL;
}

}  // namespace shardflow::mpi
