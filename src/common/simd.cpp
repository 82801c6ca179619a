#include "shardflow/common/simd.hpp"

#include <atomic>

namespace shardflow::simd {
namespace {

bool cpu_has_avx2() {
#ifdef __x86_64__
  static const bool available = __builtin_cpu_supports("avx2");
  return available;
#else
  return false;
#endif
}

std::atomic<bool> g_switched_off{false};

}  // namespace

bool avx2() {
  return cpu_has_avx2() && !g_switched_off.load(std::memory_order_relaxed);
}

bool set_avx2(bool enabled) {
  const bool previous = avx2();
  g_switched_off.store(!enabled, std::memory_order_relaxed);
  return previous;
}

}  // namespace shardflow::simd
