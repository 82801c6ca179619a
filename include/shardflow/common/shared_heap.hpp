#pragma once
// This process's shared heap: memory that the other ranks on this host can map and write into.
// The shuffle allocates its output columns here, so that every peer scatters its rows straight
// into their final place (ops/shuffle.cpp) instead of into a staging area the receiver then
// copies out of: on one host that removes a third of a shuffle's memory traffic.
//
// Column buffers (table/buffer.hpp) come from here while a SharedHeapScope is alive on the
// allocating thread, and go back here when freed, on any thread. Everything else, and every
// allocation the heap cannot serve, uses the normal heap.
//
// The heap is one memfd, created on first use and kept for the life of the process, with a large
// virtual size (twice the physical memory, at most 1 TiB) of which only allocated blocks use
// memory. A block's pages are allocated when it is handed out (fallocate), so that running out of
// memory is an allocation failure (the caller falls back) and never a SIGBUS on first write.
// Freed blocks keep their pages for reuse, like malloc's heap, up to a retained total
// (set_retained_bytes; keep_freed_memory in common/memory.hpp sets it); beyond that their pages
// go back to the kernel at once.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace shardflow::shared_heap {

namespace detail {
// [begin, end) of this process's heap mapping, set once when the heap is created (0, 0 before).
inline std::atomic<std::uintptr_t> g_begin{0};
inline std::atomic<std::uintptr_t> g_end{0};
inline thread_local int g_scope_depth = 0;
}  // namespace detail

/// True if `p` points into this process's shared heap. Two relaxed loads and two compares.
inline bool contains(const void* p) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= detail::g_begin.load(std::memory_order_relaxed) &&
         a < detail::g_end.load(std::memory_order_relaxed);
}

/// True while a SharedHeapScope is alive on this thread.
inline bool scope_active() noexcept {
  return detail::g_scope_depth > 0;
}

/// While alive, column buffers allocated on this thread come from the shared heap when it can
/// serve them. Nests.
class Scope {
 public:
  Scope() noexcept { ++detail::g_scope_depth; }
  ~Scope() { --detail::g_scope_depth; }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

/// Local: a block of at least `bytes` (page-aligned), with its pages allocated; nullptr if the
/// heap could not be created, is full, or the kernel has no memory for the pages. Creates the
/// heap on first use.
void* allocate(std::size_t bytes) noexcept;
/// Local: true if the block at `p` (from allocate()) got new pages when it was handed out, rather
/// than pages a freed block kept: no process has mapped them yet.
bool fresh_pages(const void* p);
/// Local: returns a block from allocate(). Any thread.
void deallocate(void* p) noexcept;

/// Local: freed blocks keep their pages while the freed total stays at or below `bytes`; blocks
/// freed beyond it give their pages back at once.
void set_retained_bytes(std::size_t bytes) noexcept;

/// What a peer needs to map this process's heap: its memfd, its size, and a token at its start
/// that the peer checks after mapping. ok is false (and `failure` says why) if the heap could not
/// be created. Creates the heap on first use.
struct Identity {
  bool ok = false;
  int fd = -1;
  std::size_t bytes = 0;
  std::uint64_t token[2] = {0, 0};
  std::string failure;
};
Identity identity();

/// Local: the heap's first byte (nullptr before it exists). A block's offset from it is the same
/// in every process that maps the heap.
std::byte* base() noexcept;

/// Local, for tests: bytes in blocks handed out and not freed, and freed bytes that keep their
/// pages.
std::size_t used_bytes();
std::size_t retained_bytes();

/// Local, for tests: allocations that would take used_bytes() above `bytes` fail (return
/// nullptr). Default: no limit.
void set_used_limit(std::size_t bytes) noexcept;

/// Bytes at the start of the heap that hold the token (never handed out).
inline constexpr std::size_t kHeaderBytes = 4096;

}  // namespace shardflow::shared_heap
