#include "shardflow/common/fingerprint.hpp"

#include <fmt/format.h>

#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shardflow {

Fingerprint& Fingerprint::add(std::string_view bytes) {
  add(static_cast<std::int64_t>(bytes.size()));
  buffer_.append(bytes);
  return *this;
}

Fingerprint& Fingerprint::add(std::int64_t value) {
  char raw[sizeof value];
  std::memcpy(raw, &value, sizeof value);
  buffer_.append(raw, sizeof raw);
  return *this;
}

Fingerprint& Fingerprint::add(double value) {
  char raw[sizeof value];
  std::memcpy(raw, &value, sizeof value);
  buffer_.append(raw, sizeof raw);
  return *this;
}

std::string Fingerprint::hex() const {
  const XXH128_hash_t digest = XXH3_128bits(buffer_.data(), buffer_.size());
  return fmt::format("{:016x}{:016x}", digest.high64, digest.low64);
}

}  // namespace shardflow
