#include "shardflow/common/shared_heap.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "shardflow/common/memory.hpp"

namespace shardflow::shared_heap {

namespace {

constexpr std::size_t kPage = 4096;

// set_retained_bytes' value; read by the heap on every free.
std::atomic<std::size_t> g_retain_limit{static_cast<std::size_t>(kKeptFreeBytes)};
// set_used_limit's value.
std::atomic<std::size_t> g_used_limit{~std::size_t{0}};

std::size_t round_up(std::size_t bytes, std::size_t to) {
  return (bytes + to - 1) / to * to;
}

struct Heap {
  std::mutex mutex;
  int fd = -1;
  std::byte* base = nullptr;
  std::size_t bytes = 0;
  std::uint64_t token[2] = {0, 0};
  std::string failure;  // why the heap could not be created ("" if it was)
  // Blocks past `top` have never been handed out; below it, every page is in `used` or `free`.
  std::size_t top = kHeaderBytes;
  struct FreeBlock {
    std::size_t bytes;
    bool resident;  // its pages are allocated (freed while under the retained total)
  };
  std::map<std::size_t, FreeBlock> free;  // by offset
  struct UsedBlock {
    std::size_t bytes;
    bool fresh;  // its pages were allocated when it was handed out
  };
  std::map<std::size_t, UsedBlock> used;  // by offset
  std::size_t used_bytes = 0;
  std::size_t retained = 0;  // bytes of resident free blocks

  Heap() { create(); }

  void create() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const std::size_t physical =
        pages > 0 ? static_cast<std::size_t>(pages) * kPage : std::size_t{16} << 30;
    bytes = std::min(round_up(2 * physical, std::size_t{2} << 20), std::size_t{1} << 40);
    fd = memfd_create("shardflow-shared-heap", MFD_CLOEXEC);
    if (fd < 0) {
      failure = fmt::format("memfd_create: {}", std::strerror(errno));
      return;
    }
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      failure = fmt::format("ftruncate of the shared heap memfd to {} bytes: {}", bytes,
                            std::strerror(errno));
      close(fd);
      fd = -1;
      return;
    }
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (m == MAP_FAILED) {
      failure = fmt::format("mmap of the {}-byte shared heap: {}", bytes, std::strerror(errno));
      close(fd);
      fd = -1;
      return;
    }
    if (fallocate(fd, 0, 0, static_cast<off_t>(kHeaderBytes)) != 0) {
      failure = fmt::format("fallocate of the shared heap's header: {}", std::strerror(errno));
      munmap(m, bytes);
      close(fd);
      fd = -1;
      return;
    }
    std::random_device device;
    const auto now =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    token[0] = (static_cast<std::uint64_t>(device()) << 32 | device()) ^ now;
    token[1] = static_cast<std::uint64_t>(getpid()) << 32 | 0x5f4eu;
    std::memcpy(m, token, sizeof token);
    std::memcpy(static_cast<std::byte*>(m) + sizeof token, &bytes, sizeof bytes);
    base = static_cast<std::byte*>(m);
    detail::g_begin.store(reinterpret_cast<std::uintptr_t>(base) + kHeaderBytes);
    detail::g_end.store(reinterpret_cast<std::uintptr_t>(base) + bytes);
  }

