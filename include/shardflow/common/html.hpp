#pragma once
// Text for the self-contained HTML pages shardflow writes (the run report, the drift page).

#include <string>
#include <string_view>

namespace shardflow {

/// `s` with &, <, > and " replaced by their character references: safe as HTML text and inside
/// a double-quoted attribute.
inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace shardflow
