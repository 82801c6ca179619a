// reproducible_sum: bit-identical results for every split of the same contributions (even blocks,
// all on one rank, empty ranks, reversed local order) and at every rank count, checked against a
// single-process reference computed over MPI_COMM_SELF on rank 0; exactness on values whose sum is
// known; the non-finite error path.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/simd.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;

namespace {

constexpr idx_t kRows = 1000;
constexpr idx_t kWidth = 4;

double uniform(std::uint64_t seed, idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(seed), static_cast<std::uint64_t>(g * 16 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

// Global row g of the test data: mixed magnitudes with signs; heavy cancellation; multiples of
// 1/8 (exact sum known); zeros.
std::vector<double> global_row(idx_t g) {
  const double sign = uniform(7, g, 0) < 0.5 ? -1.0 : 1.0;
  const double mixed = sign * std::pow(10.0, -12.0 + 24.0 * uniform(7, g, 1));
  const double cancel = (g % 2 == 0 ? 1e16 : -1e16) + uniform(7, g, 2);
  const double eighths = static_cast<double>(static_cast<int>(uniform(7, g, 3) * 2001) - 1000) / 8;
  return {mixed, cancel, eighths, 0.0};
}

using testing_util::split;

std::vector<double> rows(idx_t begin, idx_t end, bool reversed) {
  std::vector<double> out;
  for (idx_t k = begin; k < end; ++k) {
    const idx_t g = reversed ? end - 1 - (k - begin) : k;
    for (double v : global_row(g))
      out.push_back(v);
  }
  return out;
}

std::vector<double> self_reference(const mpi::Comm& comm) {
  std::vector<double> ref(kWidth);
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    ref = ml::reproducible_sum(self, rows(0, kRows, false), kWidth, "reference");
  }
  mpi::bcast(comm, std::span<double>(ref), 0);
  return ref;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

void expect_same_message_everywhere(const mpi::Comm& comm, const std::string& message) {
  const auto all = mpi::allgather<std::uint64_t>(comm, hash_string(message));
  for (auto h : all)
    EXPECT_EQ(h, all[0]) << message;
}

}  // namespace

TEST(ReproducibleSum, IdenticalBitsForEverySplitAndRankCount) {
  mpi::Comm comm;
  const std::vector<double> ref = self_reference(comm);
  for (int mode : {0, 1, 2}) {
    for (bool reversed : {false, true}) {
      const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
      const auto sum = ml::reproducible_sum(comm, rows(b, e, reversed), kWidth, "test");
      EXPECT_TRUE(same_bits(sum, ref))
          << "mode " << mode << " reversed " << reversed << ": " << sum[0] << " vs " << ref[0]
          << ", " << sum[1] << " vs " << ref[1];
    }
  }
}

// FixedPointSums given the global maxima (the streaming form) adds up to reproducible_sum's bits,
// for every split, whether contributions come by row or by component.
TEST(ReproducibleSum, FixedPointSumsMatchReproducibleSum) {
  mpi::Comm comm;
  const std::vector<double> ref = self_reference(comm);
  std::vector<double> maxima(kWidth, 0.0);
  for (idx_t g = 0; g < kRows; ++g)
    for (idx_t j = 0; j < kWidth; ++j)
      maxima[static_cast<size_t>(j)] = std::max(maxima[static_cast<size_t>(j)],
                                                std::fabs(global_row(g)[static_cast<size_t>(j)]));
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    ml::FixedPointSums by_row(maxima);
    ml::FixedPointSums by_component(maxima);
    for (idx_t g = b; g < e; ++g)
      by_row.add_row(global_row(g).data());
    for (idx_t j = 0; j < kWidth; ++j)
      for (idx_t g = e - 1; g >= b; --g)
        by_component.add(static_cast<size_t>(j), global_row(g)[static_cast<size_t>(j)]);
    by_component.count_rows(e - b);
    const std::vector<double> rows_sum = by_row.finish(comm, "by row");
    const std::vector<double> components_sum = by_component.finish(comm, "by component");
    EXPECT_EQ(std::memcmp(rows_sum.data(), ref.data(), ref.size() * sizeof(double)), 0) << mode;
    EXPECT_EQ(std::memcmp(components_sum.data(), ref.data(), ref.size() * sizeof(double)), 0)
        << mode;
  }
}

// The inline rounding is llrint's: to nearest, ties to even, both signs, up to 2^62.
TEST(ReproducibleSum, RoundToInt64IsLlrint) {
  for (double x : {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 1e18 + 0.5, -4e18, 0x1p62,
                   -0x1p62, 123456789.5, 3.0, -0.0}) {
    EXPECT_EQ(ml::FixedPointSums::round_to_int64(x), std::llrint(x)) << x;
  }
}

TEST(ReproducibleSum, AccurateAndExactWhereRepresentable) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const auto sum = ml::reproducible_sum(comm, rows(b, e, false), kWidth, "test");
  // Brute-force references over all rows on every rank.
  long double mixed = 0, abs_mixed = 0;
  long long eighths = 0;
  for (idx_t g = 0; g < kRows; ++g) {
    const auto r = global_row(g);
    mixed += r[0];
    abs_mixed += std::fabs(r[0]);
    eighths += std::llround(r[2] * 8);
  }
  EXPECT_NEAR(sum[0], static_cast<double>(mixed), static_cast<double>(abs_mixed) * 1e-15);
  // Each 1e16 + u is itself rounded to a multiple of 2 when the row is made; the sum of the rows
  // as doubles is what must come out, exactly (the quantum, 2^(53-61), divides every row).
  long double rows_as_doubles = 0;
  for (idx_t g = 0; g < kRows; ++g)
    rows_as_doubles += static_cast<long double>(global_row(g)[1]);
  EXPECT_EQ(sum[1], static_cast<double>(rows_as_doubles));
  EXPECT_EQ(sum[2], static_cast<double>(eighths) / 8);  // exact
  EXPECT_EQ(sum[3], 0.0);
}

