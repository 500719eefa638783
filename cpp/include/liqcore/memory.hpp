// Large working arrays in transparent huge pages.
//
// A kernel's large arrays (per-position state, the liquidation lists, sort scratch, output
// columns) are fresh memory on every call: glibc maps a large block anew and unmaps it when it
// is freed, so each call pays a page fault per 4 KiB it writes, and on a 2-core VM the faults
// can cost more than the arithmetic (a −5% cascade over 9e5 positions spent about a quarter of
// its time in them). Blocks of at least kHugeAdviceMin bytes are therefore mapped here directly,
// aligned to 2 MiB and advised for transparent huge pages (MADV_HUGEPAGE, NumPy's threshold and
// NumPy's advice for its own arrays): the kernel maps them 2 MiB at a time, 512 times fewer
// faults for the same bytes. A freshly mapped block reads as zero until written (ZeroedArray
// relies on that); a HugeAllocator block, once freed, is kept for the next call (BlockCache: the
// system's zeroing of fresh memory is not paid again) and holds old values when reused. Smaller
// blocks, and every block off Linux, come from malloc as usual; where the system ignores the
// advice, nothing changes but the speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#include <sys/mman.h>
#endif

namespace liqcore {

// Under AddressSanitizer every block comes from malloc, so that the sanitizer checks the large
// arrays too (it does not see memory mapped here).
#if defined(__SANITIZE_ADDRESS__)
#define LIQCORE_MAP_HUGE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIQCORE_MAP_HUGE 0
#endif
#endif
#ifndef LIQCORE_MAP_HUGE
#define LIQCORE_MAP_HUGE 1
#endif

// Blocks of at least this many bytes are mapped in huge pages.
inline constexpr std::size_t kHugeAdviceMin = LIQCORE_MAP_HUGE ? std::size_t{4} << 20 : ~std::size_t{0};
inline constexpr std::size_t kHugePage = std::size_t{2} << 20;
// Whether freed large blocks are kept for reuse (BlockCache): Linux builds without AddressSanitizer.
#if defined(__linux__) && defined(MADV_HUGEPAGE)
inline constexpr bool kCachesBlocks = LIQCORE_MAP_HUGE != 0;
#else
inline constexpr bool kCachesBlocks = false;
#endif

namespace detail {

inline std::size_t huge_length(std::size_t bytes) noexcept { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

// A zero-filled block of `bytes` (>= kHugeAdviceMin), 2 MiB-aligned, advised for huge pages.
inline void* huge_map(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const std::size_t len = huge_length(bytes);
  void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto a = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (a + kHugePage - 1) / kHugePage * kHugePage;
  if (start > a) munmap(raw, start - a);  // the unaligned head and tail go back
  if (a + kHugePage > start) munmap(reinterpret_cast<void*>(start + len), a + kHugePage - start);
  (void)madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);  // advice: a refusal is no error
  return reinterpret_cast<void*>(start);
#else
  void* p = std::calloc(bytes, 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
#endif
}

inline void huge_unmap(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p != nullptr) munmap(p, huge_length(bytes));
#else
  std::free(p);
#endif
}

// Blocks freed by HugeAllocator, kept for the next allocation of about their size: a block that
// is reused is not page-faulted and zeroed by the system again. A kernel called in a loop (a
// sweep of scenarios, a benchmark) allocates the same large arrays every call, and zeroing fresh
// memory runs at a third of the copy bandwidth on a 2-core VM: a −5% cascade over 9e5 positions
// spent ~13% of its time in the kernel's clear_page. At most kSlots blocks and kCapacity bytes
// are held (the oldest unmapped first), so memory held beyond what a kernel uses is bounded;
// blocks from here are not zero (HugeAllocator's users initialize what they read; ZeroedArray
// maps fresh blocks). A request takes the smallest held block at least its size and at most
// twice it, whole (cutting a large block for a small request would leave the next large one
// without): the block's length is remembered until it comes back. Thread-safe: a NumPy array
// adopting a vector is freed under the GIL, a kernel's scratch on its own threads.
class BlockCache {
 public:
  static constexpr std::size_t kSlots = 64;
  static constexpr std::size_t kCapacity = std::size_t{256} << 20;
  static constexpr std::size_t kLoans = 256;

  static BlockCache& instance() noexcept {
    static BlockCache* cache = make();  // never destroyed: blocks may be freed at exit
    return *cache;
  }

  // A held block of `len` bytes or more (at most 2·len; len a multiple of kHugePage), or
  // nullptr if there is none.
  void* take(std::size_t len) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t best = count_;
    for (std::size_t k = 0; k < count_; ++k)
      if (held_[k].len >= len && held_[k].len <= 2 * len && (best == count_ || held_[k].len < held_[best].len))
        best = k;
    if (best == count_) return nullptr;
    const Block b = remove(best);
    if (b.len > len) {
      if (loans_ < kLoans) {
        lent_[loans_++] = b;  // longer than asked: its length comes back with it
      } else {
        huge_unmap(static_cast<char*>(b.p) + len, b.len - len);  // no room to remember: the excess goes
      }
    }
    return b.p;
  }