  // Gives the pages of [offset, offset + n) back to the kernel.
  void release(std::size_t offset, std::size_t n) const {
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
              static_cast<off_t>(n));
  }

  void* allocate(std::size_t request) {
    const std::size_t n = round_up(std::max<std::size_t>(request, 1), kPage);
    std::lock_guard<std::mutex> lock(mutex);
    if (used_bytes + n > g_used_limit.load(std::memory_order_relaxed)) return nullptr;
    // Best fit, preferring blocks whose pages are still allocated (no page faults, no zeroing).
    auto best = free.end();
    for (auto it = free.begin(); it != free.end(); ++it) {
      if (it->second.bytes < n) continue;
      if (best == free.end() || (it->second.resident && !best->second.resident) ||
          (it->second.resident == best->second.resident && it->second.bytes < best->second.bytes))
        best = it;
    }
    std::size_t offset = 0;
    bool fresh = true;
    if (best != free.end()) {
      offset = best->first;
      const FreeBlock block = best->second;
      if (!block.resident &&
          fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(n)) != 0)
        return nullptr;
      free.erase(best);
      if (block.bytes > n) free.emplace(offset + n, FreeBlock{block.bytes - n, block.resident});
      if (block.resident) retained -= n;
      fresh = !block.resident;
    } else {
      if (top + n > bytes) return nullptr;
      if (fallocate(fd, 0, static_cast<off_t>(top), static_cast<off_t>(n)) != 0) return nullptr;
      offset = top;
      top += n;
    }
    used.emplace(offset, UsedBlock{n, fresh});
    used_bytes += n;
    return base + offset;
  }

  void deallocate(void* p) {
    const auto offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - base);
    std::lock_guard<std::mutex> lock(mutex);
    const auto it = used.find(offset);
    if (it == used.end()) return;  // not a block of this heap: never happens for valid callers
    const std::size_t n = it->second.bytes;
    used.erase(it);
    used_bytes -= n;
    bool resident = retained + n <= g_retain_limit.load(std::memory_order_relaxed);
    if (resident) {
      retained += n;
    } else {
      release(offset, n);
    }
    // Coalesce with free neighbours in the same state.
    std::size_t start = offset, size = n;
    auto next = free.lower_bound(offset);
    if (next != free.end() && next->first == start + size && next->second.resident == resident) {
      size += next->second.bytes;
      next = free.erase(next);
    }
    if (next != free.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second.bytes == start && prev->second.resident == resident) {
        start = prev->first;
        size += prev->second.bytes;
        free.erase(prev);
      }
    }
    if (!resident && start + size == top) {
      top = start;  // the block was at the end: the bump pointer takes it back
    } else {
      free.emplace(start, FreeBlock{size, resident});
    }
  }

  void set_retained(std::size_t limit) {
    std::lock_guard<std::mutex> lock(mutex);
    // Release resident blocks until under the new limit.
    for (auto& [offset, block] : free) {
      if (retained <= limit) break;
      if (!block.resident) continue;
      release(offset, block.bytes);
      block.resident = false;
      retained -= block.bytes;
    }
  }
};

std::atomic<Heap*> g_heap{nullptr};

Heap& heap() {
  static Heap* const h = [] {
    auto* created = new Heap();  // never destroyed: buffers may be freed during exit
    g_heap.store(created);
    return created;
  }();
  return *h;
}

}  // namespace

void* allocate(std::size_t bytes) noexcept {
  try {
    Heap& h = heap();
    if (h.base == nullptr) return nullptr;
    return h.allocate(bytes);
  } catch (...) {
    return nullptr;
  }
}

void deallocate(void* p) noexcept {
  try {
    g_heap.load()->deallocate(p);  // p is in the heap, so it exists
  } catch (...) {
    // Bookkeeping could not allocate: the block is lost to the heap, which stays consistent.
  }
}

void set_retained_bytes(std::size_t bytes) noexcept {
  g_retain_limit.store(bytes);
  // Does not create the heap: a process that never shuffles on one host never has one.
  if (Heap* h = g_heap.load()) h->set_retained(bytes);
}

bool fresh_pages(const void* p) {
  Heap* h = g_heap.load();
  if (h == nullptr || !contains(p)) return false;
  std::lock_guard<std::mutex> lock(h->mutex);
  const auto it =
      h->used.find(static_cast<std::size_t>(static_cast<const std::byte*>(p) - h->base));
  return it != h->used.end() && it->second.fresh;
}

void set_used_limit(std::size_t bytes) noexcept {
  g_used_limit.store(bytes);
}

Identity identity() {
  Heap& h = heap();
  Identity id;
  id.ok = h.base != nullptr;
  id.fd = h.fd;
  id.bytes = h.bytes;
  id.token[0] = h.token[0];
  id.token[1] = h.token[1];
  id.failure = h.failure;
  return id;
}

std::byte* base() noexcept {
  const std::uintptr_t begin = detail::g_begin.load();
  return begin == 0 ? nullptr : reinterpret_cast<std::byte*>(begin - kHeaderBytes);
}

std::size_t used_bytes() {
  Heap& h = heap();
  std::lock_guard<std::mutex> lock(h.mutex);
  return h.used_bytes;
}

std::size_t retained_bytes() {
  Heap& h = heap();
  std::lock_guard<std::mutex> lock(h.mutex);
  return h.retained;
}

}  // namespace shardflow::shared_heap