TEST(ReproducibleSum, EmptyEverywhereAndZeroWidth) {
  mpi::Comm comm;
  const auto sum = ml::reproducible_sum(comm, std::vector<double>{}, 3, "empty");
  EXPECT_EQ(sum, std::vector<double>(3, 0.0));
  EXPECT_TRUE(ml::reproducible_sum(comm, std::vector<double>{}, 0, "none").empty());
}

TEST(ReproducibleSum, ExtremeMagnitudesDoNotOverflow) {
  mpi::Comm comm;
  // Every rank contributes 1e308 and -1e308 plus a denormal; the fixed-point scale adapts.
  const double big = 1e308;
  const double tiny = std::numeric_limits<double>::denorm_min();
  std::vector<double> local = {big, tiny, -big, tiny};
  const auto sum = ml::reproducible_sum(comm, local, 2, "extreme");
  EXPECT_EQ(sum[0], 0.0);
  EXPECT_EQ(sum[1], 2 * comm.size() * tiny);
}

TEST(ReproducibleSum, NonFiniteValueIsAgreedError) {
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::infinity()}) {
    mpi::Comm comm;
    const int culprit = comm.size() - 1;
    std::vector<double> local(3 * kWidth, 1.0);
    if (comm.rank() == culprit) local[2 * kWidth + 1] = bad;
    try {
      ml::reproducible_sum(comm, local, kWidth, "test values", "my hint");
      ADD_FAILURE() << "expected an error";
    } catch (const RuntimeError& e) {
      const std::string expected =
          (comm.size() > 1 ? "rank " + std::to_string(culprit) + ": " : std::string()) +
          "test values: non-finite value " + (std::isnan(bad) ? "nan" : "-inf") +
          " in component 1 of local row 2 on rank " + std::to_string(culprit) + "; my hint";
      EXPECT_EQ(std::string(e.what()), expected);
      expect_same_message_everywhere(comm, e.what());
    }
  }
}

