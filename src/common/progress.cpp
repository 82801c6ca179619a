#include "shardflow/common/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardflow {

namespace {

// SHARDFLOW_PROGRESS_SECONDS, or 10; a bad value is ignored (progress must never stop work).
double log_interval() {
  if (const char* s = std::getenv("SHARDFLOW_PROGRESS_SECONDS"); s != nullptr && *s != '\0') {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end != s && *end == '\0' && v >= 0) return v;
  }
  return 10.0;
}

std::string amount(double v) {
  return v < 1e5 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v);
}

thread_local const ProgressScope* innermost_scope = nullptr;

}  // namespace

ProgressScope::ProgressScope(std::string label)
    : label_(std::move(label)), outer_(innermost_scope) {
  innermost_scope = this;
}

ProgressScope::~ProgressScope() {
  innermost_scope = outer_;
}

const std::string& ProgressScope::current() {
  static const std::string kNone;
  return innermost_scope != nullptr ? innermost_scope->label_ : kNone;
}

Progress::Progress(std::string what, idx_t total, std::string unit, bool enabled)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), enabled_(enabled) {
  if (!enabled_) return;
  if (const std::string& scope = ProgressScope::current(); !scope.empty())
    what_ = scope + ": " + what_;
  terminal_ = ::isatty(STDERR_FILENO) == 1;
  interval_ = terminal_ ? 0.25 : log_interval();
  start_ = Clock::now();
  // A terminal shows work from its first second on; a log only work that lasts an interval.
  next_ = start_ + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(terminal_ ? 1.0 : interval_));
}

Progress::~Progress() {
  finish();
}

std::string Progress::describe(const std::string& what, idx_t done, idx_t total,
                               const std::string& unit, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::string eta = "?";
  if (rate > 0 && total >= done)
    eta = fmt::format("{:.0f} s", static_cast<double>(total - done) / rate);
  const double percent =
      total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
  return fmt::format("{}: {:.0f}% ({} {} of {}), {} {}/s, ETA {}", what, percent,
                     amount(static_cast<double>(done)), unit, amount(static_cast<double>(total)),
                     amount(rate), unit, eta);
}

void Progress::update(idx_t done) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now < next_) return;
  next_ =
      now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
  const std::string text =
      describe(what_, done, total_, unit_, std::chrono::duration<double>(now - start_).count());
  if (terminal_) {
    std::fprintf(stderr, "\r%s\033[K", text.c_str());  // redraw in place, clear the rest
    std::fflush(stderr);
    drawn_ = true;
  } else {
    spdlog::info("progress: {}", text);
  }
}

void Progress::finish() {
  if (drawn_) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
    drawn_ = false;
  }
  enabled_ = false;
}

}  // namespace shardflow
