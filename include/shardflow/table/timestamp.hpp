#pragma once
// Timestamps (int64 microseconds since 1970-01-01 00:00:00 UTC): the proleptic Gregorian calendar
// and the text format shared by CSV ingest, CSV output and the expression language's literals.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardflow::table {

inline constexpr std::int64_t kMicrosPerSecond = 1'000'000;
inline constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

/// `YYYY-MM-DD`, or `YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}][Z]` (fraction truncated to microseconds),
/// always UTC, to microseconds since the Unix epoch. Validates month, day-of-month and time ranges.
bool parse_timestamp(std::string_view text, std::int64_t& micros);
/// Appends `micros` as `YYYY-MM-DD HH:MM:SS` plus `.ffffff` when the fraction is non-zero.
void append_timestamp(std::int64_t micros, std::string& out);
/// A duration: a number and a unit, d h m s ms us ("7d", "1.5h", "500 ms"), in microseconds;
/// nullopt when `text` is not a number followed by one of the units. Throws ConfigError for a
/// negative duration, one beyond about 290000 years, or a fraction of a microsecond. The grammar
/// of as-of join tolerances and window frames and buckets.
std::optional<std::int64_t> parse_duration_micros(std::string_view text);
/// The canonical text of a duration: in the largest unit that divides it ("7d", "90m", "1500ms").
std::string duration_text(std::int64_t micros);

/// Days since 1970-01-01 of a proleptic Gregorian date (no range checks).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
/// The date of day `days` since 1970-01-01.
void civil_from_days(std::int64_t days, std::int64_t& y, unsigned& m, unsigned& d);

}  // namespace shardflow::table
