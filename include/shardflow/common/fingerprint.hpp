#pragma once
// Fingerprints identify a configuration plus its inputs (stage cache, checkpoint compatibility).
// They are 128-bit XXH3 digests rendered as 32 hex characters.

#include <cstdint>
#include <string>
#include <string_view>

namespace shardflow {

/// Incremental fingerprint builder. Each `add` is length-prefixed so ("ab","c") != ("a","bc").
class Fingerprint {
 public:
  Fingerprint& add(std::string_view bytes);
  Fingerprint& add(std::int64_t value);
  Fingerprint& add(double value);
  /// 32 lowercase hex characters.
  std::string hex() const;

 private:
  std::string buffer_;
};

}  // namespace shardflow