// reproducible_outer_sum computes the contributions of an outer-product gradient on the fly; its
// sums must be FixedPointSums' over the stored contributions with the maxima bounded from the
// inputs' largest magnitudes (a brute-force reference here), bit for bit, for every split, with and
// without row weights; the exact maxima (reproducible_sum's bits) when a bound overflows; and its
// non-finite error reproducible_sum's message.
namespace outer {

constexpr int kD = 5;
constexpr int kK = 3;

std::vector<double> features(idx_t g) {
  std::vector<double> x(kD);
  for (int j = 0; j < kD; ++j)
    x[static_cast<size_t>(j)] = (uniform(11, g, j) - 0.5) * std::pow(10.0, 4 * uniform(12, g, j));
  if (g % 7 == 0) x[2] = 0.0;
  return x;
}

std::vector<double> factors(idx_t g) {  // k residuals, then a loss
  std::vector<double> f(kK + 1);
  for (int c = 0; c <= kK; ++c)
    f[static_cast<size_t>(c)] =
        (uniform(13, g, c) - 0.3) * std::pow(10.0, -3 + 6 * uniform(14, g, c));
  return f;
}

double weight(idx_t g) {
  return 0.25 + 3 * uniform(15, g, 0);
}

struct Local {
  std::vector<std::vector<double>> x;
  std::vector<const double*> rows;
  std::vector<double> f, u, contributions;
};

Local local_rows(idx_t begin, idx_t end, bool weighted) {
  Local l;
  for (idx_t g = begin; g < end; ++g) {
    l.x.push_back(features(g));
    const auto f = factors(g);
    l.f.insert(l.f.end(), f.begin(), f.end());
    l.u.push_back(weighted ? weight(g) : 1.0);
    for (int c = 0; c < kK; ++c) {
      const double r = f[static_cast<size_t>(c)];
      for (double x : l.x.back())
        l.contributions.push_back(weighted ? (r * x) * l.u.back() : r * x);
      l.contributions.push_back(weighted ? r * l.u.back() : r);
    }
    l.contributions.push_back(weighted ? f[kK] * l.u.back() : f[kK]);
  }
  for (const auto& x : l.x)
    l.rows.push_back(x.data());
  return l;
}

// After a test changed l.x or l.f in place: the row pointers and the (unweighted) contributions
// again.
void recompute(Local& l) {
  l.rows.clear();
  for (const auto& x : l.x)
    l.rows.push_back(x.data());
  l.contributions.clear();
  for (size_t i = 0; i < l.x.size(); ++i) {
    for (int c = 0; c < kK; ++c) {
      const double r = l.f[i * (kK + 1) + static_cast<size_t>(c)];
      for (double x : l.x[i])
        l.contributions.push_back(r * x);
      l.contributions.push_back(r);
    }
    l.contributions.push_back(l.f[i * (kK + 1) + kK]);
  }
}

}  // namespace outer

namespace outer {

// The bounds the contract names, computed the slow way from every global row: (R_c * X_j) * U,
// R_c * U and L * U.
std::vector<double> bounds(const Local& all) {
  std::vector<double> x_max(kD, 0.0), f_max(kK + 1, 0.0);
  double u_max = 0.0;
  for (size_t i = 0; i < all.x.size(); ++i) {
    for (int j = 0; j < kD; ++j)
      x_max[static_cast<size_t>(j)] =
          std::max(x_max[static_cast<size_t>(j)], std::fabs(all.x[i][static_cast<size_t>(j)]));
    for (int c = 0; c <= kK; ++c)
      f_max[static_cast<size_t>(c)] = std::max(
          f_max[static_cast<size_t>(c)], std::fabs(all.f[i * (kK + 1) + static_cast<size_t>(c)]));
    u_max = std::max(u_max, std::fabs(all.u[i]));
  }
  std::vector<double> b;
  for (int c = 0; c < kK; ++c) {
    for (int j = 0; j < kD; ++j)
      b.push_back((f_max[static_cast<size_t>(c)] * x_max[static_cast<size_t>(j)]) * u_max);
    b.push_back(f_max[static_cast<size_t>(c)] * u_max);
  }
  b.push_back(f_max[kK] * u_max);
  return b;
}

}  // namespace outer

