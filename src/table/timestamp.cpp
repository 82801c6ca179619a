#include "shardflow/table/timestamp.hpp"

#include <fmt/format.h>

#include "shardflow/common/error.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <system_error>
#include <utility>
#include <vector>

namespace shardflow::table {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  // H. Hinnant's algorithm (proleptic Gregorian calendar).
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

namespace {

bool digits(const char* p, int n, int& value) {
  value = 0;
  for (int i = 0; i < n; ++i) {
    const unsigned d = static_cast<unsigned char>(p[i]) - '0';
    if (d > 9) return false;
    value = value * 10 + static_cast<int>(d);
  }
  return true;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

}  // namespace

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

bool parse_timestamp(std::string_view t, std::int64_t& micros) {
  if (t.size() < 10) return false;
  const char* s = t.data();
  int year, month, day;
  if (!digits(s, 4, year) || s[4] != '-' || !digits(s + 5, 2, month) || s[7] != '-' ||
      !digits(s + 8, 2, day)) {
    return false;
  }
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const int month_days = kDays[month - 1] + (month == 2 && is_leap(year) ? 1 : 0);
  if (day > month_days) return false;
  std::int64_t value =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) *
      86'400'000'000LL;
  if (t.size() == 10) {
    micros = value;
    return true;
  }
  if (t.size() < 19 || (s[10] != ' ' && s[10] != 'T')) return false;
  int hh, mm, ss;
  if (!digits(s + 11, 2, hh) || s[13] != ':' || !digits(s + 14, 2, mm) || s[16] != ':' ||
      !digits(s + 17, 2, ss) || hh > 23 || mm > 59 || ss > 59) {
    return false;
  }
  value += (static_cast<std::int64_t>(hh) * 3600 + mm * 60 + ss) * 1'000'000LL;
  size_t i = 19;
  if (i < t.size() && s[i] == '.') {
    ++i;
    std::int64_t frac = 0;
    int n = 0;
    while (i < t.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 6) frac = frac * 10 + (s[i] - '0');
      ++n;
      ++i;
    }
    if (n == 0 || n > 9) return false;
    for (int k = std::min(n, 6); k < 6; ++k)
      frac *= 10;
    value += frac;
  }
  if (i < t.size() && s[i] == 'Z') ++i;
  if (i != t.size()) return false;
  micros = value;
  return true;
}

void append_timestamp(std::int64_t micros, std::string& out) {
  constexpr std::int64_t kDay = 86'400'000'000LL;
  std::int64_t days = micros / kDay;
  std::int64_t rem = micros % kDay;
  if (rem < 0) {
    rem += kDay;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  const std::int64_t secs = rem / 1'000'000;
  const std::int64_t frac = rem % 1'000'000;
  fmt::format_to(std::back_inserter(out), "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}", y, m, d,
                 secs / 3600, (secs / 60) % 60, secs % 60);
  if (frac != 0) fmt::format_to(std::back_inserter(out), ".{:06d}", frac);
}

namespace {

// Duration units, largest first.
const std::vector<std::pair<std::string, std::int64_t>> kUnits = {
    {"d", 86'400'000'000LL}, {"h", 3'600'000'000LL}, {"m", 60'000'000LL},
    {"s", 1'000'000LL},      {"ms", 1'000LL},        {"us", 1LL}};

}  // namespace

std::optional<std::int64_t> parse_duration_micros(std::string_view text) {
  std::vector<std::pair<std::string, std::int64_t>> units = kUnits;
  std::sort(units.begin(), units.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [unit, scale] : units) {
    if (text.size() <= unit.size() || !text.ends_with(unit)) continue;
    std::string_view number = text.substr(0, text.size() - unit.size());
    while (!number.empty() && number.back() == ' ')
      number.remove_suffix(1);
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size() || number.empty())
      return std::nullopt;
    if (!std::isfinite(value) || value < 0 || value * static_cast<double>(scale) > 9.0e18) {
      throw ConfigError("duration '{}' must be >= 0 and below about 290000 years", text);
    }
    const double micros = value * static_cast<double>(scale);
    if (micros != std::floor(micros)) {
      throw ConfigError("duration '{}' must be a whole number of microseconds", text);
    }
    return static_cast<std::int64_t>(micros);
  }
  return std::nullopt;
}

std::string duration_text(std::int64_t micros) {
  for (const auto& [unit, scale] : kUnits) {
    if (micros % scale == 0) return fmt::format("{}{}", micros / scale, unit);
  }
  return fmt::format("{}us", micros);
}

}  // namespace shardflow::table
