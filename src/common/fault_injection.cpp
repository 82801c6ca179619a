#include "shardflow/common/fault_injection.hpp"

#include <csignal>
#include <cstdlib>
#include <string>

#include "shardflow/common/error.hpp"

namespace shardflow {

bool fault_point_matches(std::string_view pattern, std::string_view point) {
  if (!pattern.empty() && pattern.back() == '*') {
    return point.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return pattern == point;
}

void maybe_inject_fault(std::string_view point, int rank) {
  // Read once: the points sit on hot paths (every training step, every shuffle round).
  static const char* const spec = std::getenv("SHARDFLOW_INJECT_FAULT");
  if (spec == nullptr) return;
  const std::string_view text(spec);
  const auto at = text.rfind('@');
  if (at == std::string_view::npos) return;
  if (!fault_point_matches(text.substr(0, at), point) ||
      text.substr(at + 1) != std::to_string(rank)) {
    return;
  }
  // With SHARDFLOW_INJECT_KILL set the rank dies on the spot, as under SIGKILL: nothing is
  // flushed, closed or agreed, which is what a crash or an OOM kill does.
  if (std::getenv("SHARDFLOW_INJECT_KILL") != nullptr) std::raise(SIGKILL);
  throw RuntimeError("injected fault at '{}' on rank {} (SHARDFLOW_INJECT_FAULT={})", point, rank,
                     text);
}

}  // namespace shardflow