TEST(ReproducibleSum, OuterSumIsFixedPointSumOfTheProductsWithInputBounds) {
  mpi::Comm comm;
  constexpr idx_t kWidthOuter = outer::kK * (outer::kD + 1) + 1;
  for (const bool weighted : {false, true}) {
    const outer::Local all = outer::local_rows(0, kRows, weighted);
    std::vector<double> ref(kWidthOuter);
    std::vector<double> exact(kWidthOuter);
    if (comm.rank() == 0) {
      mpi::Comm self(MPI_COMM_SELF);
      ml::FixedPointSums sums(outer::bounds(all));
      for (idx_t i = 0; i < kRows; ++i)
        sums.add_row(all.contributions.data() + i * kWidthOuter);
      sums.count_rows(kRows);
      ref = sums.finish(self, "reference");
      exact = ml::reproducible_sum(self, all.contributions, kWidthOuter, "exact maxima");
    }
    mpi::bcast(comm, std::span<double>(ref), 0);
    mpi::bcast(comm, std::span<double>(exact), 0);
    // The bounds coarsen the quantum by a few bits at most here: still far inside double rounding.
    for (idx_t j = 0; j < kWidthOuter; ++j) {
      const auto jj = static_cast<size_t>(j);
      EXPECT_NEAR(ref[jj], exact[jj], 1e-12 * std::fabs(exact[jj]) + 1e-300) << j;
    }
    for (int mode : {0, 1, 2}) {
      const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
      const outer::Local l = outer::local_rows(b, e, weighted);
      for (const bool simd : {false, true}) {
        const bool previous = simd::set_avx2(simd);  // where the CPU lacks AVX2, both portable
        const auto sum = ml::reproducible_outer_sum(comm, l.rows.data(), l.f.data(),
                                                    weighted ? l.u.data() : nullptr, l.rows.size(),
                                                    outer::kD, outer::kK, "outer");
        simd::set_avx2(previous);
        EXPECT_TRUE(same_bits(sum, ref))
            << "weighted " << weighted << " mode " << mode << " simd " << simd;
      }
    }
  }
}

// When a bound overflows although no product does (the largest feature and the largest residual
// are in different rows), the sums take the exact maxima: reproducible_sum's bits.
TEST(ReproducibleSum, OuterSumTakesTheExactMaximaWhenABoundOverflows) {
  mpi::Comm comm;
  constexpr idx_t kWidthOuter = outer::kK * (outer::kD + 1) + 1;
  constexpr idx_t kBig = 40;
  const auto poisoned = [](idx_t begin, idx_t end) {
    outer::Local l = outer::local_rows(begin, end, false);
    for (idx_t g = begin; g < end; ++g) {
      const auto i = static_cast<size_t>(g - begin);
      if (g == 3) l.x[i][1] = 1e200;
      if (g == kBig - 5) l.f[i * (outer::kK + 1) + 2] = -1e150;
    }
    outer::recompute(l);
    return l;
  };
  std::vector<double> ref(kWidthOuter);
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    ref = ml::reproducible_sum(self, poisoned(0, kBig).contributions, kWidthOuter, "reference");
  }
  mpi::bcast(comm, std::span<double>(ref), 0);
  for (const double v : ref)
    EXPECT_TRUE(std::isfinite(v));
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kBig, comm.rank(), comm.size(), mode);
    const outer::Local l = poisoned(b, e);
    const auto sum = ml::reproducible_outer_sum(comm, l.rows.data(), l.f.data(), nullptr,
                                                l.rows.size(), outer::kD, outer::kK, "outer");
    EXPECT_TRUE(same_bits(sum, ref)) << "mode " << mode;
  }
}

