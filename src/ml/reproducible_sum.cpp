#include "shardflow/ml/reproducible_sum.hpp"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/limits.hpp"

namespace shardflow::ml {
namespace {

using int128 = __int128;
using uint128 = unsigned __int128;

// The fixed-point quantum is 2^(E - kFractionBits) for a component whose largest magnitude lies in
// [2^E, 2^(E+1)): every rounded contribution then fits in a signed 64-bit integer (|q| <= 2^62),
// which converts with one instruction, and 2^62 of them still fit the 128-bit accumulator.
constexpr int kFractionBits = 61;

// Adds 128-bit integers element-wise. Unsigned arithmetic wraps instead of overflowing (which
// would be undefined for signed), and the term-count check afterwards reports any wrap.
void add_int128(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const unsigned char*>(in);
  auto* b = static_cast<unsigned char*>(inout);
  for (int i = 0; i < *len; ++i) {
    uint128 x, y;
    std::memcpy(&x, a + 16 * i, 16);
    std::memcpy(&y, b + 16 * i, 16);
    y += x;
    std::memcpy(b + 16 * i, &y, 16);
  }
}

// The MPI type and op are created once, on first use (after MPI_Init), and live until
// MPI_Finalize releases them.
struct Int128Sum {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  Int128Sum() {
    mpi::check(MPI_Type_contiguous(2, MPI_UINT64_T, &type), "MPI_Type_contiguous (int128)");
    mpi::check(MPI_Type_commit(&type), "MPI_Type_commit (int128)");
    mpi::check(MPI_Op_create(&add_int128, /*commute=*/1, &op), "MPI_Op_create (int128 sum)");
  }
};

const Int128Sum& int128_sum() {
  static const Int128Sum instance;
  return instance;
}

void allreduce_int128(const mpi::Comm& comm, std::vector<int128>& data) {
  const Int128Sum& sum = int128_sum();
  const idx_t total = static_cast<idx_t>(data.size());
  const idx_t chunk = mpi::max_message_elements();
  for (idx_t offset = 0; offset < total; offset += chunk) {
    const idx_t n = std::min(chunk, total - offset);
    mpi::check(
        MPI_Allreduce(MPI_IN_PLACE, data.data() + offset, checked_int(n, "reproducible sum count"),
                      sum.type, sum.op, comm.native()),
        "MPI_Allreduce (reproducible sum)");
  }
}

}  // namespace

std::vector<double> reproducible_sum(const mpi::Comm& comm, std::span<const double> contributions,
                                     idx_t width, std::string_view what, std::string_view hint) {
  if (width < 0 || (width == 0 && !contributions.empty()) ||
      (width > 0 && static_cast<idx_t>(contributions.size()) % width != 0)) {
    throw RuntimeError(
        "reproducible_sum({}): {} values do not form rows of width {}; this is a shardflow bug",
        what, contributions.size(), width);
  }
  const auto w = static_cast<size_t>(width);
  const idx_t rows = width == 0 ? 0 : static_cast<idx_t>(contributions.size()) / width;

  // Phase 1: per-component maximum magnitude, plus one flag for a non-finite value. Both are
  // maxima, so one MPI_MAX allreduce serves.
  std::vector<double> maxima(w + 1, 0.0);
  for (idx_t r = 0; r < rows; ++r) {
    const double* row = contributions.data() + static_cast<size_t>(r) * w;
    for (size_t j = 0; j < w; ++j) {
      const double a = std::fabs(row[j]);
      if (!(a <= std::numeric_limits<double>::max())) {
        maxima[w] = 1.0;
      } else if (a > maxima[j]) {
        maxima[j] = a;
      }
    }
  }
  const bool local_bad = maxima[w] != 0.0;
  mpi::allreduce_inplace(comm, std::span<double>(maxima), MPI_MAX);
  if (maxima[w] != 0.0) {
    // Some rank saw a non-finite value; every rank knows it, so the agreement is collective on
    // all ranks and the failing rank supplies the details.
    comm.agree([&] {
      if (!local_bad) return;
      for (idx_t r = 0; r < rows; ++r) {
        for (size_t j = 0; j < w; ++j) {
          const double v = contributions[static_cast<size_t>(r) * w + j];
          if (std::isfinite(v)) continue;
          throw RuntimeError(
              "{}: non-finite value {} in component {} of local row {} on rank {}{}{}", what, v, j,
              r, comm.rank(), hint.empty() ? "" : "; ", hint);
        }
      }
    });
  }

  // Phase 2: exact fixed-point accumulation. The last slot counts contributions.
  std::vector<int> exponents(w, 0);
  std::vector<double> scale(w, 0.0);  // 2^(kFractionBits - E_j); 0 for an all-zero component
  bool multiply_ok = true;
  for (size_t j = 0; j < w; ++j) {
    if (maxima[j] == 0.0) continue;
    exponents[j] = std::ilogb(maxima[j]);
    // Multiplying by a power of two is exact unless the product is subnormal, and a subnormal
    // product is far below 1/2 and rounds to 0 either way. The factor itself overflows only for
    // components whose largest value is below 2^-962; those take the ldexp path.
    if (kFractionBits - exponents[j] > std::numeric_limits<double>::max_exponent - 1) {
      multiply_ok = false;
    } else {
      scale[j] = std::ldexp(1.0, kFractionBits - exponents[j]);
    }
  }
  std::vector<int128> acc(w + 1, 0);
  for (idx_t r = 0; r < rows; ++r) {
    const double* row = contributions.data() + static_cast<size_t>(r) * w;
    for (size_t j = 0; j < w; ++j) {
      // llrint rounds to nearest-even (the default rounding mode); |q| <= 2^62 fits int64.
      const double scaled = multiply_ok || scale[j] != 0.0 || maxima[j] == 0.0
                                ? row[j] * scale[j]
                                : std::ldexp(row[j], kFractionBits - exponents[j]);
      acc[j] += std::llrint(scaled);
    }
  }
  acc[w] = rows;
  allreduce_int128(comm, acc);
  if (acc[w] > static_cast<int128>(kReproducibleSumMaxTerms)) {
    throw RuntimeError(
        "{}: {} contributions exceed the reproducible sum's limit of {} per component; split the "
        "data into smaller batches",
        what, static_cast<long long>(acc[w]), kReproducibleSumMaxTerms);
  }
  std::vector<double> out(w, 0.0);
  for (size_t j = 0; j < w; ++j) {
    if (maxima[j] == 0.0) continue;
    out[j] = std::ldexp(static_cast<double>(acc[j]), exponents[j] - kFractionBits);
  }
  return out;
}

}  // namespace shardflow::ml
