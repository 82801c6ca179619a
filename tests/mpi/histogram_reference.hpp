#pragma once
// A brute-force numpy.histogram for the tests of the histogram aggregate: edges as numpy's
// linspace (equal width over the finite values' min..max, [min - 0.5, max + 0.5] when they are
// equal, [0, 1] without values) or given, and each value put in the bin whose [lower, upper)
// holds it (the last bin closed) by a linear scan. NaN, +-inf are never counted.

#include <cmath>
#include <cstdint>
#include <vector>

namespace shardflow::histogram_test {

struct Bin {
  double lower;
  double upper;
  std::int64_t count;
};

inline std::vector<Bin> bins_over(const std::vector<double>& values,
                                  const std::vector<double>& edges) {
  std::vector<Bin> bins;
  for (size_t i = 0; i + 1 < edges.size(); ++i)
    bins.push_back({edges[i], edges[i + 1], 0});
  for (double x : values) {
    if (!std::isfinite(x)) continue;
    for (size_t i = 0; i < bins.size(); ++i) {
      const bool last = i + 1 == bins.size();
      if (bins[i].lower <= x && (x < bins[i].upper || (last && x == bins[i].upper))) {
        ++bins[i].count;
        break;
      }
    }
  }
  return bins;
}

// numpy.histogram(values[isfinite(values)], n); of two zeros the minimum is -0.0 and the maximum
// 0.0.
inline std::vector<Bin> equal_width_reference(const std::vector<double>& values, int n) {
  bool any = false;
  double lo = 0, hi = 1;
  for (double x : values) {
    if (!std::isfinite(x)) continue;
    if (!any) {
      lo = hi = x;
      any = true;
    }
    if (x < lo || (x == lo && std::signbit(x))) lo = x;
    if (x > hi || (x == hi && !std::signbit(x))) hi = x;
  }
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // numpy.linspace(lo, hi, n + 1): i * step + lo (i / n * delta + lo when the step underflows),
  // the last edge exactly hi.
  const double delta = hi - lo, step = delta / n;
  std::vector<double> edges;
  for (int i = 0; i < n; ++i)
    edges.push_back(step == 0 ? static_cast<double>(i) / n * delta + lo
                              : static_cast<double>(i) * step + lo);
  edges.push_back(hi);
  return bins_over(values, edges);
}

}  // namespace shardflow::histogram_test