TEST(ReproducibleSum, OuterSumNonFiniteErrorIsReproducibleSums) {
  mpi::Comm comm;
  constexpr idx_t kWidthOuter = outer::kK * (outer::kD + 1) + 1;
  const int culprit = comm.size() - 1;
  // A NaN feature, a product that overflows to infinity, an infinite loss.
  for (int poison : {0, 1, 2}) {
    outer::Local l = outer::local_rows(0, 4, false);
    if (comm.rank() == culprit) {
      if (poison == 0) l.x[2][3] = std::numeric_limits<double>::quiet_NaN();
      if (poison == 1) {
        l.x[1][4] = 1e200;
        l.f[(outer::kK + 1) * 1 + 1] = -1e200;
      }
      if (poison == 2)
        l.f[(outer::kK + 1) * 3 + outer::kK] = std::numeric_limits<double>::infinity();
      outer::recompute(l);
    }
    std::string outer_message, plain_message;
    try {
      ml::reproducible_outer_sum(comm, l.rows.data(), l.f.data(), nullptr, l.rows.size(), outer::kD,
                                 outer::kK, "values", "hint");
    } catch (const RuntimeError& e) {
      outer_message = e.what();
    }
    try {
      ml::reproducible_sum(comm, l.contributions, kWidthOuter, "values", "hint");
    } catch (const RuntimeError& e) {
      plain_message = e.what();
    }
    EXPECT_FALSE(outer_message.empty()) << poison;
    EXPECT_NE(outer_message.find("on rank " + std::to_string(culprit)), std::string::npos)
        << outer_message;
    EXPECT_EQ(outer_message, plain_message) << poison;
    expect_same_message_everywhere(comm, outer_message);
  }
}

TEST(ReproducibleSum, RejectsRaggedInput) {
  mpi::Comm comm;
  EXPECT_THROW(ml::reproducible_sum(comm, std::vector<double>{1.0, 2.0, 3.0}, 2, "ragged"),
               RuntimeError);
}