  // Takes back block p, mapped by huge_map for `len` bytes (a multiple of kHugePage) or lent
  // by take(): kept for a later take(), or unmapped (when it alone exceeds the capacity).
  void give(void* p, std::size_t len) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t k = 0; k < loans_; ++k)
      if (lent_[k].p == p) {
        len = lent_[k].len;
        lent_[k] = lent_[--loans_];
        break;
      }
    if (len > kCapacity) {
      huge_unmap(p, len);
      return;
    }
    while (count_ == kSlots || bytes_ + len > kCapacity) {  // the oldest go
      const Block old = remove(0);
      huge_unmap(old.p, old.len);
    }
    held_[count_++] = {p, len};
    bytes_ += len;
  }

  // Unmaps every held block; returns their bytes.
  std::size_t release() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t k = 0; k < count_; ++k) huge_unmap(held_[k].p, held_[k].len);
    count_ = 0;
    return std::exchange(bytes_, 0);
  }

  std::size_t held_bytes() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  struct Block {
    void* p;
    std::size_t len;
  };
  // Held block k, out of the list (the later ones move up: the list stays oldest first).
  Block remove(std::size_t k) noexcept {
    const Block b = held_[k];
    for (; k + 1 < count_; ++k) held_[k] = held_[k + 1];
    --count_;
    bytes_ -= b.len;
    return b;
  }

  // The cache, with fork handlers (as malloc's): the forking thread holds the lock across
  // fork(), so that a child never starts with it held by a thread it does not have.
  static BlockCache* make() {
    auto* cache = new BlockCache;
#if defined(__linux__)
    pthread_atfork([] { instance().mu_.lock(); }, [] { instance().mu_.unlock(); }, [] { instance().mu_.unlock(); });
#endif
    return cache;
  }

  std::mutex mu_;
  Block held_[kSlots] = {};
  Block lent_[kLoans] = {};  // blocks out longer than asked for
  std::size_t count_ = 0, bytes_ = 0, loans_ = 0;
};

// A block of `bytes` (>= kHugeAdviceMin) for HugeAllocator: a held one if there is one of about
// its size, else a fresh one; not zero.
inline void* huge_take(std::size_t bytes) {
  if constexpr (kCachesBlocks)
    if (void* p = BlockCache::instance().take(huge_length(bytes))) return p;
  return huge_map(bytes);
}

// Gives back a block from huge_take (`bytes` as asked for): kept for reuse, or unmapped.
inline void huge_give(void* p, std::size_t bytes) noexcept {
  if constexpr (kCachesBlocks) {
    if (p != nullptr) BlockCache::instance().give(p, huge_length(bytes));
  } else {
    huge_unmap(p, bytes);
  }
}

// A block of `bytes` read as zero until written (calloc below the huge-page threshold).
inline void* zeroed_alloc(std::size_t bytes) {
  if (bytes >= kHugeAdviceMin) return huge_map(bytes);
  void* p = std::calloc(bytes > 0 ? bytes : 1, 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void zeroed_free(void* p, std::size_t bytes) noexcept {
  if (bytes >= kHugeAdviceMin)
    huge_unmap(p, bytes);
  else
    std::free(p);
}

}  // namespace detail

// The allocator of HugeVector: blocks of kHugeAdviceMin bytes and more in huge pages.
// Zero = false (ScratchVector): resize() leaves the new elements default-initialized, i.e. for
// numbers and plain structs not initialized at all, as `new T[n]` does.
template <class T, bool Zero = true>
struct HugeAllocator {
  using value_type = T;
  static_assert(alignof(T) <= alignof(std::max_align_t), "malloc's alignment must suffice");
  template <class U>
  struct rebind {
    using other = HugeAllocator<U, Zero>;
  };

  HugeAllocator() noexcept = default;
  template <class U>
  HugeAllocator(const HugeAllocator<U, Zero>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= kHugeAdviceMin) return static_cast<T*>(detail::huge_take(bytes));
    void* p = std::malloc(bytes > 0 ? bytes : 1);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= kHugeAdviceMin)
      detail::huge_give(p, bytes);
    else
      std::free(p);
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (!Zero && sizeof...(Args) == 0)
      ::new (static_cast<void*>(p)) U;  // default-initialization: no zeroing pass
    else
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const HugeAllocator<U, Zero>&) const noexcept {
    return true;
  }
};

// A std::vector whose large blocks are in huge pages: a kernel's working and output arrays.
template <class T>
using HugeVector = std::vector<T, HugeAllocator<T>>;

// A HugeVector whose resize() does not zero the new elements: for a buffer every element of
// which is written before it is read (an output column filled in one pass, sort scratch), so
// that a large resize costs no pass over memory about to be overwritten.
template <class T>
using ScratchVector = std::vector<T, HugeAllocator<T, false>>;

}  // namespace liqcore
