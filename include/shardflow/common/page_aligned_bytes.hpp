#pragma once
// An uninitialized byte buffer aligned to a 4 KiB page, for pread destinations.
//
// Why the alignment: the kernel's copy from the page cache into a buffer 16 bytes past a page
// boundary (where `new char[]` or malloc puts a large block) ran 4-4.6x slower on the development
// VM's CPU (AMD EPYC, `rep movsb`; benchmarks/README.md, "Content fingerprint vs CSV ingest").
// Used by the content fingerprint's block reads and the CSV reader's read window.

#include <cstddef>
#include <memory>
#include <new>

namespace shardflow {

class PageAlignedBytes {
 public:
  static constexpr std::align_val_t kAlignment{4096};

  PageAlignedBytes() = default;
  /// `size` bytes, uninitialized; throws std::bad_alloc.
  explicit PageAlignedBytes(std::size_t size)
      : data_(static_cast<char*>(::operator new[](size, kAlignment))), size_(size) {}

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Deleter {
    void operator()(char* p) const { ::operator delete[](p, kAlignment); }
  };
  std::unique_ptr<char, Deleter> data_;
  std::size_t size_ = 0;
};

}  // namespace shardflow