// The AVX2 path of FixedPointSums (magic-number rounding into split 64-bit lanes) adds exactly the
// integers the scalar path (cvtsd2si into 128 bits) adds, on contributions built to hit its edges:
// ties at half a quantum (both signs, odd and even neighbours), the largest magnitude itself
// (scaled to just under 2^62), values below half a quantum, zeros, negative zeros, subnormals,
// all-zero components, and widths that leave a remainder after the last vector of four.
TEST(ReproducibleSum, SimdPathAddsTheSameIntegersAsTheScalarPath) {
  if (!simd::avx2()) GTEST_SKIP() << "this CPU has no AVX2: only the scalar path runs";
  mpi::Comm comm;
  for (const size_t width : {size_t{1}, size_t{4}, size_t{7}, size_t{37}, size_t{64}}) {
    const size_t rows = 301;
    std::vector<double> maxima(width);
    for (size_t j = 0; j < width; ++j)
      maxima[j] = j % 9 == 8 ? 0.0
                             : std::ldexp(1.0 + uniform(11, 0, static_cast<int>(j)),
                                          static_cast<int>(j % 13) * 7 - 40);
    // Row-major contributions, each of magnitude at most its component's maximum.
    std::vector<double> values(rows * width);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < width; ++j) {
        const double m = maxima[j];
        const int e = m == 0.0 ? 0 : std::ilogb(m);
        const double quantum = std::ldexp(1.0, e - 61);
        const double r = uniform(12, static_cast<idx_t>(i), static_cast<int>(j));
        const double sign = uniform(13, static_cast<idx_t>(i), static_cast<int>(j)) < 0.5 ? -1 : 1;
        double v = 0;
        switch ((i + j) % 8) {
          case 0:
            v = sign * r * m;
            break;  // anywhere
          case 1:
            v = sign * (std::floor(r * 1e6) + 0.5) * quantum;
            break;  // a tie
          case 2:
            v = sign * m;
            break;  // the largest
          case 3:
            v = sign * 0.25 * quantum;
            break;  // rounds to 0
          case 4:
            v = sign * 0.0;
            break;  // +-0
          case 5:
            v = sign * std::numeric_limits<double>::denorm_min();
            break;
          case 6:
            v = sign * (std::ldexp(1.0, 40) + 0.5) * quantum;
            break;  // a large tie
          default:
            v = sign * (m - quantum * 1.5);
            break;  // near the top
        }
        if (m == 0.0) v = 0.0;
        values[i * width + j] = std::fabs(v) <= m ? v : 0.0;
      }
    }
    // (v - c)^2 with c = 0.5: the squares' maxima from the values.
    std::vector<double> largest(width, 0.0);
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < width; ++j)
        largest[j] =
            std::max(largest[j], (values[i * width + j] - 0.5) * (values[i * width + j] - 0.5));
    const auto sums_of = [&](bool simd) {
      const bool previous = simd::set_avx2(simd);
      ml::FixedPointSums by_products(maxima);
      ml::FixedPointSums by_values(maxima);
      ml::FixedPointSums by_squares(largest);
      std::vector<double> column(rows);
      for (size_t i = 0; i < rows; ++i)
        by_products.add_products(0, 1.0, values.data() + i * width, width, 1.0);
      for (size_t j = 0; j < width; ++j) {
        for (size_t i = 0; i < rows; ++i)
          column[i] = values[i * width + j];
        by_values.add_values(j, column.data(), rows);
        by_squares.add_squared_deviations(j, column.data(), rows, 0.5);
      }
      by_products.count_rows(static_cast<idx_t>(rows));
      by_values.count_rows(static_cast<idx_t>(rows));
      by_squares.count_rows(static_cast<idx_t>(rows));
      std::vector<std::vector<double>> out = {by_products.finish(comm, "products"),
                                              by_values.finish(comm, "values"),
                                              by_squares.finish(comm, "squares")};
      simd::set_avx2(previous);
      return out;
    };
    const auto simd = sums_of(true);
    const auto scalar = sums_of(false);
    for (size_t k = 0; k < simd.size(); ++k)
      EXPECT_TRUE(same_bits(simd[k], scalar[k])) << "width " << width << " sum " << k;
    // And both are reproducible_sum's (the scalar add_row path) on the stored contributions.
    EXPECT_TRUE(
        same_bits(simd[0], ml::reproducible_sum(comm, values, static_cast<idx_t>(width), "stored")))
        << "width " << width;
    EXPECT_TRUE(same_bits(simd[0], simd[1])) << "width " << width;
  }
}

// Products with a factor and a weight: the three multiplications happen in the scalar order.
TEST(ReproducibleSum, SimdProductsMultiplyInTheScalarOrder) {
  if (!simd::avx2()) GTEST_SKIP() << "this CPU has no AVX2: only the scalar path runs";
  mpi::Comm comm;
  constexpr size_t kD = 23;
  std::vector<double> x(kD);
  for (size_t j = 0; j < kD; ++j)
    x[j] = (uniform(21, 0, static_cast<int>(j)) - 0.5) * 3.0;
  const double factor = 0.1, weight = 1.0 / 3.0;
  std::vector<double> maxima(kD);
  for (size_t j = 0; j < kD; ++j)
    maxima[j] = std::fabs((factor * x[j]) * weight);
  std::vector<std::vector<double>> out;
  for (const bool simd : {true, false}) {
    const bool previous = simd::set_avx2(simd);
    ml::FixedPointSums sums(maxima);
    for (int repeat = 0; repeat < 5; ++repeat)
      sums.add_products(0, factor, x.data(), kD, weight);
    sums.count_rows(5);
    out.push_back(sums.finish(comm, "products"));
    simd::set_avx2(previous);
  }
  EXPECT_TRUE(same_bits(out[0], out[1]));
}
