#pragma once
// Maps C++ element types to MPI datatypes at compile time.

#include <mpi.h>

#include <cstdint>
#include <type_traits>

namespace shardflow::mpi {

template <typename T>
MPI_Datatype datatype() {
  if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, char>)
    return MPI_INT8_T;
  else if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, bool>)
    return MPI_UINT8_T;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return MPI_INT16_T;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return MPI_UINT32_T;
  else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, long long>)
    return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::uint64_t> || std::is_same_v<T, unsigned long long>)
    return MPI_UINT64_T;
  else if constexpr (std::is_same_v<T, float>)
    return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>)
    return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::byte>)
    return MPI_BYTE;
  else
    static_assert(sizeof(T) == 0, "no MPI datatype for this element type");
}

}  // namespace shardflow::mpi
